"""What the record-paging tests share: a misbehaving proxy to the sandbox, its hooks, and the window's truth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from voicekit.sandbox import Sandbox
from voicekit.sandbox.telecmi._store import DAY_MS

KIND = "outanswered"
ERROR_SHAPED = {"code": 500, "msg": "internal error", "status": "error"}

Hook = Callable[[dict[str, Any]], str | None]


class Proxy:
    """A loopback proxy to the sandbox's record endpoints that misbehaves on cue.

    Each hook sees every request body before it is forwarded; it may act (add a record to the
    sandbox) and may return how to spoil the answer: ``"malformed"`` (a 200 shaped like an error),
    ``"short"`` (the last record left out), ``"long"`` (the first record repeated at the end) or
    ``"drop"`` (the connection closed, no answer).
    """

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.bodies: list[dict[str, Any]] = []
        self.hooks: list[Hook] = []
        self.url = ""

    async def __aenter__(self) -> Proxy:
        app = web.Application()
        app.router.add_post("/v1/{kind}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._session.close()
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        spoil = [action for hook in list(self.hooks) if (action := hook(body)) is not None]
        try:
            async with self._session.post(self.sb.url + request.path, json=body) as answer:
                status, payload = answer.status, await answer.json(content_type=None)
        except aiohttp.ClientError:
            spoil.append("drop")  # the sandbox dropped it: so does the proxy
        if "drop" in spoil:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=499)
        if status == 200 and "malformed" in spoil:
            payload = ERROR_SHAPED
        if status == 200 and "short" in spoil:
            payload = {**payload, "cdr": payload["cdr"][:-1]}
        if status == 200 and "long" in spoil:
            payload = {**payload, "cdr": payload["cdr"] + payload["cdr"][:1]}
        return web.json_response(payload, status=status)

    def pages_asked(self, number: int, size: int) -> int:
        return sum(1 for b in self.bodies if b["page"] == number and b["limit"] == size)


def on_page(
    number: int, size: int, action: str | Callable[[], None], *, times: int = 1, narrowed: bool | None = None
) -> Hook:
    """A hook acting on the first `times` requests for page `number` of `size` records (of a
    narrowed window only, or of the full one only, when `narrowed` says so)."""
    left = [times]

    def hook(body: dict[str, Any]) -> str | None:
        if body["page"] != number or body["limit"] != size or left[0] == 0:
            return None
        if narrowed is not None and narrowed != (body["start_date"] != body["end_date"] - DAY_MS + 1):
            return None
        left[0] -= 1
        if callable(action):
            action()
            return None
        return action

    return hook


def window(sb: Sandbox) -> tuple[int, int]:
    """A window holding every seeded record."""
    return sb.seed_end_ms - DAY_MS + 1, sb.seed_end_ms


def truth(sb: Sandbox, start: int, end: int) -> list[dict[str, Any]]:
    """The sandbox's records in [start, end] right now, newest first."""
    appid = sb.telecmi_appid
    total, _ = sb.records.query(appid, KIND, start, end, 1, 1, sb.seeded(appid, KIND))
    if total == 0:
        return []
    return sb.records.query(appid, KIND, start, end, 1, total, sb.seeded(appid, KIND))[1]


def add(sb: Sandbox, time_ms: int) -> dict[str, Any]:
    return sb.add_record(KIND, to=9199999999, from_="209_x", time_ms=time_ms)
