"""Helpers shared by the vendor handlers: rejections, JSON I/O, the per-app runtime."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Mapping
from typing import Any, NoReturn

import aiohttp
from aiohttp import web

from ._state import SandboxState

logger = logging.getLogger("voicekit.sandbox")

HUAWEI_PREFIXES = ("/apiaccess/", "/apigovernance/")


class Reject(Exception):
    """Abort the request with a vendor-style error answer of ``status``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def reject(status: int, message: str) -> NoReturn:
    """Raise :class:`Reject`."""
    raise Reject(status, message)


def is_int(value: object) -> bool:
    """``True`` for JSON integers (``bool`` excluded)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """``True`` for JSON numbers (``bool`` excluded)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


async def read_object(request: web.Request) -> dict[str, Any]:
    """Read the body as a JSON object, or reject it with 400 (413 when too large)."""
    raw = await request.read()
    try:
        body = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        reject(400, "The request body is not valid JSON")
    if not isinstance(body, dict):
        reject(400, "The request body must be a JSON object")
    return body


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A compact JSON answer."""
    return web.Response(
        body=json.dumps(payload, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def is_huawei_path(path: str) -> bool:
    """Whether ``path`` belongs to the Huawei API (which answers errors in its own shape)."""
    return path.startswith(HUAWEI_PREFIXES)


def error_response(path: str, status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    """Vendor-style error answer for ``path``'s vendor.

    TeleCMI / PIOPIY: ``{"code": status, "msg": message, "status": "error"}``;
    Huawei: ``{"retCode": "<status>", "retMsg": message}``.
    """
    if is_huawei_path(path):
        payload: dict[str, Any] = {"retCode": str(status), "retMsg": message}
    else:
        payload = {"code": status, "msg": message, "status": "error"}
    return json_response(payload, status, headers)


class Runtime:
    """Loop-bound resources of one running app: sleepers, timers, tasks, callback session."""

    def __init__(self) -> None:
        self.closing = False
        self._sleepers: set[asyncio.Future[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, cut short when the app shuts down."""
        if seconds <= 0 or self.closing:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(seconds, _wake, waiter)
        self._sleepers.add(waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            self._sleepers.discard(waiter)

    def call_later(self, delay: float, callback: Any, *args: Any) -> None:
        """Run ``callback(*args)`` after ``delay`` seconds, unless the app shuts down first."""
        loop = asyncio.get_running_loop()
        holder: list[asyncio.TimerHandle] = []

        def fire() -> None:
            self._timers.discard(holder[0])
            callback(*args)

        holder.append(loop.call_later(delay, fire))
        self._timers.add(holder[0])

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background; it is cancelled when the app shuts down."""
        if self.closing:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def session(self) -> aiohttp.ClientSession:
        """The client session used for callbacks (created on first use, on this loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5.0), trust_env=False)
        return self._session

    def begin_shutdown(self) -> None:
        """Wake every sleeper so in-flight requests finish promptly."""
        self.closing = True
        for waiter in list(self._sleepers):
            _wake(waiter)

    async def close(self) -> None:
        """Cancel timers and background tasks, close the callback session."""
        self.begin_shutdown()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


STATE_KEY = web.AppKey("voicekit_sandbox_state", SandboxState)
RUNTIME_KEY = web.AppKey("voicekit_sandbox_runtime", Runtime)
