"""``socialtaxi map ...``: road graph import and download."""

from __future__ import annotations

import typer

app = typer.Typer(help="Дорожный граф OpenStreetMap: импорт и загрузка.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="map")
