"""The demo bank: data actions over the ``bank_*`` tables, used by the sample flows."""

from voicebot.bank.actions import format_cents, normalise_phone, register_bank_actions

__all__ = ["format_cents", "normalise_phone", "register_bank_actions"]
