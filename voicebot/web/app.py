"""The web app: ``create_app()`` builds it; ``voicebot web`` and ``voicebot serve`` run it with uvicorn.

Pages are rendered on the server (Jinja2, autoescaped: a caller's name or a note with HTML shows as text),
live parts are pushed as HTML fragments over server-sent events and swapped in by htmx (vendored, no build
step). The JSON API under ``/api`` serves the same data (OpenAPI at ``/docs`` and ``/openapi.json``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from voicebot.acd.config import AcdSettings
from voicebot.acd.service import AcdService
from voicebot.metrics import Metrics, metrics_app
from voicebot.reports.settings import ReportSettings
from voicebot.runtime.bus import EventBus
from voicebot.web import agent, api, calls_browser, dashboard, pages, supervisor
from voicebot.web.auth import SESSION_COOKIE, NotLoggedIn
from voicebot.web.background import Reconciler
from voicebot.web.context import HERE, WebContext
from voicebot.web.settings import WebSettings
from voicebot.web.webhooks import Webhooks, WebhookWorker

log = logging.getLogger("voicebot.web")

CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def create_app(engine: Engine, acd_settings: AcdSettings, settings: WebSettings, *, acd: AcdService | None = None,
               hooks: Webhooks | None = None, run_webhooks: bool = True, metrics: Metrics | None = None,
               reports: ReportSettings | None = None, recordings_dir: Path | None = None) -> FastAPI:
    """The app on ``engine`` (tables must exist). ``run_webhooks``: run the background threads (webhook
    deliveries, the ACD reconciler) while the app runs (off in tests that drive them themselves). ``metrics``:
    served in Prometheus' format at ``/metrics`` (and closed with the app). ``reports``: the dashboard's
    staffing target (the ``reports:`` section); ``recordings_dir``: the only folder call recordings are
    served from (default: the data folder's ``recordings``, where ``voicebot serve`` writes them)."""
    acd = acd or AcdService(engine, acd_settings)
    hooks = hooks or Webhooks(engine, settings.webhooks, clock=acd.now)
    context = WebContext.build(engine, acd, settings, hooks)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = WebhookWorker(hooks) if run_webhooks else None
        reconcile = run_webhooks and settings.reconcile_seconds > 0
        reconciler = Reconciler(acd, settings.reconcile_seconds) if reconcile else None
        for started in (worker, reconciler):
            if started is not None:
                started.start()
        try:
            yield
        finally:
            for running in (worker, reconciler):
                if running is not None:
                    running.stop()
            if metrics is not None:
                metrics.close()

    app = FastAPI(title="voicebot console", version="1", lifespan=lifespan,
                  description="The agent's and supervisor's screens of voicebot, and their JSON API.")
    app.state.web = context
    app.state.reports = reports
    app.state.recordings_dir = recordings_dir

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith(("/docs", "/redoc")):  # FastAPI's API pages load their own scripts
            # Scripts only from this site (htmx is vendored); htmx's hx-on handlers need eval, its indicator
            # styles an inline <style>. No framing (clickjacking), forms post only here.
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (pages, agent, supervisor, api):
        app.include_router(module.router)
    app.include_router(dashboard.router)  # the supervisor's dashboard and calls browser (docs/supervisors-guide.md)
    app.include_router(dashboard.api)
    app.include_router(calls_browser.router)
    if metrics is not None:
        app.mount("/metrics", metrics_app(metrics))  # Prometheus (voicebot/metrics.py, docs/reports.md)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> Response:
        """The database answers (503 otherwise)."""
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "not ready"
            return JSONResponse({"status": "unavailable", "error": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.exception_handler(NotLoggedIn)
    def not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        if request.url.path.startswith("/api/") or "text/event-stream" in request.headers.get("accept", ""):
            return JSONResponse({"detail": str(exc)}, status_code=401)
        # "Your session ended" only to someone who had one; a first visit just gets the form.
        flag = "expired=1&" if SESSION_COOKIE in request.cookies else ""
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": f"/login?{flag}"})
        return RedirectResponse(f"/login?{flag}next={request.url.path}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/") or request.headers.get("HX-Request"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return context.page(request, "error.html", None, status_code=exc.status_code, status=exc.status_code,
                            detail=exc.detail)

    return app


def app_from_environment(config_path: Path | None = None, bus: EventBus | None = None) -> FastAPI:
    """The app on the configured database (``DATABASE_URL`` or the data folder) and configuration
    (``config_path``, else VOICEBOT_CONFIG or ./voicebot.yaml, over the embedded defaults, then environment).

    ``bus``: the event bus of the calls this process runs (``voicebot serve``): /metrics then also has the
    call, speech and SIP figures; alone (``voicebot web``) it has the queues, agents and errors.
    """
    from voicebot.config import load_settings
    from voicebot.metrics import for_services
    from voicebot.storage.db import create_tables, make_engine

    settings, _source = load_settings(config_path)
    engine = make_engine()
    create_tables(engine)
    acd = AcdService(engine, settings.acd)
    metrics = for_services(bus or EventBus(), acd, sip=bus is not None)
    return create_app(engine, settings.acd, settings.web, acd=acd, metrics=metrics, reports=settings.reports)
