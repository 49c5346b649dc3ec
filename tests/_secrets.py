"""What the secret-scrubbing tests share: a search for leaked needles, and a vendor that echoes requests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web


def leaks(obj: Any, needles: tuple[str, ...], depth: int = 0, seen: set[int] | None = None) -> list[str]:
    """Where any needle appears in `obj`: its text, its attributes, its causes, recursively.

    Every link of an exception's chain (``__cause__`` and ``__context__``) is searched: its
    text, its arguments and every attribute (a ``JSONDecodeError``'s ``doc``, aiohttp's
    ``request_info`` and its headers, a response's headers), whatever their type.
    """
    seen = set() if seen is None else seen
    if depth > 16 or id(obj) in seen or obj is None or isinstance(obj, bool | int | float):
        return []
    seen.add(id(obj))
    found: list[str] = []
    if isinstance(obj, bytes | bytearray):
        obj = bytes(obj).decode("utf-8", "replace")
    if isinstance(obj, str):
        return [f"{n!r} in {obj[:160]!r}" for n in needles if n in obj]
    if isinstance(obj, Mapping):  # dicts, and multidicts (headers)
        for key, value in obj.items():
            found += leaks(key, needles, depth + 1, seen) + leaks(value, needles, depth + 1, seen)
        return found
    if isinstance(obj, list | tuple | set | frozenset):  # and named tuples (aiohttp's RequestInfo)
        for item in obj:
            found += leaks(item, needles, depth + 1, seen)
        return found
    if isinstance(obj, BaseException):
        found += leaks(str(obj), needles, depth + 1, seen) + leaks(repr(obj), needles, depth + 1, seen)
        found += leaks(obj.args, needles, depth + 1, seen)
        found += leaks(obj.__cause__, needles, depth + 1, seen) + leaks(obj.__context__, needles, depth + 1, seen)
    elif not isinstance(obj, type):
        found += leaks(repr(obj), needles, depth + 1, seen)
    if attrs.has(type(obj)):
        found += leaks({f.name: getattr(obj, f.name, None) for f in attrs.fields(type(obj))}, needles, depth + 1, seen)
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        found += leaks(vars(obj), needles, depth + 1, seen)
    return found


class Echo:
    """A vendor that echoes each request (body and headers) back inside its errors."""

    def __init__(self) -> None:
        self.notify_calls = 0
        self.slow_started = asyncio.Event()
        self.release_slow = asyncio.Event()
        self.tokens = 0

    @staticmethod
    async def _echo(request: web.Request) -> dict[str, Any]:
        return {
            "msg": f"rejected {await request.text()}",
            "echo": {"body": await request.text(), "headers": dict(request.headers)},
        }

    async def make_call(self, request: web.Request) -> web.Response:
        echo = await self._echo(request)
        if "9100000003" in echo["echo"]["body"]:
            # A 200 that is not JSON, echoing the request: the parser's JSONDecodeError holds
            # the whole document (`doc`) at the end of the error's chain.
            return web.Response(text=f"<html>{echo}</html>", content_type="text/html")
        if "9100000004" in echo["echo"]["body"]:
            # A 404 that is not the vendor's (a wrong path), echoing the request as text.
            return web.Response(status=404, text=f"no route for {echo}", content_type="text/plain")
        status = 422 if "9100000001" in echo["echo"]["body"] else 500
        return web.json_response(echo, status=status)

    async def records(self, request: web.Request) -> web.Response:
        # A 200 page shaped like an error, echoing the request: unreadable, retried, raised.
        return web.json_response({"code": 500, "status": "error", **await self._echo(request)})

    async def token(self, request: web.Request) -> web.Response:
        await request.read()
        self.tokens += 1
        return web.json_response({"AccessToken": f"tok-{self.tokens}-7e9d2b", "Expires": "600", "CreateTime": "0"})

    async def notify(self, request: web.Request) -> web.Response:
        self.notify_calls += 1
        echo = await self._echo(request)
        if self.notify_calls == 1:
            # The first request waits while the second gets a 401 and the token is rotated.
            self.slow_started.set()
            await asyncio.wait_for(self.release_slow.wait(), 10)
            return web.json_response(echo, status=500)
        if self.notify_calls == 2:
            self.release_slow.set()
            return web.json_response(echo, status=401)
        return web.json_response({"retCode": "1", "retMsg": f"no: {echo['msg']}", "echo": echo})
