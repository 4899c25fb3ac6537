"""The MQTT side of ingest (paho-mqtt 2.x, MQTT 5).

QoS 1, persistent session (``clean_start=False`` + a session expiry), a shared subscription
(``$share/{group}/...``) so several ingest processes split the load, and manual acknowledgement:
``on_message`` only wraps the message into an :class:`~telemetry.pipeline.Inbound` and enqueues
it; the writer calls :meth:`MqttReceiver.ack` after the message's rows are committed.

``ReceiveMaximum`` bounds how many unacknowledged messages the broker sends us: that is the
in-memory backlog when the database is down (the broker keeps the rest queued for the session).
paho's network thread reconnects with exponential backoff when the broker goes away.
"""

from __future__ import annotations

import inspect
import logging
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from telemetry.pipeline import Inbound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MqttOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "socialtaxi-ingest"
    share_group: str | None = "ingest"  # None or "": a plain (not shared) subscription
    topics: tuple[str, ...] = ()  # filters without the $share part
    username: str | None = None
    password: str | None = None
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 86400
    receive_maximum: int = 65535
    reconnect_min_s: float = 0.25
    reconnect_max_s: float = 30.0
    # The tunings of :class:`_Client` in use (each overrides private paho parts, checked at
    # start-up); empty: paho's public API only (one ack per message, paho's own reads).
    paho_tunings: frozenset[str] = frozenset(("read_buffer", "batch_acks", "direct_dispatch"))


def subscriptions(prefix: str, owntracks_prefix: str | None) -> tuple[str, ...]:
    """The topic filters ingest listens to (see ``docs/telemetry.md``)."""
    p = prefix.rstrip("/")
    out = [f"{p}/vehicles/+/position", f"{p}/vehicles/+/event"]
    if owntracks_prefix:
        out.append(f"{owntracks_prefix.rstrip('/')}/+/+")
    return tuple(out)


def shared(topic: str, group: str | None) -> str:
    return f"$share/{group}/{topic}" if group else topic


_PUBACK = struct.Struct("!BBH")  # fixed header 0x40, remaining length 2, packet id
_READ_CHUNK = 256 * 1024


class _BufferedSocket:
    """The broker connection with a read buffer.

    paho reads a packet with several small ``recv`` calls (the command byte, each byte of the
    remaining length, the body): one system call each, after one ``select`` per packet. This
    wrapper reads what the kernel has (up to 256 KiB) in one call and serves paho's small reads
    from it; :meth:`pending` tells paho's loop that bytes are waiting (paho asks every socket
    that has the method, as it does for TLS), so nothing stays unread in the buffer.
    Everything else is the socket's own.
    """

    __slots__ = ("_sock", "_buf", "_pos")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, bufsize: int) -> bytes:
        pos = self._pos
        if pos >= len(self._buf):
            data = self._sock.recv(max(bufsize, _READ_CHUNK))
            if len(data) <= bufsize:
                self._buf, self._pos = b"", 0
                return data
            self._buf, self._pos = data, bufsize
            return data[:bufsize]
        end = min(pos + bufsize, len(self._buf))
        self._pos = end
        return self._buf[pos:end]

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return self.buffered() + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


#: The paho-mqtt minor release :class:`_Client` was written against (``pyproject.toml`` pins it).
PAHO_WRITTEN_AGAINST = "2.2"
#: The private parts of ``paho.mqtt.client.Client`` that :class:`_Client` overrides or calls, with
#: the parameters they had in that release.
PAHO_INTERNALS: dict[str, tuple[str, ...]] = {
    "_handle_on_message": ("self", "message"),
    "_create_socket": ("self",),
    "_packet_queue": ("self", "command", "packet", "mid", "qos", "info"),
    "loop_read": ("self", "max_packets"),
}
#: ... and the private attributes of a client instance it reads.
PAHO_ATTRIBUTES = ("_sock", "_transport", "_userdata")
#: Each tuning of :class:`_Client` → the paho methods and instance attributes it relies on.
TUNINGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "read_buffer": (("_create_socket", "loop_read"), ("_sock", "_transport")),
    "batch_acks": (("_packet_queue",), ()),
    "direct_dispatch": (("_handle_on_message",), ("_userdata",)),
}
ALL_TUNINGS = frozenset(TUNINGS)


class PahoMismatch(RuntimeError):
    """The installed paho-mqtt is not what the tuned client was written against."""


def check_paho_internals(
    client_cls: type = mqtt.Client, tunings: frozenset[str] = ALL_TUNINGS
) -> None:
    """Refuse to start (one line, :class:`PahoMismatch`) when a private method the ``tunings``
    rely on is missing or has other parameters, instead of failing mid-stream."""
    unknown = sorted(tunings - ALL_TUNINGS)
    if unknown:
        raise PahoMismatch(f"unknown paho tuning {', '.join(unknown)}: {', '.join(TUNINGS)}")
    version = _paho_version()
    used = {m for t in tunings for m in TUNINGS[t][0]}
    for name, expected in PAHO_INTERNALS.items():
        if name not in used:
            continue
        fn = getattr(client_cls, name, None)
        found = tuple(inspect.signature(fn).parameters) if callable(fn) else None
        if found != expected:
            have = f"({', '.join(found)})" if found is not None else " (missing)"
            raise PahoMismatch(
                f"paho-mqtt {version}: Client.{name}{have} is not ({', '.join(expected)}) as in "
                f"paho-mqtt {PAHO_WRITTEN_AGAINST}.x, which the tuned ingest client overrides; "
                f"install paho-mqtt {PAHO_WRITTEN_AGAINST}.x or run ingest with --public-paho"
            )


def _paho_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("paho-mqtt")
    except PackageNotFoundError:
        return "?"


class _Client(mqtt.Client):
    """paho's client, tuned for ingest (found with py-spy, one fix per message); each tuning can
    be left out (``tunings``, :data:`TUNINGS`):

    * ``direct_dispatch``: no per-message topic-filter lookup: paho matches every incoming topic
      against the filters of ``message_callback_add`` before calling ``on_message``; ingest
      registers none;
    * ``batch_acks`` (:meth:`ack_many`): the PUBACKs of a committed batch go out as one write,
      instead of one queued packet, one wake-up of the network thread and one ``send`` each;
    * ``read_buffer`` (:class:`_BufferedSocket`): one ``recv`` for many packets instead of three
      or more per packet, and :meth:`loop_read` handles every whole packet already read.

    These use private parts of paho (:data:`PAHO_INTERNALS`; paho-mqtt is pinned to the minor
    release they were written against, and :func:`check_paho_internals` runs before the client
    is made). ``MqttOptions(paho_tunings=frozenset())`` (``socialtaxi ingest --public-paho``) uses
    paho's public API only; ``docs/telemetry.md`` has both measured in one bench run.
    """

    def __init__(self, *args: Any, tunings: frozenset[str] = ALL_TUNINGS, **kwargs: Any) -> None:
        self.tunings = tunings
        super().__init__(*args, **kwargs)

    def ack_many(self, mids: Sequence[int]) -> None:
        """PUBACK every QoS 1 message id in ``mids``, in one network write (``batch_acks``)."""
        if "batch_acks" not in self.tunings:
            for mid in mids:
                self.ack(mid, 1)
            return
        if mids:
            data = b"".join([_PUBACK.pack(0x40, 2, mid) for mid in mids])
            self._packet_queue(0x40, data, 0, 1)

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if "read_buffer" not in self.tunings or self._transport == "websockets":
            return sock
        return _BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        sock = self._sock
        n = 0
        while (
            rc == mqtt.MQTT_ERR_SUCCESS
            and isinstance(sock, _BufferedSocket)
            and sock.buffered()
            and self._sock is sock
            and n < 10_000  # let the loop send acks and keep-alives now and then
        ):
            rc = super().loop_read(1)
            n += 1
        return rc

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        if "direct_dispatch" not in self.tunings:
            return super()._handle_on_message(message)
        on_message = self.on_message
        if on_message is not None:
            on_message(self, self._userdata, message)  # MqttReceiver._on_message never raises


class MqttReceiver:
    """One paho client; ``on_inbound`` is called from paho's network thread."""

    def __init__(
        self,
        options: MqttOptions,
        on_inbound: Callable[[Inbound], None],
        *,
        on_state: Callable[[str], None] | None = None,
    ) -> None:
        self.options = options
        self._on_inbound = on_inbound
        self._on_state = on_state or (lambda _s: None)
        self._generation = 0  # bumped on every (re)connection: acks never cross connections
        self._connected = threading.Event()
        self.subscribed = threading.Event()  # the subscriptions of the current connection
        tunings = options.paho_tunings
        c: mqtt.Client
        if tunings:
            check_paho_internals(tunings=tunings)
            c = _Client(
                CallbackAPIVersion.VERSION2,
                client_id=options.client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=True,
                tunings=tunings,
            )
        else:
            c = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=options.client_id,
                protocol=mqtt.MQTTv5,
                manual_ack=True,
            )
        if tunings:
            missing = [a for t in sorted(tunings) for a in TUNINGS[t][1] if not hasattr(c, a)]
            if missing:
                raise PahoMismatch(
                    f"paho-mqtt {_paho_version()}: a Client has no {', '.join(missing)}; install "
                    f"paho-mqtt {PAHO_WRITTEN_AGAINST}.x or run ingest with --public-paho"
                )
        if options.username:
            c.username_pw_set(options.username, options.password)
        c.reconnect_delay_set(options.reconnect_min_s, options.reconnect_max_s)  # type: ignore[arg-type]
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        self.client = c

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (retrying until the broker is there) and start the loop."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.options.session_expiry_s
        props.ReceiveMaximum = self.options.receive_maximum
        self.client.connect_async(
            self.options.host,
            self.options.port,
            keepalive=self.options.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()

    def stop(self) -> None:
        """Send what is queued (acks first), disconnect, stop the network thread."""
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def generation(self) -> int:
        return self._generation

    def ack_many(self, msgs: Sequence[Inbound]) -> int:
        """Acknowledge the messages of a committed batch (see :meth:`ack`); return how many."""
        if not self._connected.is_set():
            return 0
        gen = self._generation
        mids = [m.mid for m in msgs if m.qos == 1 and m.generation == gen]
        n = sum(1 for m in msgs if m.qos == 0)
        if isinstance(self.client, _Client) and "batch_acks" in self.client.tunings:
            self.client.ack_many(mids)
            return n + len(mids)
        return n + sum(self.client.ack(mid, 1) == mqtt.MQTT_ERR_SUCCESS for mid in mids)

    def ack(self, msg: Inbound) -> bool:
        """Acknowledge ``msg`` if it came on the current connection. A message of an earlier
        connection is not acknowledged: the broker redelivers it and the store ignores the
        duplicate."""
        if msg.qos == 0:
            return True
        if msg.generation != self._generation or not self._connected.is_set():
            return False
        return self.client.ack(msg.mid, msg.qos) == mqtt.MQTT_ERR_SUCCESS

    # --- paho callbacks (network thread) ----------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT connection refused: %s", reason)
            return
        self._generation += 1
        self.subscribed.clear()
        self._connected.set()
        present = getattr(flags, "session_present", False)
        log.info(
            "MQTT connected to %s:%s as %s (session present: %s)",
            self.options.host,
            self.options.port,
            self.options.client_id,
            present,
        )
        opts = SubscribeOptions(qos=1)
        client.subscribe([(shared(t, self.options.share_group), opts) for t in self.options.topics])
        self._on_state("connected")

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        bad = [r for r in reasons if r.is_failure]
        if bad:
            log.error("MQTT subscription refused: %s", bad)
        else:
            log.info("MQTT subscribed: %s", ", ".join(self.options.topics))
            self.subscribed.set()

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        self.subscribed.clear()
        log.warning("MQTT disconnected (%s); paho reconnects with backoff", reason)
        self._on_state("disconnected")

    def _on_message(self, _c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        try:
            try:
                topic = m.topic
            except UnicodeDecodeError:  # brokers refuse such topics; never raise on one
                topic = "(topic not UTF-8)"
            self._on_inbound(
                Inbound(topic, bytes(m.payload), datetime.now(UTC), m.mid, m.qos, self._generation)
            )
        except Exception:  # noqa: BLE001 - never let a callback kill the network thread
            log.exception("on_message failed")
