"""``socialtaxi simulate``: a simulated fleet publishing over MQTT."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    @root.command("simulate")
    def simulate() -> None:
        """Run a simulated fleet (next stage of the project)."""
        typer.echo("Ошибка: симулятор автопарка появится на следующем этапе", err=True)
        raise typer.Exit(2)
