"""End to end: the clients against the sandbox over real loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.conftest import FAST_RETRY
from voicekit import AsyncHuaweiVoice, AsyncTeleCMI, RetryPolicy, Timeout
from voicekit.errors import (
    AuthenticationError,
    CallOutcomeUnknownError,
    NotFoundError,
    ValidationError,
)
from voicekit.huawei import Prompt
from voicekit.sandbox import Sandbox
from voicekit.telecmi import Bridge, Pstn
from voicekit.webhooks import HuaweiReleaseEvent, ReleaseReason, huawei_release_handler

pytestmark = pytest.mark.e2e

MAKE = "/v2/global_pcmo_make_call"


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    async with Sandbox(callback_delay=0.01) as sandbox:
        yield sandbox


def telecmi(sb: Sandbox, **kwargs: object) -> AsyncTeleCMI:
    options: dict[str, object] = {"rate_limit": None, "retry": FAST_RETRY, **kwargs}
    return AsyncTeleCMI(appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, **options)  # type: ignore[arg-type]


async def play(tc: AsyncTeleCMI, to: int = 19170000001) -> str:
    return (await tc.play_music(from_=19170000000, to=to, file_name="welcome.wav")).request_id


async def test_calls_are_placed_and_become_records(sb: Sandbox) -> None:
    async with telecmi(sb) as tc:
        rid = await play(tc)
        bridge = await tc.make_call(
            from_=19170000000,
            to=19170000002,
            region="ind",
            pcmo=[Bridge(from_=19170000000, connect=[Pstn(number=19170000003)])],
        )
        c2c = await tc.click_to_call(user_id=sb.telecmi_user_id, to=9100000000, extra_params={"crm": True})
        await asyncio.sleep(0.05)
        records = [r async for r in tc.outgoing_answered(page_size=2)]
    assert [c.request_id for c in sb.calls] == [rid, bridge.request_id, c2c.request_id]
    assert {r.to for r in records} == {"19170000001", "19170000002", "9100000000"}


async def test_documented_refusals_come_back_typed(sb: Sandbox) -> None:
    async with telecmi(sb) as tc:
        with pytest.raises(NotFoundError):
            await tc.play_music(from_=19170000000, to=19170000001, file_name="unknown.wav")
    async with AsyncTeleCMI(
        appid=sb.telecmi_appid, secret="wrong", base_url=sb.url, piopiy_url=sb.url, rate_limit=None
    ) as tc:
        with pytest.raises(AuthenticationError) as info:
            await play(tc)
        assert info.value.status == 420
        with pytest.raises(AuthenticationError) as info:
            await tc.click_to_call(user_id=sb.telecmi_user_id, to=9100000000)
        assert info.value.status == 404
        with pytest.raises(AuthenticationError):
            await tc.outgoing_answered()
    assert sb.calls == []


@pytest.mark.parametrize(
    "fault",
    [{"status": 500}, {"status": 502}, {"status": 503}, {"drop": True}, {"stall": 2.0}],
    ids=["500", "502", "503", "dropped", "stalled-past-timeout"],
)
async def test_a_call_placed_before_a_failure_is_reported_not_placed_again(sb: Sandbox, fault: dict) -> None:
    sb.faults.add(MAKE, **fault)
    async with telecmi(sb, timeout=Timeout(total=0.5)) as tc:
        with pytest.raises(CallOutcomeUnknownError) as info:
            await play(tc, to=19170000009)
        assert info.value.request["to"] == 19170000009
        assert await play(tc, to=19170000010)  # the client is still usable
    assert [c.to for c in sb.calls_to("19170000009")] == ["19170000009"], "rung exactly once"


async def test_a_429_is_retried_and_the_call_placed_once(sb: Sandbox) -> None:
    sb.faults.add(MAKE, status=429, count=2, retry_after=0)
    async with telecmi(sb) as tc:
        assert await play(tc, to=19170000011)
    assert len(sb.calls_to("19170000011")) == 1
    assert sb.request_count(MAKE, 429) == 2


async def test_the_client_limiter_keeps_under_the_vendor_limit(sb: Sandbox) -> None:
    sb.rate_limit = 40
    async with telecmi(sb, rate_limit=40) as tc:
        await asyncio.gather(*(play(tc, to=9100000000 + i) for i in range(60)))
    assert sb.request_count(MAKE, 429) == 0
    assert len(sb.calls) == 60


async def test_paging_a_few_hundred_records_with_a_failing_page(sb: Sandbox) -> None:
    async with Sandbox(seed_records=437) as seeded, telecmi(seeded, page_concurrency=6) as tc:
        seeded.faults.add("/v1/outanswered", status=503, count=1)
        first = await tc.outgoing_answered(page_size=10)
        seeded.faults.add("/v1/outanswered", status=503, count=2)
        ids = [r.id async for r in tc.outgoing_answered(page_size=10)]
        times = [r.time async for r in tc.outgoing_answered(page_size=25)]
    assert first.total == 437
    assert len(ids) == len(set(ids)) == 437
    assert times == sorted(times, reverse=True)


async def test_a_notification_and_its_release_event_through_the_webhook_handler(sb: Sandbox) -> None:
    events: asyncio.Queue[HuaweiReleaseEvent] = asyncio.Queue()

    async def on_release(event: HuaweiReleaseEvent) -> None:
        await events.put(event)

    app = web.Application()
    app.router.add_post("/release", huawei_release_handler(on_release))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/release"
    try:
        async with AsyncHuaweiVoice(
            base_url=sb.url, app_key=sb.huawei_app_key, app_secret=sb.huawei_app_secret, rate_limit=None
        ) as hw:
            result = await hw.create_voice_notification(
                called="8899",
                play_list=[Prompt(voice_id="100001", template_params=["100", "200"])],
                play_times=1,
                caller_present="2222201",
                callback_url=url,
            )
            event = await asyncio.wait_for(events.get(), timeout=10)
    finally:
        await runner.cleanup()
    assert event.call_serial_no == result.call_serial_no
    assert event.called == "8899"
    assert event.release_reason is ReleaseReason.CALLED_PARTY_HUNG_UP
    assert event.create_call_time is not None and event.create_call_time.tzinfo is not None
    assert sb.callbacks[0].status == 200


async def test_a_token_the_vendor_expired_is_renewed_once(sb: Sandbox) -> None:
    now = [1_800_000_000.0]
    sb.clock = lambda: now[0]
    async with AsyncHuaweiVoice(
        base_url=sb.url,
        app_key=sb.huawei_app_key,
        app_secret=sb.huawei_app_secret,
        rate_limit=None,
        retry=RetryPolicy(attempts=1),
    ) as hw:
        await hw.create_voice_notification(called="8899", play_list=[Prompt(voice_id="1")])
        now[0] += 7200  # the vendor's clock moves past the token's life; ours does not know yet
        await hw.create_voice_notification(called="8898", play_list=[Prompt(voice_id="1")])
    assert sb.huawei_token_requests == 2
    assert [c.to for c in sb.calls] == ["8899", "8898"]


async def test_what_the_client_refuses_never_reaches_the_vendor(sb: Sandbox) -> None:
    async with telecmi(sb) as tc:
        with pytest.raises(ValidationError):
            await tc.make_call(from_=19170000000, to=19170000001, pcmo=[])
    assert sb.request_count() == 0
