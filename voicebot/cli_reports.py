"""``voicebot report``: the contact-centre figures of a period (docs/reports.md).

Registered on the main group by :func:`register`."""

from __future__ import annotations

from datetime import UTC, datetime

import click


def register(main: click.Group) -> None:
    main.add_command(report)


def _when(text: str) -> datetime:
    """An ISO date or date-time; without an offset it is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: use an ISO date or date-time, e.g. 2027-01-15T08:00") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@click.command()
@click.option("--since", required=True, help="Start (ISO date or date-time, UTC unless an offset is given).")
@click.option("--until", required=True, help="End, exclusive.")
@click.option("--queue", default=None, help="Only this queue's calls in the queue figures.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def report(since: str, until: str, queue: str | None, fmt: str) -> None:
    """Containment, service level, ASA, abandonment, AHT, occupancy, the IVR funnel, callbacks and the
    Erlang C staffing estimate, over the calls that started in [--since, --until)."""
    from voicebot.acd.config import load_acd_settings
    from voicebot.reports.formatting import render
    from voicebot.reports.queries import build_report
    from voicebot.reports.settings import load_report_settings
    from voicebot.storage.db import create_tables, make_engine

    start, end = _when(since), _when(until)
    if end <= start:
        raise click.BadParameter("--until must be after --since")
    engine = make_engine()
    try:
        create_tables(engine)
        data = build_report(engine, load_acd_settings(), load_report_settings(), start, end, queue,
                            now=datetime.now(UTC))
    finally:
        engine.dispose()  # a PostgreSQL connection left to the garbage collector warns on the way out
    click.echo(render(data, fmt), nl=False)
