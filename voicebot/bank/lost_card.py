"""The demo bank's policy for a lost card reported without a PIN.

Blocking a card must be quick (stopping fraud comes first), so the flow lets a caller block a card
without the telephone PIN. That path is also a way to probe accounts, so it is limited:

* an account locked for self-service (too many wrong PINs) is never served without a PIN: the caller is
  handed to the security team, and no card digits are read out;
* each account, and each caller ID, gets :data:`LOST_CARD_LIMIT` no-PIN requests per
  :data:`LOST_CARD_WINDOW`; beyond it the caller is handed to a person as well. Callers without a caller
  ID share one allowance ("anonymous").

Whether card digits are read to the caller at all is the flow's decision (``flows/banking.yaml`` reads
them only to a caller recognised by caller ID or PIN).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, func, select

from voicebot.bank.actions import _get_account, normalise_phone
from voicebot.services.registry import ActionContext
from voicebot.storage.bank_models import LostCardRequest
from voicebot.storage.db import session_scope

LOST_CARD_LIMIT = 3
LOST_CARD_WINDOW = timedelta(hours=24)
ANONYMOUS = "anonymous"


def lost_card_check(ctx: ActionContext, account_number: str, caller_id: str) -> dict[str, Any]:
    """Whether a no-PIN lost-card request may go on: ``{"allowed", "reason"}``, and the request counted.

    ``reason``: "ok", "locked" (self-service locked) or "rate_limited" (too many recent requests for this
    account or from this caller).
    """
    caller = normalise_phone(caller_id) or ANONYMOUS
    since = ctx.now - LOST_CARD_WINDOW
    with session_scope(ctx.engine) as session:
        account = _get_account(session, account_number)

        def recent(*where: Any) -> int:
            query = select(func.count()).select_from(LostCardRequest).where(col(LostCardRequest.at) >= since, *where)
            return int(session.exec(query).one())

        by_account = recent(LostCardRequest.account_number == account.number)
        by_caller = recent(LostCardRequest.caller_id == caller)
        if account.self_service_locked:
            reason = "locked"
        elif by_account >= LOST_CARD_LIMIT or by_caller >= LOST_CARD_LIMIT:
            reason = "rate_limited"
        else:
            reason = "ok"
        # Refused requests count too, so retrying does not reset anything.
        session.add(LostCardRequest(account_number=account.number, caller_id=caller, at=ctx.now,
                                    allowed=reason == "ok"))
        return {"allowed": reason == "ok", "reason": reason}
