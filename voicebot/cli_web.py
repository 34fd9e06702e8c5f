"""``voicebot web``: the agent and supervisor console alone, against the configured database.

Registered on the main group by :func:`register` (like ``cli_acd``); ``voicebot serve`` runs the same app
beside the SIP service (``web.enabled``).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from voicebot.cli import CliState


def register(main: click.Group) -> None:
    main.add_command(web)


@click.command()
@click.option("--host", default=None, help="Address to listen on (default web.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default web.port, 8080).")
@click.option("--config", "config_path", type=click.Path(exists=True, path_type=Path),
              help="voicebot.yaml (default: VOICEBOT_CONFIG or ./voicebot.yaml).")
@click.pass_obj
def web(state: CliState, host: str | None, port: int | None, config_path: Path | None) -> None:
    """Serve the agent console, the supervisor view and the JSON API until Ctrl-C."""
    import logging

    import uvicorn

    state.configure_logging(default=logging.INFO)  # as serve: start-up and requests, in the chosen format

    from voicebot.web.app import app_from_environment
    from voicebot.web.settings import load_web_settings

    settings = load_web_settings(config_path)
    host = host or settings.host
    port = settings.port if port is None else port
    listening = _listen(host, port)  # a port taken is one error line, not uvicorn's log and exit
    click.echo(f"voicebot console on http://{host}:{listening.getsockname()[1]}/ (API docs at /docs)")
    # log_config and log_level None: uvicorn's records (requests included) go through voicebot's handler at
    # its level (-v, -q), as text or JSON (--log-format json), instead of uvicorn's own console format.
    server = uvicorn.Server(uvicorn.Config(app_from_environment(config_path), host=host, port=port,
                                           log_config=None, log_level=None))
    server.run(sockets=[listening])


def _listen(host: str, port: int) -> socket.socket:
    from voicebot.cli_errors import CliError, listen_error_line, os_error_line

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise CliError(listen_error_line(exc, host, port) or os_error_line(exc)) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: restart at once
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CliError(listen_error_line(exc, host, port) or os_error_line(exc)) from exc
    return sock
