"""``voicebot web``: the agent and supervisor console alone, against the configured database.

Registered on the main group by :func:`register` (like ``cli_acd``); ``voicebot serve`` runs the same app
beside the SIP service (``web.enabled``).
"""

from __future__ import annotations

from pathlib import Path

import click


def register(main: click.Group) -> None:
    main.add_command(web)


@click.command()
@click.option("--host", default=None, help="Address to listen on (default web.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default web.port, 8080).")
@click.option("--config", "config_path", type=click.Path(exists=True, path_type=Path),
              help="voicebot.yaml (default: VOICEBOT_CONFIG or ./voicebot.yaml).")
def web(host: str | None, port: int | None, config_path: Path | None) -> None:
    """Serve the agent console, the supervisor view and the JSON API until Ctrl-C."""
    import uvicorn

    from voicebot.web.app import app_from_environment
    from voicebot.web.settings import load_web_settings

    settings = load_web_settings(config_path)
    host = host or settings.host
    port = settings.port if port is None else port
    click.echo(f"voicebot console on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(app_from_environment(config_path), host=host, port=port, log_level="info")
