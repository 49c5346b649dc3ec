"""The aiohttp webhook handlers, exercised over a real loopback HTTP server."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web

from tests._webhook_payloads import SERIAL, SIGNATURE, huawei_payload, telecmi_payload
from voicekit.webhooks import (
    Handler,
    HuaweiReleaseEvent,
    InMemorySeenStore,
    TeleCMICdr,
    TeleCMIEvent,
    TeleCMIWebhook,
    canonical_string,
    constant_time_equals,
    huawei_release_handler,
    parse_telecmi_webhook,
    telecmi_dedup_key,
    telecmi_webhook_handler,
)

HUAWEI_ACK = '{"retCode":"0","retMsg":"success"}'
TELECMI_ACK = '{"status":"ok"}'


class Recorder:
    """An async callback that records what it receives and can fail its first `fail` calls."""

    def __init__(self, *, fail: int = 0) -> None:
        self.received: list[Any] = []
        self.calls = 0
        self._fail = fail

    async def __call__(self, event: Any) -> None:
        self.calls += 1
        if self.calls <= self._fail:
            raise RuntimeError("database is down")
        self.received.append(event)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """Serve `handler` at POST /hook on 127.0.0.1 and yield its URL."""
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/hook"
    finally:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str, body: Mapping[str, Any] | bytes) -> tuple[int, str, str]:
    """POST a JSON body (or raw bytes); return status, body text and content type."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    async with http.post(url, data=data, headers=headers) as response:
        return response.status, await response.text(), response.content_type


# Huawei ---------------------------------------------------------------------------------------


async def test_huawei_delivers_the_event_and_acknowledges_as_documented(http: aiohttp.ClientSession) -> None:
    callback = Recorder()
    async with serve(huawei_release_handler(callback)) as url:
        status, text, content_type = await post(http, url, huawei_payload())

    assert (status, text, content_type) == (200, HUAWEI_ACK, "application/json")
    [event] = callback.received
    assert isinstance(event, HuaweiReleaseEvent)
    assert event.call_serial_no == SERIAL
    assert event.create_call_time == dt.datetime(2022, 2, 17, 13, 10, 6, 836_000, tzinfo=dt.UTC)


async def test_huawei_handler_applies_the_time_zone(http: aiohttp.ClientSession) -> None:
    callback = Recorder()
    beijing = dt.timezone(dt.timedelta(hours=8))
    async with serve(huawei_release_handler(callback, tz=beijing)) as url:
        await post(http, url, huawei_payload())
    assert callback.received[0].release_time == dt.datetime(2022, 2, 17, 13, 10, 41, 999_000, tzinfo=beijing)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"retCode=0", "payload"),
        (b"[]", "payload"),
        (huawei_payload(createCallTime="17/02/2022 13:10"), "createCallTime"),
        (huawei_payload(callSerialNo=None), "callSerialNo"),
    ],
)
async def test_huawei_malformed_body_is_400_and_not_delivered(
    http: aiohttp.ClientSession, body: Mapping[str, Any] | bytes, field: str
) -> None:
    callback = Recorder()
    async with serve(huawei_release_handler(callback)) as url:
        status, text, _ = await post(http, url, body)
    assert status == 400
    assert field in json.loads(text)["error"]
    assert callback.calls == 0


async def test_huawei_verifier_refusal_is_401_and_not_delivered(http: aiohttp.ClientSession) -> None:
    seen: list[Mapping[str, Any]] = []

    def refuse(payload: Mapping[str, Any]) -> bool:
        seen.append(payload)
        return False

    callback = Recorder()
    async with serve(huawei_release_handler(callback, verifier=refuse)) as url:
        status, _, _ = await post(http, url, huawei_payload())
    assert status == 401
    assert callback.calls == 0
    assert seen[0]["signature"] == SIGNATURE


async def test_huawei_async_verifier_acceptance_delivers(http: aiohttp.ClientSession) -> None:
    async def accept(payload: Mapping[str, Any]) -> bool:
        return bool(payload["nonce"] == "a1b2c3d4")

    callback = Recorder()
    async with serve(huawei_release_handler(callback, verifier=accept)) as url:
        status, text, _ = await post(http, url, huawei_payload())
    assert (status, text) == (200, HUAWEI_ACK)
    assert len(callback.received) == 1


async def test_huawei_verifier_built_from_the_helpers(http: aiohttp.ClientSession) -> None:
    # A user's own scheme (HMAC-SHA256 over canonical string + timestamp + nonce), standing in for
    # the vendor's unpublished one: the helpers must make it a few lines.
    shared_key = b"0123456789abcdef-shared"

    def sign(payload: Mapping[str, Any]) -> str:
        message = canonical_string(payload) + payload["timestamp"] + payload["nonce"]
        return hmac.new(shared_key, message.encode(), hashlib.sha256).hexdigest()

    def verifier(payload: Mapping[str, Any]) -> bool:
        return constant_time_equals(sign(payload), str(payload.get("signature", "")))

    signed = huawei_payload()
    signed["signature"] = sign(signed)
    tampered = dict(signed, called="8613999999999")

    callback = Recorder()
    async with serve(huawei_release_handler(callback, verifier=verifier)) as url:
        assert (await post(http, url, signed))[0] == 200
        assert (await post(http, url, tampered))[0] == 401
    assert [event.called for event in callback.received] == ["8613800000001"]


async def test_huawei_verifier_that_raises_is_500_and_not_delivered(http: aiohttp.ClientSession) -> None:
    def broken(payload: Mapping[str, Any]) -> bool:
        raise KeyError("shared key not configured")

    callback = Recorder()
    async with serve(huawei_release_handler(callback, verifier=broken)) as url:
        status, _, _ = await post(http, url, huawei_payload())
    assert status == 500
    assert callback.calls == 0


async def test_huawei_callback_failure_is_500_logged_and_the_resend_delivered(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    callback = Recorder(fail=1)
    caplog.set_level(logging.ERROR, logger="voicekit.webhooks")
    async with serve(huawei_release_handler(callback)) as url:
        first = await post(http, url, huawei_payload())
        resend = await post(http, url, huawei_payload())

    assert first[0] == 500
    assert resend[:2] == (200, HUAWEI_ACK)
    assert len(callback.received) == 1
    [record] = [r for r in caplog.records if r.name == "voicekit.webhooks"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert SERIAL in record.getMessage()
    assert SIGNATURE not in caplog.text


# TeleCMI --------------------------------------------------------------------------------------


async def test_telecmi_delivers_a_cdr_and_acknowledges(http: aiohttp.ClientSession) -> None:
    callback = Recorder()
    async with serve(telecmi_webhook_handler(callback)) as url:
        status, text, content_type = await post(http, url, telecmi_payload())

    assert (status, text, content_type) == (200, TELECMI_ACK, "application/json")
    [cdr] = callback.received
    assert isinstance(cdr, TeleCMICdr)
    assert cdr.extra_params == {"order_id": 991, "crm": "acme"}
    assert cdr.from_number == "919876543210"


async def test_telecmi_cdr_sent_four_times_is_delivered_once(http: aiohttp.ClientSession) -> None:
    callback = Recorder()
    async with serve(telecmi_webhook_handler(callback)) as url:
        answers = [await post(http, url, telecmi_payload()) for _ in range(4)]

    assert [answer[:2] for answer in answers] == [(200, TELECMI_ACK)] * 4
    assert len(callback.received) == 1


async def test_telecmi_cdr_is_delivered_again_after_the_ttl(http: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    store = InMemorySeenStore(ttl=3600, clock=clock)
    callback = Recorder()
    async with serve(telecmi_webhook_handler(callback, seen_store=store)) as url:
        await post(http, url, telecmi_payload())
        clock.now += 15 * 60  # the vendor's last resend
        await post(http, url, telecmi_payload())
        assert len(callback.received) == 1
        clock.now += 3600
        await post(http, url, telecmi_payload())
    assert len(callback.received) == 2


async def test_telecmi_records_of_both_legs_are_each_delivered(http: aiohttp.ClientSession) -> None:
    callback = Recorder()
    async with serve(telecmi_webhook_handler(callback)) as url:
        for leg in ("a", "b", "a", "b"):
            await post(http, url, telecmi_payload(leg=leg))
    assert [cdr.leg for cdr in callback.received] == ["a", "b"]


async def test_telecmi_events_are_not_deduplicated_by_default(http: aiohttp.ClientSession) -> None:
    callback = Recorder()
    event = telecmi_payload(type="event", status="started", hangup_reason=None)
    async with serve(telecmi_webhook_handler(callback)) as url:
        await post(http, url, event)
        await post(http, url, event)
    assert len(callback.received) == 2
    assert all(isinstance(e, TeleCMIEvent) for e in callback.received)


async def test_telecmi_events_are_deduplicated_when_asked(http: aiohttp.ClientSession) -> None:
    callback = Recorder()
    started = telecmi_payload(type="event", status="started")
    answered = telecmi_payload(type="event", status="answered")
    async with serve(telecmi_webhook_handler(callback, dedup_events=True)) as url:
        for body in (started, started, answered, answered):
            await post(http, url, body)
    assert [e.status for e in callback.received] == ["started", "answered"]


async def test_telecmi_callback_failure_is_500_and_the_resend_is_delivered(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    callback = Recorder(fail=1)
    caplog.set_level(logging.ERROR, logger="voicekit.webhooks")
    async with serve(telecmi_webhook_handler(callback)) as url:
        failed = await post(http, url, telecmi_payload())
        resend = await post(http, url, telecmi_payload())
        later_resend = await post(http, url, telecmi_payload())

    assert failed[0] == 500
    assert resend[:2] == (200, TELECMI_ACK)
    assert later_resend[:2] == (200, TELECMI_ACK)
    assert callback.calls == 2
    assert len(callback.received) == 1
    assert any(r.name == "voicekit.webhooks" and r.exc_info for r in caplog.records)


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        telecmi_payload(type=None),
        telecmi_payload(extra_params="{order_id: 991"),
        telecmi_payload(leg="x"),
    ],
)
async def test_telecmi_malformed_body_is_400_and_not_delivered(
    http: aiohttp.ClientSession, body: Mapping[str, Any] | bytes
) -> None:
    callback = Recorder()
    async with serve(telecmi_webhook_handler(callback)) as url:
        status, text, _ = await post(http, url, body)
    assert status == 400
    assert json.loads(text)["error"].startswith("invalid payload: ")
    assert callback.calls == 0


async def test_telecmi_shared_store_deduplicates_across_handlers(http: aiohttp.ClientSession) -> None:
    store = InMemorySeenStore()
    first, second = Recorder(), Recorder()
    async with (
        serve(telecmi_webhook_handler(first, seen_store=store)) as url_1,
        serve(telecmi_webhook_handler(second, seen_store=store)) as url_2,
    ):
        await post(http, url_1, telecmi_payload())
        await post(http, url_2, telecmi_payload())
    assert len(first.received) + len(second.received) == 1


class _BodyOnly:
    """Stands in for a request: the handlers only read the body."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self._body = json.dumps(body).encode()

    async def read(self) -> bytes:
        return self._body


async def test_telecmi_cancelled_callback_does_not_leave_the_record_marked() -> None:
    async def cancelled(webhook: TeleCMIWebhook) -> None:
        raise asyncio.CancelledError

    store = InMemorySeenStore()
    handler = telecmi_webhook_handler(cancelled, seen_store=store)
    with pytest.raises(asyncio.CancelledError):
        await handler(cast(web.Request, _BodyOnly(telecmi_payload())))

    key = telecmi_dedup_key(parse_telecmi_webhook(telecmi_payload()))
    assert await store.add(key) is True
