"""Telephony: answering SIP calls (pyVoIP 1.6.8, fixed in :mod:`voicebot.telephony.pyvoip_adapter`)."""
