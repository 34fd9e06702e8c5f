"""Tables of the demo bank that the sample flows talk to.

Money is integer cents so sums and comparisons are exact; PINs are only ever stored as salted PBKDF2
hashes. Table names start with ``bank_`` so the demo can be wiped without touching call records.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlmodel import Field, SQLModel

from voicebot.storage.db import UTCDateTime

PIN_HASH_ALGORITHM = "pbkdf2_sha256"
#: Stored inside each hash, so raising it later only affects newly set PINs.
PIN_HASH_ITERATIONS = 100_000
MAX_PIN_ATTEMPTS = 3
LOCKED_TOO_MANY_ATTEMPTS = "too many PIN attempts"


class Customer(SQLModel, table=True):
    __tablename__ = "bank_customer"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    first_name: str
    vip: bool = False


class PhoneNumber(SQLModel, table=True):
    __tablename__ = "bank_phone_number"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="bank_customer.id", index=True)
    #: E.164, e.g. "+15550100001"; unique because caller ID must point at one customer.
    number: str = Field(unique=True, index=True)
    label: str = "mobile"


class Account(SQLModel, table=True):
    __tablename__ = "bank_account"

    id: int | None = Field(default=None, primary_key=True)
    #: Eight digits, kept as text because leading zeros matter and it is never used in arithmetic.
    number: str = Field(unique=True, index=True, min_length=8, max_length=8)
    customer_id: int = Field(foreign_key="bank_customer.id", index=True)
    kind: str = "checking"  # "checking" | "savings"
    balance_cents: int = 0
    available_cents: int = 0
    currency: str = "USD"
    pin_hash: str
    pin_salt: str
    failed_pin_attempts: int = 0
    self_service_locked: bool = False
    locked_reason: str | None = None


class BankTransaction(SQLModel, table=True):
    __tablename__ = "bank_transaction"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="bank_account.id", index=True)
    posted_at: datetime = Field(sa_type=UTCDateTime)
    #: Negative for debits, positive for credits.
    amount_cents: int
    description: str


class Card(SQLModel, table=True):
    __tablename__ = "bank_card"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="bank_account.id", index=True)
    last4: str
    kind: str = "debit"  # "debit" | "credit"
    status: str = "active"  # "active" | "blocked"
    blocked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: Quoted to the caller and to card services, so it must identify exactly one block.
    block_reference: str | None = Field(default=None, unique=True)


def hash_pin(pin: str, salt_hex: str | None = None) -> tuple[str, str]:
    """``(pin_hash, pin_salt)`` for ``pin``; a fresh random salt unless one is given."""
    salt_hex = salt_hex or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt_hex), PIN_HASH_ITERATIONS)
    return f"{PIN_HASH_ALGORITHM}${PIN_HASH_ITERATIONS}${digest.hex()}", salt_hex


def pin_matches(pin: str, pin_hash: str, pin_salt: str) -> bool:
    """Whether ``pin`` is the PIN behind ``pin_hash``, compared in constant time."""
    try:
        algorithm, iterations, expected = pin_hash.split("$")
    except ValueError:
        return False
    if algorithm != PIN_HASH_ALGORITHM:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(pin_salt), int(iterations))
    return hmac.compare_digest(digest.hex(), expected)


def set_pin(account: Account, pin: str) -> None:
    account.pin_hash, account.pin_salt = hash_pin(pin)


class LostCardRequest(SQLModel, table=True):
    """One lost-card request made without a PIN: counted per account and per caller ID to rate-limit them.

    Keyed by the account number (not a foreign key): the count must survive a card or account change.
    """

    __tablename__ = "bank_lost_card_request"

    id: int | None = Field(default=None, primary_key=True)
    account_number: str = Field(index=True)
    #: E.164 caller ID, or "anonymous" for callers without one (they share one allowance).
    caller_id: str = Field(index=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    allowed: bool = True
