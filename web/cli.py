"""``socialtaxi web`` (the server) and ``socialtaxi user add|list|deactivate|passwd``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, NoReturn, TypeVar

import psycopg
import typer

from web.auth import ROLES

T = TypeVar("T")
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
            # The client address (login lockout, sessions) comes from X-Forwarded-For only when
            # the peer is the TLS proxy (deploy/caddy); anyone else's header is ignored.
            proxy_headers=True,
            forwarded_allow_ips=s.forwarded_allow_ips,
            server_header=False,
        )

    root.add_typer(user_app, name="user")


def _fail(message: str) -> NoReturn:
    typer.echo(f"Ошибка: {message}", err=True)
    raise typer.Exit(1)


def _read_password(password: str | None, password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _fail("укажите пароль: --password-stdin или --password")
    if len(password) < 8:
        _fail("пароль короче 8 символов")
    return password


def _db(action: Callable[[psycopg.Connection], T]) -> T:
    """Run ``action`` in one committed transaction; known errors end as one line."""
    from config.settings import get_settings
    from db.connect import DatabaseUnavailable, connect
    from dispatch.errors import DispatchError

    try:
        with connect(get_settings().database_url) as conn:
            result = action(conn)
            conn.commit()
            return result
    except DatabaseUnavailable as exc:
        _fail(f"база данных недоступна: {exc}")
    except DispatchError as exc:
        _fail(exc.message)


def _user_id(conn: psycopg.Connection, login: str) -> int:
    from dispatch.store import users as ustore

    user = ustore.get_user_by_login(conn, login=login)
    if user is None:
        _fail(f"пользователь {login} не найден")
    return user.id


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
        int | None,
        typer.Option("--carrier-id", help="Перевозчик (его сотрудники: dispatcher, controller)"),
    ] = None,
) -> None:
    """Create a user. An existing login is refused (use passwd / deactivate to change one)."""
    from dispatch.services import accounts
    from web.auth import hash_password

    bad = [r for r in role if r not in ROLES]
    if bad:
        _fail(f"неизвестная роль {', '.join(bad)}; допустимы: {', '.join(ROLES)}")
    secret = _read_password(password, password_stdin)
    user = _db(
        lambda conn: accounts.create_user(
            conn,
            login=login,
            full_name=full_name or login,
            password_hash=hash_password(secret),
            roles=role,
            carrier_id=carrier_id,
        )
    )
    typer.echo(f"Пользователь {user.login} (id {user.id}): роли {', '.join(sorted(user.roles))}")


@user_app.command("list")
def user_list() -> None:
    """Every user: login, roles, carrier, whether active."""
    from dispatch.store import users as ustore

    for u in _db(lambda conn: ustore.list_users(conn)):
        carrier = f" перевозчик {u.carrier_id}" if u.carrier_id is not None else ""
        state = "активен" if u.active else "заблокирован"
        typer.echo(f"{u.id}\t{u.login}\t{','.join(sorted(u.roles))}\t{state}{carrier}")


@user_app.command("deactivate")
def user_deactivate(login: Annotated[str, typer.Argument(help="Логин")]) -> None:
    """Block a user; their sessions end at once."""
    from dispatch.services import accounts

    def run(conn: psycopg.Connection) -> None:
        accounts.set_active(conn, user_id=_user_id(conn, login), active=False, now=_now())

    _db(run)
    typer.echo(f"Пользователь {login} заблокирован, его сеансы завершены")


@user_app.command("passwd")
def user_passwd(
    login: Annotated[str, typer.Argument(help="Логин")],
    password: Annotated[
        str | None, typer.Option("--password", help="Пароль (лучше --password-stdin)")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Прочитать пароль из stdin")
    ] = False,
) -> None:
    """Set a user's password; their sessions end at once."""
    from dispatch.services import accounts
    from web.auth import hash_password

    secret = _read_password(password, password_stdin)

    def run(conn: psycopg.Connection) -> int:
        return accounts.change_password(
            conn, user_id=_user_id(conn, login), password_hash=hash_password(secret), now=_now()
        )

    ended = _db(run)
    typer.echo(f"Пароль пользователя {login} изменён, завершено сеансов: {ended}")


def _now() -> datetime:
    return datetime.now(UTC)
