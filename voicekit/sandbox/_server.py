"""Running the sandbox: in the caller's event loop, in a background thread, or as a server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from ._app import create_app
from ._delivery import is_loopback_host
from ._http import logger
from ._state import SandboxState

__all__ = ["Sandbox", "SyncSandbox", "serve"]

_SHUTDOWN_TIMEOUT = 2.0
_START_TIMEOUT = 30.0


def _check_loopback(host: str) -> None:
    if not is_loopback_host(host):
        raise ValueError(f"the sandbox only listens on loopback addresses, not {host!r}")


class _Server:
    """One aiohttp runner serving ``state`` on the current event loop."""

    def __init__(self, state: SandboxState, *, allow_remote: bool = False) -> None:
        self._state = state
        self._allow_remote = allow_remote
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        state = self._state
        if not self._allow_remote:
            _check_loopback(state.host)
        runner = web.AppRunner(
            create_app(state),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, state.host, state.port, backlog=1024)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        state.port = port
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        state._url = url
        return url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        self._state._url = None
        if runner is not None:
            await runner.cleanup()


class Sandbox(SandboxState):
    """The sandbox in the running event loop: ``async with Sandbox() as sb: ...``.

    Accepts every :class:`SandboxState` keyword (accounts, knobs, ``host``, ``port``).
    """

    _server: _Server | None = None

    async def start(self) -> Self:
        """Start serving on ``host`` (loopback) and ``port`` (0 = a free port)."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        server = _Server(self)
        await server.start()
        self._server = server
        return self

    async def stop(self) -> None:
        """Stop serving; in-flight stalls are cut short, callbacks cancelled."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class SyncSandbox(SandboxState):
    """The sandbox on its own event loop in a daemon thread: ``with SyncSandbox() as sb: ...``.

    Same keywords, attributes and knobs as :class:`Sandbox`; usable from blocking code.
    """

    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: _Server | None = None

    def start(self) -> Self:
        """Start the loop thread and serve; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("the sandbox is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._run_loop, args=(loop,), name="voicekit-sandbox", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        server = _Server(self)
        try:
            asyncio.run_coroutine_threadsafe(server.start(), loop).result(_START_TIMEOUT)
        except BaseException:
            self._halt()
            raise
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving and join the loop thread."""
        server, self._server = self._server, None
        loop = self._loop
        if server is not None and loop is not None:
            future = asyncio.run_coroutine_threadsafe(server.stop(), loop)
            try:
                future.result(_START_TIMEOUT)
            finally:
                self._halt()
        else:
            self._halt()

    def call(self, func: Callable[[], Any]) -> Any:
        """Run ``func()`` on the sandbox's loop thread and return its result."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the sandbox is not running")

        async def invoke() -> Any:
            return func()

        return asyncio.run_coroutine_threadsafe(invoke(), loop).result(_START_TIMEOUT)

    def _halt(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_START_TIMEOUT)

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def _serve_forever(
    state: SandboxState, on_ready: Callable[[str], None] | None, allow_remote: bool = False
) -> None:
    server = _Server(state, allow_remote=allow_remote)
    url = await server.start()
    logger.info("voicekit sandbox serving on %s", url)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGTERM, stopped.set)  # stop cleanly on SIGTERM too
    try:
        if on_ready is not None:
            on_ready(url)
        await stopped.wait()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGTERM)
        await server.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    on_ready: Callable[[str], None] | None = None,
    allow_remote: bool = False,
    **config: Any,
) -> None:
    """Serve the sandbox until interrupted (Ctrl-C or SIGTERM); blocking.

    Args:
        host: the address to listen on: loopback, unless `allow_remote`.
        port: TCP port (0 = a free port, reported through ``on_ready``).
        on_ready: called with the base URL once the port is bound.
        allow_remote: listen on a non-loopback `host` too (e.g. ``0.0.0.0`` in a container,
            whose port is published to the host only); anyone who reaches it can use it.
        **config: any :class:`SandboxState` keyword (accounts, knobs).

    Raises:
        ValueError: if ``host`` is not a loopback address and `allow_remote` is false.
    """
    state = SandboxState(host=host, port=port, **config)
    try:
        asyncio.run(_serve_forever(state, on_ready, allow_remote))
    except KeyboardInterrupt:
        logger.info("voicekit sandbox stopped")
