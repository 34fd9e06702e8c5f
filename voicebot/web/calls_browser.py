"""The supervisor's calls browser: search the stored calls (caller, period, outcome, queue, agent), a call's
page (timeline, transcript, tickets) and its stereo recording, served only from the recordings folder.
Supervisors only (agents get 403; no session: the login page, or 401 for scripts)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from starlette.responses import Response

from voicebot.storage.db import data_dir
from voicebot.web.call_records import CallQuery, call_detail, call_record, search_calls, search_options
from voicebot.web.dashboard import parse_when
from voicebot.web.pages import Context, CurrentUser
from voicebot.web.supervisor import require_supervisor

router = APIRouter(include_in_schema=False)
#: Call ids as channels assign them (hex, SIP-ish tokens); anything else is not a call of ours.
CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$")


def recordings_root(request: Request) -> Path:
    """Where ``voicebot serve`` writes recordings (the data folder's ``recordings``, unless the app was given
    another): a recording is served only from inside it, whatever path its record holds."""
    root: Path | None = getattr(request.app.state, "recordings_dir", None)
    return (root or data_dir() / "recordings").resolve()


def recording_file(request: Request, path: str | None) -> Path | None:
    """The record's WAV file if it exists inside the recordings folder, else None."""
    if not path:
        return None
    root = recordings_root(request)
    resolved = Path(path).resolve()  # symlinks and ".." resolved before the check
    if not resolved.is_relative_to(root) or resolved.suffix.lower() != ".wav" or not resolved.is_file():
        return None
    return resolved


@router.get("/supervisor/calls")
def calls(request: Request, context: Context, user: CurrentUser) -> Response:
    require_supervisor(user)
    q = request.query_params
    query = CallQuery(
        caller=q.get("caller", "")[:40], since=parse_when(q["since"], "since") if q.get("since") else None,
        until=parse_when(q["until"], "until") if q.get("until") else None, outcome=q.get("outcome", ""),
        queue=q.get("queue", ""), agent=q.get("agent", ""), page=int(q["page"]) if q.get("page", "").isdigit() else 1)
    found = search_calls(context.engine, query)
    kept = {k: v for k, v in q.items() if k != "page" and v}

    def page_link(page: int) -> str:
        return "/supervisor/calls?" + urlencode({**kept, "page": page})

    return context.page(request, "calls.html", user, found=found, form=q, options=search_options(context.engine),
                        previous=page_link(found.page - 1) if found.page > 1 else "",
                        next=page_link(found.page + 1) if found.page < found.pages else "")


@router.get("/supervisor/calls/{call_id}")
def call_page(request: Request, context: Context, user: CurrentUser, call_id: str) -> Response:
    require_supervisor(user)
    detail = call_detail(context.engine, call_id) if CALL_ID.match(call_id) else None
    if detail is None:
        raise HTTPException(404, "no such call")
    has_recording = recording_file(request, detail.record.recording_path) is not None
    return context.page(request, "supervisor_call.html", user, call=detail, record=detail.record,
                        has_recording=has_recording)


@router.get("/supervisor/calls/{call_id}/recording.wav")
def recording(request: Request, context: Context, user: CurrentUser, call_id: str) -> Response:
    """The stereo WAV (caller left, IVR or agent right), with Range requests for seeking."""
    require_supervisor(user)
    record = call_record(context.engine, call_id) if CALL_ID.match(call_id) else None
    found = recording_file(request, record.recording_path) if record is not None else None
    if found is None:
        raise HTTPException(404, "no recording for this call")
    return FileResponse(found, media_type="audio/wav", headers={"Cache-Control": "private, no-store"})
