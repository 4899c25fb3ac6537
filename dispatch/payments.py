"""Whether a collected co-payment may be recorded, and whether its amount is the one due.

Pure: the shell passes the trip (locked), the vehicle that reports the payment and whether the trip
already has a payment. A payment is recorded only when it comes from the trip's vehicle, for a
trip on board or completed (:data:`dispatch.lifecycle.PAYABLE`), and once per trip; otherwise it is
refused and nothing is written but the refused event. An amount that differs from the trip's
co-payment is *recorded as collected* and marked: the money was taken, the audit judges why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatch.lifecycle import PAYABLE, TripState, status_ru

__all__ = ["Payment", "PaymentCheck", "check_payment"]


@dataclass(frozen=True, slots=True)
class Payment:
    """A ``payments`` row to write. Money in kopecks; ``collected_at`` UTC, aware.

    ``expected_kop`` is the trip's co-payment due (``None``: the trip has no figure to compare
    with), ``amount_mismatch`` whether ``amount_kop`` differs from it.
    """

    trip_id: int
    amount_kop: int
    method: str
    collected_at: datetime
    expected_kop: int | None
    amount_mismatch: bool


@dataclass(frozen=True, slots=True)
class PaymentCheck:
    """Either ``payment`` to record, or a ``refusal`` (Russian) with its stable ``refusal_code``."""

    payment: Payment | None = None
    refusal: str | None = None
    refusal_code: str | None = None


def check_payment(
    trip: TripState,
    *,
    vehicle_id: int,
    amount_kop: int,
    method: str,
    collected_at: datetime,
    already_paid: bool,
) -> PaymentCheck:
    """Decide one collected payment reported by vehicle ``vehicle_id`` for ``trip``.

    Refusals, in this order: ``wrong_vehicle`` (the trip is not this vehicle's),
    ``payment_not_due`` (the trip is not on board or completed: booked, cancelled, no-show...),
    ``already_paid`` (a payment for the trip is recorded already).
    """
    if trip.vehicle_id != vehicle_id:
        return PaymentCheck(refusal="Поездка назначена другой машине", refusal_code="wrong_vehicle")
    if trip.status not in PAYABLE:
        return PaymentCheck(
            refusal=f"Оплата не принимается: поездка {status_ru(trip.status)}",
            refusal_code="payment_not_due",
        )
    if already_paid:
        return PaymentCheck(
            refusal="Оплата по этой поездке уже принята", refusal_code="already_paid"
        )
    expected = trip.copay_kop
    return PaymentCheck(
        payment=Payment(
            trip_id=trip.id,
            amount_kop=amount_kop,
            method=method,
            collected_at=collected_at,
            expected_kop=expected,
            amount_mismatch=expected is not None and amount_kop != expected,
        )
    )
