"""A raw HTTP/1.1 peer on 127.0.0.1 that plays one fault per request, down to the byte.

It runs on its own thread with its own event loop, so both the async clients (on the test's loop)
and the blocking twins (on voicekit's background loop) can talk to it. It speaks just enough
HTTP/1.1 for aiohttp's client: a request line, headers, a Content-Length body, keep-alive.

Every complete request (headers and body read) is recorded before the fault is played, so a test
can count what reached the "vendor" per path and per called number.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Close",
    "CutBody",
    "FaultServer",
    "Hang",
    "Reply",
    "Request",
    "Reset",
    "Truncated",
    "backlog_full_listener",
    "ok_body",
    "unused_port",
]

MAKE_GLOBAL = "/v2/global_pcmo_make_call"
MAKE_IND = "/v2/ind_pcmo_make_call"
CLICK2CALL = "/v2/webrtc/click2call"
TOKEN = "/apigovernance/api/oauth/tokenByAkSk"
NOTIFY = "/apiaccess/rest/voiceNotification/v2/createVoiceNotification"
CALL_PATHS = (MAKE_GLOBAL, MAKE_IND, CLICK2CALL, NOTIFY)

#: No handler waits longer than this for anything (a hung answer, a client's EOF).
MAX_WAIT = 10.0


def ok_body(path: str) -> dict[str, Any]:
    """The documented success answer of a path."""
    if path in (MAKE_GLOBAL, MAKE_IND):
        return {"request_id": "req-ok", "status": "progress", "code": 200}
    if path == CLICK2CALL:
        return {"code": 200, "msg": "Call initiated", "request_id": "c2c-ok"}
    if path == TOKEN:
        return {"AccessToken": "tok-123", "Expires": "3600", "CreateTime": str(int(time.time()))}
    if path == NOTIFY:
        return {"retCode": "0", "retMsg": "success", "result": {"callSerialNo": "sn-1"}}
    raise KeyError(path)


@dataclass(frozen=True)
class Request:
    """One complete request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def number(self) -> str | None:
        """The number being called (TeleCMI ``to``, Huawei ``called``), as a string."""
        data = self.json
        if not isinstance(data, dict):
            return None
        value = data.get("to", data.get("called"))
        return None if value is None else str(value)


# -- what the server does with a request ------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A complete answer."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, **headers: str) -> Reply:
        return cls(status, json.dumps(data).encode(), "application/json", dict(headers))


@dataclass(frozen=True)
class Hang:
    """Read the request, never answer; close once the client gives up (or after MAX_WAIT)."""


@dataclass(frozen=True)
class Close:
    """Close the connection (FIN) without a byte of answer."""


@dataclass(frozen=True)
class Reset:
    """Reset the connection (SO_LINGER 0, then close: RST) without a byte of answer."""


@dataclass(frozen=True)
class CutBody:
    """Send a 200's headers (with the right Content-Length) and half its body, then close or reset."""

    body: bytes
    reset: bool = False


@dataclass(frozen=True)
class Truncated:
    """Send a 200 whose Content-Length exceeds the bytes sent (the whole body), then close."""

    body: bytes
    missing: int = 64


Action = Reply | Hang | Close | Reset | CutBody | Truncated
#: Chooses the action for a request; `nth` is its 1-based rank among requests to the same path
#: for the same called number.
Plan = Callable[[Request, int], Action]


_REASONS = {
    200: "OK",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def healthy(request: Request, nth: int) -> Action:
    """The documented success answer; 404 for a path nobody serves."""
    try:
        return Reply.json(200, ok_body(request.path))
    except KeyError:
        return Reply.json(404, {"code": 404, "msg": "no such path"})


class FaultServer:
    """Serves on 127.0.0.1 (a free port) from a daemon thread; `plan` picks each call request's fault.

    The token path is always healthy unless `token_plan` says otherwise; any other path (a
    redirect's target, say) is recorded and answered 404.
    """

    def __init__(self, plan: Plan = healthy, token_plan: Plan = healthy) -> None:
        self.plan = plan
        self.token_plan = token_plan
        self.requests: list[Request] = []
        self.url = ""
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fault-server", daemon=True)

    # -- what was received ------------------------------------------------------------------

    def count(self, path: str, number: str | int | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path and (number is None or r.number == str(number)))

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> FaultServer:
        self._thread.start()
        if not self._ready.wait(MAX_WAIT) or self._error is not None:
            raise RuntimeError("the fault server did not start") from self._error
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(MAX_WAIT)
        assert not self._thread.is_alive(), "the fault server did not stop"

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await server.wait_closed()

    # -- one connection ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                    nth = sum(1 for r in self.requests if r.path == request.path and r.number == request.number)
                plan = self.token_plan if request.path == TOKEN else self.plan
                if request.path not in CALL_PATHS and request.path != TOKEN:
                    plan = healthy
                if not await self._play(plan(request, nth), reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.transport.abort()

    async def _play(self, action: Action, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Play `action`; True if the connection stays open for the next request."""
        if isinstance(action, Reply):
            headers = {"Content-Type": action.content_type, "Content-Length": str(len(action.body)), **action.headers}
            writer.write(_head(action.status, headers) + action.body)
            await writer.drain()
            return True
        if isinstance(action, Hang):
            # Wait for the client to give up and close (EOF), bounded.
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(reader.read(), MAX_WAIT)
            writer.close()
            return False
        if isinstance(action, Close):
            writer.close()
            return False
        if isinstance(action, Reset):
            _reset(writer)
            return False
        if isinstance(action, CutBody):
            headers = {"Content-Type": "application/json", "Content-Length": str(len(action.body))}
            writer.write(_head(200, headers) + action.body[: len(action.body) // 2])
            await writer.drain()
            if action.reset:
                _reset(writer)
            else:
                writer.close()
            return False
        if isinstance(action, Truncated):
            headers = {"Content-Type": "application/json", "Content-Length": str(len(action.body) + action.missing)}
            writer.write(_head(200, headers) + action.body)
            await writer.drain()
            writer.close()
            return False
        raise TypeError(f"unknown action {action!r}")


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on the connection, or None at a clean EOF between requests."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), MAX_WAIT)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    except TimeoutError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), MAX_WAIT) if length else b""
    return Request(method, target.split("?", 1)[0], headers, body)


# -- addresses that do not answer -------------------------------------------------------------


def unused_port() -> int:
    """A loopback port nothing listens on (bound for a moment, then released without listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def backlog_full_listener():  # type: ignore[no-untyped-def]
    """A listener on 127.0.0.1 that never accepts, its accept queue filled: a new TCP connect to
    it hangs (Linux drops the SYN while the queue is full), so a client's connect times out.

    Yields the port and a function that says whether the queue is still full (a probe connect
    that must time out).
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        # With a backlog of 0 Linux queues one connection, and the queue is full.
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        fillers.append(filler)
        filler.settimeout(0.2)
        with contextlib.suppress(TimeoutError):
            filler.connect(("127.0.0.1", port))

        def hangs() -> bool:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.settimeout(0.2)
                try:
                    probe.connect(("127.0.0.1", port))
                except TimeoutError:
                    return True
                return False

        yield port, hangs
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
