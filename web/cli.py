"""``socialtaxi web``: the web application server."""

from __future__ import annotations

import typer


def register(root: typer.Typer) -> None:
    @root.command("web")
    def web(
        host: str = typer.Option(None, help="Адрес (по умолчанию из настроек)"),
        port: int = typer.Option(None, help="Порт (по умолчанию из настроек)"),
    ) -> None:
        """Serve the JSON API and the pages."""
        import uvicorn

        from config.settings import get_settings

        s = get_settings()
        uvicorn.run(
            "web.app:create_app",
            factory=True,
            host=host or s.web_host,
            port=port or s.web_port,
            log_level=s.log_level.lower(),
        )
