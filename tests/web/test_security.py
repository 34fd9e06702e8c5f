"""Bad input at the console: wrong passwords (lock-out), expired sessions, CSRF, another agent's call or offer,
supervisor-only pages, HTML in names and notes, open redirects."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.web.conftest import PASSWORD, Clock, handed_off_call, log_in, login_csrf
from voicebot.acd.service import AcdService
from voicebot.web.auth import SESSION_COOKIE, NotLoggedIn, Sessions
from voicebot.web.settings import parse_web

pytestmark = pytest.mark.integration


def _try(client: TestClient, login: str, password: str) -> int:
    token = login_csrf(client)
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token}).status_code


def test_wrong_passwords_lock_the_login_for_a_time(client: TestClient, clock: Clock) -> None:
    assert [_try(client, "alice", "wrong") for _ in range(2)] == [401, 401]
    assert _try(client, "alice", "wrong") == 429  # the third failure locks (max_login_failures: 3)
    assert _try(client, "alice", PASSWORD) == 429  # even the right password, while locked
    token = login_csrf(client)
    page = client.post("/login", data={"login": "alice", "password": PASSWORD, "csrf_token": token}).text
    assert "Too many failed attempts: try again in 121 s." in page
    clock.advance(121)  # lockout_seconds: 120
    assert _try(client, "alice", PASSWORD) == 200


def test_unknown_logins_are_throttled_like_real_ones(client: TestClient) -> None:
    assert [_try(client, "nobody", "x") for _ in range(3)] == [401, 401, 429]


def test_login_form_needs_its_csrf_cookie(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"login": "alice", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403


def test_posts_without_the_sessions_csrf_token_are_refused(client: TestClient, acd: AcdService) -> None:
    log_in(client, "alice")
    assert client.post("/agent/state", data={"state": "available"}).status_code == 403
    assert client.post("/agent/state", data={"state": "available", "csrf_token": "x" * 32}).status_code == 403
    assert client.post("/agent/heartbeat").status_code == 403
    assert client.post("/api/agent/state", json={"state": "available"}).status_code == 403
    assert acd.agents.get("alice").state == "break"


def test_expired_sessions_go_back_to_the_login_form() -> None:
    sessions = Sessions(parse_web({"secret": "k", "session_seconds": 1}))
    from voicebot.storage.acd_models import Agent

    token = sessions.issue(Agent(login="alice", name="Alice", role="agent"))
    assert sessions.read(token).login == "alice"
    time.sleep(2.1)  # itsdangerous counts whole seconds
    with pytest.raises(NotLoggedIn, match="expired"):
        sessions.read(token)


def test_a_first_visit_gets_the_plain_login_form(client: TestClient) -> None:
    response = client.get("/agent", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/agent"
    assert "Your session ended" not in client.get(response.headers["location"]).text


def test_a_stale_or_forged_cookie_redirects_to_login(client: TestClient) -> None:
    client.cookies.set(SESSION_COOKIE, "forged.cookie.value")
    response = client.get("/agent", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?expired=1")
    assert client.get("/api/me").status_code == 401


def test_another_agents_call_and_offer_are_403(client: TestClient, acd: AcdService, engine: Engine,
                                               tmp_path: Path) -> None:
    alice = log_in(client, "alice")
    client.post("/agent/state", data={"state": "available", "csrf_token": alice})
    entry = acd.enqueue_handoff(handed_off_call(engine, tmp_path / "spool"))
    offer = acd.route().offers[0]
    with TestClient(client.app) as intruder:
        bob = log_in(intruder, "bob")
        assert intruder.post(f"/agent/offers/{offer.offer_id}/accept",
                             data={"token": offer.token, "csrf_token": bob}).status_code == 403
        assert intruder.post(f"/api/offers/{offer.offer_id}/accept", json={"token": offer.token},
                             headers={"X-CSRF-Token": bob}).status_code == 403
        client.post(f"/agent/offers/{offer.offer_id}/accept", data={"token": offer.token, "csrf_token": alice})
        assert intruder.get(f"/agent/calls/{entry.id}").status_code == 403
        assert intruder.get(f"/api/calls/{entry.id}").status_code == 403
        assert intruder.post(f"/agent/calls/{entry.id}/ticket", data={
            "csrf_token": bob, "notes": "x", "disposition": "resolved", "action": "close"}).status_code == 403
        assert intruder.post(f"/agent/calls/{entry.id}/transfer",
                             data={"csrf_token": bob, "queue": "cards"}).status_code == 403
        assert intruder.get("/supervisor").status_code == 403  # agents are not supervisors
        assert intruder.get("/api/supervisor").status_code == 403
    assert client.get(f"/agent/calls/{entry.id}").status_code == 200


def test_html_in_a_callers_name_is_escaped(client: TestClient, acd: AcdService) -> None:
    csrf = log_in(client, "alice")
    client.post("/agent/state", data={"state": "available", "csrf_token": csrf})
    acd.enqueue("evil", "general", handoff={"call_id": "evil", "caller_id": "+1<img src=x onerror=alert(1)>",
                                            "customer": {"name": "<script>alert('x')</script>", "vip": False},
                                            "queue": {"name": "general"}}, caller_id="+1555")
    acd.route()
    pop = client.get("/agent/panel").text
    assert "<script>alert" not in pop and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in pop
    assert "<img src=x" not in pop
    with TestClient(client.app) as boss:
        log_in(boss, "sue")
        board = boss.get("/supervisor").text
        assert "<script>alert" not in board and "&lt;script&gt;" in board


def test_login_next_is_never_an_open_redirect(client: TestClient) -> None:
    token = login_csrf(client)
    response = client.post("/login", data={"login": "alice", "password": PASSWORD, "csrf_token": token,
                                           "next": "//evil.example/x"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/agent"


def test_bearer_tokens_for_the_api(client: TestClient, acd: AcdService) -> None:
    assert client.post("/api/token", json={"login": "sue", "password": "nope"}).status_code == 401
    token = client.post("/api/token", json={"login": "sue", "password": PASSWORD}).json()["token"]
    fresh = TestClient(client.app)
    headers = {"Authorization": f"Bearer {token}"}
    assert fresh.get("/api/me", headers=headers).json() == {"login": "sue", "name": "Sue Supervisor",
                                                            "role": "supervisor"}
    board = fresh.get("/api/supervisor", headers=headers).json()
    assert {q["queue"] for q in board["queues"]} == {"general", "vip", "cards"}
    assert fresh.get("/api/me").status_code == 401
    # No CSRF header needed with a bearer token (a browser never sends one by itself).
    assert fresh.post("/api/agent/state", json={"state": "break", "reason": "meeting"}, headers=headers).json() == {
        "state": "break", "reason": "meeting"}
    schema = fresh.get("/api/schemas/handoff.json").json()
    assert schema["properties"]["schema_version"]["const"] == 1 and "transfers" in schema["properties"]
    assert "/api/agent" in fresh.get("/openapi.json").json()["paths"]


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readiness_fails_without_the_database(tmp_path: Path) -> None:
    from voicebot.acd.config import parse_acd
    from voicebot.storage.db import make_engine
    from voicebot.web.app import create_app

    missing = make_engine(f"sqlite:///{tmp_path}/no/such/dir/db.sqlite")
    app = create_app(missing, parse_acd({}), parse_web({}), run_webhooks=False)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200


def test_supervisor_forces_a_state_and_cancels_a_callback(client: TestClient, acd: AcdService) -> None:
    csrf = log_in(client, "sue")
    assert acd.agents.get("sue").state == "logged_out"  # supervisors are not put into agent presence
    acd.agents.login("bob", acd.now())
    forced = client.post("/supervisor/agents/state", data={"csrf_token": csrf, "login": "bob", "state": "break",
                                                           "reason": "coaching"})
    assert forced.status_code == 200 and "agent bob is now break" in forced.text
    bob = acd.agents.get("bob")
    assert (bob.state, bob.state_reason) == ("break", "set by sue: coaching")
    entry = acd.enqueue("cb", "general", caller_id="+15550100001")
    acd.request_callback(entry.id or 0, "+15550100001")
    board = client.get("/supervisor").text
    assert re.search(rf'id="cancel-callback-{entry.id}"', board)
    assert client.post(f"/supervisor/callbacks/{entry.id}/cancel", data={"csrf_token": csrf}).status_code == 200
    assert acd.callbacks.pending() == []
    assert client.post(f"/supervisor/callbacks/{entry.id}/cancel", data={}).status_code == 403  # CSRF


def test_documented_defaults() -> None:
    """docs/agents-guide.md and docs/supervisors-guide.md state these defaults."""
    from voicebot.config import ConfigError, load_settings

    settings = load_settings(env={})[0].web
    assert (settings.enabled, settings.host, settings.port) == (True, "127.0.0.1", 8080)
    assert (settings.max_login_failures, settings.lockout_seconds, settings.session_seconds) == (5, 300, 8 * 3600)
    assert settings.login_attempts_per_minute == 30
    assert settings.heartbeat_seconds == 15 and settings.push_seconds == 1 and settings.reconcile_seconds == 1
    assert settings.dispositions == ("resolved", "follow-up", "escalated", "fraud-report", "no-action")
    hooks = settings.webhooks
    assert (hooks.urls, hooks.max_attempts, hooks.backoff_seconds, hooks.timeout_seconds) == ((), 6, 2, 5)
    env = load_settings(env={"VOICEBOT_WEB_PORT": "9090", "VOICEBOT_WEB_HOST": "0.0.0.0",
                             "VOICEBOT_WEB_ENABLED": "false", "VOICEBOT_WEBHOOK_SECRET": "s"})[0].web
    assert (env.port, env.host, env.enabled, env.webhooks.secret) == (9090, "0.0.0.0", False, "s")
    with pytest.raises(ValueError, match="extra"):
        parse_web({"prot": 80})
    with pytest.raises(ConfigError, match="VOICEBOT_WEB_PORT"):
        load_settings(env={"VOICEBOT_WEB_PORT": "eighty"})


def test_pages_forbid_framing_and_foreign_scripts(client: TestClient) -> None:
    page = client.get("/login")
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-eval'" in csp and "frame-ancestors 'none'" in csp
    assert "<script" not in page.text.replace('<script src="/static/vendor/', "")  # no inline script anywhere


def test_sign_in_attempts_are_rate_limited_per_client_address(client: TestClient, clock: Clock) -> None:
    # Spraying one password over many logins: each login stays under its own lock-out, the address does not.
    codes = [_try(client, f"user{n}", "password1") for n in range(31)]
    assert codes[:30] == [401] * 30 and codes[30] == 429
    assert client.post("/api/token", json={"login": "alice", "password": PASSWORD}).status_code == 429
    clock.advance(61)
    assert _try(client, "alice", PASSWORD) == 200
