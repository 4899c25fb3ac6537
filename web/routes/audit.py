"""Audit findings for controllers: list with filters and paging, one finding with evidence and
GeoJSON, review (confirm / dismiss / reopen), monthly reports as CSV or XLSX.

Handlers parse, call :mod:`audit.service_findings`, return. Roles: controller, supervisor, admin.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from audit import service_findings as svc
from audit.facts import RuleId
from audit.report import to_csv, to_xlsx
from audit.store import FindingFilter
from dispatch.errors import Invalid
from dispatch.models import User
from web.auth import require_roles
from web.deps import Conn, NowDep, RulesDep
from web.routes._common import Limit, Offset

router = APIRouter(prefix="/audit", tags=["Аудит"])
Controller = Annotated[User, Depends(require_roles(*svc.REVIEWER_ROLES))]
FindingId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Month = Annotated[str, Path(pattern=r"^20\d{2}-(0[1-9]|1[0-2])$", description="ГГГГ-ММ")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["confirm", "dismiss", "reopen"]
    comment: str = Field(min_length=1, max_length=2000)


@router.get("/findings")
def list_findings(
    conn: Conn,
    user: Controller,
    rule: RuleId | None = None,
    status: Literal["new", "confirmed", "dismissed"] | None = None,
    carrier_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    vehicle_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    date_from: datetime | None = Query(None, description="Подача не раньше (ISO 8601)"),
    date_to: datetime | None = Query(None, description="Подача раньше (ISO 8601)"),
    include_withdrawn: bool = False,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Any:
    """Findings, newest pickups first, with the total that match the filters."""
    for value, name in ((date_from, "date_from"), (date_to, "date_to")):
        if value is not None and value.tzinfo is None:
            raise Invalid(f"{name}: укажите часовой пояс", code="naive_time")
    flt = FindingFilter(
        rule=rule.value if rule else None,
        status=status,
        carrier_id=carrier_id,
        vehicle_id=vehicle_id,
        start=date_from,
        end=date_to,
        include_withdrawn=include_withdrawn,
    )
    return svc.list_findings(conn, user=user, flt=flt, limit=limit, offset=offset)


@router.get("/findings/{finding_id}")
def get_finding(finding_id: FindingId, conn: Conn, user: Controller) -> Any:
    """One finding: evidence, geometry (GeoJSON FeatureCollection) and review history."""
    return svc.get_finding(conn, user=user, finding_id=finding_id)


@router.post("/findings/{finding_id}/review")
def review_finding(
    finding_id: FindingId, body: ReviewIn, conn: Conn, user: Controller, now: NowDep
) -> Any:
    """Confirm or dismiss a new finding (or reopen a reviewed one), with a comment."""
    return svc.review_finding(
        conn, user=user, finding_id=finding_id, action=body.action, comment=body.comment, now=now
    )


def _report(conn: Any, rules: Any, user: User, month: str, carrier_id: int | None) -> Any:
    year, mon = (int(x) for x in month.split("-"))
    return svc.monthly_report(
        conn,
        year=year,
        month=mon,
        carrier_id=carrier_id,
        tz=rules.timezone,
        rules_version=rules.version,
        user=user,
    )


@router.get("/reports/{month}.csv", response_class=Response)
def report_csv(
    month: Month,
    conn: Conn,
    rules: RulesDep,
    user: Controller,
    carrier_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """The month's report per carrier as CSV (``;``, UTF-8 with BOM)."""
    report = _report(conn, rules, user, month, carrier_id)
    return Response(
        to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{month}.csv"'},
    )


@router.get("/reports/{month}.xlsx", response_class=Response)
def report_xlsx(
    month: Month,
    conn: Conn,
    rules: RulesDep,
    user: Controller,
    carrier_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """The month's report: «Сводка» per carrier and «Нарушения» per finding."""
    report = _report(conn, rules, user, month, carrier_id)
    return Response(
        to_xlsx(report),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="audit-{month}.xlsx"'},
    )
