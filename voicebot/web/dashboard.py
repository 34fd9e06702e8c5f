"""The supervisor's dashboard: the report of ``voicebot report`` (``voicebot.reports.queries.build_report``,
the one source of truth) served as JSON at ``/api/reports`` and drawn by Chart.js (vendored) on
``/supervisor/dashboard``. Supervisors only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from voicebot.reports.queries import build_report
from voicebot.reports.settings import ReportSettings
from voicebot.web.pages import Context, CurrentUser
from voicebot.web.supervisor import require_supervisor

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["api"])
#: The dashboard opens on today (UTC): a busy site's day takes a second or two to report (docs/benchmarks.md).
DEFAULT_DAYS = 1
#: The longest period one request may ask for: the report reads the period's rows into memory.
MAX_DAYS = 31


def parse_when(text: str, name: str) -> datetime:
    """An ISO date or date-time (as ``voicebot report`` takes it); without an offset it is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, f"{name}: {text[:40]!r} is not an ISO date or date-time") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def default_period(now: datetime) -> tuple[datetime, datetime]:
    until = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return until - timedelta(days=DEFAULT_DAYS), until


def report_settings(request: Request) -> ReportSettings:
    settings: ReportSettings | None = getattr(request.app.state, "reports", None)
    return settings or ReportSettings()


@router.get("/supervisor/dashboard")
def dashboard(request: Request, context: Context, user: CurrentUser) -> Response:
    require_supervisor(user)
    since, until = default_period(context.now())
    query = request.query_params
    # datetime-local inputs: minutes, no offset (the page says the times are UTC)
    return context.page(request, "dashboard.html", user,
                        since=query.get("since") or since.strftime("%Y-%m-%dT%H:%M"),
                        until=query.get("until") or until.strftime("%Y-%m-%dT%H:%M"),
                        queue=query.get("queue", ""), queues=sorted(context.acd.settings.queues))


@api.get("/reports")
def reports(request: Request, context: Context, user: CurrentUser, since: str, until: str,
            queue: str | None = None) -> dict[str, Any]:
    """The report of [since, until) (ISO, UTC unless an offset is given): the JSON of ``voicebot report
    --format json``, keys as in docs/reports.md. Supervisors only."""
    require_supervisor(user)
    start, end = parse_when(since, "since"), parse_when(until, "until")
    if end <= start:
        raise HTTPException(400, "until must be after since")
    if end - start > timedelta(days=MAX_DAYS):
        raise HTTPException(400, f"at most {MAX_DAYS} days at a time (use voicebot report for longer periods)")
    return build_report(context.engine, context.acd.settings, report_settings(request), start, end, queue or None,
                        now=context.now())
