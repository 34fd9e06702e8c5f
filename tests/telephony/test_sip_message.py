"""The SIP message layer, SDP, INFO DTMF and digest authentication: pure functions, no sockets."""

from __future__ import annotations

import pytest

from voicebot.telephony import sdp
from voicebot.telephony import sip_message as sm
from voicebot.telephony.register import digest_authorization, digest_params
from voicebot.telephony.sip_info import dtmf_from_info

METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS")


def msg(*headers: str, start: str = "OPTIONS sip:1000@127.0.0.1 SIP/2.0", body: str = "") -> sm.Message:
    return sm.parse(("\r\n".join([start, *headers]) + "\r\n\r\n" + body).encode())


BASE = ("Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1;rport", "From: <sip:a@10.0.0.1>;tag=f1",
        "To: <sip:1000@127.0.0.1>", "Call-ID: abc", "CSeq: 7 OPTIONS", "Max-Forwards: 70")


def test_folding_compact_forms_and_case_are_tolerated() -> None:
    m = msg("v: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1", "f: <sip:a@10.0.0.1>;tag=f1", "TO :",
            "  <sip:1000@127.0.0.1>", "i: abc", "cSeQ: 7 OPTIONS", "l: 0", "X-Unknown: kept;odd=param")
    assert m.call_id == "abc" and m.cseq == (7, "OPTIONS") and m.from_tag == "f1"
    assert sm.uri_of(m.get("to")) == "sip:1000@127.0.0.1"
    assert m.get("x-unknown") == "kept;odd=param"
    assert sm.check_request(m, methods=METHODS) is None


def test_list_headers_split_outside_quotes_and_brackets() -> None:
    m = msg(*BASE, 'Contact: "Smith, J" <sip:j@h;x=1,2>;q=0.5, <sip:k@h>', "Via: SIP/2.0/UDP b:1;branch=z9x")
    assert m.all("contact") == ['"Smith, J" <sip:j@h;x=1,2>;q=0.5', "<sip:k@h>"]
    assert len(m.all("via")) == 2 and m.branch == "z9hG4bK1"


@pytest.mark.parametrize(("change", "status"), [
    (("start", "OPTIONS sip:1000@127.0.0.1 SIP/7.0"), 505),
    (("start", "OPTIONS xyz:1000@127.0.0.1 SIP/2.0"), 416),
    (("drop", "Call-ID"), 400),
    (("add", "Call-ID: second"), 400),
    (("replace", ("CSeq: 7 OPTIONS", "CSeq: 7 INVITE")), 400),
    (("replace", ("CSeq: 7 OPTIONS", "CSeq: 99999999999 OPTIONS")), 400),
    (("add", "Content-Length: 12"), 400),
    (("add", "Content-Length: -1"), 400),
    (("replace", ("Max-Forwards: 70", "Max-Forwards: seventy")), 400),
])
def test_strict_where_the_rfc_is_strict(change: tuple[str, object], status: int) -> None:
    kind, value = change
    headers = list(BASE)
    start = "OPTIONS sip:1000@127.0.0.1 SIP/2.0"
    if kind == "start":
        start = str(value)
    elif kind == "drop":
        headers = [h for h in headers if not h.startswith(str(value))]
    elif kind == "add":
        headers.append(str(value))
    else:
        old, new = value  # type: ignore[misc]
        headers = [new if h == old else h for h in headers]
    refusal = sm.check_request(msg(*headers, start=start), methods=METHODS)
    assert refusal is not None and refusal[0] == status and refusal[1]


HUGE = "9" * 5000  # Python's int() refuses strings of more than 4,300 digits (ValueError)


@pytest.mark.parametrize("header", [f"Content-Length: {HUGE}", f"l: 0{HUGE}", f"Max-Forwards: {HUGE}",
                                    f"CSeq: {HUGE} OPTIONS"])
def test_numbers_too_long_for_int_are_refused_not_raised(header: str) -> None:
    name = sm.canonical(header.split(":")[0])
    headers = [h for h in BASE if sm.canonical(h.split(":")[0]) != name]
    refusal = sm.check_request(msg(*headers, header), methods=METHODS)
    assert refusal is not None and refusal[0] == 400 and refusal[1] != "Bad Request"


def test_numbers_too_long_for_int_elsewhere() -> None:
    assert sm.hostport(f"sip:a@10.0.0.1:{HUGE}") == ("10.0.0.1", 5060)
    request = msg(f"Via: SIP/2.0/UDP 10.0.0.1:{HUGE};branch=z9hG4bK1;rport", *BASE[1:])
    assert sm.parse(sm.response(request, 200, "OK", source=("10.0.0.1", 5070))).status == 200
    for body in (OFFER.replace("m=audio 4000", f"m=audio {HUGE}"), OFFER.replace("10.0.0.2", f"10.0.0.{HUGE}")):
        with pytest.raises(sdp.SdpError):
            sdp.parse(body)
    assert sdp.parse(OFFER.replace("31 8 0 101", f"{HUGE} 8").replace("a=rtpmap:31", f"a=rtpmap:{HUGE}")).codec == (
        8, "PCMA")
    assert dtmf_from_info("application/dtmf-relay", f"Signal={HUGE}\r\n".encode()) == ""


def test_a_request_line_padded_with_spaces() -> None:
    """A Request-Line with runs of spaces is a bad request (400), and a line that does not end in the version is no
    request at all. (The regex this used to be backtracked quadratically on such lines: 1.4 s for a datagram with
    64,000 spaces; the split is linear. Speed is not asserted here: see docs/benchmarks.md, SIP robustness.)"""
    refused = sm.parse(("OPTIONS sip:1000@127.0.0.1" + " " * 30000 + "SIP/2.0\r\n" + "\r\n".join(BASE)
                        + "\r\n\r\n").encode())
    assert refused.defects == ["malformed Request-Line"] and refused.method == "OPTIONS"
    with pytest.raises(sm.Unparseable):
        sm.parse(("OPTIONS sip:1000@127.0.0.1" + " " * 30000 + "x\r\n\r\n").encode())


def test_a_start_line_with_a_bare_cr_is_not_sip_but_trailing_spaces_are_forgiven() -> None:
    """Found by the fuzz: "INVITE ... SIP/2.0\\r\\r\\n" started a call (str.strip() removed the stray CR)."""
    with pytest.raises(sm.Unparseable):
        sm.parse(("OPTIONS sip:1000@127.0.0.1 SIP/2.0\r\r\n" + "\r\n".join(BASE) + "\r\n\r\n").encode())
    trailing = sm.parse(("OPTIONS sip:1000@127.0.0.1 SIP/2.0 \t\r\n" + "\r\n".join(BASE) + "\r\n\r\n").encode())
    assert sm.check_request(trailing, methods=METHODS) is None  # RFC 4475 3.1.2.10: liberal is allowed


def test_not_sip_at_all_is_unparseable() -> None:
    for data in (b"", b"hello", b"\x00\xff" * 40, b"GET / HTTP/1.1\r\n\r\n", b"INVITE sip:x SIP/2.0\r\nVia: x"):
        with pytest.raises(sm.Unparseable):
            sm.parse(data)


def test_responses_copy_the_dialog_headers_and_stamp_the_via() -> None:
    request = msg(*BASE)
    data = sm.response(request, 200, "OK", to_tag="ours", source=("192.0.2.7", 40000),
                       headers=[("Allow", "INVITE")])
    reply = sm.parse(data)
    assert reply.status == 200 and reply.call_id == "abc" and reply.cseq == (7, "OPTIONS")
    assert reply.to_tag == "ours" and reply.from_tag == "f1"
    assert reply.get("via") == "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1;rport=40000;received=192.0.2.7"
    # a request without rport only gets received (and only when the host differs)
    assert sm.stamp_via("SIP/2.0/UDP 10.0.0.1:5070;branch=z9", ("10.0.0.1", 5070)) == \
        "SIP/2.0/UDP 10.0.0.1:5070;branch=z9"


def test_responses_that_set_up_a_dialog_copy_the_record_route() -> None:
    proxies = ("Record-Route: <sip:10.0.0.9;lr;ftag=f1>", "Record-Route: <sip:10.0.0.8;lr>, <sip:10.0.0.7;lr>")
    invite = msg(*[h.replace("7 OPTIONS", "7 INVITE") for h in BASE], *proxies,
                 start="INVITE sip:1000@127.0.0.1 SIP/2.0")
    routes = ["<sip:10.0.0.9;lr;ftag=f1>", "<sip:10.0.0.8;lr>", "<sip:10.0.0.7;lr>"]
    for status in (180, 200):
        assert sm.parse(sm.response(invite, status, "x", to_tag="ours")).all("record-route") == routes
    for status in (100, 486):  # no dialog (100 has no To tag; a failure ends the transaction)
        assert sm.parse(sm.response(invite, status, "x", to_tag="ours")).all("record-route") == []
    options = msg(*BASE, *proxies)
    assert sm.parse(sm.response(options, 200, "OK", to_tag="ours")).all("record-route") == []


def test_uri_helpers() -> None:
    assert sm.hostport("sip:+1555@10.1.2.3:5070;transport=udp") == ("10.1.2.3", 5070)
    assert sm.hostport("sip:pbx.example") == ("pbx.example", 5060)
    assert sm.hostport("sip:[::1]:5080") == ("::1", 5080)
    # out of range: the default (a bracketed host's port was not checked; 20 digits made getaddrinfo overflow)
    assert sm.hostport("sip:[::1]:99999999999999999999") == ("::1", 5060) == sm.hostport("sip:[::1]:70000")
    assert sm.hostport("sip:a@10.0.0.1:0") == ("10.0.0.1", 5060)
    assert sm.user_of("sip:+15550100001@127.0.0.1:5070") == "+15550100001"
    assert sm.param("<sip:a@b;tag=no>;tag=yes", "tag") == "yes"
    assert sm.param("sip:a@b;tag=x", "tag") == "x"


# ----- SDP ---------------------------------------------------------------------------------------------------


OFFER = ("v=0\r\no=x 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
         "m=audio 4000 RTP/AVP 31 8 0 101\r\nc=IN IP4 10.0.0.2\r\na=rtpmap:31 LPC\r\na=rtpmap:8 PCMA/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\na=x-unknown:whatever\r\na=sendrecv\r\n")


def test_sdp_is_tolerant_of_what_it_does_not_use() -> None:
    offer = sdp.parse(OFFER)
    assert (offer.address, offer.port) == ("10.0.0.2", 4000)  # the media-level c= wins
    assert offer.payloads == {8: "PCMA", 0: "PCMU"} and offer.codec == (8, "PCMA") and offer.dtmf_pt == 101
    answer = sdp.parse(sdp.answer(offer, address="127.0.0.1", port=30000, session_id=5))
    assert answer.codec == (8, "PCMA") and answer.dtmf_pt == 101 and answer.port == 30000


@pytest.mark.parametrize(("body", "reason"), [
    (OFFER.replace("m=audio 4000", "m=audio 0"), "port 0"),
    (OFFER.replace("IN IP4 10.0.0.2", "IN IP6 ::1"), "address family"),
    (OFFER.replace("31 8 0 101", "18"), "PCMU or PCMA"),
    ("hello", "not an SDP"),
    (OFFER.split("m=audio")[0], "no audio"),
    (OFFER.replace("c=IN IP4 10.0.0.9\r\n", "").replace("c=IN IP4 10.0.0.2\r\n", ""), "connection"),
])
def test_sdp_offers_that_cannot_carry_a_call(body: str, reason: str) -> None:
    with pytest.raises(sdp.SdpError, match=reason):
        sdp.parse(body)


# ----- INFO and digest ---------------------------------------------------------------------------------------


def test_dtmf_in_info_bodies() -> None:
    assert dtmf_from_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n") == "5"
    assert dtmf_from_info("application/dtmf-relay", b"signal= *\r\n") == "*"
    assert dtmf_from_info("application/dtmf-relay", b"Signal=11\r\n") == "#"
    assert dtmf_from_info("application/dtmf", b"7") == "7"
    assert dtmf_from_info("application/dtmf-relay", b"Signal=Z\r\n") == ""
    assert dtmf_from_info("text/plain", b"5") is None


def test_digest_matches_rfc_2617_example() -> None:
    # RFC 2617 3.5 (with method GET and uri /dir/index.html; the algorithm is the same for SIP).
    challenge = digest_params('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                              'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    header = digest_authorization(challenge, method="GET", uri="/dir/index.html", username="Mufasa",
                                  password="Circle Of Life", nc=1, cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header and "qop=auth" in header
