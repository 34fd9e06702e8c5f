"""``voicebot calls list`` and ``voicebot calls show``: call records for an operator.

Both first write back records spooled while the database was unavailable, so a finished call never shows
as "in progress" once the database is back, even when no server is running to replay them.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from voicebot.cli_errors import EXIT_USAGE, CliError
from voicebot.storage.call_models import OUTCOMES, CallEvent, CallRecord

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``2h``, ``7d`` (ago), or an ISO date or time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    found = _RELATIVE.match(text.strip().lower())
    if found:
        return now - timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"--since: {text!r} is neither a duration (30m, 2h, 7d) nor a date (2026-11-29)",
                       EXIT_USAGE) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _store() -> Any:
    from voicebot.runtime.app import open_services

    store = open_services().store
    store.replay_spool()  # never raises for a database problem: a spool that cannot be applied is kept
    return store


def _duration(record: CallRecord) -> str:
    if record.ended_at is None:
        return "-"
    seconds = (record.ended_at - record.started_at).total_seconds()
    return f"{seconds:.0f}s" if seconds < 600 else f"{seconds / 60:.0f}m"


COLUMNS = ("CALL ID", "STARTED (UTC)", "CALLER", "FLOW", "OUTCOME", "AUTH", "LENGTH", "INTENTS")


def _row(record: CallRecord) -> tuple[str, ...]:
    return (record.id, f"{record.started_at:%Y-%m-%d %H:%M:%S}", record.caller_id or "-", record.flow or "-",
            record.outcome or "in progress", "yes" if record.authenticated else "no", _duration(record),
            ",".join(record.intents) or "-")


def table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [COLUMNS, *rows]]


@click.group()
def calls() -> None:
    """Call records."""


@calls.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="At most this many.")
@click.option("--since", help="Only calls started since: 30m, 2h, 7d, or a date/time (2026-11-29T08:00).")
@click.option("--outcome", help=f"Only calls with this outcome ({', '.join(OUTCOMES)}, ...; in_progress: "
              "calls without one).")
@click.option("--flow", help="Only calls of this flow (its name, e.g. banking).")
@click.option("--caller", help="Only calls whose caller ID contains this.")
def calls_list(limit: int, since: str | None, outcome: str | None, flow: str | None, caller: str | None) -> None:
    """The most recent calls, newest first."""
    store = _store()
    records = store.list_calls(limit, since=parse_since(since) if since else None, outcome=outcome, flow=flow,
                               caller=caller)
    if not records:
        click.echo("no calls" + (" match" if any((since, outcome, flow, caller)) else " yet"))
        return
    for line in table([_row(record) for record in records]):
        click.echo(line)


def readable(value: Any) -> str:
    """A value as a person reads it: yes/no, '-' for nothing, times without microseconds, JSON for the rest."""
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _event_line(event: CallEvent) -> str:
    data = dict(event.event)
    kind = data.pop("type", "?")
    data.pop("call_id", None)
    data.pop("at", None)
    details = " ".join(f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in data.items()
                       if value not in (None, "", [], {}))
    actions = ", ".join(_action_summary(action) for action in event.actions) or "-"
    return f"  {event.seq:>3}  {event.at:8.2f}s  {kind} {details}".rstrip() + f"  ->  {actions}"


def _action_summary(action: dict[str, Any]) -> str:
    kind = str(action.get("type", "?"))
    for key in ("text", "slot_type", "name", "queue", "node"):
        if action.get(key):
            text = str(action[key])
            return f"{kind}({text[:60] + '...' if len(text) > 60 else text})"
    return kind


@calls.command("show")
@click.argument("call_id", required=False)
@click.option("--last", is_flag=True, help="The most recent call (the default without CALL_ID).")
@click.option("--events", is_flag=True, help="Also the event log: each step's event and the actions it caused.")
@click.option("--json", "as_json", is_flag=True, help="The record, handoff and events as JSON.")
def calls_show(call_id: str | None, last: bool, events: bool, as_json: bool) -> None:
    """One call: its record, its handoff and (with --events) its event log."""
    from voicebot.storage.calls import record_as_json, to_jsonable

    store = _store()
    record = store.last_call() if last or not call_id else store.get_call(call_id)
    if record is None:
        raise CliError(f"no call {call_id!r}" if call_id else "no calls yet")
    log = store.call_events(record.id)
    if as_json:
        data = record_as_json(record)
        data["events"] = [to_jsonable(e.model_dump()) for e in log]
        click.echo(json.dumps(data, indent=2))
        return
    fields: dict[str, Any] = record.model_dump()
    fields["outcome"] = record.outcome or "in progress"
    fields["duration"] = _duration(record)
    for key, value in fields.items():
        click.echo(f"{key:>15}: {readable(value)}")
    if events:
        click.echo(f"{'events':>15}: {len(log)}")
        for event in log:
            click.echo(_event_line(event))
    else:
        click.echo(f"{'events':>15}: {len(log)} (--events to show them)")
