"""Minimal loopback TeleCMI stand-ins for the benchmarks, served from a separate process.

Why a separate process: on a small machine the server's CPU must not compete with the client's
event loop *in the same thread* (or the same GIL). A server thread inside the benchmark process
would make every client-side cost look bigger or smaller depending on how the GIL happens to be
shared, so the server runs in its own interpreter (``multiprocessing``, "spawn" start method, so
no client state or threads are inherited). The SDK and the raw-aiohttp baselines always talk to
the same server, so whatever the server costs, it costs both sides alike.

One server answers every configuration; the configuration is in the URL prefix::

    http://127.0.0.1:PORT/{latency_ms}/{records}/v2/global_pcmo_make_call
    http://127.0.0.1:PORT/{latency_ms}/{records}/v1/outanswered

so ``ServerHandle.url(latency_ms=20)`` is a base URL whose every request is answered after 20 ms,
and ``ServerHandle.url(records=400)`` one whose record endpoints report 400 records.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any

from aiohttp import web

__all__ = ["CALL_RECORD", "ServerHandle", "make_call_body", "record"]

CALL_RECORD: dict[str, Any] = {
    "_id": "5d9df5b97a2b952710b030dd",
    "to": 9100000000,
    "time": 1570633217848,
    "from": "209_1111113",
    "billedsec": 17,
    "rate": "0.6",
    "record": "true",
    "filename": "x.mp3",
    "name": "unknown",
}


def record(i: int) -> dict[str, Any]:
    """The i-th call record the server hands out (distinct ids and times)."""
    return {**CALL_RECORD, "_id": f"{i:024x}", "time": CALL_RECORD["time"] + i}


def make_call_body(appid: int, secret: str, i: int) -> dict[str, Any]:
    """The JSON a raw client posts for one ``play_music`` call (what voicekit sends)."""
    return {
        "appid": appid,
        "secret": secret,
        "from": 19170000000,
        "to": 19170000001 + i % 1000,
        "pcmo": [{"action": "play", "file_name": "welcome.wav"}],
    }


_CALL_HEAD = b'{"data":{"status":"progress","request_id":"'
_CALL_MID = b'"},"status":"progress","request_id":"'
_CALL_TAIL = b'","code":200}'


class _App:
    """The request handler: make_call answers, and pages of call records."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._pages: dict[tuple[int, int, int], bytes] = {}

    def _page(self, total: int, page: int, limit: int) -> bytes:
        key = (total, page, limit)
        body = self._pages.get(key)
        if body is None:
            first = (page - 1) * limit
            cdr = [record(i) for i in range(first, min(first + limit, total))]
            body = json.dumps({"total": total, "cdr": cdr, "code": 200}).encode()
            if len(self._pages) < 10_000:
                self._pages[key] = body
        return body

    async def handle(self, request: web.BaseRequest) -> web.Response:
        parts = request.path.split("/")  # ['', latency, records, 'v2', endpoint]
        try:
            latency_ms, total, endpoint = int(parts[1]), int(parts[2]), parts[-1]
        except (IndexError, ValueError):
            return web.Response(status=404)
        raw = await request.read()
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        if endpoint.endswith("_pcmo_make_call"):
            rid = b"%032x" % next(self._ids)
            body = b"".join((_CALL_HEAD, rid, _CALL_MID, rid, _CALL_TAIL))
        elif endpoint in ("outanswered", "answered", "missed", "outmissed"):
            query = json.loads(raw)
            body = self._page(total, int(query.get("page", 1)), int(query.get("limit", 10)))
        else:
            return web.Response(status=404)
        return web.Response(body=body, content_type="application/json")


async def _serve(conn: Connection) -> None:
    app = _App()
    server = web.Server(app.handle, access_log=None)
    loop = asyncio.get_running_loop()
    tcp = await loop.create_server(server, "127.0.0.1", 0, backlog=1024)
    conn.send(tcp.sockets[0].getsockname()[1])
    stop = asyncio.Event()

    def on_message() -> None:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the parent went away: stop too
            msg = "stop"
        if msg == "cpu":
            conn.send(time.process_time())
        else:
            stop.set()

    loop.add_reader(conn.fileno(), on_message)
    await stop.wait()
    loop.remove_reader(conn.fileno())
    tcp.close()
    await server.shutdown(1.0)


def _child(conn: Connection) -> None:
    asyncio.run(_serve(conn))


class ServerHandle:
    """A server process on 127.0.0.1; use as a context manager: ``with ServerHandle() as srv:``.

    The "spawn" start method re-imports the main module in the child, so a script that starts a
    server needs the usual ``if __name__ == "__main__":`` guard (``python -m benchmarks`` has it).
    """

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_child, args=(child,), name="voicekit-bench-server", daemon=True)
        self._child_conn = child
        self.port = 0

    def __enter__(self) -> ServerHandle:
        self._proc.start()
        self._child_conn.close()
        if not self._conn.poll(30):
            self._proc.kill()
            raise RuntimeError("the benchmark server did not start within 30 s")
        self.port = int(self._conn.recv())
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._conn.send("stop")
        except OSError:
            pass
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        self._conn.close()

    def url(self, *, latency_ms: int = 0, records: int = 0) -> str:
        """A base URL whose requests are answered after `latency_ms`, with `records` records."""
        return f"http://127.0.0.1:{self.port}/{latency_ms}/{records}"

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (to tell who the bottleneck was)."""
        self._conn.send("cpu")
        if not self._conn.poll(10):
            raise RuntimeError("the benchmark server did not answer")
        return float(self._conn.recv())
