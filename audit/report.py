"""The monthly audit report per carrier: trips, kilometres paid, findings per rule, kilometres
and money at stake — as rows, CSV and XLSX with Russian headers.

Pure: figures come in as plain values (``audit/store.py`` reads them), files come out as bytes.
Findings counted are those still standing (not withdrawn by a re-run, not dismissed by a
reviewer); the confirmed ones are counted apart. No personal data appears in the report.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from audit.facts import RULE_RU, RuleId

__all__ = ["CarrierMonth", "FindingLine", "Report", "to_csv", "to_xlsx", "HEADERS"]


@dataclass(frozen=True)
class CarrierMonth:
    """One carrier's month. Money in kopecks, distances in kilometres."""

    carrier_id: int
    carrier: str
    trips_completed: int
    trips_no_show: int
    km_paid: float
    fare_kop: int
    findings: dict[str, int] = field(default_factory=dict)  # rule id → standing findings
    confirmed: int = 0
    at_stake_km: float = 0.0
    at_stake_kop: int = 0


@dataclass(frozen=True)
class FindingLine:
    """One standing finding of the month (the report's second sheet)."""

    finding_id: int
    trip_id: int
    carrier: str
    vehicle: str
    pickup_at: datetime  # local time
    rule: str
    severity: str
    status: str
    at_stake_km: float
    at_stake_kop: int
    message: str


@dataclass(frozen=True)
class Report:
    year: int
    month: int
    rules_version: str
    carriers: tuple[CarrierMonth, ...]
    findings: tuple[FindingLine, ...] = ()

    @property
    def title(self) -> str:
        return f"Аудит поездок социального такси за {self.month:02d}.{self.year}"


RULE_ORDER = tuple(r.value for r in RuleId)
HEADERS = (
    "Перевозчик",
    "Выполнено поездок",
    "Неявок",
    "Оплачено км",
    "К оплате, ₽",
    *(f"Нарушений: {RULE_RU[r]}" for r in RULE_ORDER),
    "Подтверждено нарушений",
    "Под вопросом, км",
    "Под вопросом, ₽",
)
FINDING_HEADERS = (
    "№ нарушения",
    "№ поездки",
    "Перевозчик",
    "Автомобиль",
    "Время подачи",
    "Правило",
    "Важность",
    "Статус",
    "Под вопросом, км",
    "Под вопросом, ₽",
    "Описание",
)
_STATUS_RU = {"new": "новое", "confirmed": "подтверждено", "dismissed": "отклонено"}
_SEVERITY_RU = {"info": "сведения", "warning": "предупреждение", "critical": "существенное"}


def _rub(kop: int) -> float:
    return round(kop / 100, 2)


def carrier_row(c: CarrierMonth) -> list[object]:
    return [
        c.carrier,
        c.trips_completed,
        c.trips_no_show,
        round(c.km_paid, 3),
        _rub(c.fare_kop),
        *(c.findings.get(r, 0) for r in RULE_ORDER),
        c.confirmed,
        round(c.at_stake_km, 3),
        _rub(c.at_stake_kop),
    ]


def finding_row(f: FindingLine) -> list[object]:
    return [
        f.finding_id,
        f.trip_id,
        f.carrier,
        f.vehicle,
        f.pickup_at.replace(tzinfo=None),
        RULE_RU.get(f.rule, f.rule),
        _SEVERITY_RU.get(f.severity, f.severity),
        _STATUS_RU.get(f.status, f.status),
        round(f.at_stake_km, 3),
        _rub(f.at_stake_kop),
        f.message,
    ]


def to_csv(report: Report) -> bytes:
    """The carriers' summary as CSV (``;``-separated, UTF-8 with BOM: opens in Excel as is)."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(HEADERS)
    for c in report.carriers:
        w.writerow(carrier_row(c))
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _sheet(ws: object, title: str, headers: Sequence[str], rows: Sequence[list[object]]) -> None:
    ws.title = title  # type: ignore[attr-defined]
    ws.append(list(headers))  # type: ignore[attr-defined]
    for cell in ws[1]:  # type: ignore[index]
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)  # type: ignore[attr-defined]
    for i, h in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(12, min(40, len(h) + 2))  # type: ignore[attr-defined]
    ws.freeze_panes = "A2"  # type: ignore[attr-defined]


def to_xlsx(report: Report) -> bytes:
    """Two sheets: «Сводка» (one row per carrier) and «Нарушения» (one row per finding)."""
    wb = Workbook()
    _sheet(wb.active, "Сводка", HEADERS, [carrier_row(c) for c in report.carriers])
    _sheet(
        wb.create_sheet(), "Нарушения", FINDING_HEADERS, [finding_row(f) for f in report.findings]
    )
    wb.properties.title = report.title
    wb.properties.keywords = f"rules {report.rules_version}"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
