"""The aiohttp application: every vendor's route table mounted, plus latency, faults and the
request log."""

from __future__ import annotations

import http
import time
from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Handler

from ._faults import Fault
from ._http import Reject, RouteTable, json_response, logger
from ._ledger import RequestLogEntry
from ._runtime import RUNTIME_KEY, Runtime
from ._state import SandboxState
from .huawei._routes import HUAWEI_ROUTES
from .telecmi._routes import TELECMI_ROUTES

__all__ = ["ROUTES", "STATE_KEY", "create_app", "error_response"]

#: Every vendor's route table, mounted in this order.
TABLES: tuple[RouteTable, ...] = (TELECMI_ROUTES, HUAWEI_ROUTES)
#: Every emulated endpoint (all ``POST``), from the vendors' tables.
ROUTES: tuple[str, ...] = tuple(path for table in TABLES for path in table.paths)
#: Errors on a path no vendor claims (an unknown path, say) take TeleCMI's shape.
_DEFAULT_ERRORS = TELECMI_ROUTES

STATE_KEY = web.AppKey("voicekit_sandbox_state", SandboxState)


def error_response(path: str, status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    """Vendor-style error answer for ``path``'s vendor.

    TeleCMI / PIOPIY: ``{"code": status, "msg": message, "status": "error"}``;
    Huawei: ``{"retCode": "<status>", "retMsg": message}``.
    """
    table = next((t for t in TABLES if path.startswith(t.error_prefixes)), _DEFAULT_ERRORS)
    return json_response(table.error_body(status, message), status, headers)


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the real handler, turning rejections and HTTP errors into vendor-style answers."""
    try:
        return await handler(request)
    except Reject as exc:
        return error_response(request.path, exc.status, exc.message, exc.headers)
    except web.HTTPException as exc:
        allow = exc.headers.get("Allow")
        headers = {"Allow": allow} if allow is not None else None
        return error_response(request.path, exc.status, exc.reason, headers)


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _apply_fault(
    request: web.Request, handler: Handler, fault: Fault, runtime: Runtime
) -> web.StreamResponse | None:
    """Answer per ``fault``; ``None`` means the connection was dropped without an answer."""
    response = await _answer(request, handler) if fault.placed else None
    await runtime.sleep(fault.stall)
    if fault.drop:
        transport = request.transport
        if transport is not None:
            transport.close()
        return None
    if fault.status is not None:
        headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else None
        try:
            message = http.HTTPStatus(fault.status).phrase
        except ValueError:
            message = "Injected fault"
        return error_response(request.path, fault.status, message, headers)
    if response is None:
        # A stall before processing: a client that gave up meanwhile never gets its call placed.
        if _client_gone(request):
            return None
        response = await _answer(request, handler)
    return response


@web.middleware
async def _sandbox_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    app = request.app
    state = app[STATE_KEY]
    runtime = app[RUNTIME_KEY]
    response: web.StreamResponse | None
    try:
        if state.latency > 0:
            await runtime.sleep(state.latency)
        fault = state.faults.take(request.path)
        if fault is None:
            response = await _answer(request, handler)
        else:
            response = await _apply_fault(request, handler, fault, runtime)
    except ConnectionError:
        # The client went away mid-request (a killed dialer): nothing to answer, nothing wrong.
        logger.debug("client left during %s %s", request.method, request.path)
        response = None
    except Exception:  # malformed input must never take the server down
        logger.exception("sandbox handler failed for %s %s", request.method, request.path)
        response = error_response(request.path, 500, "Internal server error")
    state.requests.append(
        RequestLogEntry(request.method, request.path, None if response is None else response.status, time.time())
    )
    if response is None:
        # The transport is closed: aiohttp fails to write this and sends nothing.
        return web.Response(status=499)
    return response


def create_app(state: SandboxState | None = None) -> web.Application:
    """Build the aiohttp application emulating every vendor for ``state``.

    Args:
        state: the sandbox state (accounts, knobs, stores); a default one when omitted.
    """
    state = SandboxState() if state is None else state
    app = web.Application(client_max_size=state.max_body_size, middlewares=[_sandbox_middleware])
    runtime = Runtime()
    app[STATE_KEY] = state
    app[RUNTIME_KEY] = runtime
    for table in TABLES:
        app[table.state_key] = state
        for path, handler in table.routes:
            app.router.add_post(path, handler)

    async def on_shutdown(app: web.Application) -> None:
        runtime.begin_shutdown()

    async def on_cleanup(app: web.Application) -> None:
        await runtime.close()

    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
