"""``voicebot agents|queues|callbacks``: the ACD from the command line (tables, or ``--json``).

Registered on the main group by :func:`register`; every command works on the configured database
(``DATABASE_URL`` or the data folder) and the ``acd:`` section of the configuration.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from voicebot.acd.tx import AcdError


def register(main: click.Group) -> None:
    for command in (agents, queues, callbacks, handoff_schema):
        main.add_command(command)


def _service() -> Any:
    from voicebot.acd.config import load_acd_settings
    from voicebot.acd.service import AcdService
    from voicebot.storage.db import create_tables, make_engine

    engine = make_engine()
    create_tables(engine)
    return AcdService(engine, load_acd_settings())


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _emit(as_json: bool, data: list[dict[str, Any]], headers: Sequence[str], empty: str) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif not data:
        click.echo(empty)
    else:
        click.echo(_table(headers, [[row[h] for h in headers] for row in data]))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


# ----- agents ------------------------------------------------------------------------------------------


@click.group()
def agents() -> None:
    """Agents: accounts, presence and state."""


@agents.command("add")
@click.argument("login")
@click.option("--name", default="", help="Display name (default: the login).")
@click.option("--sip-uri", default="", help="Where the agent's phone rings, e.g. sip:alice@10.0.0.5:5062.")
@click.option("--skills", default="", help='Skills with proficiency 1-5: "banking:5,cards:3" (default 3).')
@click.option("--role", type=click.Choice(["agent", "supervisor"]), default="agent", show_default=True,
              help="A supervisor also sees the supervisor view of the web console.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Stored as an argon2id hash (asked for when not given).")
def agents_add(login: str, name: str, sip_uri: str, skills: str, role: str, password: str) -> None:
    """Create an agent account."""
    from voicebot.acd.agent_store import parse_skills

    acd = _service()
    try:
        agent = acd.agents.add(login, password, name=name, sip_uri=sip_uri, skills=parse_skills(skills),
                               now=acd.now(), role=role)
    except AcdError as exc:
        raise _fail(exc) from None
    click.echo(f"{role} {agent.login} added (logged out)")


def _agent_row(agent: Any, now: datetime) -> dict[str, Any]:
    lease = agent.lease_expires_at
    return {
        "login": agent.login, "name": agent.name, "state": agent.state, "reason": agent.state_reason,
        "since": _iso(agent.state_since),
        "skills": ",".join(f"{k}:{v}" for k, v in sorted(agent.skills.items())),
        "sip_uri": agent.sip_uri,
        "lease_seconds": None if lease is None else max(0, round((lease - now).total_seconds())),
        "calls": agent.calls_handled, "role": agent.role or "agent",
    }


@agents.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def agents_list(as_json: bool) -> None:
    """Every agent with state, reason, skills and presence lease left."""
    acd = _service()
    now = acd.now()
    rows = [_agent_row(a, now) for a in acd.agents.all()]
    _emit(as_json, rows, ["login", "name", "state", "reason", "since", "skills", "sip_uri", "lease_seconds", "calls",
                          "role"],
          "no agents (add one with: voicebot agents add LOGIN)")


@agents.command("login")
@click.argument("login")
@click.option("--password", prompt=True, hide_input=True)
@click.option("--break", "on_break", default=None, metavar="REASON", help="Log in on break instead of available.")
def agents_login(login: str, password: str, on_break: str | None) -> None:
    """Log an agent in (available), starting the presence lease."""
    acd = _service()
    if not acd.agents.check_password(login, password):
        raise click.ClickException(f"wrong login or password for {login!r}")
    try:
        agent = acd.agents.login(login, acd.now(), "break" if on_break else "available", on_break or "")
    except (AcdError, ValueError) as exc:
        raise _fail(exc) from None
    lease = acd.settings.agents.lease_seconds
    click.echo(f"agent {agent.login} is {agent.state}; presence lasts {lease:g} s unless renewed by a heartbeat")


@agents.command("heartbeat")
@click.argument("login")
def agents_heartbeat(login: str) -> None:
    """Renew an agent's presence lease (what the console does periodically; for scripts and phones)."""
    acd = _service()
    try:
        agent = acd.agents.heartbeat(login, acd.now())
    except AcdError as exc:
        raise _fail(exc) from None
    click.echo(f"agent {agent.login}: {agent.state}, present until {_iso(agent.lease_expires_at)}")


@agents.command("logout")
@click.argument("login")
def agents_logout(login: str) -> None:
    """Log an agent out (a ringing offer goes back to the queue)."""
    acd = _service()
    try:
        acd.agents.logout(login, acd.now())
    except (AcdError, ValueError) as exc:
        raise _fail(exc) from None
    click.echo(f"agent {login} logged out")


@agents.command("state")
@click.argument("login")
@click.argument("state", type=click.Choice(["available", "break", "logged_out"]))
@click.option("--reason", default="", help="Why (shown to supervisors; e.g. the break's reason).")
def agents_state(login: str, state: str, reason: str) -> None:
    """Set an agent's state (available, break with a reason, logged_out)."""
    acd = _service()
    try:
        agent = acd.agents.set_state(login, state, acd.now(), reason)
    except (AcdError, ValueError) as exc:
        raise _fail(exc) from None
    click.echo(f"agent {agent.login}: {agent.state}{f' ({reason})' if reason else ''}")


# ----- queues ------------------------------------------------------------------------------------------


@click.group()
def queues() -> None:
    """Queues: live status and who is waiting."""


@queues.command("status")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def queues_status(as_json: bool) -> None:
    """Waiting callers, longest wait, agents and today's figures for every queue."""
    from dataclasses import asdict

    acd = _service()
    rows = [asdict(s) for s in acd.status()]
    for row in rows:
        row["longest_wait_seconds"] = round(row["longest_wait_seconds"], 1)
    _emit(as_json, rows, ["queue", "strategy", "waiting", "callbacks_waiting", "offered", "longest_wait_seconds",
                          "agents_available", "agents_busy", "agents_logged_in", "answered_today",
                          "abandoned_today"], "no queues configured")


@queues.command("show")
@click.argument("queue")
@click.option("--json", "as_json", is_flag=True, help="JSON, with each entry's full handoff payload.")
def queues_show(queue: str, as_json: bool) -> None:
    """The callers waiting in QUEUE in the order they will be served, with what the IVR learned."""
    from voicebot.acd.handoff import with_queue_figures

    acd = _service()
    now = acd.now()
    rows = []
    for row in acd.waiting(queue):
        entry = row.entry
        handoff = entry.handoff or {}
        intent = (handoff.get("intent") or {}).get("name") or ""
        customer = (handoff.get("customer") or {}).get("name") or ""
        auth = (handoff.get("authentication") or {}).get("level") or ""
        data = {
            "position": row.position, "entry": entry.id, "call_id": entry.call_id, "kind": entry.kind,
            "status": entry.status, "caller_id": entry.caller_id, "priority": row.effective_priority,
            "vip": entry.vip, "waited_seconds": round(row.waited_seconds, 1), "customer": customer,
            "authentication": auth, "intent": intent, "reason": handoff.get("reason", ""),
            "callback_number": entry.callback_number,
        }
        if as_json:
            data["handoff"] = with_queue_figures(handoff, entry.enqueued_at, now, entry.offers) if handoff else {}
        rows.append(data)
    _emit(as_json, rows, ["position", "entry", "call_id", "kind", "status", "caller_id", "priority", "vip",
                          "waited_seconds", "customer", "authentication", "intent", "reason"],
          f"nobody is waiting in {queue}")


# ----- callbacks ---------------------------------------------------------------------------------------


@click.group()
def callbacks() -> None:
    """Callbacks that keep the caller's place."""


@callbacks.command("list")
@click.option("--all", "include_final", is_flag=True, help="Also completed, failed and cancelled ones.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
def callbacks_list(include_final: bool, as_json: bool) -> None:
    """Callbacks in their place in line (original enqueue time)."""
    acd = _service()
    rows = [
        {"entry": e.id, "call_id": e.call_id, "queue": e.queue, "number": e.callback_number, "status": e.status,
         "enqueued_at": _iso(e.enqueued_at), "requested_at": _iso(e.callback_requested_at),
         "attempts": e.callback_attempts, "next_attempt_at": _iso(e.not_before), "expires_at": _iso(e.expires_at),
         "end_reason": e.end_reason}
        for e in acd.callbacks.pending(include_final)
    ]
    _emit(as_json, rows, ["entry", "queue", "number", "status", "enqueued_at", "attempts", "next_attempt_at",
                          "expires_at"], "no callbacks pending")


@callbacks.command("cancel")
@click.argument("entry_id", type=int)
@click.option("--reason", default="cancelled by a supervisor")
def callbacks_cancel(entry_id: int, reason: str) -> None:
    """Cancel a waiting callback."""
    acd = _service()
    try:
        acd.callbacks.cancel(entry_id, acd.now(), reason)
    except AcdError as exc:
        raise _fail(exc) from None
    click.echo(f"callback {entry_id} cancelled")


@click.command("handoff-schema")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write to this file (default: print).")
def handoff_schema(output: Path | None) -> None:
    """The JSON Schema of the handoff payload (committed as docs/handoff.schema.json)."""
    from voicebot.acd.handoff import handoff_json_schema

    text = json.dumps(handoff_json_schema(), indent=2, sort_keys=True) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
