"""How the ``voicebot`` command reports a failure: one line per problem, naming the file, key or address.

Exit status 2 for usage and configuration errors (the command line, ``voicebot.yaml``, a flow or a test
file is wrong: fix it and run again), 1 for runtime errors (a port taken, a database down, a file
missing). A traceback only with ``voicebot --debug``.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

import click

EXIT_RUNTIME = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure the command explains itself; printed as ``error: <line>`` for each line."""

    def __init__(self, message: str, exit_code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class Report:
    lines: list[str]
    exit_code: int


def os_error_line(exc: OSError) -> str:
    """``<file>: <reason>`` for an OS error, in words (``No such file or directory``), not an errno."""
    reason = exc.strerror or str(exc)
    if exc.filename is not None:
        return f"{exc.filename}: {reason[:1].lower()}{reason[1:]}"
    return reason[:1].lower() + reason[1:]


def listen_error_line(exc: OSError, host: str, port: int) -> str | None:
    """``cannot listen on HOST:PORT: address already in use`` for the errors binding a socket gives (a host
    name that does not resolve included); None for an OS error that is not about the address (a file's)."""
    if exc.filename is not None:
        return None
    if isinstance(exc, socket.gaierror) or exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES,
                                                         errno.EPERM):
        reason = exc.strerror or str(exc)
        return f"cannot listen on {host}:{port}: {reason[:1].lower()}{reason[1:]}"
    return None


def report(exc: BaseException) -> Report:
    """What to print for ``exc`` and the exit status."""
    from voicebot.config import ConfigError
    from voicebot.flow.errors import FlowError

    if isinstance(exc, CliError):
        return Report(exc.message.splitlines(), exc.exit_code)
    if isinstance(exc, ConfigError):
        return Report(exc.problems, EXIT_USAGE)
    if isinstance(exc, FlowError):
        return Report([str(issue) for issue in exc.issues], EXIT_USAGE)
    if isinstance(exc, click.ClickException):
        return Report(exc.format_message().splitlines(), exc.exit_code)
    if isinstance(exc, OSError):
        return Report([os_error_line(exc)], EXIT_RUNTIME)
    database = _database_error(exc)
    if database is not None:
        return Report([database], EXIT_RUNTIME)
    first = str(exc).splitlines()[0] if str(exc) else ""
    return Report([f"{type(exc).__name__}: {first} (run `voicebot --debug ...` for the traceback)"], EXIT_RUNTIME)


def _database_error(exc: BaseException) -> str | None:
    from sqlalchemy.exc import SQLAlchemyError

    if not isinstance(exc, SQLAlchemyError):
        return None
    from voicebot.storage.db import database_url, shown_url

    reason = getattr(exc, "orig", None) or exc
    first = str(reason).splitlines()[0] if str(reason) else type(reason).__name__
    return f"database {shown_url(database_url())}: {first}"
