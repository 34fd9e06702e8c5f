"""``voicebot config check``: load and check the configuration, then print what is in force."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml


@click.group()
def config() -> None:
    """The configuration (voicebot.yaml, VOICEBOT_CONFIG, environment overrides)."""


@config.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the effective configuration as JSON.")
def config_check(path: Path | None, as_json: bool) -> None:
    """Check PATH (default: VOICEBOT_CONFIG or ./voicebot.yaml, over the built-in defaults) and print the
    effective configuration; exit status 2 and one line per problem if it is wrong."""
    from voicebot.config import effective_config, load_config

    loaded = load_config(path)  # a ConfigError becomes one error line per problem, exit status 2
    data = effective_config(loaded)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    origin = "built-in defaults" if loaded.source == "defaults" else f"{loaded.source} over the built-in defaults"
    click.echo(f"# effective configuration: {origin}"
               + (f"; environment: {', '.join(data['environment'])}" if data["environment"] else ""))
    click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)
    click.echo(f"# ok: {loaded.source}")
