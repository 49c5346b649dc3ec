"""Vendor-neutral HTTP pieces: rejections, JSON I/O, throttling and the shape of a route table."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from aiohttp import web
from aiohttp.typedefs import Handler

from ._runtime import Knobs

logger = logging.getLogger("voicekit.sandbox")

#: The message of a 429 answer (both vendors).
MSG_RATE = "Too many requests"


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


def secret_matches(expected: str | None, given: str) -> bool:
    """Whether `given` is the `expected` secret (``None``: no such account), in constant time."""
    return expected is not None and hmac.compare_digest(expected.encode(), given.encode())


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


def refuse_if_throttled(state: Knobs, account: str) -> None:
    """Take one token from `account`'s bucket, or reject with 429 and a ``Retry-After`` header."""
    retry_after = state.throttle(account)
    if retry_after is not None:
        raise Reject(429, MSG_RATE, {"Retry-After": str(retry_after)})


@dataclass(frozen=True, slots=True)
class RouteTable:
    """One vendor's endpoints, each path written once: the app mounts them and lists them.

    Attributes:
        state_key: the app key under which the vendor's handlers find the sandbox state.
        routes: ``(path, handler)`` of every endpoint (all ``POST``), in the listed order.
        error_prefixes: the path prefixes whose error answers take this vendor's shape.
        error_body: the vendor's error body for ``(status, message)``.
    """

    state_key: web.AppKey[Any]
    routes: tuple[tuple[str, Handler], ...]
    error_prefixes: tuple[str, ...]
    error_body: Callable[[int, str], dict[str, Any]]

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path of the table, in order."""
        return tuple(path for path, _ in self.routes)
