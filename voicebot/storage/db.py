"""Database plumbing: where the database lives, how engines are made, and transactions.

All voicebot state lives in one database reached through sqlmodel. The default is a SQLite file under the
data folder; ``DATABASE_URL`` switches to PostgreSQL when several nodes share one queue. Also here: the
column helpers every table module needs (aware UTC timestamps, values made storable in JSON columns).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, DateTime, MetaData, event, inspect, literal
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import ColumnDefault, DefaultClause
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

#: Relative on purpose: a checkout runs from its own folder and keeps its data next to it.
DEFAULT_DATA_DIR = Path("data")

#: How long a SQLite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 5000


def data_dir() -> Path:
    """The data folder: ``VOICEBOT_DATA_DIR`` if set, else :data:`DEFAULT_DATA_DIR`."""
    return Path(os.environ.get("VOICEBOT_DATA_DIR") or DEFAULT_DATA_DIR)


def database_url() -> str:
    """``DATABASE_URL`` if set, else a SQLite file in the data folder (the folder is created)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'voicebot.db'}"


def shown_url(url: str) -> str:
    """``url`` fit for a terminal or a log: the password of ``postgresql://user:secret@host/db`` as ``***``."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: it holds no password field it could hide either
        return url


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def postgres_driver(url: str) -> str:
    """``url`` with psycopg 3 as the PostgreSQL driver when none is named.

    SQLAlchemy's default for a bare ``postgresql://`` is psycopg2, which voicebot does not install;
    psycopg 3 (the ``psycopg[binary]`` dependency) is the maintained one.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        _sqlite_on_connect(dbapi_connection, busy_timeout_ms)

    return on_connect


def _sqlite_on_connect(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    # Pragmas are per connection, so they must be set on every new one; WAL lets readers (reports, the
    # ACD) run while a call is being written, and SQLite ignores foreign keys unless asked.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def make_engine(url: str | None = None, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for ``url`` (default :func:`database_url`), configured for concurrent use.

    ``busy_timeout_ms``: how long a SQLite writer waits for another process's lock (tests shorten it).
    """
    url = postgres_driver(url or database_url())
    if not _is_sqlite(url):
        # pool_pre_ping: a PostgreSQL restart must not fail the next call's first write.
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        # No pooling for SQLite: a pooled connection keeps writing into a database file that was deleted
        # or replaced, silently losing data; a fresh connection per transaction fails loudly instead (and
        # the call store spools). Opening a SQLite file costs well under a millisecond.
        poolclass=NullPool,
    )
    event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_ms))
    return engine


def create_tables(engine: Engine) -> None:
    """Create every voicebot table that does not exist yet, and add the columns older tables lack."""
    # Imported here so the models are registered on SQLModel.metadata; the models import this module.
    from voicebot.storage import acd_models, bank_models, call_models, web_models  # noqa: F401

    SQLModel.metadata.create_all(engine)
    add_missing_columns(engine)


def add_missing_columns(engine: Engine, metadata: MetaData | None = None) -> list[str]:
    """Add the columns that newer code defines but an existing table lacks, with their indexes.

    ``create_all`` creates missing tables but never alters existing ones, so a database made by an
    older voicebot would fail every write of a new column (e.g. the queue times of ``call_record``).
    Additive columns are safe to add in place when existing rows can be given a value: a nullable
    column (they get NULL) or a NOT NULL one with a constant default (they get the default). Anything
    else (a NOT NULL column without one, a new primary key) needs a real migration and is left alone.
    The model is the only list: a new column needs no entry here. ``metadata`` defaults to the
    voicebot tables. Returns "table.column" for each column added.
    """
    metadata = SQLModel.metadata if metadata is None else metadata
    inspector = inspect(engine)
    existing_tables = set(inspector.get_table_names())
    quote = engine.dialect.identifier_preparer.quote
    added: list[str] = []
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            if table.name not in existing_tables:
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            new = [c for c in table.columns if c.name not in have and not c.primary_key]
            new_names: set[str] = set()
            for column in new:
                definition = _added_column_sql(column, engine.dialect)
                if definition is None:
                    continue
                connection.exec_driver_sql(
                    f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {definition}"
                )
                new_names.add(column.name)
                added.append(f"{table.name}.{column.name}")
            for index in table.indexes:
                # An index over a column that was just added cannot exist yet (its column did not).
                if new_names.intersection(c.name for c in index.columns):
                    index.create(connection, checkfirst=True)
    return added


def _added_column_sql(column: Column[Any], dialect: Dialect) -> str | None:
    """The type and constraint of ``column`` for ALTER TABLE ... ADD COLUMN, or None when existing
    rows could not be given a value (a NOT NULL column without a constant default)."""
    kind = column.type.compile(dialect=dialect)
    if column.nullable:
        return kind
    if isinstance(column.server_default, DefaultClause):
        arg = column.server_default.arg
        sql = "'" + arg.replace("'", "''") + "'" if isinstance(arg, str) else str(arg.compile(dialect=dialect))
        return f"{kind} NOT NULL DEFAULT {sql}"
    if isinstance(column.default, ColumnDefault) and column.default.is_scalar:
        value = column.default.arg
        if isinstance(value, enum.Enum):
            value = value.value
        rendered = literal(value, column.type).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        return f"{kind} NOT NULL DEFAULT {rendered}"
    return None


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits when the block ends and rolls back if it raises."""
    # expire_on_commit=False so rows returned from a finished scope can still be read.
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive value is taken to be UTC already (that is how voicebot stores them)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware UTC.

    SQLite has no timezone type and returns naive values, so they are stored as naive UTC there and
    made aware again on load; PostgreSQL gets a real ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def to_jsonable(value: Any) -> Any:
    """``value`` made of JSON types only: Decimal becomes str, date/datetime an ISO string, and so on.

    Never fails: anything unknown becomes ``str(value)``, because a call log with a stringified value
    beats a call log that could not be written.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        # NaN/Infinity are not JSON (PostgreSQL rejects them).
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal | PurePath):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="json"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((to_jsonable(v) for v in value), key=str)  # sorted: stable logs
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return str(value)
