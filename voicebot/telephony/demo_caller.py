"""The sipp caller scenarios of ``voicebot demo`` and the SIP benchmarks: the INVITE/ACK head and the two
ends of a call (the IVR hangs up, or the caller does) written once; a caller's own script goes between."""

from __future__ import annotations

#: The demo bank's known caller (Alice).
CALLER = "+15550100001"


def keyed(digits: str, gap_ms: int = 500) -> str:
    """Script lines keying ``digits`` by RFC 2833 (sipp's telephone-event pcaps, ``{pcaps}`` filled in later),
    ``gap_ms`` apart."""
    keys = [f'  <nop><action><exec play_pcap_audio="{{pcaps}}/dtmf_2833_{digit}.pcap"/></action></nop>'
            for digit in digits]
    return f'\n  <pause milliseconds="{gap_ms}"/>\n'.join(keys)

#: A sipp caller (UAC): INVITE offering PCMU and telephone-event, ACK; then the script; then one of the tails
#: below. ``{caller}`` and ``{display}`` are filled in by :func:`caller_scenario`.
CALLER_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- {description} -->
<scenario name="{name}">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{display}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
      a=sendrecv

    ]]>
  </send>

  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>

  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{display}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>

"""
#: The end of a caller that waits up to 20 s for the IVR's BYE and answers it.
CALLER_TAIL = """  <recv request="BYE" timeout="20000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

#: The end of a caller that hangs up itself (sends BYE, waits for its 200 OK).
CALLER_HANGS_UP_TAIL = """  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "{display}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""


def caller_scenario(name: str, description: str, script: str, caller: str = CALLER,
                    display: str = "Demo Caller", *, hangs_up: bool = False) -> str:
    """A whole sipp caller scenario: :data:`CALLER_HEAD`, ``script`` (pauses, ``rtp_stream`` speech, DTMF
    pcaps), then :data:`CALLER_TAIL` (the IVR hangs up) or, with ``hangs_up``, :data:`CALLER_HANGS_UP_TAIL`."""
    tail = CALLER_HANGS_UP_TAIL if hangs_up else CALLER_TAIL
    text = CALLER_HEAD.replace("{name}", name).replace("{description}", description) + script + tail
    return text.replace("{caller}", caller).replace("{display}", display)
