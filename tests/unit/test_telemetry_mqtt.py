"""The read buffer under paho: small reads served from one large ``recv``, nothing lost."""

import pytest

from telemetry.mqtt import _BufferedSocket


class FakeSocket:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.calls = 0
        self.closed = False

    def recv(self, n: int) -> bytes:
        self.calls += 1
        if not self.chunks:
            raise BlockingIOError
        head = self.chunks.pop(0)
        if len(head) > n:
            self.chunks.insert(0, head[n:])
            head = head[:n]
        return head

    def close(self) -> None:
        self.closed = True


def test_small_reads_come_from_one_recv_in_order():
    stream = bytes(range(256)) * 10
    raw = FakeSocket([stream[:1000], stream[1000:]])
    s = _BufferedSocket(raw)
    out = bytearray()
    sizes = [1, 1, 2, 300, 1, 695]  # 1,000 bytes: the first chunk
    for n in sizes:
        out += s.recv(n)
    assert raw.calls == 1 and s.pending() == 0
    while True:
        try:
            out += s.recv(7)
        except BlockingIOError:
            break
    assert bytes(out) == stream
    assert raw.calls == 3  # the second chunk, then "nothing more"


def test_pending_counts_what_is_buffered_and_the_rest_is_the_socket():
    raw = FakeSocket([b"abcdef"])
    s = _BufferedSocket(raw)
    assert s.recv(2) == b"ab" and s.pending() == 4 and s.buffered() == 4
    assert s.recv(10) == b"cdef" and s.pending() == 0
    with pytest.raises(BlockingIOError):
        s.recv(1)
    s.close()
    assert raw.closed


def test_end_of_stream_is_passed_on():
    s = _BufferedSocket(FakeSocket([b"xy", b""]))
    assert s.recv(1) == b"x" and s.recv(1) == b"y" and s.recv(1) == b""


# --- the private paho parts the tuned client relies on -------------------------------------------
def test_the_installed_paho_has_the_internals_the_tuned_client_overrides():
    import paho.mqtt.client as mqtt

    from telemetry.mqtt import PAHO_ATTRIBUTES, check_paho_internals

    check_paho_internals()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    assert all(hasattr(c, a) for a in PAHO_ATTRIBUTES)


def test_a_changed_paho_signature_is_refused_at_start_up_in_one_line(monkeypatch):
    import paho.mqtt.client as mqtt

    from telemetry.mqtt import MqttOptions, MqttReceiver, PahoMismatch, check_paho_internals

    class Changed(mqtt.Client):
        def _packet_queue(self, command, packet, mid, qos, info=None, *, retain=False):  # type: ignore[override]
            raise AssertionError("never called")

    class Missing(mqtt.Client):
        _create_socket = None  # type: ignore[assignment]

    with pytest.raises(PahoMismatch) as info:
        check_paho_internals(Changed)
    msg = str(info.value)
    assert "\n" not in msg
    assert "Client._packet_queue(self, command, packet, mid, qos, info, retain)" in msg
    assert "--public-paho" in msg and "2.2.x" in msg
    with pytest.raises(PahoMismatch, match=r"Client\._create_socket \(missing\)"):
        check_paho_internals(Missing)
    # the receiver checks before it makes a client; the public API needs no check
    monkeypatch.setattr(mqtt.Client, "_handle_on_message", lambda self, msg, extra: None)
    with pytest.raises(PahoMismatch, match="_handle_on_message"):
        MqttReceiver(MqttOptions(), lambda _m: None)
    public = MqttReceiver(MqttOptions(paho_tunings=frozenset()), lambda _m: None)
    assert type(public.client) is mqtt.Client


def test_the_receiver_takes_the_tuned_or_the_public_client():
    import paho.mqtt.client as mqtt

    from telemetry.mqtt import MqttOptions, MqttReceiver, _Client

    assert isinstance(MqttReceiver(MqttOptions(), lambda _m: None).client, _Client)
    assert type(MqttReceiver(MqttOptions(paho_tunings=frozenset()), lambda _m: None).client) is (
        mqtt.Client
    )


def test_on_message_never_raises_into_the_network_thread():
    import paho.mqtt.client as mqtt

    from telemetry.mqtt import MqttOptions, MqttReceiver

    got = []

    def boom(m):
        got.append(m)
        raise RuntimeError("queue full")

    r = MqttReceiver(MqttOptions(paho_tunings=frozenset()), boom)
    m = mqtt.MQTTMessage(mid=5, topic=b"socialtaxi/v1/vehicles/v1/position")
    m.payload = b"{}"
    r._on_message(None, None, m)  # logged, not raised
    bad = mqtt.MQTTMessage(mid=6, topic=b"socialtaxi/\xff/position")
    r._on_message(None, None, bad)
    assert [g.topic for g in got] == ["socialtaxi/v1/vehicles/v1/position", "(topic not UTF-8)"]


def test_ingest_refuses_to_start_on_a_changed_paho(monkeypatch):
    import paho.mqtt.client as mqtt
    from typer.testing import CliRunner

    from socialtaxi.cli import app

    monkeypatch.setattr(mqtt.Client, "_create_socket", lambda self, timeout: None)
    result = CliRunner().invoke(app, ["ingest", "--metrics-port", "0"])
    assert result.exit_code == 1
    (line,) = [ln for ln in result.output.splitlines() if ln.strip()]
    assert line.startswith("Ошибка: paho-mqtt ") and "_create_socket(self, timeout)" in line


def test_only_the_internals_of_the_tunings_in_use_are_checked():
    import paho.mqtt.client as mqtt

    from telemetry.mqtt import PahoMismatch, check_paho_internals

    class NewSocket(mqtt.Client):
        def _create_socket(self, timeout):  # type: ignore[override]
            raise AssertionError("never called")

    check_paho_internals(NewSocket, frozenset({"batch_acks", "direct_dispatch"}))
    with pytest.raises(PahoMismatch, match="_create_socket"):
        check_paho_internals(NewSocket, frozenset({"read_buffer"}))
    with pytest.raises(PahoMismatch, match="unknown paho tuning warp_drive"):
        check_paho_internals(tunings=frozenset({"warp_drive"}))


@pytest.mark.parametrize("batch_acks", [True, False])
def test_acks_go_out_batched_or_one_by_one(monkeypatch, batch_acks):
    from telemetry.mqtt import ALL_TUNINGS, _Client

    tunings = ALL_TUNINGS if batch_acks else ALL_TUNINGS - {"batch_acks"}
    c = _Client(mqtt_v2(), tunings=tunings)
    queued, acked = [], []
    monkeypatch.setattr(c, "_packet_queue", lambda cmd, data, mid, qos: queued.append(data))
    monkeypatch.setattr(c, "ack", lambda mid, qos: acked.append(mid))
    c.ack_many([1, 2, 258])
    if batch_acks:
        assert queued == [b"\x40\x02\x00\x01\x40\x02\x00\x02\x40\x02\x01\x02"] and acked == []
    else:
        assert queued == [] and acked == [1, 2, 258]


@pytest.mark.parametrize("direct", [True, False])
def test_messages_reach_on_message_with_or_without_direct_dispatch(direct):
    import paho.mqtt.client as mqtt

    from telemetry.mqtt import ALL_TUNINGS, _Client

    c = _Client(mqtt_v2(), tunings=ALL_TUNINGS if direct else ALL_TUNINGS - {"direct_dispatch"})
    got = []
    c.on_message = lambda _c, _u, m: got.append(m.mid)
    c._handle_on_message(mqtt.MQTTMessage(mid=7, topic=b"a/b"))
    assert got == [7]


def mqtt_v2():
    from paho.mqtt.enums import CallbackAPIVersion

    return CallbackAPIVersion.VERSION2


def test_ingest_refuses_an_unknown_tuning():
    from typer.testing import CliRunner

    from socialtaxi.cli import app

    result = CliRunner().invoke(app, ["ingest", "--metrics-port", "0", "--paho-without", "x"])
    assert result.exit_code == 1 and "unknown paho tuning x" in result.output
