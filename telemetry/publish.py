"""Publishing to the broker as a vehicle does: the one publisher of the simulator, the benches
and the test fixtures (contract: ``docs/telemetry.md``).

* :class:`Publisher` — paho-mqtt 2.x (public API only), MQTT 5, QoS 1, a persistent session.
  It never refuses a message: while the broker is away paho keeps every QoS 1 publish in its
  queue (unbounded) and sends it after the reconnection (exponential back-off), as a device
  buffers; it counts what it was asked to publish and what the broker acknowledged.
* :class:`FastPublisher` — the one raw fast path, for load: a plain socket writing MQTT 5
  QoS 1 PUBLISH packets. Why by hand: paho builds, queues and tracks every packet in Python and
  wakes its network thread per publish, ~6,000 messages/s per process on this machine — below
  the 5,000 vehicles at 1 Hz *plus* payload generation that load mode must drive from one
  process, and below what ``bench/ingest.py`` must offer to measure ingest's capacity. Here a
  packet is a few bytes of header before the payload, packets go out in 64 KiB writes, and the
  broker's PUBACKs are counted, with a bounded window of unacknowledged messages. It does not
  reconnect: a load run whose broker goes away fails loudly (:class:`BrokerGone`) rather than
  report a figure.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger("socialtaxi.publish")


class BrokerGone(ConnectionError):
    """The broker refused or closed the connection of a :class:`FastPublisher`."""


class Publisher:
    """A paho client that publishes with QoS 1 and re-sends what was not acknowledged.

    Parameters
    ----------
    host, port
        The broker. The connection is made in the background: a broker that is down at start
        is no error, publishes are queued until it is reachable.
    client_id
        Stable per device (a persistent session, ``clean_start=False``); random by default.
    username, password
        Broker credentials, if it needs them.
    session_expiry_s
        How long the broker keeps the session after a disconnection.
    reconnect_min_s, reconnect_max_s
        Back-off bounds between connection attempts.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        session_expiry_s: int = 3600,
        reconnect_min_s: float = 0.1,
        reconnect_max_s: float = 5.0,
        keepalive_s: int = 30,
    ) -> None:
        self.host, self.port = host, port
        self.client_id = client_id or f"pub-{uuid.uuid4().hex[:10]}"
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        c.max_inflight_messages_set(0)  # no cap: QoS 1 needs no ordering help from paho here
        c.max_queued_messages_set(0)  # unbounded queue while the broker is away
        c.reconnect_delay_set(reconnect_min_s, reconnect_max_s)  # type: ignore[arg-type]
        if username:
            c.username_pw_set(username, password)
        c.on_publish = self._on_publish
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        self._lock = threading.Lock()
        self._acked: set[int] = set()
        self._outstanding: set[int] = set()
        self.published = 0  # publish() calls
        self.acknowledged = 0  # PUBACKs received
        self.connects = 0
        self._connected = threading.Event()
        self._down_logged = False
        self._closing = False
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = session_expiry_s
        c.connect_async(host, port, keepalive=keepalive_s, clean_start=False, properties=props)
        c.loop_start()
        self.client = c

    # ---- callbacks (paho's network thread) -------------------------------------------------
    def _on_publish(self, _c: object, _u: object, mid: int, _rc: object, _p: object) -> None:
        with self._lock:
            if mid in self._outstanding:
                self._outstanding.discard(mid)
                self.acknowledged += 1
            else:  # acknowledged before publish() recorded the mid
                self._acked.add(mid)

    def _on_connect(self, _c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            self._log_down(f"брокер {self.host}:{self.port} отказал в подключении: {rc}")
            return
        self.connects += 1
        self._connected.set()
        if self._down_logged:
            log.warning("broker %s:%s reachable again; sending the buffer", self.host, self.port)
        self._down_logged = False

    def _on_disconnect(self, _c: object, _u: object, _f: object, rc: object, _p: object) -> None:
        self._connected.clear()
        if self._closing:
            return
        self._log_down(f"связь с брокером {self.host}:{self.port} потеряна ({rc})")

    def _log_down(self, what: str) -> None:
        if not self._down_logged:
            log.warning("%s; fixes and events are buffered and re-sent", what)
            self._down_logged = True

    # ---- API ---------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        """Whether the first connection was made within ``timeout_s``."""
        return self._connected.wait(timeout_s)

    def publish(self, topic: str, payload: bytes | str) -> int:
        """Publish with QoS 1 (queued while disconnected); returns the message id."""
        info = self.client.publish(topic, payload, qos=1)
        with self._lock:
            self.published += 1
            if info.mid in self._acked:
                self._acked.discard(info.mid)
                self.acknowledged += 1
            else:
                self._outstanding.add(info.mid)
        return info.mid

    @property
    def pending(self) -> int:
        """Messages not yet acknowledged by the broker."""
        with self._lock:
            return self.published - self.acknowledged

    def wait_all(self, timeout_s: float = 30.0) -> bool:
        """Wait until the broker acknowledged every publish; False on timeout."""
        end = time.monotonic() + timeout_s
        while self.pending:
            if time.monotonic() >= end:
                return False
            time.sleep(0.01)
        return True

    def close(self, *, flush_s: float = 5.0) -> None:
        """Wait up to ``flush_s`` for outstanding acknowledgements, then disconnect."""
        if flush_s > 0 and self.connected:
            self.wait_all(flush_s)
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# --- the raw fast path ------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_packet(fixed: int, body: bytes) -> bytes:
    """An MQTT control packet: fixed header byte, remaining length, body."""
    return bytes((fixed,)) + _varint(len(body)) + body


def read_packets(buf: bytearray) -> tuple[list[int], int]:
    """Packet types of the whole packets at the start of ``buf`` and the bytes they take."""
    types, i, n = [], 0, len(buf)
    while i + 2 <= n:
        j, length, shift = i + 1, 0, 0
        while j < n:
            b = buf[j]
            length |= (b & 0x7F) << shift
            shift += 7
            j += 1
            if not b & 0x80:
                break
        else:
            break
        if j + length > n:
            break
        types.append(buf[i] >> 4)
        i = j + length
    return types, i


_PUBACK = 4


class FastPublisher:
    """MQTT 5 QoS 1 publishing on a plain socket, for load (see the module docstring).

    Build packets with :meth:`packet` (outside a timed loop if you like), hand them to
    :meth:`send`, which writes while keeping at most ``window`` unacknowledged; :meth:`drain`
    waits for the remaining PUBACKs. ``sent`` / ``acknowledged`` count messages.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        window: int = 20_000,
        timeout_s: float = 10.0,
    ) -> None:
        try:
            sock = socket.create_connection((host, port), timeout_s)
        except OSError as exc:
            raise BrokerGone(f"брокер {host}:{port} недоступен: {exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cid = f"fastpub-{uuid.uuid4().hex[:8]}".encode()
        # CONNECT: "MQTT", level 5, clean start, keep-alive 600 s, no properties, client id
        sock.sendall(
            mqtt_packet(
                0x10, b"\x00\x04MQTT\x05\x02\x02\x58\x00" + len(cid).to_bytes(2, "big") + cid
            )
        )
        self._buf = bytearray()
        while True:
            data = sock.recv(4096)
            if not data:
                raise BrokerGone(f"брокер {host}:{port} закрыл соединение")
            self._buf += data
            types, used = read_packets(self._buf)
            if types:
                if types[0] != 2 or self._buf[3] != 0:
                    raise BrokerGone(f"брокер отказал в подключении: {bytes(self._buf[:8])!r}")
                del self._buf[:used]
                break
        sock.setblocking(False)
        self.sock = sock
        self.window = window
        self.sent = 0
        self.acknowledged = 0
        self._mid = 0
        self._pending = b""

    def packet(self, topic: bytes, payload: bytes) -> bytes:
        """A QoS 1 PUBLISH packet (topic and payload already bytes)."""
        self._mid = self._mid % 65535 + 1
        return mqtt_packet(
            0x32,
            len(topic).to_bytes(2, "big")
            + topic
            + self._mid.to_bytes(2, "big")
            + b"\x00"
            + payload,
        )

    def _io(self, timeout_s: float) -> None:
        wl = [self.sock] if self._pending else []
        r, w, _ = select.select([self.sock], wl, [], timeout_s)
        if w:
            try:
                k = self.sock.send(self._pending[:65536])
                self._pending = self._pending[k:]
            except BlockingIOError:
                pass
            except OSError as exc:
                raise BrokerGone(f"связь с брокером потеряна: {exc}") from None
        if r:
            try:
                data = self.sock.recv(262144)
            except BlockingIOError:
                return
            except OSError as exc:
                raise BrokerGone(f"связь с брокером потеряна: {exc}") from None
            if not data:
                raise BrokerGone("брокер закрыл соединение")
            self._buf += data
            types, used = read_packets(self._buf)
            del self._buf[:used]
            self.acknowledged += types.count(_PUBACK)

    def send(self, packets: Iterable[bytes], *, chunk: int = 500) -> None:
        """Write ``packets`` (built by :meth:`packet`), never more than ``window`` unacked."""
        chunk = max(1, min(chunk, self.window))
        batch: list[bytes] = []
        for p in packets:
            batch.append(p)
            if len(batch) >= chunk:
                self._push(batch)
                batch = []
        if batch:
            self._push(batch)

    def _push(self, batch: list[bytes]) -> None:
        while self._pending or (
            self.sent > self.acknowledged
            and self.sent + len(batch) - self.acknowledged > self.window
        ):
            self._io(1.0)
        self._pending = b"".join(batch)
        self.sent += len(batch)
        while self._pending:
            self._io(1.0)

    def poll(self) -> None:
        """Read whatever acknowledgements have arrived (no waiting)."""
        self._io(0)

    def drain(self, timeout_s: float = 60.0) -> bool:
        """Wait until every sent message is acknowledged; False on timeout."""
        end = time.monotonic() + timeout_s
        while self.acknowledged < self.sent or self._pending:
            if time.monotonic() >= end:
                return False
            self._io(0.2)
        return True

    def close(self) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        except OSError:
            pass
        self.sock.close()
