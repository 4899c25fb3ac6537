"""Plain SVG charts for the pages (no chart library: a bar chart of counts is a few rectangles, and
an SVG made on the server needs no script and no CSP exception). Pure: no I/O."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

PALETTE = ("#1f618d", "#c0392b", "#1e8449", "#d68910", "#8e44ad", "#17a589", "#7f8c8d")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str  # tooltip: carrier, week, count


@dataclass(frozen=True)
class WeeklyChart:
    """Grouped bars: for each week (Monday, local time) one bar per carrier."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    weeks: tuple[tuple[float, str], ...]  # (x of the label, «ДД.ММ»)
    legend: tuple[tuple[str, str], ...]  # (colour, carrier name)
    max_count: int
    empty: bool


def week_start(ts: datetime, tz: str) -> date:
    local = ts.astimezone(ZoneInfo(tz)).date()
    return local - timedelta(days=local.weekday())


def weekly_counts(
    items: Iterable[tuple[datetime, int | None]], tz: str
) -> Counter[tuple[date, int | None]]:
    """``(pickup time, carrier id)`` pairs → count per (week's Monday, carrier)."""
    return Counter((week_start(ts, tz), carrier) for ts, carrier in items)


def weekly_chart(
    counts: Counter[tuple[date, int | None]],
    *,
    weeks: Sequence[date],
    carriers: dict[int | None, str],
    width: int = 720,
    height: int = 240,
) -> WeeklyChart:
    """Lay out the grouped bar chart of ``counts`` over ``weeks`` (pixels, origin top-left)."""
    order = sorted({c for _, c in counts} | set(), key=lambda c: (c is None, carriers.get(c, "")))
    colour = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(order)}
    top = max(counts.values(), default=0)
    pad_l, pad_b, pad_t = 32, 24, 8
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t
    slot = plot_w / max(len(weeks), 1)
    bar_w = max(2.0, (slot * 0.8) / max(len(order), 1))
    bars = []
    for wi, week in enumerate(weeks):
        for ci, carrier in enumerate(order):
            n = counts.get((week, carrier), 0)
            if not n:
                continue
            h = plot_h * n / top
            x = pad_l + wi * slot + slot * 0.1 + ci * bar_w
            name = carriers.get(carrier, "без перевозчика")
            bars.append(
                Bar(x, pad_t + plot_h - h, bar_w, h, colour[carrier], f"{name}, {week:%d.%m}: {n}")
            )
    labels = tuple((pad_l + wi * slot + slot / 2, f"{w:%d.%m}") for wi, w in enumerate(weeks))
    legend = tuple((colour[c], carriers.get(c, "без перевозчика")) for c in order)
    return WeeklyChart(width, height, tuple(bars), labels, legend, top, top == 0)
