"""The call tracker: webhooks in, call ends out; bounded memory; any loop or thread; end to end."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import voicekit
from tests._webhook_payloads import SERIAL, huawei_payload, telecmi_payload
from voicekit.errors import ValidationError
from voicekit.sandbox import OutcomePlan, Sandbox
from voicekit.tracking import (
    CallEnd,
    CallEvent,
    CallOutcome,
    CallTracker,
    CallTrackingTimeout,
    InMemoryTrackerStore,
)
from voicekit.webhooks import parse_huawei_release_event, parse_telecmi_webhook, telecmi_webhook_handler


def event(status: str, **changes: Any) -> Any:
    return parse_telecmi_webhook(telecmi_payload(type="event", status=status, **changes))


def cdr(**changes: Any) -> Any:
    return parse_telecmi_webhook(telecmi_payload(**changes))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- outcomes -------------------------------------------------------------------------------


async def test_an_answered_call_ends_with_its_record() -> None:
    tracker = CallTracker()
    await tracker.feed(event("started", answer_time=0, end_time=0))
    await tracker.feed(cdr())
    end = await tracker.wait("req-42", timeout=1)
    assert end.outcome is CallOutcome.ANSWERED and end.answered
    assert (end.duration, end.hangup_reason, end.cmiuuid) == (30, "recv_bye", "2d3a9f0e-1c4b-4b8e-9a57-5d1f9c0e7b21")
    assert end.record.extra_params == {"order_id": 991, "crm": "acme"}
    assert end.answered_at is not None and end.ended_at is not None


@pytest.mark.parametrize(
    ("changes", "outcome"),
    [
        ({"status": "missed", "answer_time": 0, "duration": 0}, CallOutcome.MISSED),
        ({"status": "hangup", "answer_time": 0}, CallOutcome.MISSED),
        ({"status": "out_bridged"}, CallOutcome.ANSWERED),
        ({"status": "exploded", "answer_time": 0}, CallOutcome.FAILED),
    ],
)
async def test_outcomes_from_the_record(changes: dict[str, Any], outcome: CallOutcome) -> None:
    tracker = CallTracker()
    await tracker.feed(cdr(**changes))
    end = await tracker.wait("req-42", timeout=1)
    assert end.outcome is outcome
    if outcome is not CallOutcome.ANSWERED:
        assert end.duration == 0


async def test_a_huawei_release_ends_its_notification() -> None:
    tracker = CallTracker()
    await tracker.feed(parse_huawei_release_event(huawei_payload()))
    await tracker.feed(parse_huawei_release_event(huawei_payload(callSerialNo="2", talkingTime="", talkDuration="0")))
    answered = await tracker.wait(SERIAL, timeout=1)
    missed = await tracker.wait("2", timeout=1)
    assert (answered.outcome, answered.duration, answered.hangup_reason) == (CallOutcome.ANSWERED, 30, "0")
    assert missed.outcome is CallOutcome.MISSED


async def test_events_are_yielded_in_order_then_the_end_and_resends_are_ignored() -> None:
    tracker = CallTracker()
    seen: list[Any] = []

    async def consume() -> None:
        async for item in tracker.events("req-42", timeout=5):
            seen.append(item)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    await tracker.feed(event("started"))
    await tracker.feed(event("answered"))
    await tracker.feed(cdr(duration=12))
    await tracker.feed(cdr(duration=99))  # a resend (or a changed record): the first end wins
    await asyncio.wait_for(task, 5)
    assert [type(i) for i in seen] == [CallEvent, CallEvent, CallEnd]
    assert [i.status for i in seen[:2]] == ["started", "answered"]
    assert seen[2].duration == 12
    assert (await tracker.wait("req-42", timeout=1)).duration == 12
    assert await tracker.cmiuuid("req-42", timeout=1) == "2d3a9f0e-1c4b-4b8e-9a57-5d1f9c0e7b21"


async def test_a_b_leg_record_does_not_end_the_call() -> None:
    tracker = CallTracker()
    await tracker.feed(cdr(leg="b"))
    with pytest.raises(CallTrackingTimeout):
        await tracker.wait("req-42", timeout=0.05)
    await tracker.feed(cdr(leg="a"))
    assert (await tracker.wait("req-42", timeout=1)).record.leg == "a"


async def test_a_wait_times_out_with_a_typed_error() -> None:
    tracker = CallTracker()
    with pytest.raises(CallTrackingTimeout) as caught:
        await tracker.wait("never", timeout=0.05)
    assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, voicekit.VoiceKitError)
    assert caught.value.key == "never"


@pytest.mark.parametrize("bad", [("", 1), ("k", 0), ("k", -1), ("k", float("nan")), (None, 1), ("x" * 300, 1)])
async def test_bad_keys_and_timeouts_are_refused(bad: tuple[Any, Any]) -> None:
    key, timeout = bad
    with pytest.raises(ValidationError):
        await CallTracker().wait(key, timeout=timeout)
    with pytest.raises(ValidationError):
        CallTracker().wait_blocking(key, timeout=timeout)


async def test_only_parsed_webhooks_and_real_stores_are_accepted() -> None:
    with pytest.raises(ValidationError):
        await CallTracker().feed({"type": "cdr"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        CallTracker(store=object())  # type: ignore[arg-type]


# --- bounds ----------------------------------------------------------------------------------


async def test_calls_nobody_awaits_expire() -> None:
    clock = FakeClock()
    store = InMemoryTrackerStore(ttl=60, clock=clock)
    tracker = CallTracker(store=store)
    await tracker.feed(cdr(request_id="old"))
    clock.now = 30
    await tracker.feed(cdr(request_id="young"))
    clock.now = 61
    await tracker.feed(event("started", request_id="new"))
    assert len(store) == 2  # "old" is gone, "young" is not yet
    with pytest.raises(CallTrackingTimeout):
        await tracker.wait("old", timeout=0.02)
    assert (await tracker.wait("young", timeout=1)).key == "young"


async def test_calls_and_entries_are_capped() -> None:
    store = InMemoryTrackerStore(max_calls=3, max_entries_per_call=4)
    tracker = CallTracker(store=store)
    for n in range(10):
        await tracker.feed(cdr(request_id=f"r{n}"))
    assert len(store) == 3
    for n in range(10):
        await tracker.feed(event(f"s{n}", request_id="chatty"))
    await tracker.feed(cdr(request_id="chatty"))
    items = [item async for item in tracker.events("chatty", timeout=1)]
    assert len(items) == 4 and isinstance(items[-1], CallEnd)  # three events kept, the end always
    with pytest.raises(ValidationError):
        InMemoryTrackerStore(max_calls=0)


# --- across threads and loops ---------------------------------------------------------------


def test_wait_blocking_sees_a_call_fed_from_another_loop() -> None:
    tracker = CallTracker()
    fed = threading.Event()

    def web_app_thread() -> None:
        async def run() -> None:
            await tracker.feed(event("started"))
            fed.set()
            await asyncio.sleep(0.05)
            await tracker.feed(cdr())

        asyncio.run(run())

    thread = threading.Thread(target=web_app_thread)
    thread.start()
    try:
        assert fed.wait(5)
        end = tracker.wait_blocking("req-42", timeout=5)  # on voicekit's own loop thread
    finally:
        thread.join(5)
    assert end.outcome is CallOutcome.ANSWERED


def test_feed_blocking() -> None:
    tracker = CallTracker()
    tracker.feed_blocking(cdr(status="missed", answer_time=0))
    assert tracker.wait_blocking("req-42", timeout=1).outcome is CallOutcome.MISSED


# --- end to end: sandbox webhooks -> aiohttp handler -> tracker -> the waiting request ------


@pytest.fixture
async def webhook_url() -> AsyncIterator[tuple[str, CallTracker]]:
    tracker = CallTracker()
    app = web.Application()
    app.router.add_post("/telecmi", telecmi_webhook_handler(tracker.feed))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/telecmi", tracker
    finally:
        await runner.cleanup()


async def test_a_placed_call_is_awaited_to_its_end(webhook_url: tuple[str, CallTracker]) -> None:
    url, tracker = webhook_url
    plan = OutcomePlan(ring=3, talk=20, seed=1)
    plan.set("9100000002", answer=False)
    async with (
        Sandbox(
            telecmi_webhook_url=url, time_scale=0.001, outcomes=plan, cdr_resend_schedule=(0.0, 0.01, 0.02, 0.03)
        ) as sb,
        voicekit.AsyncTeleCMI(
            appid=sb.telecmi_appid,
            secret=sb.telecmi_secret,
            base_url=sb.url,
            piopiy_url=sb.url,
            rate_limit=None,
        ) as tc,
    ):
        answered = await tc.play_music(
            from_=19170000000, to=9100000001, file_name="welcome.wav", extra_params={"order": 7}
        )
        missed = await tc.play_music(from_=19170000000, to=9100000002, file_name="welcome.wav")
        statuses = [
            item.status async for item in tracker.events(answered.request_id, timeout=10) if isinstance(item, CallEvent)
        ]
        end = await tracker.wait(answered.request_id, timeout=10)
        no_answer = await tracker.wait(missed.request_id, timeout=10)
    assert statuses == ["started", "answered", "hangup"]
    assert (end.outcome, end.duration, end.hangup_reason) == (CallOutcome.ANSWERED, 20, "recv_bye")
    assert end.record.extra_params == {"order": 7}
    assert no_answer.outcome is CallOutcome.MISSED and no_answer.duration == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"type": "cdr"}',  # nothing ties it to a call
        b'{"type": "cdr", "request_id": "r", "extra_params": "[1]"}',
        b'{"type": "cdr", "request_id": "r", "time": 1e400}',
        b'{"type": "cdr", "request_id": {"$ne": 1}}',
        b'{"type": "event", "request_id": "r", "leg": "c"}',
    ],
)
async def test_bad_webhooks_get_400_and_change_nothing(webhook_url: tuple[str, CallTracker], body: bytes) -> None:
    url, tracker = webhook_url
    async with aiohttp.ClientSession() as http, http.post(url, data=body) as resp:
        assert resp.status == 400
    assert isinstance(tracker.store, InMemoryTrackerStore) and len(tracker.store) == 0
