"""Accounts for the administrator: users, their active sessions, ending sessions, deactivation
and roles. Every change that alters what a user may do ends that user's sessions at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from dispatch.errors import NotFound
from dispatch.models import User
from dispatch.services import accounts, scope
from dispatch.store import sessions as sstore
from dispatch.store import users as ustore
from web.auth import require_roles
from web.deps import Conn, NowDep, SettingsDep
from web.schemas import EndedOut, RolesIn, SessionOut, UserAdminOut

router = APIRouter(prefix="/users", tags=["Пользователи"])
UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]
_admin_role = require_roles("admin")


def _region_admin(user: Annotated[User, Depends(_admin_role)]) -> User:
    """An administrator of the region: a carrier's staff never manages accounts."""
    scope.refuse_carrier_staff(user, "управление пользователями")
    return user


Admin = Annotated[User, Depends(_region_admin)]


@router.get("", response_model=list[UserAdminOut])
def list_users(conn: Conn, admin: Admin) -> list[UserAdminOut]:
    return [UserAdminOut.of(u) for u in ustore.list_users(conn)]


@router.get("/{user_id}/sessions", response_model=list[SessionOut])
def user_sessions(
    user_id: UserId, conn: Conn, admin: Admin, now: NowDep, settings: SettingsDep
) -> list[SessionOut]:
    """The user's sessions that still let them in (not ended, not expired, not idle)."""
    if ustore.get_user(conn, user_id=user_id) is None:
        raise NotFound("Пользователь не найден", code="not_found")
    idle_since = now - timedelta(minutes=settings.session_idle_minutes)
    rows = sstore.open_sessions(conn, user_id=user_id, now=now, idle_since=idle_since)
    return [SessionOut.model_validate(r) for r in rows]


@router.post("/{user_id}/sessions/end", response_model=EndedOut)
def end_user_sessions(user_id: UserId, conn: Conn, admin: Admin, now: NowDep) -> EndedOut:
    """End every session of the user (e.g. a lost laptop)."""
    n = accounts.end_sessions(conn, user_id=user_id, now=now, reason="ended_by_admin")
    sstore.record_event(conn, at=now, kind="sessions_ended", user_id=user_id,
                        detail={"by": admin.id, "ended": n})  # fmt: skip
    return EndedOut(ended=n)


@router.post("/{user_id}/deactivate", response_model=UserAdminOut)
def deactivate_user(user_id: UserId, conn: Conn, admin: Admin, now: NowDep) -> UserAdminOut:
    """Block the user; their sessions end at once."""
    return UserAdminOut.of(accounts.set_active(conn, user_id=user_id, active=False, now=now))


@router.post("/{user_id}/activate", response_model=UserAdminOut)
def activate_user(user_id: UserId, conn: Conn, admin: Admin, now: NowDep) -> UserAdminOut:
    return UserAdminOut.of(accounts.set_active(conn, user_id=user_id, active=True, now=now))


@router.put("/{user_id}/roles", response_model=UserAdminOut)
def set_user_roles(
    user_id: UserId, body: RolesIn, conn: Conn, admin: Admin, now: NowDep
) -> UserAdminOut:
    """Replace the user's roles; their sessions end at once (they log in with the new roles)."""
    return UserAdminOut.of(accounts.set_roles(conn, user_id=user_id, roles=body.roles, now=now))
