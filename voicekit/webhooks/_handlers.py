"""aiohttp.web request handlers that parse a vendor's webhook, hand it to you, and acknowledge it."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import attrs

from ..errors import ValidationError
from . import _decode
from ._dedup import InMemorySeenStore, SeenStore
from ._huawei import HuaweiReleaseEvent, check_tz, parse_huawei_release_event
from ._signature import HuaweiVerifier
from ._telecmi import TeleCMICdr, TeleCMIWebhook, parse_telecmi_webhook, telecmi_dedup_key

if TYPE_CHECKING:  # aiohttp.web is imported when a handler is built, not by `import voicekit`
    from aiohttp import web

__all__ = [
    "Handler",
    "HuaweiReceiver",
    "Reply",
    "TeleCMIReceiver",
    "huawei_release_handler",
    "telecmi_webhook_handler",
]

logger = logging.getLogger("voicekit.webhooks")

E = TypeVar("E")

Handler: TypeAlias = "Callable[[web.Request], Awaitable[web.Response]]"

# The exact acknowledgement Huawei documents; anything else counts as a failed delivery.
_HUAWEI_ACK = '{"retCode":"0","retMsg":"success"}'
# TeleCMI only needs a 200; the body is for humans reading logs.
_TELECMI_ACK = '{"status":"ok"}'


@attrs.frozen
class Reply:
    """What a webhook endpoint answers, whatever the web framework: a status and a JSON body."""

    status: int
    body: str


def _refuse(status: int, message: str) -> Reply:
    return Reply(status, json.dumps({"error": message}))


def _malformed(what: str, exc: ValidationError) -> Reply:
    # A malformed body will not improve on resending, but saying why helps whoever configures it.
    logger.warning("rejected a malformed %s: %s", what, exc)
    return _refuse(400, f"invalid payload: {exc}")


async def _deliver(callback: Callable[[E], Awaitable[object]], event: E, what: str) -> bool:
    """Await the user's callback; log its failure instead of raising, and say whether it worked."""
    try:
        await callback(event)
    except Exception:
        logger.exception("the callback for %s raised; answering 500 so the vendor resends", what)
        return False
    return True


class HuaweiReceiver:
    """Framework-free handling of Huawei's release callback: body bytes in, `Reply` out.

    The aiohttp and Starlette handlers are thin adapters over it; see `huawei_release_handler`.
    """

    def __init__(
        self,
        callback: Callable[[HuaweiReleaseEvent], Awaitable[object]],
        *,
        verifier: HuaweiVerifier | None = None,
        tz: dt.tzinfo = dt.UTC,
    ) -> None:
        check_tz(tz)
        self._callback = callback
        self._verifier = verifier
        self._tz = tz

    async def receive(self, body: bytes) -> Reply:
        """Parse, verify and deliver one callback body; the reply to send back."""
        try:
            payload = _decode.load_object(body)
        except ValidationError as exc:
            return _malformed("Huawei release callback", exc)
        verifier = self._verifier
        if verifier is not None:
            try:
                verdict: Any = verifier(MappingProxyType(payload))
                if inspect.isawaitable(verdict):
                    verdict = await verdict
            except Exception:
                logger.exception("the Huawei callback verifier raised; answering 500")
                return _refuse(500, "verification failed")
            if not verdict:
                logger.warning(
                    "the verifier refused a Huawei release callback (callSerialNo=%r)",
                    payload.get("callSerialNo"),
                )
                return _refuse(401, "signature not accepted")
        try:
            event = parse_huawei_release_event(payload, tz=self._tz)
        except ValidationError as exc:
            return _malformed("Huawei release callback", exc)
        if not await _deliver(self._callback, event, f"Huawei call {event.call_serial_no}"):
            return _refuse(500, "callback failed")
        return Reply(200, _HUAWEI_ACK)


class TeleCMIReceiver:
    """Framework-free handling of TeleCMI webhooks: body bytes in, `Reply` out, records once.

    The aiohttp and Starlette handlers are thin adapters over it; see `telecmi_webhook_handler`.
    """

    def __init__(
        self,
        callback: Callable[[TeleCMIWebhook], Awaitable[object]],
        *,
        seen_store: SeenStore | None = None,
        dedup_events: bool = False,
    ) -> None:
        self._callback = callback
        self._store = InMemorySeenStore() if seen_store is None else seen_store
        self._dedup_events = dedup_events

    async def receive(self, body: bytes) -> Reply:
        """Parse, deduplicate and deliver one webhook body; the reply to send back."""
        try:
            webhook = parse_telecmi_webhook(body)
        except ValidationError as exc:
            return _malformed("TeleCMI webhook", exc)
        key = telecmi_dedup_key(webhook)
        dedup = isinstance(webhook, TeleCMICdr) or self._dedup_events
        store = self._store
        if dedup and not await store.add(key):
            logger.debug("already delivered %s; acknowledging the resend", key)
            return Reply(200, _TELECMI_ACK)
        delivered = False
        try:
            delivered = await _deliver(self._callback, webhook, key)
        finally:
            # Also on cancellation: a key left behind would swallow the vendor's resend.
            if dedup and not delivered:
                await store.discard(key)
        return Reply(200, _TELECMI_ACK) if delivered else _refuse(500, "callback failed")


def _aiohttp_reply(reply: Reply) -> web.Response:
    from aiohttp import web

    return web.Response(text=reply.body, status=reply.status, content_type="application/json")


def huawei_release_handler(
    callback: Callable[[HuaweiReleaseEvent], Awaitable[object]],
    *,
    verifier: HuaweiVerifier | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> Handler:
    """Make an aiohttp handler for Huawei's release callback.

    Mount it with ``app.router.add_post("/huawei/release", handler)``. The handler answers:

    - 200 ``{"retCode":"0","retMsg":"success"}`` once `callback` has returned;
    - 400 when the body is not a valid release event (the callback is not called);
    - 401 when `verifier` returns false (the callback is not called);
    - 500 when `callback` (or `verifier`) raises; the error is logged to ``voicekit.webhooks``.

    Args:
        callback: ``async def on_release(event: HuaweiReleaseEvent)``.
        verifier: called with the decoded payload (including ``signature``, ``timestamp`` and
            ``nonce``) before anything else; sync or async. Without one, nothing is verified.
        tz: the zone of the vendor's wall-clock times (see `parse_huawei_release_event`).

    Raises:
        ValidationError: `tz` is not a `datetime.tzinfo` (checked here, not per request).
    """
    receiver = HuaweiReceiver(callback, verifier=verifier, tz=tz)

    async def handler(request: web.Request) -> web.Response:
        return _aiohttp_reply(await receiver.receive(await request.read()))

    return handler


def telecmi_webhook_handler(
    callback: Callable[[TeleCMIWebhook], Awaitable[object]],
    *,
    seen_store: SeenStore | None = None,
    dedup_events: bool = False,
) -> Handler:
    """Make an aiohttp handler for TeleCMI webhooks that delivers each call record once.

    TeleCMI resends a call record at +5, +10 and +15 minutes, so every ``cdr`` is checked against
    `seen_store` under `telecmi_dedup_key` (type, ``cmiuuid`` or ``request_id``, ``leg``): a resend
    of a delivered record is acknowledged without calling `callback`. The key is recorded before
    the callback runs and forgotten again if the callback fails, so the vendor's next resend gets
    through. A resend that arrives while the first delivery is still running is acknowledged as a
    duplicate. Events (``type: "event"``) are delivered every time unless `dedup_events` is set.

    The handler answers 200 ``{"status":"ok"}`` on delivery (or a known duplicate), 400 when the
    body is not a valid webhook (the callback is not called), and 500 when `callback` raises (the
    error is logged to ``voicekit.webhooks``). TeleCMI documents no signing, so nothing is
    verified: keep the URL secret and serve it over HTTPS.

    Args:
        callback: ``async def on_webhook(webhook: TeleCMICdr | TeleCMIEvent)``.
        seen_store: where delivered keys are kept; by default a fresh `InMemorySeenStore` (one
            process, one hour). Share one store between handlers that receive the same webhooks.
        dedup_events: also deliver each event once (keyed additionally by ``status``).
    """
    receiver = TeleCMIReceiver(callback, seen_store=seen_store, dedup_events=dedup_events)

    async def handler(request: web.Request) -> web.Response:
        return _aiohttp_reply(await receiver.receive(await request.read()))

    return handler
