"""Whether a trip may be booked: every refusal at once, each with a Russian message.

Pure: the caller passes the request, the passenger's needs and active benefit category, the rules
and the current time. Quota (:mod:`dispatch.quota`) and service-area checks (routing snaps the
addresses) are done separately by the shell.

Decisions
---------
* Times: ``now`` and ``pickup_at`` are timezone-aware; service hours and the booking horizon are
  read in the rules' time zone. The pickup must be within the service hours
  (:meth:`config.rules.Booking.in_service_hours`: 24/7, or ``[service_start, service_end)`` local
  time, overnight when the end is before the start). The horizon is
  counted in local calendar days: the last bookable day is today + ``max_advance_days``.
* Seats: the passenger takes a seat, each companion a seat; a wheelchair user rides in the
  wheelchair place, so only the companions need seats.
* ``needs_companion`` with no companion is a *refusal* (``companion_required``), not a warning:
  the passenger's record says they cannot travel alone and the driver is not a carer. If the
  record is wrong, the operator corrects it first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from config.rules import Rules
from dispatch.errors import Invalid

__all__ = [
    "Refusal",
    "PassengerNeeds",
    "BenefitPeriod",
    "BookingRequest",
    "active_category",
    "valid_periods",
    "CategoryChoice",
    "choose_category",
    "minor_on",
    "check_booking",
]


@dataclass(frozen=True)
class Refusal:
    """One reason a booking cannot be made: a stable ``code``, the form ``field`` it concerns and
    the Russian ``message`` shown to the operator."""

    code: str
    field: str
    message: str


@dataclass(frozen=True)
class PassengerNeeds:
    wheelchair: bool = False
    walker: bool = False
    visually_impaired: bool = False
    needs_companion: bool = False
    minor: bool = False  # under the rules' adult age on the trip's date


@dataclass(frozen=True)
class BenefitPeriod:
    """A benefit category held from ``valid_from`` to ``valid_to`` inclusive (``None``: open)."""

    category: str
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True)
class BookingRequest:
    pickup_at: datetime
    vehicle_type: str
    companions: int
    destination_type: str
    destination_active: bool


def valid_periods(benefits: Sequence[BenefitPeriod], on: date) -> list[BenefitPeriod]:
    """The benefit periods valid on the local date ``on``."""
    return [b for b in benefits if b.valid_from <= on and (b.valid_to is None or on <= b.valid_to)]


def active_category(benefits: Sequence[BenefitPeriod], on: date) -> str | None:
    """A benefit category valid on the local date ``on`` (``None``: none is), for displays that
    have no trip: the period that started last, then the category code. A *trip's* category is
    chosen by :func:`choose_category`."""
    valid = valid_periods(benefits, on)
    if not valid:
        return None
    return max(valid, key=lambda b: (b.valid_from, b.category)).category


@dataclass(frozen=True)
class CategoryChoice:
    """The category a trip is booked under and why (Russian, stored on the trip)."""

    category: str
    reason: str


def choose_category(
    benefits: Sequence[BenefitPeriod],
    on: date,
    *,
    destination_type: str,
    distance_km: float,
    rules: Rules,
) -> CategoryChoice | None:
    """The benefit category for one trip, chosen from those valid on its local date ``on``.

    Order: a category that allows ``destination_type``; of those, the lowest co-payment share for
    a trip of ``distance_km`` (an exempt veteran pays 0 %, not a disability group's 25 %); then the
    highest monthly limit; then the period that started last and the code (deterministic).
    Categories unknown to the rules are skipped. ``None`` when no valid category allows the
    destination (or none is valid): :func:`check_booking` then names the refusal.
    """
    valid = []
    for b in valid_periods(benefits, on):
        try:
            valid.append((b, rules.category(b.category)))
        except KeyError:
            continue
    allowing = [(b, c) for b, c in valid if destination_type in c.allowed_object_types]
    if not allowing:
        return None

    def rank(item: tuple[BenefitPeriod, Any]) -> tuple[float, int, date, str]:
        b, c = item
        return (-rules.copay_share_pct(c.code, distance_km), c.monthly_limit, b.valid_from, c.code)

    _, best = max(allowing, key=rank)
    share = rules.copay_share_pct(best.code, distance_km)
    try:
        type_name = rules.object_type(destination_type).name
    except KeyError:
        type_name = destination_type
    reason = (
        f"«{best.name}»: даёт право на поездки к объектам типа «{type_name}», "
        f"доля оплаты {share:g} %"
    )
    others = sorted({c.name for _, c in allowing} - {best.name})
    not_allowing = sorted({c.name for _, c in valid if c not in {x for _, x in allowing}})
    if others:
        reason += "; выбрана из: " + ", ".join(f"«{n}»" for n in [best.name, *others])
    if not_allowing:
        reason += "; не дают права на этот тип объекта: " + ", ".join(
            f"«{n}»" for n in not_allowing
        )
    return CategoryChoice(best.code, reason)


def minor_on(birth_date: date | None, on: date, *, adult_age_years: int) -> bool:
    """Whether a passenger born on ``birth_date`` is under ``adult_age_years`` on ``on``."""
    if birth_date is None:
        return False
    age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    return age < adult_age_years


def check_booking(
    req: BookingRequest,
    *,
    needs: PassengerNeeds,
    category: str | None,
    rules: Rules,
    now: datetime,
) -> list[Refusal]:
    """All reasons to refuse ``req``; an empty list means it may be booked.

    Codes (field): ``pickup_in_past``, ``too_soon``, ``too_far_ahead``, ``outside_hours``
    (``pickup_at``); ``no_benefit``, ``unknown_category`` (``category``); ``unknown_vehicle_type``,
    ``vehicle_not_fit`` (``vehicle_type``); ``bad_companions``, ``too_many_companions``,
    ``not_enough_seats``, ``companion_required`` (``companions``); ``destination_inactive``,
    ``unknown_destination_type``, ``destination_not_allowed`` (``destination``).

    Raises
    ------
    Invalid
        ``now`` or ``pickup_at`` without a time zone (``code="naive_time"``): a programming error,
        not an operator's.
    """
    for ts in (req.pickup_at, now):
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise Invalid("Время должно быть указано с часовым поясом", code="naive_time")
    zone = ZoneInfo(rules.timezone)
    b = rules.booking
    out: list[Refusal] = []

    # --- time -----------------------------------------------------------------------------
    pickup_local = req.pickup_at.astimezone(zone)
    now_local = now.astimezone(zone)
    earliest = now + timedelta(minutes=b.min_lead_minutes)
    last_day = now_local.date() + timedelta(days=b.max_advance_days)
    if req.pickup_at <= now:
        out.append(Refusal("pickup_in_past", "pickup_at", "Время подачи уже прошло"))
    elif req.pickup_at < earliest:
        out.append(
            Refusal(
                "too_soon",
                "pickup_at",
                f"Заказ принимается не позднее чем за {_minutes_ru(b.min_lead_minutes)} "
                f"до подачи; ближайшее время подачи — "
                f"{earliest.astimezone(zone):%d.%m.%Y %H:%M}",
            )
        )
    elif pickup_local.date() > last_day:
        out.append(
            Refusal(
                "too_far_ahead",
                "pickup_at",
                f"Заказ принимается не более чем за {b.max_advance_days} дн. вперёд — "
                f"не позднее {last_day:%d.%m.%Y}",
            )
        )
    t = pickup_local.time().replace(tzinfo=None)
    if not b.in_service_hours(t):
        out.append(
            Refusal(
                "outside_hours",
                "pickup_at",
                f"Время подачи {t:%H:%M} вне часов работы службы ({b.hours_text})",
            )
        )

    # --- category -------------------------------------------------------------------------
    cat = None
    if category is None:
        out.append(
            Refusal(
                "no_benefit",
                "category",
                f"У пассажира нет действующей льготной категории на {pickup_local:%d.%m.%Y}",
            )
        )
    else:
        try:
            cat = rules.category(category)
        except KeyError:
            out.append(
                Refusal(
                    "unknown_category", "category", f"Неизвестная льготная категория «{category}»"
                )
            )

    # --- vehicle and seats ----------------------------------------------------------------
    tariff = None
    try:
        tariff = rules.tariff(req.vehicle_type)
    except KeyError:
        out.append(
            Refusal(
                "unknown_vehicle_type",
                "vehicle_type",
                f"Неизвестный тип транспортного средства «{req.vehicle_type}»",
            )
        )
    if tariff is not None and needs.wheelchair and tariff.wheelchair_places < 1:
        fitting = [t.name for t in rules.tariffs if t.wheelchair_places >= 1]
        hint = f"; нужен: {', '.join(fitting)}" if fitting else ""
        out.append(
            Refusal(
                "vehicle_not_fit",
                "vehicle_type",
                f"«{tariff.name}» не перевозит инвалидов-колясочников{hint}",
            )
        )
    if req.companions < 0:
        out.append(
            Refusal(
                "bad_companions", "companions", "Число сопровождающих не может быть отрицательным"
            )
        )
    elif req.companions > b.max_companions:
        out.append(
            Refusal(
                "too_many_companions",
                "companions",
                f"Допускается не более {b.max_companions} сопровождающ"
                f"{'его' if b.max_companions == 1 else 'их'}",
            )
        )
    if tariff is not None and req.companions >= 0:
        seats_needed = req.companions + (0 if needs.wheelchair and tariff.wheelchair_places else 1)
        if seats_needed > tariff.seats:
            out.append(
                Refusal(
                    "not_enough_seats",
                    "companions",
                    f"В «{tariff.name}» {tariff.seats} пассажирск. мест, нужно {seats_needed}",
                )
            )
    if needs.minor and b.minor_needs_companion and req.companions == 0:
        out.append(
            Refusal(
                "companion_required_minor",
                "companions",
                f"Пассажир младше {b.adult_age_years} лет: поездка только с сопровождающим "
                "(укажите сопровождающего)",
            )
        )
    elif needs.needs_companion and req.companions == 0:
        out.append(
            Refusal(
                "companion_required",
                "companions",
                "Пассажиру требуется сопровождающий: укажите сопровождающего",
            )
        )

    # --- destination ----------------------------------------------------------------------
    if not req.destination_active:
        out.append(
            Refusal(
                "destination_inactive", "destination", "Социальный объект не действует (закрыт)"
            )
        )
    try:
        otype = rules.object_type(req.destination_type)
    except KeyError:
        out.append(
            Refusal(
                "unknown_destination_type",
                "destination",
                f"Неизвестный тип социального объекта «{req.destination_type}»",
            )
        )
    else:
        if cat is not None and otype.code not in cat.allowed_object_types:
            out.append(
                Refusal(
                    "destination_not_allowed",
                    "destination",
                    f"Категория «{cat.name}» не даёт права на поездки к объектам типа "
                    f"«{otype.name}»",
                )
            )
    return out


def _minutes_ru(minutes: int) -> str:
    if minutes % 60 == 0:
        h = minutes // 60
        word = (
            "час"
            if h % 10 == 1 and h % 100 != 11
            else ("часа" if 2 <= h % 10 <= 4 and not 12 <= h % 100 <= 14 else "часов")
        )
        return f"{h} {word}"
    return f"{minutes} мин"
