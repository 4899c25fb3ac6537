"""``socialtaxi web`` (the server) and ``socialtaxi user add`` (accounts with roles)."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer

from web.auth import ROLES

user_app = typer.Typer(help="Пользователи и роли.", no_args_is_help=True)


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

    root.add_typer(user_app, name="user")


def _fail(message: str) -> NoReturn:
    typer.echo(f"Ошибка: {message}", err=True)
    raise typer.Exit(1)


@user_app.command("add")
def user_add(
    login: Annotated[str, typer.Argument(help="Логин")],
    role: Annotated[
        list[str], typer.Option("--role", "-r", help=f"Роль (можно несколько): {', '.join(ROLES)}")
    ],
    full_name: Annotated[
        str | None, typer.Option("--name", help="ФИО (по умолчанию — логин)")
    ] = None,
    password: Annotated[
        str | None, typer.Option("--password", help="Пароль (лучше --password-stdin)")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Прочитать пароль из stdin")
    ] = False,
    carrier_id: Annotated[
        int | None, typer.Option("--carrier-id", help="Перевозчик (для его сотрудников)")
    ] = None,
) -> None:
    """Create a user (or reset an existing user's password, name and roles)."""
    from config.settings import get_settings
    from db.connect import DatabaseUnavailable, connect
    from dispatch.errors import DispatchError
    from dispatch.store import users as ustore
    from web.auth import hash_password

    bad = [r for r in role if r not in ROLES]
    if bad:
        _fail(f"неизвестная роль {', '.join(bad)}; допустимы: {', '.join(ROLES)}")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _fail("укажите пароль: --password-stdin или --password")
    if len(password) < 8:
        _fail("пароль короче 8 символов")
    try:
        with connect(get_settings().database_url) as conn:
            user = ustore.upsert_user(
                conn,
                login=login,
                full_name=full_name or login,
                password_hash=hash_password(password),
                roles=sorted(set(role)),
                carrier_id=carrier_id,
            )
            conn.commit()
    except DatabaseUnavailable as exc:
        _fail(f"база данных недоступна: {exc}")
    except DispatchError as exc:
        _fail(exc.message)
    typer.echo(f"Пользователь {user.login} (id {user.id}): роли {', '.join(sorted(user.roles))}")
