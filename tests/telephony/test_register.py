"""Register mode against a raw UDP registrar that asks for digest authentication (kamailio, without
authentication, is in test_peers)."""

from __future__ import annotations

import hashlib
import threading

import pytest

from tests.telephony.sipwire import Agent, Peer, ack_for, request, sdp, wait_until
from voicebot.telephony import sip_message as sm
from voicebot.telephony.register import digest_params

pytestmark = pytest.mark.integration


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_register_with_digest_then_calls_through_the_proxy_and_unregister() -> None:
    registrar = Peer()
    seen: list[sm.Message] = []
    stop = threading.Event()

    def serve() -> None:
        nonce = "n0nce"
        while not stop.is_set():
            registrar.pump(0.05)
            while registrar.received:
                msg = registrar.received.pop(0)
                seen.append(msg)
                if msg.method != "REGISTER":
                    continue
                source = ("127.0.0.1", int(sm.hostport(msg.get("via").split()[1].split(";")[0])[1]))
                auth = digest_params(msg.get("authorization"))
                if not auth:
                    registrar.sock.sendto(sm.response(msg, 401, "Unauthorized", to_tag="r", headers=[
                        ("WWW-Authenticate", f'Digest realm="lab", nonce="{nonce}", qop="auth"')]), source)
                    continue
                # check the response the RFC 2617 way, independently of the code under test
                ha1, ha2 = md5("ivr:lab:secret"), md5(f"REGISTER:{auth['uri']}")
                expected = md5(f"{ha1}:{nonce}:{auth['nc']}:{auth['cnonce']}:auth:{ha2}")
                ok = auth["response"] == expected and auth["username"] == "ivr"
                registrar.sock.sendto(sm.response(msg, 200 if ok else 403, "OK" if ok else "Forbidden",
                                                  to_tag="r", headers=[("Expires", msg.get("expires"))]), source)

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    agent = Agent(trunk=False, registrar=("127.0.0.1", registrar.port), username="ivr", password="secret")
    proxy = Peer()
    try:
        assert agent.ua.registration is not None and agent.ua.registration.registered.is_set()
        registers = [m for m in seen if m.method == "REGISTER"]
        assert len(registers) == 2 and registers[1].get("authorization").startswith("Digest ")
        assert sm.uri_of(registers[0].get("contact")) == f"sip:ivr@127.0.0.1:{agent.port}"
        # an INVITE relayed by the proxy: responses to the proxy (the source), our BYE to the registrar/proxy
        proxy.send(request("INVITE", "via-proxy", proxy.port, target_port=agent.port, body=sdp(proxy.port + 1)),
                   agent.port)
        ok = proxy.expect("200")
        proxy.send(ack_for(ok, "via-proxy", proxy.port, agent.port), agent.port)
        agent.release.set()
        assert wait_until(lambda: any(m.method == "BYE" for m in seen))
    finally:
        agent.stop()
        assert wait_until(lambda: any(m.method == "REGISTER" and m.get("expires") == "0" for m in seen))
        stop.set()
        worker.join(1)
        registrar.close()
        proxy.close()


def test_register_mode_dials_through_the_proxy_and_answers_its_challenge() -> None:
    """An outbound call in register mode goes to the registrar/proxy, which challenges it (407) as a PBX does."""
    proxy = Peer()
    agent = Agent(trunk=False, registrar=("127.0.0.1", proxy.port), username="ivr", password="secret")
    try:
        leg = agent.ua.dialer.dial("sip:agent42@127.0.0.1:9", headers=[("X-Voicebot-Handoff", "h-1")])
        register = proxy.expect("REGISTER")  # (start() waited for it: its 200 never came, registration retries)
        assert register.method == "REGISTER"
        invite = proxy.expect("INVITE")
        assert invite.uri == "sip:agent42@127.0.0.1:9"  # the Request-URI is the agent; the datagram went to the proxy
        source = ("127.0.0.1", int(sm.hostport(invite.get("via").split()[1].split(";")[0])[1]))
        proxy.sock.sendto(sm.response(invite, 407, "Proxy Authentication Required", to_tag="p", headers=[
            ("Proxy-Authenticate", 'Digest realm="pbx", nonce="abc"')]), source)
        assert proxy.expect("ACK").branch == invite.branch
        again = proxy.expect("INVITE")
        auth = digest_params(again.get("proxy-authorization"))
        assert again.cseq[0] == invite.cseq[0] + 1 and again.branch != invite.branch
        assert auth["username"] == "ivr" and auth["uri"] == "sip:agent42@127.0.0.1:9"
        assert auth["response"] == md5(f"{md5('ivr:pbx:secret')}:abc:{md5('INVITE:sip:agent42@127.0.0.1:9')}")
        assert again.get("x-voicebot-handoff") == "h-1"
        proxy.sock.sendto(sm.response(again, 486, "Busy Here", to_tag="p"), source)
        assert leg.settled.wait(3) and leg.outcome == "busy"
    finally:
        agent.stop()
        proxy.close()
