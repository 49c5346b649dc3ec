"""Starlette / FastAPI endpoints over the same framework-free receivers as the aiohttp handlers.

Starlette is an optional extra (``pip install starlette``): this module imports
without it, and only making an endpoint needs it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

from ..errors import ConfigurationError
from ._dedup import SeenStore
from ._handlers import HuaweiReceiver, Reply, TeleCMIReceiver
from ._huawei import HuaweiReleaseEvent
from ._signature import HuaweiVerifier
from ._telecmi import TeleCMIWebhook

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["StarletteEndpoint", "starlette_huawei_release_endpoint", "starlette_telecmi_webhook_endpoint"]

StarletteEndpoint: TypeAlias = "Callable[[Request], Awaitable[Response]]"


def _response_class() -> type[Response]:
    try:
        from starlette.responses import Response
    except ImportError as exc:
        raise ConfigurationError(
            "the Starlette / FastAPI webhook endpoints need Starlette: pip install starlette"
        ) from exc
    return Response


def _adapt(receive: Callable[[bytes], Awaitable[Reply]]) -> StarletteEndpoint:
    response_class = _response_class()

    async def endpoint(request: Request) -> Response:
        reply = await receive(await request.body())
        return response_class(reply.body, status_code=reply.status, media_type="application/json")

    return endpoint


def starlette_telecmi_webhook_endpoint(
    callback: Callable[[TeleCMIWebhook], Awaitable[object]],
    *,
    seen_store: SeenStore | None = None,
    dedup_events: bool = False,
) -> StarletteEndpoint:
    """A Starlette / FastAPI endpoint for TeleCMI webhooks; same behaviour as `telecmi_webhook_handler`.

    Mount it with ``Route("/telecmi", endpoint, methods=["POST"])`` or, in FastAPI,
    ``app.add_api_route("/telecmi", endpoint, methods=["POST"])``.

    Raises:
        ConfigurationError: Starlette is not installed.
    """
    return _adapt(TeleCMIReceiver(callback, seen_store=seen_store, dedup_events=dedup_events).receive)


def starlette_huawei_release_endpoint(
    callback: Callable[[HuaweiReleaseEvent], Awaitable[object]],
    *,
    verifier: HuaweiVerifier | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> StarletteEndpoint:
    """A Starlette / FastAPI endpoint for Huawei's release callback; see `huawei_release_handler`.

    Raises:
        ConfigurationError: Starlette is not installed.
        ValidationError: `tz` is not a `datetime.tzinfo`.
    """
    return _adapt(HuaweiReceiver(callback, verifier=verifier, tz=tz).receive)
