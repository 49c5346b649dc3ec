"""The aiohttp application: routes of both vendors plus latency, faults and the request log."""

from __future__ import annotations

import http
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from . import _huawei, _telecmi
from ._common import RUNTIME_KEY, STATE_KEY, Reject, Runtime, error_response, logger
from ._faults import Fault
from ._state import RequestLogEntry, SandboxState
from ._store import CDR_KINDS

__all__ = ["ROUTES", "create_app"]

#: Every emulated endpoint (all ``POST``).
ROUTES: tuple[str, ...] = (
    "/v2/global_pcmo_make_call",
    "/v2/ind_pcmo_make_call",
    "/v2/webrtc/click2call",
    *(f"/v1/{kind}" for kind in CDR_KINDS),
    "/v1/call/action",
    "/v1/piopiy/requestid_cdr",
    "/apigovernance/api/oauth/tokenByAkSk",
    "/apiaccess/rest/voiceNotification/v2/createVoiceNotification",
)


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
    """Build the aiohttp application emulating both vendors for ``state``.

    Args:
        state: the sandbox state (accounts, knobs, stores); a default one when omitted.
    """
    state = SandboxState() if state is None else state
    app = web.Application(client_max_size=state.max_body_size, middlewares=[_sandbox_middleware])
    runtime = Runtime()
    app[STATE_KEY] = state
    app[RUNTIME_KEY] = runtime
    app.router.add_post("/v2/global_pcmo_make_call", _telecmi.make_call)
    app.router.add_post("/v2/ind_pcmo_make_call", _telecmi.make_call)
    app.router.add_post("/v2/webrtc/click2call", _telecmi.click2call)
    kinds = "|".join(CDR_KINDS)
    app.router.add_post(f"/v1/{{kind:(?:{kinds})}}", _telecmi.call_records)
    app.router.add_post("/v1/call/action", _telecmi.call_action)
    app.router.add_post("/v1/piopiy/requestid_cdr", _telecmi.call_lookup)
    app.router.add_post("/apigovernance/api/oauth/tokenByAkSk", _huawei.token_by_ak_sk)
    app.router.add_post(
        "/apiaccess/rest/voiceNotification/v2/createVoiceNotification",
        _huawei.create_voice_notification,
    )

    async def on_shutdown(app: web.Application) -> None:
        runtime.begin_shutdown()

    async def on_cleanup(app: web.Application) -> None:
        await runtime.close()

    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
