"""What a GPS receiver reports of a true trajectory: time-correlated error, outliers, dropouts,
and fixes buffered while offline then uploaded as one batch.

Pure: numpy in, numpy out. Receivers do not err like white noise: the error wanders slowly
(multipath, atmosphere, satellite geometry change over tens of seconds). Each axis of the error
is an AR(1) process — the Ornstein–Uhlenbeck process sampled every ``dt`` —
``e[k] = φ·e[k-1] + σ·√(1-φ²)·w[k]`` with ``φ = exp(-dt/τ)``, stationary with standard
deviation ``σ`` and correlation time ``τ``; it is run as one linear filter over the whole trip
(``scipy.signal.lfilter``), not a Python loop. On top: rare outliers (a jump of 80–400 m on one
fix), dropouts (no fix at all: tunnels, dead zones) and offline spans (fixes recorded but kept on
the device and published together, oldest first, when the link returns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

__all__ = ["GpsModel", "Observation", "observe", "sample_times"]


@dataclass(frozen=True)
class GpsModel:
    """Receiver error model.

    Attributes
    ----------
    sigma_m
        Standard deviation of the error per axis, metres (3–20 m for phone and tracker fixes).
    tau_s
        Correlation time of the error, seconds (tens of seconds).
    outlier_prob
        Chance that a fix is an outlier.
    outlier_m
        Range of an outlier's jump, metres.
    speed_sigma_kmh, heading_sigma_deg
        Error of the reported speed and course.
    """

    sigma_m: float = 5.0
    tau_s: float = 30.0
    outlier_prob: float = 0.002
    outlier_m: tuple[float, float] = (80.0, 400.0)
    speed_sigma_kmh: float = 1.5
    heading_sigma_deg: float = 4.0


@dataclass(frozen=True)
class Observation:
    """The fixes a device recorded and when it published each.

    Arrays of equal length, in time order: ``t_s`` (seconds of the trip), ``x``/``y`` (metres,
    with error), ``speed_kmh``, ``heading_deg``, ``accuracy_m``, ``satellites``,
    ``publish_s`` (when it was published: its own time when live, the end of its offline span
    when buffered) and ``batch`` (-1 live, else the index of the offline span it was sent in).
    ``outlier`` marks injected outliers (truth, not published).
    """

    t_s: np.ndarray
    x: np.ndarray
    y: np.ndarray
    speed_kmh: np.ndarray
    heading_deg: np.ndarray
    accuracy_m: np.ndarray
    satellites: np.ndarray
    publish_s: np.ndarray
    batch: np.ndarray
    outlier: np.ndarray

    def __len__(self) -> int:
        return int(self.t_s.shape[0])


def sample_times(duration_s: float, interval_s: float, rng: np.random.Generator) -> np.ndarray:
    """Fix times every ``interval_s`` from a random phase, covering ``[0, duration_s]``."""
    phase = rng.uniform(0, interval_s)
    t = np.arange(phase, duration_s + 1e-9, interval_s)
    return np.concatenate(([0.0], t)) if t.size == 0 or t[0] > 0.5 else t


def _ar1(n: int, dt: float, model: GpsModel, rng: np.random.Generator) -> np.ndarray:
    phi = float(np.exp(-dt / model.tau_s))
    w = rng.standard_normal((2, n))
    e0 = rng.standard_normal(2) * model.sigma_m  # the stationary start
    b = [model.sigma_m * np.sqrt(1.0 - phi * phi)]
    return np.vstack(
        [lfilter(b, [1.0, -phi], w[i], zi=[phi * e0[i]])[0] for i in range(2)]
    )  # two axes: two filter runs, each over the whole trip


def _within(t: np.ndarray, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """Index of the span each time falls in (-1: none)."""
    out = np.full(t.shape, -1, np.int64)
    for k, (a, b) in enumerate(spans):
        out[(t >= a) & (t < b)] = k
    return out


def observe(
    truth: dict[str, np.ndarray],
    t_s: np.ndarray,
    model: GpsModel,
    rng: np.random.Generator,
    *,
    dropouts: Sequence[tuple[float, float]] = (),
    offline: Sequence[tuple[float, float]] = (),
) -> Observation:
    """Fixes of a receiver following ``truth`` (from :meth:`Trajectory.sample` at ``t_s``).

    ``dropouts`` and ``offline`` are spans ``(start_s, end_s)`` of trip time: no fixes inside a
    dropout; fixes inside an offline span are published together at its end.
    """
    t = np.asarray(t_s, np.float64)
    n = t.size
    dt = float(np.median(np.diff(t))) if n > 1 else 1.0
    err = _ar1(n, dt, model, rng)
    x = truth["x"] + err[0]
    y = truth["y"] + err[1]
    outlier = rng.random(n) < model.outlier_prob
    k = int(outlier.sum())
    if k:
        r = rng.uniform(*model.outlier_m, k)
        a = rng.uniform(0, 2 * np.pi, k)
        x[outlier] += r * np.sin(a)
        y[outlier] += r * np.cos(a)
    speed = np.maximum(0.0, truth["speed_kmh"] + rng.normal(0, model.speed_sigma_kmh, n))
    speed = np.where(truth["speed_kmh"] < 0.5, np.abs(rng.normal(0, 0.3, n)), speed)
    heading = (truth["heading_deg"] + rng.normal(0, model.heading_sigma_deg, n)) % 360.0
    accuracy = model.sigma_m * 1.2 * rng.lognormal(0.0, 0.25, n)
    satellites = np.clip(np.round(rng.normal(11 - model.sigma_m / 4, 2, n)), 4, 20).astype(np.int64)
    keep = _within(t, dropouts) < 0
    batch = _within(t, offline)
    ends = np.array([b for _, b in offline] + [0.0])
    publish = np.where(batch >= 0, ends[batch], t)
    return Observation(
        t_s=t[keep],
        x=x[keep],
        y=y[keep],
        speed_kmh=speed[keep],
        heading_deg=heading[keep],
        accuracy_m=accuracy[keep],
        satellites=satellites[keep],
        publish_s=publish[keep],
        batch=batch[keep],
        outlier=outlier[keep],
    )
