"""A tiny loopback HTTP peer on its own thread, for tests that drive the blocking facade."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CALL_OK = {"data": {"status": "progress", "request_id": "R"}, "status": "progress", "request_id": "R", "code": 200}


class ThreadedServer:
    """Serves `routes` (path -> handler) on 127.0.0.1 and a free port from a daemon thread."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.url = ""
        self.hits = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        @web.middleware
        async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
            self.hits += 1
            return await handler(request)

        app = web.Application(middlewares=[count])
        for path, handler in self.routes.items():
            app.router.add_post(path, handler)
        runner = web.AppRunner(app, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


async def call_ok(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response(CALL_OK)
