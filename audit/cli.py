"""``socialtaxi audit``: the audit job (planned vs actual trips)."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    @root.command("audit")
    def audit() -> None:
        """Audit completed trips (next stage of the project)."""
        typer.echo("Ошибка: аудит поездок появится на следующем этапе", err=True)
        raise typer.Exit(2)
