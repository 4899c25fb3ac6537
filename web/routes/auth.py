"""Login, logout, password change, who am I."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from dispatch.services import accounts
from dispatch.store import sessions as sstore
from web.auth import (
    COOKIE_NAME,
    CurrentUser,
    LoginLocked,
    attempt_login,
    authenticate,
    hash_password,
)
from web.deps import Conn, NowDep, PoolDep, SettingsDep
from web.schemas import LoginIn, PasswordChangeIn, TokenOut, UserOut

router = APIRouter(prefix="/auth", tags=["Вход"])


def client_addr(request: Request) -> str:
    """The client's address (behind the TLS proxy: from X-Forwarded-For, which uvicorn trusts
    only from ``settings.forwarded_allow_ips``)."""
    return request.client.host if request.client else "unknown"


@router.post(
    "/login",
    response_model=TokenOut,
    responses={
        401: {"description": "Неверный логин или пароль"},
        429: {"description": "Слишком много неудачных попыток входа"},
    },
)
def login(
    body: LoginIn,
    request: Request,
    response: Response,
    pool: PoolDep,
    settings: SettingsDep,
    now: NowDep,
) -> TokenOut:
    """Exchange a login and password for a session token (also set as an HttpOnly cookie).

    After ``login_max_failures`` wrong passwords for a login (or ``..._per_address`` from one
    address) further attempts are refused with 429 for a growing time.
    """
    # Its own transaction, committed whatever the outcome: a failure must be counted even though
    # the answer is an error (the request's usual connection would roll back).
    try:
        with pool.connection() as conn:
            result = attempt_login(
                conn,
                login=body.login,
                password=body.password,
                client_addr=client_addr(request),
                user_agent=request.headers.get("user-agent"),
                now=now,
                settings=settings,
            )
    except LoginLocked as exc:
        seconds = max(1, int(exc.retry_after.total_seconds() + 0.999))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"Слишком много неудачных попыток входа. Повторите через {seconds} с",
            headers={"Retry-After": str(seconds)},
        ) from None
    if result is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Неверный логин или пароль",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user, token, exp = result
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.mode == "production",
        max_age=int((exp - now).total_seconds()),
        path="/",
    )
    return TokenOut(access_token=token, expires_at=exp, user=UserOut.of(user))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    user: CurrentUser, request: Request, response: Response, conn: Conn, now: NowDep
) -> None:
    """End this session (its token stops working at once, as header and as cookie)."""
    sstore.end_session(conn, session_id=request.state.session_id, now=now, reason="logout")
    response.delete_cookie(COOKIE_NAME, path="/")


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={403: {"description": "Текущий пароль неверен"}},
)
def change_password(
    body: PasswordChangeIn, user: CurrentUser, response: Response, conn: Conn, now: NowDep
) -> None:
    """Change one's own password; every session of the user ends (log in again)."""
    if authenticate(conn, login=user.login, password=body.current_password) is None:
        from dispatch.services import PermissionDenied

        raise PermissionDenied("Текущий пароль неверен", code="wrong_password")
    accounts.change_password(
        conn, user_id=user.id, password_hash=hash_password(body.new_password), now=now
    )
    response.delete_cookie(COOKIE_NAME, path="/")


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    return UserOut.of(user)
