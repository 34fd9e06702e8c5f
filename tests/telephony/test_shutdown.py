"""Shutdown (issue 8 item 3): one deadline shared by all calls, a hook for the goodbye, BYE to every caller."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.telephony.harness import free_udp_ports
from tests.telephony.sipwire import Peer, ack_for, request, sdp
from voicebot.telephony.endpoint import CallChannel, SipConfig, SipEndpoint


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowThread:
    """Stands in for a call thread that never ends: each join takes its whole timeout (on the fake clock)."""

    def __init__(self, joins: list[float], clock: Clock) -> None:
        self.joins = joins
        self.clock = clock

    def join(self, timeout: float | None = None) -> None:
        self.joins.append(timeout or 0.0)
        self.clock.now += timeout or 0.0

    def is_alive(self) -> bool:
        return True


def test_wait_calls_shares_one_deadline_between_all_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: each call thread was joined with the full timeout (5 calls, 3 s grace: 15.9 s).
    endpoint = SipEndpoint(SipConfig(sip_port=0), lambda channel: None)
    joins: list[float] = []
    clock = Clock()
    monkeypatch.setattr("voicebot.telephony.endpoint.time.monotonic", clock)
    try:
        endpoint.ua.call_threads = {f"c{i}": SlowThread(joins, clock) for i in range(20)}  # type: ignore[misc]
        assert endpoint.wait_calls(2.0) is False
        assert len(joins) == 20 and sum(joins) <= 2.0  # before: 20 x 2.0 s
    finally:
        endpoint.ua.call_threads = {}
        endpoint.ua.scheduler.stop()
        endpoint.ua.transport.stop()


def place_calls(endpoint: SipEndpoint, count: int) -> list[tuple[Peer, str]]:
    calls = []
    for i in range(count):
        peer = Peer()
        call_id = f"shutdown-{i}"
        peer.send(request("INVITE", call_id, peer.port, target_port=endpoint.sip_port, body=sdp(peer.port + 1)),
                  endpoint.sip_port)
        ok = peer.expect("200")
        peer.send(ack_for(ok, call_id, peer.port, endpoint.sip_port), endpoint.sip_port)
        calls.append((peer, call_id))
    return calls


@pytest.fixture
def endpoints() -> Iterator[list[SipEndpoint]]:
    made: list[SipEndpoint] = []
    yield made
    for endpoint in made:
        endpoint.stop(timeout=1.0)


def make_endpoint(made: list[SipEndpoint], on_call: object) -> SipEndpoint:
    low = free_udp_ports(20)
    endpoint = SipEndpoint(SipConfig(sip_port=0, rtp_port_low=low, rtp_port_high=low + 19, max_calls=10),
                           on_call)  # type: ignore[arg-type]
    endpoint.start()
    made.append(endpoint)
    return endpoint


@pytest.mark.integration
def test_the_goodbye_hook_lets_each_call_owner_finish_before_bye(endpoints: list[SipEndpoint]) -> None:
    said: list[str] = []

    def on_call(channel: CallChannel) -> None:
        channel.end_requested.wait(10)
        said.append(channel.sip_call_id)  # (the call owner plays its goodbye here, then hangs up)
        channel.hang_up()

    endpoint = make_endpoint(endpoints, on_call)
    calls = place_calls(endpoint, 5)
    try:
        endpoint.stop_accepting()
        endpoint.request_end()
        for peer, call_id in calls:
            assert peer.expect("BYE").call_id == call_id
        assert endpoint.wait_calls(2.0)
        assert sorted(said) == sorted(call_id for _, call_id in calls)
        # a new caller during the shutdown: 486
        late = Peer()
        late.send(request("INVITE", "late", late.port, target_port=endpoint.sip_port, body=sdp(late.port + 1)),
                  endpoint.sip_port)
        assert late.expect(lambda m: not m.is_request and m.status >= 200).status == 486
        late.close()
    finally:
        for peer, _ in calls:
            peer.close()


@pytest.mark.integration
def test_stop_sends_bye_to_calls_whose_owner_does_not_end_them(endpoints: list[SipEndpoint]) -> None:
    stuck = threading.Event()

    def on_call(channel: CallChannel) -> None:
        channel.wait_ended(30)  # ignores end_requested
        stuck.set()

    endpoint = make_endpoint(endpoints, on_call)
    calls = place_calls(endpoint, 5)
    try:
        endpoint.stop(timeout=2.0)
        for peer, call_id in calls:
            assert peer.expect("BYE").call_id == call_id
        assert stuck.is_set() and endpoint.active_calls() == 0
    finally:
        for peer, _ in calls:
            peer.close()



# ----- VoicebotServer.shutdown on a fake clock: the schedule, not a stopwatch ------------------------------------


class FakeTime:
    """Stands in for the ``time`` module inside voicebot.telephony.server: sleeping moves the fake clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class StampedEvent(threading.Event):
    def __init__(self, clock: FakeTime) -> None:
        super().__init__()
        self.clock = clock
        self.at: float | None = None

    def set(self) -> None:
        if self.at is None:
            self.at = self.clock.now
        super().set()


class FakeEndpoint:
    """``calls`` calls that end only when ``leave_after_goodbye`` says so (else never: owners that ignore
    every request), so the shutdown's waits run to their deadlines on the fake clock."""

    def __init__(self, clock: FakeTime, calls: int, goodbye_done: Callable[[], bool] | None = None) -> None:
        self.clock, self.calls, self.goodbye_done = clock, calls, goodbye_done
        self.stopped_at: float | None = None
        self.accepting = True

    def stop_accepting(self) -> None:
        self.accepting = False

    def active_calls(self) -> int:
        return 0 if self.goodbye_done is not None and self.goodbye_done() else self.calls

    def stop(self, timeout: float = 2.0) -> None:
        self.stopped_at = self.clock.now


class ClosingRecognizer:
    closed = False

    def close(self) -> None:
        self.closed = True


def fake_server(monkeypatch: pytest.MonkeyPatch, calls: int, *, goodbye: float,
                owners_leave_after_goodbye: bool) -> tuple[Any, FakeTime, FakeEndpoint]:
    from voicebot.telephony import server as server_module
    from voicebot.telephony.server import ServeSettings, VoicebotServer

    clock = FakeTime()
    monkeypatch.setattr(server_module, "time", clock)
    srv = VoicebotServer(ServeSettings(SipConfig(sip_port=0), shutdown_grace_seconds=10.0), services=None,  # type: ignore[arg-type]
                         recognizer=ClosingRecognizer(), prompts=None, goodbye_seconds=goodbye)  # type: ignore[arg-type]
    srv.closing_calls, srv.stop_calls = StampedEvent(clock), StampedEvent(clock)

    def goodbye_done() -> bool:  # each owner plays the goodbye once asked, then hangs up
        closing = srv.closing_calls.at  # type: ignore[attr-defined]
        return closing is not None and clock.now >= closing + goodbye

    endpoint = FakeEndpoint(clock, calls, goodbye_done if owners_leave_after_goodbye else None)
    srv.endpoint = endpoint  # type: ignore[assignment]
    return srv, clock, endpoint


@pytest.mark.parametrize("calls", [1, 5, 20])
def test_server_shutdown_is_one_grace_period_however_many_calls(monkeypatch: pytest.MonkeyPatch,
                                                                calls: int) -> None:
    # Owners that ignore the goodbye and the stop: every wait runs to its deadline. Before the fix, 5 calls with a
    # 3 s grace took 15.9 s (each call's thread joined with the whole grace period).
    from voicebot.telephony.server import HARD_STOP_S, POLL_S

    srv, clock, endpoint = fake_server(monkeypatch, calls, goodbye=3.5, owners_leave_after_goodbye=False)
    began = clock.now
    srv.shutdown()
    assert not endpoint.accepting  # new INVITEs got 486 from the start
    assert srv.closing_calls.at is not None  # type: ignore[attr-defined]
    assert srv.stop_calls.at is not None  # type: ignore[attr-defined]
    # the goodbye is asked for when there is just time to play it before the grace period ends...
    assert srv.closing_calls.at - began == pytest.approx(10.0 - 3.5 - 0.2, abs=POLL_S + 1e-9)  # type: ignore[attr-defined]
    # ...the calls are stopped at the end of the grace period, and the endpoint sends its BYEs HARD_STOP_S later
    assert srv.stop_calls.at - began == pytest.approx(10.0, abs=POLL_S + 1e-9)  # type: ignore[attr-defined]
    assert endpoint.stopped_at is not None
    assert endpoint.stopped_at - srv.stop_calls.at <= HARD_STOP_S + POLL_S + 1e-9  # type: ignore[attr-defined]
    assert endpoint.stopped_at - began <= 10.0 + HARD_STOP_S + 2 * POLL_S + 1e-9  # in total, for 1 or 20 calls
    assert srv.endpoint is None and srv.recognizer.closed  # type: ignore[attr-defined]


def test_server_shutdown_ends_when_the_callers_have_heard_the_goodbye(monkeypatch: pytest.MonkeyPatch) -> None:
    from voicebot.telephony.server import POLL_S

    srv, clock, endpoint = fake_server(monkeypatch, 5, goodbye=3.5, owners_leave_after_goodbye=True)
    began = clock.now
    srv.shutdown()
    asked = srv.closing_calls.at  # type: ignore[attr-defined]
    assert asked is not None
    # the goodbye played to its end within the grace period, and nobody had to be cut off
    assert srv.stop_calls.at is not None and srv.stop_calls.at <= asked + 3.5 + POLL_S + 1e-9  # type: ignore[attr-defined]
    assert srv.stop_calls.at - began < 10.0  # type: ignore[attr-defined]
    assert endpoint.stopped_at is not None and endpoint.stopped_at - began < 10.0
