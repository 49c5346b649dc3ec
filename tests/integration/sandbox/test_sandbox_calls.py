"""Placed calls play out to their end: outcome plan, records, webhooks, resends, call control, lookup."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests import _samples
from voicekit.sandbox import (
    CDR_RESEND_SCHEDULE,
    NOT_ANSWERED_RELEASE_REASON,
    OutcomePlan,
    Sandbox,
)

MAKE_CALL = "/v2/global_pcmo_make_call"
ACTION = "/v1/call/action"
LOOKUP = "/v1/piopiy/requestid_cdr"
FAST = (0.0, 0.01, 0.02, 0.03)  # the documented resend schedule, compressed
WEBHOOK_FIELDS = {
    "type",
    "appid",
    "direction",
    "cmiuuid",
    "conversation_uuid",
    "leg",
    "request_id",
    "extra_params",
    "time",
    "duration",
    "start_time",
    "answer_time",
    "end_time",
    "call_rate",
    "balance",
    "status",
    "from",
    "to",
}


class Receiver:
    """A loopback webhook receiver answering the queued statuses (then 200)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.url = ""

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [p for p in self.received if p.get("type") == kind]

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.json_response({}, status=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/telecmi", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/telecmi"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def wait_for(predicate: Any, seconds: float = 5.0) -> None:
    """Poll `predicate` every 10 ms for at most `seconds`."""
    for _ in range(int(seconds * 100)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def sample_call(sb: Sandbox, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(_samples.MAKE_CALL_REQUEST)
    body.update(appid=sb.telecmi_appid, secret=sb.telecmi_secret, **changes)
    return body


def control(sb: Sandbox, cmiuuid: str, action: str, **changes: Any) -> dict[str, Any]:
    return {"appid": sb.telecmi_appid, "secret": sb.telecmi_secret, "cmiuuid": cmiuuid, "action": action, **changes}


# --- the outcome plan ---------------------------------------------------------------------


def test_a_seeded_plan_decides_the_same_whatever_the_order_of_numbers() -> None:
    numbers = [str(9100000000 + i) for i in range(50)]
    first = OutcomePlan(answer_rate=0.5, seed=7)
    second = OutcomePlan(answer_rate=0.5, seed=7)
    ahead = {n: first.decide(n, default_talk=30).answered for n in numbers}
    behind = {n: second.decide(n, default_talk=30).answered for n in reversed(numbers)}
    assert ahead == behind
    assert 0 < sum(ahead.values()) < len(numbers)  # the rate is drawn, not all-or-nothing
    other = OutcomePlan(answer_rate=0.5, seed=8)
    assert {n: other.decide(n, default_talk=30).answered for n in numbers} != ahead


def test_rules_and_rates_override_in_order() -> None:
    plan = OutcomePlan(answer_rate=0.0, ring=2.0, talk=10.0)
    plan.set("9100000001", answer=True, talk=45)
    missed = plan.decide("9100000002", default_talk=30)
    assert (missed.answered, missed.ring, missed.talk) == (False, 2.0, 0.0)
    answered = plan.decide("9100000001", default_talk=30)
    assert (answered.answered, answered.ring, answered.talk) == (True, 2.0, 45.0)
    assert OutcomePlan(talk=None).decide("1", default_talk=12).talk == 12.0
    with pytest.raises(ValueError, match="answer_rate"):
        OutcomePlan(answer_rate=1.5)
    with pytest.raises(ValueError, match="ring"):
        plan.set("1", ring=-1)
    assert CDR_RESEND_SCHEDULE == (0.0, 300.0, 600.0, 900.0)


# --- a whole call, played out at once -------------------------------------------------------


async def test_an_answered_call_becomes_a_record_and_sends_its_webhooks(post: Any, hook: Receiver) -> None:
    now = 1_700_000_000.0
    async with Sandbox(
        telecmi_webhook_url=hook.url, clock=lambda: now, cdr_resend_schedule=FAST, outcomes=OutcomePlan(ring=3, talk=20)
    ) as sb:
        answer = await post(sb.url + MAKE_CALL, json=sample_call(sb))
        assert answer.status == 200
        request_id = answer.body["request_id"]
        await wait_for(lambda: len(hook.of_type("cdr")) == 1)
        page = await post(sb.url + "/v1/outanswered", json={"appid": sb.telecmi_appid, "token": sb.telecmi_secret})
    [record] = page.body["cdr"]
    assert record["billedsec"] == 20 and record["to"] == 19170000001
    assert [p["status"] for p in hook.of_type("event")] == ["started", "answered", "hangup"]
    [cdr] = hook.of_type("cdr")
    assert WEBHOOK_FIELDS <= set(cdr)
    assert cdr["request_id"] == request_id and cdr["cmiuuid"] == sb.cmiuuids[request_id]
    assert json.loads(cdr["extra_params"]) == {"key": "value"}  # a JSON string, as documented
    assert cdr["status"] == "answered" and cdr["hangup_reason"] == "recv_bye"
    assert (cdr["start_time"], cdr["answer_time"], cdr["end_time"]) == (int(now), int(now) + 3, int(now) + 23)
    assert cdr["duration"] == 20 and cdr["leg"] == "a"
    assert all(p["cmiuuid"] == cdr["cmiuuid"] for p in hook.received)


async def test_a_missed_call_becomes_an_outmissed_record(post: Any, hook: Receiver) -> None:
    async with Sandbox(telecmi_webhook_url=hook.url, cdr_resend_schedule=FAST) as sb:
        sb.outcomes.set("19170000001", answer=False, ring=25)
        await post(sb.url + MAKE_CALL, json=sample_call(sb))
        await wait_for(lambda: len(hook.of_type("cdr")) == 1)
        creds = {"appid": sb.telecmi_appid, "token": sb.telecmi_secret}
        missed = await post(sb.url + "/v1/outmissed", json=creds)
        answered = await post(sb.url + "/v1/outanswered", json=creds)
    assert missed.body["total"] == 1 and answered.body["total"] == 0
    [cdr] = hook.of_type("cdr")
    assert cdr["status"] == "missed" and cdr["answer_time"] == 0 and cdr["duration"] == 0
    assert cdr["end_time"] - cdr["start_time"] == 25
    assert [p["status"] for p in hook.of_type("event")] == ["started", "hangup"]


async def test_the_cdr_is_resent_on_the_schedule_until_a_200(post: Any, hook: Receiver) -> None:
    async with Sandbox(telecmi_webhook_url=hook.url, cdr_resend_schedule=FAST) as sb:
        hook.statuses.extend([200, 200, 200, 500, 503])  # three events, then two failed cdrs
        await post(sb.url + MAKE_CALL, json=sample_call(sb))
        await wait_for(lambda: len(hook.of_type("cdr")) == 3)
        await asyncio.sleep(0.1)  # no fourth attempt after the 200
    assert len(hook.of_type("cdr")) == 3
    assert [d.status for d in sb.telecmi_webhooks if d.payload["type"] == "cdr"] == [500, 503, 200]


async def test_the_cdr_gives_up_after_the_last_resend(post: Any, hook: Receiver) -> None:
    async with Sandbox(telecmi_webhook_url=hook.url, cdr_resend_schedule=FAST) as sb:
        hook.statuses.extend([200, 200, 200] + [500] * 10)
        await post(sb.url + MAKE_CALL, json=sample_call(sb))
        await wait_for(lambda: len(hook.of_type("cdr")) == 4)
        await asyncio.sleep(0.1)
    assert len(hook.of_type("cdr")) == 4


async def test_webhooks_go_to_loopback_only(post: Any) -> None:
    async with Sandbox(telecmi_webhook_url="http://192.0.2.1/hook", cdr_resend_schedule=(0.0,)) as sb:
        await post(sb.url + MAKE_CALL, json=sample_call(sb))
        await wait_for(lambda: len(sb.telecmi_webhooks) == 4)
    assert {d.error for d in sb.telecmi_webhooks} == {"skipped: not a loopback URL"}


# --- live calls: compressed time and call control -------------------------------------------


async def test_compressed_time_plays_the_call_out_and_ends_it(post: Any, hook: Receiver) -> None:
    async with Sandbox(
        telecmi_webhook_url=hook.url, time_scale=0.001, cdr_resend_schedule=FAST, outcomes=OutcomePlan(ring=3, talk=20)
    ) as sb:
        answer = await post(sb.url + MAKE_CALL, json=sample_call(sb))
        cmiuuid = sb.cmiuuids[answer.body["request_id"]]
        assert cmiuuid in sb.live_calls  # still ringing when the answer arrives
        await wait_for(lambda: len(hook.of_type("cdr")) == 1)
    assert cmiuuid not in sb.live_calls and sb.ended_calls[cmiuuid].phase == "ended"
    [cdr] = hook.of_type("cdr")
    assert cdr["end_time"] - cdr["answer_time"] == 20 and cdr["duration"] == 20


async def test_call_control_holds_and_hangs_up_a_live_call(post: Any, hook: Receiver) -> None:
    async with Sandbox(
        telecmi_webhook_url=hook.url, time_scale=1.0, cdr_resend_schedule=FAST, outcomes=OutcomePlan(ring=0, talk=3600)
    ) as sb:
        answer = await post(sb.url + MAKE_CALL, json=sample_call(sb))
        cmiuuid = sb.cmiuuids[answer.body["request_id"]]
        await wait_for(lambda: sb.live_calls[cmiuuid].phase == "answered")
        held = await post(sb.url + ACTION, json=control(sb, cmiuuid, "hold"))
        again = await post(sb.url + ACTION, json=control(sb, cmiuuid, "hold"))
        toggled = await post(sb.url + ACTION, json=control(sb, cmiuuid, "holdToggle"))
        assert (held.status, held.body["hold"], again.body["hold"], toggled.body["hold"]) == (200, True, True, False)
        assert sb.live_calls[cmiuuid].hold_changes == 2  # the repeated hold changed nothing
        hung = await post(sb.url + ACTION, json=control(sb, cmiuuid, "hangup"))
        assert hung.status == 200 and hung.body["code"] == 200
        await wait_for(lambda: len(hook.of_type("cdr")) == 1)
        dead = await post(sb.url + ACTION, json=control(sb, cmiuuid, "hangup"))
        unknown = await post(sb.url + ACTION, json=control(sb, "no-such-call", "hold"))
    assert (dead.status, dead.body["msg"]) == (404, "The call has already ended")
    assert unknown.status == 404 and unknown.body["msg"] == "No live call with this cmiuuid"
    [cdr] = hook.of_type("cdr")
    assert cdr["hangup_reason"] == "sent_bye" and cdr["status"] == "answered"
    assert cdr["duration"] < 3600


async def test_call_control_refuses_bad_requests(post: Any) -> None:
    async with Sandbox(time_scale=1.0, outcomes=OutcomePlan(ring=3600)) as sb:
        answer = await post(sb.url + MAKE_CALL, json=sample_call(sb))
        cmiuuid = sb.cmiuuids[answer.body["request_id"]]
        ringing = await post(sb.url + ACTION, json=control(sb, cmiuuid, "hold"))
        bad_secret = await post(sb.url + ACTION, json=control(sb, cmiuuid, "hangup", secret="wrong"))
        bad_action = await post(sb.url + ACTION, json=control(sb, cmiuuid, "explode"))
        no_uuid = await post(
            sb.url + ACTION, json={k: v for k, v in control(sb, cmiuuid, "hangup").items() if k != "cmiuuid"}
        )
        not_json = await post(sb.url + ACTION, data=b"{not json", headers={"Content-Type": "application/json"})
        other_app = await post(sb.url + ACTION, json=control(sb, cmiuuid, "hangup", appid=1111111))
        still_live = sb.live_calls[cmiuuid].phase
    assert ringing.status == 409
    assert bad_secret.status == 420 and other_app.status == 420
    assert bad_action.status == 422 and no_uuid.status == 422 and not_json.status == 400
    assert still_live == "ringing"  # none of them touched the call


# --- the per-call lookup ----------------------------------------------------------------------


async def test_lookup_by_request_id(post: Any) -> None:
    async with Sandbox(time_scale=1.0, outcomes=OutcomePlan(ring=0, talk=3600)) as sb:
        answer = await post(sb.url + MAKE_CALL, json=sample_call(sb))
        request_id = answer.body["request_id"]
        creds = {"appid": sb.telecmi_appid, "secret": sb.telecmi_secret}
        live = await post(sb.url + LOOKUP, json={**creds, "request_id": request_id})
        sb.live_calls[sb.cmiuuids[request_id]].hang_up()
        await wait_for(lambda: not sb.live_calls)
        ended = await post(sb.url + LOOKUP, json={**creds, "request_id": request_id})
        unknown = await post(sb.url + LOOKUP, json={**creds, "request_id": "nope"})
        bad = await post(sb.url + LOOKUP, json={**creds, "secret": "wrong", "request_id": request_id})
        missing = await post(sb.url + LOOKUP, json=creds)
    assert live.body == {"count": 0, "cdr": [], "code": 200}
    assert ended.body["count"] == 1
    [entry] = ended.body["cdr"]
    assert {"duration", "balance", "rate", "leg", "direction", "status"} <= set(entry)
    assert entry["request_id"] == request_id and entry["status"] == "answered"
    assert entry["hangup_reason"] == "sent_bye"
    assert unknown.body["count"] == 0
    assert bad.status == 404 and missing.status == 422


# --- Huawei gets the same plan ---------------------------------------------------------------


async def test_a_missed_huawei_notification_reports_no_talk(post: Any) -> None:
    from tests._sandbox_huawei import CREATE, CREATE_SAMPLE, auth, get_token

    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"retCode": "0", "retMsg": "success"})

    app = web.Application()
    app.router.add_post("/cb", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/cb"
    try:
        async with Sandbox(callback_delay=0.0, outcomes=OutcomePlan(answer_rate=0.0)) as sb:
            sb.outcomes.set("8899", answer=True, talk=7)  # the sample's own number is answered
            token = await get_token(sb, post)
            await post(sb.url + CREATE, json=dict(CREATE_SAMPLE, callBackUrl=url), headers=auth(sb, token))
            await post(
                sb.url + CREATE, json=dict(CREATE_SAMPLE, called="8898", callBackUrl=url), headers=auth(sb, token)
            )
            await wait_for(lambda: len(received) == 2)
    finally:
        await runner.cleanup()
    by_called = {p["called"]: p for p in received}
    assert by_called["8899"]["talkDuration"] == "7" and by_called["8899"]["talkingTime"]
    assert by_called["8898"]["talkDuration"] == "0" and by_called["8898"]["talkingTime"] == ""
    assert by_called["8898"]["releaseReason"] == NOT_ANSWERED_RELEASE_REASON
