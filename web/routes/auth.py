"""Login, logout, who am I."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from web.auth import COOKIE_NAME, CurrentUser, authenticate, issue_token
from web.deps import Conn, NowDep, SettingsDep
from web.schemas import LoginIn, TokenOut, UserOut

router = APIRouter(prefix="/auth", tags=["Вход"])


@router.post(
    "/login", response_model=TokenOut, responses={401: {"description": "Неверный логин или пароль"}}
)
def login(
    body: LoginIn, response: Response, conn: Conn, settings: SettingsDep, now: NowDep
) -> TokenOut:
    """Exchange a login and password for a signed bearer token (also set as an HttpOnly cookie)."""
    user = authenticate(conn, login=body.login, password=body.password)
    if user is None:
        from fastapi import HTTPException

        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Неверный логин или пароль",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token, exp = issue_token(
        user_id=user.id, secret=settings.secret_key.get_secret_value(), now=now
    )
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
def logout(user: CurrentUser, response: Response) -> None:
    """Forget the session cookie (bearer tokens simply expire)."""
    response.delete_cookie(COOKIE_NAME, path="/")


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    return UserOut.of(user)
