"""The fare of a trip and the passenger's co-payment, in integer kopecks.

Pure: the tariffs, co-payment shares and rounding come from :class:`config.rules.Rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from config.rules import Rules
from dispatch.errors import Invalid

__all__ = ["FareQuote", "quote"]


@dataclass(frozen=True)
class FareQuote:
    """A priced trip.

    Attributes
    ----------
    fare_kop
        The full fare the region pays the carrier for, in kopecks.
    copay_share_pct
        The passenger's share of the fare, percent.
    copay_kop
        The passenger's co-payment, in kopecks (part of ``fare_kop``, not on top of it).
    distance_km
        Planned route length the fare is based on, km.
    vehicle_type
        The tariff's vehicle type.
    """

    fare_kop: int
    copay_share_pct: float
    copay_kop: int
    distance_km: float
    vehicle_type: str


def quote(
    rules: Rules,
    *,
    category: str,
    vehicle_type: str,
    distance_m: float,
    band_km: float | None = None,
) -> FareQuote:
    """Price a trip of ``distance_m`` metres (the planned route) for a passenger of ``category``.

    Arithmetic is exact (``Decimal``, never float money):

    * ``fare = base_kop + per_km_kop × km`` with ``km = distance_m / 1000`` exactly, rounded by
      ``rules.rounding`` — half up (ГОСТ rounding: ``x.5`` goes up) to a multiple of ``step_kop``
      kopecks (1 kopeck in the Leningrad Oblast rules);
    * ``copay = fare × share_pct / 100`` computed on the *rounded* fare and rounded the same way;
    * ``share_pct = rules.copay_share_pct(category, km)``: a per-category share if the rules have
      one (0 % for exempt categories), otherwise the distance band — 25 % under 150 km, 10 % from
      exactly 150 km on.

    Raises
    ------
    Invalid
        Unknown vehicle type (``code="unknown_vehicle_type"``), unknown benefit category
        (``code="unknown_category"``), negative or non-finite distance (``code="bad_distance"``).
    """
    try:
        tariff = rules.tariff(vehicle_type)
    except KeyError:
        raise Invalid(
            f"Неизвестный тип транспортного средства: «{vehicle_type}»",
            code="unknown_vehicle_type",
        ) from None
    try:
        rules.category(category)
    except KeyError:
        raise Invalid(
            f"Неизвестная льготная категория: «{category}»", code="unknown_category"
        ) from None
    dist = Decimal(repr(float(distance_m)))
    if not dist.is_finite() or dist < 0:
        raise Invalid(f"Неверная длина маршрута: {distance_m} м", code="bad_distance")
    km = dist / 1000
    fare_kop = rules.rounding.apply(Decimal(tariff.base_kop) + Decimal(tariff.per_km_kop) * km)
    # ``band_km``: the distance the co-payment band is found from when it is not this trip's own
    # (a linked there-and-back pair priced as one trip, rules ``[return_trips]``).
    share = rules.copay_share_pct(category, float(km) if band_km is None else band_km)
    copay_kop = rules.rounding.apply(Decimal(fare_kop) * Decimal(repr(float(share))) / 100)
    return FareQuote(
        fare_kop=fare_kop,
        copay_share_pct=float(share),
        copay_kop=copay_kop,
        distance_km=float(km),
        vehicle_type=tariff.vehicle_type,
    )
