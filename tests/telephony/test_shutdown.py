"""Shutdown (issue 8 item 3): one deadline shared by all calls, a hook for the goodbye, BYE to every caller."""

from __future__ import annotations

import threading
from collections.abc import Iterator

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

