"""Each simulated vehicle publishes under its own MQTT login, as a real device does.

The production broker (``deploy/mosquitto/acl``) lets a client write only below the topics bound
to its user name: ``{prefix}/vehicles/%u/position`` and ``.../event``; ingest takes the vehicle
from exactly that level. So the simulator does not share one login for the fleet:
:class:`VehiclePublishers` opens one :class:`telemetry.publish.Publisher` per vehicle, with the
vehicle's ``mqtt_id`` as the user name, its own password (from a credentials file in the format
``deploy/mosquitto/make-passwd.sh`` reads: one ``mqtt_id password`` a line) and its own client id
(``sim-{mqtt_id}``: a persistent session per vehicle, apart from the real device's). Without a
credentials file the user name is still the vehicle's and no password is sent, which the local
anonymous broker (development, tests, the demo) accepts.

A message goes out on the connection of the vehicle its topic names
(:func:`telemetry.decode.parse_topic`, the same reading as ingest's).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from telemetry.decode import parse_topic
from telemetry.publish import Publisher

__all__ = ["CredentialsError", "VehiclePublishers", "read_credentials"]


class CredentialsError(ValueError):
    """A credentials file that cannot be read or has a malformed line."""


def read_credentials(path: Path) -> dict[str, str]:
    """``mqtt_id → password`` from a file of ``mqtt_id password`` lines (blank lines and
    ``#`` comments skipped), the vehicles list of ``deploy/mosquitto/make-passwd.sh``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"файл учётных данных не прочитать: {path}: {exc.strerror}"
        raise CredentialsError(msg) from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise CredentialsError(
                f"{path.name}, строка {n}: ожидается «mqtt_id пароль» (два слова через пробел)"
            )
        out[parts[0]] = parts[1]
    return out


class VehiclePublishers:
    """One MQTT connection per vehicle behind the one ``publish(topic, payload)`` the fleet
    uses (and the counters of :class:`telemetry.publish.Publisher`, summed)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        prefix: str,
        credentials: Mapping[str, str] | None = None,
        client_prefix: str = "sim-",
    ) -> None:
        self.host, self.port, self.prefix = host, port, prefix
        self.credentials = dict(credentials or {})
        self.client_prefix = client_prefix
        self._pubs: dict[str, Publisher] = {}
        self._lock = threading.Lock()

    def open(self, mqtt_ids: Iterable[str]) -> None:
        """Connect these vehicles now (others connect on their first message)."""
        for m in mqtt_ids:
            self._publisher(m)

    def _publisher(self, mqtt_id: str) -> Publisher:
        with self._lock:
            pub = self._pubs.get(mqtt_id)
            if pub is None:
                pub = Publisher(
                    self.host,
                    self.port,
                    client_id=f"{self.client_prefix}{mqtt_id}",
                    username=mqtt_id,
                    password=self.credentials.get(mqtt_id),
                )
                self._pubs[mqtt_id] = pub
            return pub

    def publish(self, topic: str, payload: bytes | str) -> int:
        """Publish on the connection of the vehicle ``topic`` belongs to (QoS 1)."""
        route = parse_topic(topic, prefix=self.prefix, owntracks_prefix=None)
        if route is None:
            raise ValueError(f"not a vehicle topic under {self.prefix!r}: {topic!r}")
        return self._publisher(route.device).publish(topic, payload)

    @property
    def clients(self) -> dict[str, str]:
        """``mqtt_id → client id`` of the connections opened so far."""
        return {m: p.client_id for m, p in self._pubs.items()}

    @property
    def published(self) -> int:
        return sum(p.published for p in self._pubs.values())

    @property
    def acknowledged(self) -> int:
        return sum(p.acknowledged for p in self._pubs.values())

    @property
    def pending(self) -> int:
        return sum(p.pending for p in self._pubs.values())

    def wait_connected(self, timeout_s: float) -> bool:
        """Whether every opened connection was made within ``timeout_s`` (all of them)."""
        end = time.monotonic() + timeout_s
        return all(p.wait_connected(max(0.0, end - time.monotonic())) for p in self._pubs.values())

    def wait_all(self, timeout_s: float = 30.0) -> bool:
        end = time.monotonic() + timeout_s
        return all(p.wait_all(max(0.0, end - time.monotonic())) for p in self._pubs.values())

    def close(self, *, flush_s: float = 5.0) -> None:
        end = time.monotonic() + flush_s
        for p in self._pubs.values():
            p.close(flush_s=max(0.0, end - time.monotonic()) if flush_s > 0 else 0)
