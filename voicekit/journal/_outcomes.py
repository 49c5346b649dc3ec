"""How each campaign call ended: the vendor's webhooks written into the journal.

A campaign's TeleCMI calls carry their key in ``extra_params`` (``"voicekit_key"``), which the
``type: "cdr"`` webhook echoes; a Huawei release event names the ``callSerialNo`` the journal
stored as the row's request id (or, when the row's answer was lost, the called number and the
time, which `reconcile` matches). `OutcomeReceiver` turns one webhook body into a `Reply`:

- a body that does not parse, or whose fields are missing or hostile: 400, nothing written;
- an event that is not a call's end (``started``, ``answered``, ``hangup`` events), or a call
  that is not a campaign call (no key): 200, nothing written;
- a key that is not in the campaign: logged, 200, nothing written;
- otherwise the outcome is written (in a batch with the others arriving at the same moment,
  one transaction, off the event loop) before the 200 goes back: a resend changes nothing.

`outcome_app` serves it on aiohttp: ``POST /telecmi`` and ``POST /huawei`` (and ``POST /`` for
the campaign's own vendor).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from .. import _observe, _otel
from .._validate import check_str
from ..errors import ValidationError
from ..telecmi import CallRecord
from ..telecmi._models import CAMPAIGN_ID_PARAM, CAMPAIGN_KEY_PARAM
from ..webhooks import CallOutcome as Ending
from ..webhooks import (
    CallVerdict,
    HuaweiReleaseEvent,
    Reply,
    TeleCMIWebhook,
    call_end,
    parse_huawei_release_event,
    parse_telecmi_webhook,
)
from ._blocking import Journal, as_async
from ._store import AsyncStore, CallOutcome, OutcomeCounts

__all__ = [
    "OutcomeReceiver",
    "OutcomeWriter",
    "huawei_outcome",
    "outcome_app",
    "record_outcome",
    "telecmi_outcome",
]

log = logging.getLogger("voicekit")

_MAX_KEY_LEN: Final = 256
#: How many outcomes one transaction writes at most.
_BATCH: Final = 2000
#: A batch this size is written at once; a smaller one waits `_LINGER` seconds for more.
_FULL: Final = 64
_LINGER: Final = 0.002
_ACK: Final = '{"status":"ok"}'
_HUAWEI_ACK: Final = '{"retCode":"0","retMsg":"success"}'


def telecmi_outcome(webhook: TeleCMIWebhook) -> CallOutcome | None:
    """The outcome a TeleCMI webhook tells, or None when it tells no call's end.

    Whether the webhook ends its call, and whether the call was answered, is
    `voicekit.webhooks.call_end`'s verdict, the one the call tracker gives too. The journal
    records an answered or a missed call; a call that ended as *failed* (a record that says
    neither) writes nothing, so the row is left to `reconcile` and never redialed on a guess. The
    campaign's id and the row's key come from ``extra_params``.

    Raises:
        ValidationError: a cdr whose campaign key is not plain text of at most 256 characters.
    """
    verdict = call_end(webhook)
    if verdict is None or verdict.outcome is Ending.FAILED:
        return None
    raw_key = webhook.extra_params.get(CAMPAIGN_KEY_PARAM)
    key = None if raw_key is None else check_str(CAMPAIGN_KEY_PARAM, raw_key, max_len=_MAX_KEY_LEN)
    raw_campaign = webhook.extra_params.get(CAMPAIGN_ID_PARAM)
    campaign = None if raw_campaign is None else check_str(CAMPAIGN_ID_PARAM, raw_campaign, max_len=64)
    rate = None if webhook.call_rate is None else str(webhook.call_rate)
    return _from_verdict(verdict, key=key, campaign=campaign, rate=rate)


def huawei_outcome(event: HuaweiReleaseEvent) -> CallOutcome:
    """The outcome a Huawei release event tells: `voicekit.webhooks.call_end`'s verdict."""
    return _from_verdict(call_end(event), key=None, campaign=None, rate=None)


def _from_verdict(verdict: CallVerdict, *, key: str | None, campaign: str | None, rate: str | None) -> CallOutcome:
    # Started, or failing that ended: what `reconcile` matches a row's number and time against.
    moment = verdict.started_at or verdict.ended_at
    return CallOutcome(
        vendor_id=f"{verdict.vendor}:{verdict.call_id}",
        answered=verdict.answered,
        key=key,
        campaign=campaign,
        request_id=verdict.request_id,
        number=verdict.number,
        time=None if moment is None else moment.timestamp(),
        billed_seconds=verdict.billed_seconds,
        rate=rate,
        hangup_reason=verdict.hangup_reason,
    )


def record_outcome(record: CallRecord, *, answered: bool) -> CallOutcome:
    """The outcome a TeleCMI call record tells (found by `reconcile`)."""
    return CallOutcome(
        vendor_id=f"telecmi-record:{record.id}",
        answered=answered,
        number=record.to,
        time=record.time / 1000,
        billed_seconds=record.billedsec,
        rate=None if record.rate is None else str(record.rate),
        source="records",
    )


class OutcomeWriter:
    """Writes outcomes into a journal in batches: everything that arrives while one transaction
    commits goes in the next one (off the event loop for a blocking `Store`).

    `add` returns once its outcome is durable. Use it as an async context manager (or call
    `aclose`) on the loop that uses it.
    """

    def __init__(self, store: AsyncStore | Journal) -> None:
        self.store = store
        self._store: AsyncStore | None = None
        self.written = 0
        self.duplicates = 0
        self.foreign = 0
        self._queue: list[tuple[CallOutcome, asyncio.Future[OutcomeCounts]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def __aenter__(self) -> OutcomeWriter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def add(self, outcome: CallOutcome) -> OutcomeCounts:
        """Write `outcome` (with whatever else is waiting); what its batch did to it."""
        if self._closed:
            raise RuntimeError("the outcome writer is closed")
        future: asyncio.Future[OutcomeCounts] = asyncio.get_running_loop().create_future()
        self._queue.append((outcome, future))
        self._wake.set()
        if self._task is None:
            self._store = as_async(self.store)
            self._task = asyncio.create_task(self._run(), name="voicekit-outcomes")
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if len(self._queue) < _FULL:
                # Webhooks arrive together (the vendor sends a call's and its neighbours' at
                # once): waiting a moment lets one transaction write them all.
                await asyncio.sleep(_LINGER)
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:_BATCH], self._queue[_BATCH:]
                assert self._store is not None
                try:
                    counts = await self._store.add_outcomes([o for o, _ in batch])
                except Exception as exc:  # noqa: BLE001 - each waiting webhook gets it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self.written += counts.written + counts.unmatched
                self.duplicates += counts.duplicate
                self.foreign += counts.foreign
                _otel.current()  # a provider configured since: its metrics sink attached
                sink = _observe.sink
                if sink is not None:
                    for result, n in (
                        ("written", counts.written),
                        ("unmatched", counts.unmatched),
                        ("duplicate", counts.duplicate),
                        ("foreign", counts.foreign),
                    ):
                        if n:
                            sink.webhooks(result, n)
                    now = time.time()
                    for o, _ in batch:
                        if o.time is not None:
                            sink.webhook_lag(max(0.0, now - o.time))
                for key in counts.foreign_keys[:20]:
                    log.warning("a webhook names the key %r, which is not in this campaign; ignored", key)
                for _, future in batch:
                    if not future.done():
                        future.set_result(counts)
            if self._closed:
                return

    async def aclose(self) -> None:
        """Write what is waiting, then stop."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None


class OutcomeReceiver:
    """Framework-free: one webhook body in, a `Reply` out, the outcome written first."""

    def __init__(self, writer: OutcomeWriter, *, tz: dt.tzinfo = dt.UTC) -> None:
        self.writer = writer
        self._tz = tz

    async def telecmi(self, body: bytes) -> Reply:
        """Handle one TeleCMI webhook body."""
        try:
            outcome = telecmi_outcome(parse_telecmi_webhook(body))
        except ValidationError as exc:
            return _refuse(exc)
        if outcome is None:
            return Reply(200, _ACK)
        if outcome.key is None:
            log.debug("a TeleCMI call record without a campaign key (not a campaign call); ignored")
            return Reply(200, _ACK)
        return await self._write(outcome, _ACK)

    async def huawei(self, body: bytes) -> Reply:
        """Handle one Huawei release-event body."""
        try:
            outcome = huawei_outcome(parse_huawei_release_event(body, tz=self._tz))
        except ValidationError as exc:
            return _refuse(exc)
        return await self._write(outcome, _HUAWEI_ACK)

    async def _write(self, outcome: CallOutcome, ack: str) -> Reply:
        try:
            await self.writer.add(outcome)
        except Exception:
            log.exception("cannot write a call's outcome into the journal; answering 500 so the vendor resends")
            return Reply(500, json.dumps({"error": "cannot record the outcome now"}))
        return Reply(200, ack)


def _refuse(exc: ValidationError) -> Reply:
    log.warning("rejected a malformed webhook: %s", exc)
    if _observe.sink is not None:
        _observe.sink.webhooks("refused", 1)
    return Reply(400, json.dumps({"error": f"invalid payload: {exc}"}))


def outcome_app(receiver: OutcomeReceiver, vendor: str) -> web.Application:
    """An aiohttp app that writes the campaign's outcomes: ``POST /telecmi``, ``POST /huawei``,
    and ``POST /`` for `vendor`."""
    app = web.Application(client_max_size=1 << 20)
    outcome_routes(app, receiver.telecmi, receiver.huawei, vendor)
    return app


def outcome_routes(
    app: web.Application,
    telecmi: Callable[[bytes], Awaitable[Reply]],
    huawei: Callable[[bytes], Awaitable[Reply]],
    vendor: str,
) -> None:
    """Route ``POST /telecmi``, ``POST /huawei`` and ``POST /`` (for `vendor`) of `app` to the
    receivers given."""

    def route(handle: Callable[[bytes], Awaitable[Reply]]) -> Any:
        async def handler(request: web.Request) -> web.Response:
            reply = await handle(await request.read())
            return web.Response(text=reply.body, status=reply.status, content_type="application/json")

        return handler

    app.router.add_post("/telecmi", route(telecmi))
    app.router.add_post("/huawei", route(huawei))
    app.router.add_post("/", route(telecmi if vendor == "telecmi" else huawei))
