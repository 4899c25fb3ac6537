"""``socialtaxi demo``: run the system as far as it exists, on a map given as an OSM file."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    @root.command("demo")
    def demo() -> None:
        """Start the database schema, web and ingest with a demo data set."""
        typer.echo("Ошибка: демо-режим ещё не собран", err=True)
        raise typer.Exit(2)
