"""``python -m telemetry [options]``: the ingest service alone, same options as
``socialtaxi ingest`` (starts faster: it does not load the other packages' commands)."""

from __future__ import annotations

import logging
import sys

import typer

from config.settings import get_settings
from telemetry.cli import register


def main() -> None:
    logging.basicConfig(
        level=get_settings().log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    register(app)
    app()


if __name__ == "__main__":
    main()
