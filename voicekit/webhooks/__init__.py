"""Receive call events from the vendors' webhooks as typed, deduplicated events.

Parsers turn a webhook body into a frozen attrs event; handler factories give aiohttp.web handlers
that parse, call your async callback, and acknowledge in the form each vendor requires::

    from aiohttp import web
    from voicekit.webhooks import huawei_release_handler, telecmi_webhook_handler

    async def on_telecmi(webhook): ...
    async def on_release(event): ...

    app = web.Application()
    app.router.add_post("/telecmi", telecmi_webhook_handler(on_telecmi))
    app.router.add_post("/huawei/release", huawei_release_handler(on_release))

Starlette and FastAPI (the ``starlette`` extra) get the same behaviour from
`starlette_telecmi_webhook_endpoint` and `starlette_huawei_release_endpoint`; any other framework
can hand the raw body to `TeleCMIReceiver.receive` / `HuaweiReceiver.receive` and send back the
`Reply` (status and JSON body) they return.

What is verified, and what is not:

- TeleCMI documents no signing mechanism, so nothing about a TeleCMI webhook is verified. Keep
  the URL unguessable and serve it over HTTPS.
- Huawei signs release callbacks only when the callback URL was passed through the API and a
  Shared Key is configured. The published method stops after "sort every parameter except
  timestamp, nonce and signature"; the HMAC is not public, so voicekit does not check signatures
  (nor the freshness of ``timestamp``, nor ``nonce`` reuse). Pass a ``verifier`` built from
  `canonical_string` and `constant_time_equals` once you know your algorithm; without one, nothing
  is verified.
- What is checked is the shape of every payload: malformed bodies are refused with 400 before
  your callback runs. That includes hostile ones: a value that is not plain JSON (a lone
  surrogate, NaN, an integer beyond +/-2**53), an id over 256 characters, a negative or absurd
  duration, a time outside 1970..2105. What reaches your callback can be stored and encoded.

Whether a webhook ends its call, and how, is decided in one place, `call_end` (its docstring
holds the decision table); the call tracker and the campaign journal both use it.
"""

from ._dedup import InMemorySeenStore, SeenStore
from ._handlers import (
    Handler,
    HuaweiReceiver,
    Reply,
    TeleCMIReceiver,
    huawei_release_handler,
    telecmi_webhook_handler,
)
from ._huawei import HuaweiReleaseEvent, ReleaseReason, parse_huawei_release_event
from ._signature import HuaweiVerifier, canonical_string, constant_time_equals
from ._starlette import StarletteEndpoint, starlette_huawei_release_endpoint, starlette_telecmi_webhook_endpoint
from ._telecmi import (
    TeleCMICdr,
    TeleCMIEvent,
    TeleCMIHangupReason,
    TeleCMIStatus,
    TeleCMIWebhook,
    parse_telecmi_webhook,
    telecmi_dedup_key,
)
from ._verdict import CallOutcome, CallVerdict, call_end

__all__ = [
    "CallOutcome",
    "CallVerdict",
    "Handler",
    "HuaweiReceiver",
    "HuaweiReleaseEvent",
    "HuaweiVerifier",
    "InMemorySeenStore",
    "ReleaseReason",
    "Reply",
    "SeenStore",
    "StarletteEndpoint",
    "TeleCMICdr",
    "TeleCMIEvent",
    "TeleCMIHangupReason",
    "TeleCMIReceiver",
    "TeleCMIStatus",
    "TeleCMIWebhook",
    "call_end",
    "canonical_string",
    "constant_time_equals",
    "huawei_release_handler",
    "parse_huawei_release_event",
    "parse_telecmi_webhook",
    "starlette_huawei_release_endpoint",
    "starlette_telecmi_webhook_endpoint",
    "telecmi_dedup_key",
    "telecmi_webhook_handler",
]
