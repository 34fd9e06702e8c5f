"""The supervisor's dashboard data and calls browser over HTTP: the dashboard's JSON is `voicebot report`'s,
the calls browser searches and shows a call, recordings are served only to supervisors, only from the
recordings folder, with Range requests, and silent where the caller keyed their PIN."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.web.conftest import Clock, handed_off_call, log_in
from tests.web.reports_data import CALLS, DAY, known_day, recorded_call
from voicebot.acd.config import AcdSettings
from voicebot.acd.service import AcdService
from voicebot.reports.queries import build_report
from voicebot.reports.settings import ReportSettings
from voicebot.storage.call_models import CallRecord
from voicebot.storage.db import session_scope
from voicebot.web.app import create_app
from voicebot.web.settings import WebSettings

pytestmark = pytest.mark.integration  # a real SQLite file and PostgreSQL, a real call through the runtime
TARGET = ReportSettings(service_level_target=0.9)
#: For the tests whose subject is not the database (the queries run on both in the others): CI time.
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    return folder


@pytest.fixture
def site(engine: Engine, acd_settings: AcdSettings, web_settings: WebSettings, acd: AcdService,
         recordings: Path) -> Iterator[TestClient]:
    app = create_app(engine, acd_settings, web_settings, acd=acd, run_webhooks=False, reports=TARGET,
                     recordings_dir=recordings)
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


def test_the_dashboard_json_is_the_report_of_the_period(site: TestClient, engine: Engine,
                                                        acd_settings: AcdSettings, acd: AcdService) -> None:
    known_day(engine)
    log_in(site, "sue")
    page = site.get("/supervisor/dashboard")
    assert page.status_code == 200 and 'id="calls-chart"' in page.text and "chart-4.6.1.umd.min.js" in page.text
    today = acd.now().date()
    assert f'id="since" value="{today}T00:00"' in page.text  # it opens on today (UTC)
    assert f'id="until" value="{today + timedelta(days=1)}T00:00"' in page.text
    assert 'href="/supervisor/dashboard"' in site.get("/supervisor").text  # linked from the supervisor view
    got = site.get("/api/reports", params={"since": "2026-11-02T00:00", "until": "2026-11-03T00:00"}).json()
    # One source of truth: the same function as `voicebot report`, with the app's reports settings.
    assert got == build_report(engine, acd_settings, TARGET, DAY, DAY + timedelta(days=1), now=acd.now())
    # and the figures by hand: 2 of 6 self-served; general: answered within 20 s 1, beyond 1, abandoned at 40 s
    assert got["calls"] == 6 and got["containment"]["self_served"] == 2
    assert got["service_level"]["sl1"] == pytest.approx(1 / 3) and got["service_level"]["sl2"] == pytest.approx(1 / 3)
    assert [(h["hour"][11:16], h["calls"], h["queued"]) for h in got["hourly"]] == [("08:00", 4, 1), ("10:00", 2, 2)]
    funnel = {n["node"]: n for n in got["ivr_funnel"]}
    assert (funnel["main_menu"]["reached"], funnel["main_menu"]["hung_up"], funnel["agent"]["handed_off"]) == (6, 1, 3)
    # alice: talk 60 + 120 s, wrap-up 30 + 30 s, logged in 08:00-12:00
    assert got["occupancy"]["agents"]["alice"]["occupancy"] == pytest.approx(240 / (4 * 3600))
    assert {s["hour"][11:16]: s["agents_needed"] for s in got["staffing"]} == {"08:00": 1, "10:00": 1}
    assert got["staffing"][0]["target"] == 0.9
    late = site.get("/api/reports", params={"since": "2026-11-02T10:00", "until": "2026-11-02T11:00",
                                            "queue": "general"}).json()
    assert late["calls"] == 2 and late["queue"] == "general" and late["service_level"]["abandoned"] == 1
    assert site.get("/api/reports", params={"since": "yesterday", "until": "2026-11-03"}).status_code == 400
    assert site.get("/api/reports", params={"since": "2026-11-03", "until": "2026-11-02"}).status_code == 400
    assert site.get("/api/reports", params={"since": "2026-10-01", "until": "2026-11-02"}).status_code == 400


@SQLITE_ONLY
def test_agents_get_403_and_strangers_the_login_page_or_401(site: TestClient, engine: Engine,
                                                            recordings: Path) -> None:
    known_day(engine)
    (recordings / "known-4.wav").write_bytes(b"RIFF")
    with session_scope(engine) as session:
        record = session.get(CallRecord, "known-4")
        assert record is not None
        record.recording_path = str(recordings / "known-4.wav")
        session.add(record)
    pages = ["/supervisor/dashboard", "/supervisor/calls", "/supervisor/calls/known-4",
             "/supervisor/calls/known-4/recording.wav"]
    api = "/api/reports?since=2026-11-02&until=2026-11-03"
    for path in pages:
        response = site.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    assert site.get(api).status_code == 401
    log_in(site, "alice")
    for path in [*pages, api]:
        assert site.get(path).status_code == 403, path


def test_the_calls_browser_searches_by_caller_period_outcome_queue_and_agent(site: TestClient,
                                                                             engine: Engine) -> None:
    known_day(engine)
    with session_scope(engine) as session:  # 30 more calls the day before: two pages
        for n in range(30):
            session.add(CallRecord(id=f"bulk-{n:02d}", caller_id=f"+1555020{n:04d}", started_at=DAY - timedelta(
                hours=1, minutes=n), outcome="self_served"))
    log_in(site, "sue")

    def found(**params: str) -> list[str]:
        page = site.get("/supervisor/calls", params=params)
        assert page.status_code == 200
        return [line.split('"')[0] for line in page.text.split('data-call="')[1:]]

    assert found(caller="101004") == ["known-4"]
    assert found(caller="+1555010100", outcome="answered") == ["known-6", "known-4"]  # newest first
    assert found(queue="general", agent="alice") == ["known-6", "known-4"]
    assert found(since="2026-11-02T10:00", until="2026-11-02T11:00") == ["known-6", "known-5"]
    assert found(outcome="abandoned_in_queue") == ["known-5"]
    assert found(caller="%") == [] and found(caller="_") == []  # LIKE wildcards are literal
    first, second = found(), found(page="2")
    assert len(first) == 25 and len(second) == 11 and not set(first) & set(second)
    assert first[:6] == ["known-6", "known-5", "known-4", "known-3", "known-2", "known-1"]
    assert "page 1 of 2" in site.get("/supervisor/calls").text


@SQLITE_ONLY
def test_a_calls_page_shows_its_timeline_transcript_and_plays_a_recording_silent_during_the_pin(
        site: TestClient, engine: Engine, recordings: Path, tmp_path: Path) -> None:
    call = recorded_call(engine, tmp_path, recordings)
    log_in(site, "sue")
    page = site.get(f"/supervisor/calls/{call.call_id}")
    assert page.status_code == 200
    assert 'id="recording"' in page.text and f"/supervisor/calls/{call.call_id}/recording.wav" in page.text
    # the IVR path with its nodes, and the transcript: what the IVR said, the PIN keys masked
    assert "main_menu" in page.text and "ask_pin" in page.text and "Please say or key in your four digit" in page.text
    keys = [line.split("<")[0] for line in page.text.split(">keys ")[1:]]
    assert keys == ["1", "***", "***", "***", "***"]  # the menu's 1, then each PIN key masked as stored
    assert "1234" not in page.text
    served = site.get(f"/supervisor/calls/{call.call_id}/recording.wav")
    assert served.status_code == 200 and served.headers["content-type"] == "audio/wav"
    ranged = site.get(f"/supervisor/calls/{call.call_id}/recording.wav", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100 and ranged.content == served.content[:100]
    with wave.open(io.BytesIO(served.content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 160, 2)
    assert len(samples) == len(call.secure)
    secure = [i for i, s in enumerate(call.secure) if s]
    assert len(secure) >= 40  # the PIN took a second or more of keying
    assert all(np.abs(samples[i]).max() == 0 for i in secure)  # both channels silent while the PIN was keyed
    heard = [i for i, s in enumerate(call.secure) if not s and not any(call.secure[max(0, i - 1):i + 2])]
    assert all(np.abs(samples[i, :, 0]).max() > 0 for i in heard)  # the caller's hum everywhere else
    assert any(np.abs(samples[i, :, 1]).max() > 0 for i in heard)  # and the IVR's prompts


@SQLITE_ONLY
def test_a_call_without_a_recording_says_so_and_paths_outside_the_folder_are_refused(
        site: TestClient, engine: Engine, recordings: Path, tmp_path: Path) -> None:
    known_day(engine)
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"RIFF secret")
    (recordings / "notes.txt").write_text("not audio")
    (recordings / "link.wav").symlink_to(outside)
    log_in(site, "sue")
    page = site.get("/supervisor/calls/known-1")
    assert page.status_code == 200 and 'id="no-recording"' in page.text and "has no recording" in page.text
    assert "We are open nine to five." in page.text and "opening hours" in page.text
    assert site.get("/supervisor/calls/known-1/recording.wav").status_code == 404
    for path in (str(outside), str(recordings / ".." / "secret.wav"), str(recordings / "notes.txt"),
                 str(recordings / "link.wav"), "/etc/passwd"):
        with session_scope(engine) as session:
            record = session.get(CallRecord, "known-1")
            assert record is not None
            record.recording_path = path
            session.add(record)
        response = site.get("/supervisor/calls/known-1/recording.wav")
        assert response.status_code == 404 and b"secret" not in response.content, path
        assert 'id="no-recording"' in site.get("/supervisor/calls/known-1").text
    for crafted in ("..%2F..%2Fetc%2Fpasswd", "..%2Fsecret", "%2E%2E", "known-1%00"):
        assert site.get(f"/supervisor/calls/{crafted}/recording.wav").status_code == 404, crafted
    assert site.get("/supervisor/calls/../../etc/passwd").status_code == 404
    assert site.get("/supervisor/calls/nobody").status_code == 404
    assert CALLS  # the known day is what the other tests assert on


def test_a_calls_timeline_follows_it_through_the_acd_offers_answer_transfer_and_ticket(
        site: TestClient, engine: Engine, acd: AcdService, clock: Clock, tmp_path: Path) -> None:
    from voicebot.web.tickets import save_ticket
    from voicebot.web.transfer import transfer

    payload = handed_off_call(engine, tmp_path / "spool")  # Bob: balance, PIN, "agent" (the vip queue)
    with session_scope(engine) as session:  # the text call ran on its own clock: the ACD's carries on from it
        record = session.get(CallRecord, payload.call_id)
        assert record is not None and record.ended_at is not None
        clock.t = record.ended_at.timestamp() + 1
    acd.agents.login("bob", acd.now(), "available")
    entry = acd.enqueue_handoff(payload)
    clock.advance(3)
    acd.agents.login("alice", acd.now(), "available")
    offered = acd.route().offers
    assert [o.agent_login for o in offered] == ["alice"]  # bob lacks the vip skill
    acd.decline(offered[0].offer_id, offered[0].token, "declined")
    clock.advance(5)
    again = acd.route().offers
    assert [o.agent_login for o in again] == ["alice"]
    clock.advance(2)
    acd.accept(again[0].offer_id, again[0].token)
    clock.advance(40)
    moved = transfer(acd, entry.id or 0, "general", "alice", "card question")
    save_ticket(engine, moved, "alice", "Balance read, wants a card limit", ["cards"], "transferred", acd.now(), True)
    log_in(site, "sue")
    page = site.get(f"/supervisor/calls/{payload.call_id}").text
    timeline = page.split('id="timeline"')[1].split("</ol>")[0]
    whats = [w.split("<")[0] for w in timeline.split('class="what">')[1:]]
    ivr = ["identify", "welcome_back", "main_menu", "ask_pin", "verify", "balance_lookup", "balance_say",
           "anything_else", "agent_vip"]
    # (the text call's record ends at its handoff; a phone call's when the caller hangs up)
    assert whats == [*ivr, "handed off", "call ended", "queued in vip", "offered to alice", "offered to alice",
                     "answered by alice", "transferred to general", "ticket #1 by alice"], whats
    assert "declined" in timeline and "10 s after joining the queue" in timeline and "card question" in timeline
    assert "four three two one" not in page and ">***<" in page.replace(" <span", "<span")  # the spoken PIN
