"""A raw HTTP/1.1 server on 127.0.0.1 that records when each request reached it, by the kernel.

The rate a vendor sees is the rate at which requests arrive at its server, not the rate at which
a client decided to send them. This server answers every POST with a call-create success and
records each request's arrival: on Linux, the kernel's receive timestamp of its first bytes
(``SO_TIMESTAMPNS``), so that a busy machine that is slow to wake the server's threads does not
shift the arrivals it records; elsewhere, ``time.monotonic_ns()`` when the first bytes are read.

One thread per connection, each blocking in ``recvmsg``; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
import time
from typing import Final

__all__ = ["ArrivalServer", "most_in_any_window"]

# <asm-generic/socket.h>: SO_TIMESTAMPNS (SO_TIMESTAMPNS_OLD), also the control message's type.
_SO_TIMESTAMPNS: Final = 35
_TIMESPEC: Final = struct.Struct("@qq")
_KERNEL_STAMPS: Final = sys.platform.startswith("linux")
_MAX_WAIT: Final = 10.0
_BODY: Final = json.dumps({"request_id": "req-ok", "status": "progress", "code": 200}).encode()
_ANSWER: Final = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(_BODY)).encode()
    + b"\r\n\r\n"
    + _BODY
)


def most_in_any_window(times_ns: list[int], window_ns: int = 1_000_000_000) -> int:
    """The most arrivals in any half-open window [t, t + window) (t ranging over the arrivals)."""
    times = sorted(times_ns)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window_ns:
            j += 1
        best = max(best, i - j + 1)
    return best


class ArrivalServer:
    """Answers every request 200; `arrivals` holds each request's arrival time in nanoseconds."""

    def __init__(self) -> None:
        self.arrivals: list[int] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if _KERNEL_STAMPS:
            # On the listener, so that every accepted connection has it from its first packet.
            self._listener.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="arrival-server", daemon=True)

    def __enter__(self) -> ArrivalServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._acceptor.join(_MAX_WAIT)
        for thread in self._threads:
            thread.join(_MAX_WAIT)
        self._listener.close()

    def times(self) -> list[int]:
        with self._lock:
            return list(self.arrivals)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(0.2)
            with self._lock:
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _receive(self, conn: socket.socket) -> tuple[bytes, int]:
        """The next bytes on `conn` and when they arrived; b"" at EOF."""
        deadline = time.monotonic() + _MAX_WAIT
        while True:
            try:
                data, ancillary, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(_TIMESPEC.size))
            except TimeoutError:
                if self._stop.is_set() or time.monotonic() > deadline:
                    return b"", 0
                continue
            stamp = time.monotonic_ns()
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
                    seconds, nanos = _TIMESPEC.unpack(value[: _TIMESPEC.size])
                    stamp = seconds * 1_000_000_000 + nanos
            return data, stamp

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            stamp = 0
            while not self._stop.is_set():
                # A request's arrival is that of the read that brought its first bytes (a
                # pipelined request shares the read of the one before it).
                if not buffer:
                    data, stamp = self._receive(conn)
                    if not data:
                        return
                    buffer = data
                while b"\r\n\r\n" not in buffer:
                    data, _ = self._receive(conn)
                    if not data:
                        return
                    buffer += data
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(rest) < length:
                    data, _ = self._receive(conn)
                    if not data:
                        return
                    rest += data
                buffer = rest[length:]
                with self._lock:
                    self.arrivals.append(stamp)
                with contextlib.suppress(OSError):
                    conn.sendall(_ANSWER)
