"""Exceptions of the routing package.

Each carries a Russian ``message`` for the user (the web layer shows it as is) and English
details in ``str(exc)`` for logs.
"""

from __future__ import annotations

from collections.abc import Sequence


class RoutingError(Exception):
    """Base class of every routing failure.

    Parameters
    ----------
    message
        Russian, user-facing text.
    detail
        English text for logs; defaults to ``message``.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(detail or message)
        self.message = message


class GraphImportError(RoutingError):
    """An OSM file could not be read or holds no drivable roads."""

    def __init__(self, detail: str) -> None:
        super().__init__("Не удалось загрузить дорожный граф", detail)


class OutOfServiceArea(RoutingError):
    """One or more points lie farther from any road than the allowed snapping distance.

    Attributes
    ----------
    indices
        Positions (in the input arrays) of the refused points.
    dist_m
        Their distances to the nearest road, metres.
    max_dist_m
        The limit that was exceeded, metres.
    """

    def __init__(self, indices: Sequence[int], dist_m: Sequence[float], max_dist_m: float) -> None:
        self.indices = [int(i) for i in indices]
        self.dist_m = [float(d) for d in dist_m]
        self.max_dist_m = float(max_dist_m)
        shown = ", ".join(
            f"#{i} ({d:.0f} м)" for i, d in zip(self.indices[:5], self.dist_m[:5], strict=True)
        )
        more = f" и ещё {len(self.indices) - 5}" if len(self.indices) > 5 else ""
        super().__init__(
            "Адрес вне зоны обслуживания",
            f"points {self.indices} are farther than {max_dist_m:.0f} m from the road network "
            f"({shown}{more})",
        )

    @property
    def index(self) -> int:
        """The first refused point's index."""
        return self.indices[0]


class NoRoute(RoutingError):
    """The destination cannot be reached from the origin by car."""

    def __init__(self, orig_node: int, dest_node: int) -> None:
        self.orig_node = int(orig_node)
        self.dest_node = int(dest_node)
        super().__init__(
            "Маршрут между адресами не найден",
            f"no drivable path from node {orig_node} to node {dest_node}",
        )


class AddressError(RoutingError):
    """An address query that cannot be searched, or an address the index does not know."""
