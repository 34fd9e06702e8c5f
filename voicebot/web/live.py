"""Server-sent events: a fragment re-rendered every ``push_seconds`` and sent when it changed.

htmx's SSE extension swaps each ``event: NAME`` into the element with ``sse-swap="NAME"``. The stream
ends when the browser goes away or the session expires (the page then reloads into the login form).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from voicebot.web.auth import NotLoggedIn
from voicebot.web.context import WebContext

#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0
#: How long an expired session's stream stays open for the page to leave.
EXPIRED_GRACE_SECONDS = 30.0


def sse_message(event: str, html: str) -> str:
    lines = html.strip().splitlines() or [""]
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


def stream(request: Request, context: WebContext, event: str, render: Callable[[], str]) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        last = None
        quiet = 0.0
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            try:
                context.sessions.user(request)
            except NotLoggedIn:
                yield sse_message("expired", "<span>session expired</span>")
                # Stay open while the page goes to the login form: a stream closed under it is an error
                # in the browser, and EventSource would reconnect (to a 401) meanwhile.
                for _ in range(int(EXPIRED_GRACE_SECONDS / 0.5)):
                    if await request.is_disconnected():
                        break
                    await asyncio.sleep(0.5)
                return
            html = await run_in_threadpool(render)
            if html != last:
                last, quiet = html, 0.0
                yield sse_message(event, html)
            elif quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield ": keepalive\n\n"
            await asyncio.sleep(context.settings.push_seconds)
            quiet += context.settings.push_seconds

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
