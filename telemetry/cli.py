"""``socialtaxi ingest``: the MQTT ingest service."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    @root.command("ingest")
    def ingest() -> None:
        """Receive GPS fixes and trip events over MQTT and store them."""
        typer.echo("Ошибка: сервис приёма телеметрии ещё не собран", err=True)
        raise typer.Exit(2)
