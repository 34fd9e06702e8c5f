"""Telephony: the SIP user agent (messages, dialogs, RTP, outbound calls), the endpoint, the call loop."""
