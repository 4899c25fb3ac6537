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
