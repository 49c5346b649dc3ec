"""Call control and the per-call lookup through the client, against the sandbox over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import Mock

import aiohttp
import pytest

import voicekit
from tests.conftest import FAST_RETRY
from voicekit._base_client import Answer, Endpoint, classify
from voicekit.errors import (
    ActionOutcomeUnknownError,
    AuthenticationError,
    CallOutcomeUnknownError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    ValidationError,
)
from voicekit.sandbox import OutcomePlan, Sandbox, SyncSandbox

ACTION = "/v1/call/action"
LOOKUP = "/v1/piopiy/requestid_cdr"


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    # Real time, answered at once, an hour of talk: the call stays live for the whole test.
    async with Sandbox(time_scale=1.0, outcomes=OutcomePlan(ring=0, talk=3600)) as sandbox:
        yield sandbox


def client(sb: Any, **kwargs: Any) -> voicekit.AsyncTeleCMI:
    options: dict[str, Any] = {"rate_limit": None, "retry": FAST_RETRY, "secret": sb.telecmi_secret, **kwargs}
    return voicekit.AsyncTeleCMI(appid=sb.telecmi_appid, base_url=sb.url, piopiy_url=sb.url, **options)


async def live_call(sb: Sandbox, tc: voicekit.AsyncTeleCMI) -> str:
    """Place a call and return its cmiuuid once it is answered."""
    call = await tc.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav")
    cmiuuid = sb.cmiuuids[call.request_id]
    for _ in range(500):
        if sb.live_calls[cmiuuid].phase == "answered":
            return cmiuuid
        await asyncio.sleep(0.01)
    raise AssertionError("the call was never answered")


async def test_hold_unhold_toggle_and_hangup(sb: Sandbox) -> None:
    async with client(sb) as tc:
        cmiuuid = await live_call(sb, tc)
        held = await tc.hold(cmiuuid)
        assert (held.cmiuuid, held.action, held.hold) == (cmiuuid, "hold", True)
        assert sb.live_calls[cmiuuid].held
        assert (await tc.unhold(cmiuuid)).hold is False
        assert (await tc.toggle_hold(cmiuuid)).hold is True
        assert (await tc.hangup(cmiuuid)).action == "hangup"
        for _ in range(500):
            if cmiuuid in sb.ended_calls:
                break
            await asyncio.sleep(0.01)
        assert sb.ended_calls[cmiuuid].hangup_reason == "sent_bye"
        with pytest.raises(NotFoundError, match="already ended"):
            await tc.hangup(cmiuuid)
        with pytest.raises(NotFoundError):
            await tc.hold("no-such-call")


async def test_hold_on_a_ringing_call_and_bad_credentials_are_typed() -> None:
    async with Sandbox(time_scale=1.0, outcomes=OutcomePlan(ring=3600)) as sb, client(sb) as tc:
        call = await tc.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav")
        cmiuuid = sb.cmiuuids[call.request_id]
        with pytest.raises(InvalidRequestError) as refused:
            await tc.hold(cmiuuid)
        assert refused.value.status == 409
        async with client(sb, secret="wrong-secret") as bad:
            with pytest.raises(AuthenticationError):
                await bad.hangup(cmiuuid)
            with pytest.raises(AuthenticationError):
                await bad.lookup_call(call.request_id)


@pytest.mark.parametrize("bad", ["", "   ", None, 42, "x" * 257])
async def test_a_bad_cmiuuid_is_refused_before_any_io(sb: Sandbox, bad: Any) -> None:
    async with client(sb) as tc:
        for method in (tc.hangup, tc.hold, tc.unhold, tc.toggle_hold):
            with pytest.raises(ValidationError) as caught:
                await method(bad)
            assert caught.value.field == "cmiuuid"
        with pytest.raises(ValidationError) as lookup:
            await tc.lookup_call(bad)
        assert lookup.value.field == "request_id"
    assert sb.request_count(ACTION) == 0 and sb.request_count(LOOKUP) == 0


async def test_hangup_is_retried_after_a_5xx(sb: Sandbox) -> None:
    async with client(sb) as tc:
        cmiuuid = await live_call(sb, tc)
        # The vendor fails before acting: the retry is what hangs up.
        sb.faults.add(ACTION, status=503, placed=False)
        result = await tc.hangup(cmiuuid)
    assert result.action == "hangup"
    assert sb.request_count(ACTION) == 2


@pytest.mark.parametrize("method", ["hold", "unhold", "toggle_hold"])
@pytest.mark.parametrize("fault", [{"status": 503}, {"drop": True}, {"status": 502, "placed": False}])
async def test_hold_actions_are_never_retried_blind(sb: Sandbox, method: str, fault: dict[str, Any]) -> None:
    async with client(sb) as tc:
        cmiuuid = await live_call(sb, tc)
        before = sb.live_calls[cmiuuid].hold_changes
        sb.faults.add(ACTION, **fault)
        with pytest.raises(ActionOutcomeUnknownError) as unknown:
            await getattr(tc, method)(cmiuuid)
    assert sb.request_count(ACTION) == 1  # one request left, no retry
    assert "action may or may not have taken effect" in str(unknown.value)
    assert "placed" not in str(unknown.value)
    assert unknown.value.request["secret"] == "***" and sb.telecmi_secret not in str(unknown.value)
    # A fault that let the request through did change the call, once; the others did not.
    assert sb.live_calls[cmiuuid].hold_changes - before == (
        0 if fault.get("placed") is False or method == "unhold" else 1
    )


async def test_hold_is_retried_when_the_vendor_says_429(sb: Sandbox) -> None:
    async with client(sb) as tc:
        cmiuuid = await live_call(sb, tc)
        sb.faults.add(ACTION, status=429, retry_after=0)
        assert (await tc.hold(cmiuuid)).hold is True
    assert sb.request_count(ACTION) == 2


async def test_lookup_finds_the_call_once_it_has_ended(sb: Sandbox) -> None:
    async with client(sb) as tc:
        cmiuuid = await live_call(sb, tc)
        request_id = next(r for r, c in sb.cmiuuids.items() if c == cmiuuid)
        live = await tc.lookup_call(request_id)
        assert not live.found and live.request_id == request_id
        await tc.hangup(cmiuuid)
        for _ in range(500):
            if cmiuuid in sb.ended_calls:
                break
            await asyncio.sleep(0.01)
        sb.faults.add(LOOKUP, status=500)  # read-only: retried
        ended = await tc.lookup_call(request_id)
        unknown = await tc.lookup_call("no-such-request")
    assert ended.found and not unknown.found
    [leg] = ended.legs
    assert (leg.leg, leg.direction, leg.status, leg.cmiuuid) == ("a", "outbound", "answered", cmiuuid)
    assert leg.to == "19170000001" and leg.hangup_reason == "sent_bye"
    assert leg.duration is not None and leg.rate is not None


def test_blocking_twins() -> None:
    with SyncSandbox(time_scale=1.0, outcomes=OutcomePlan(ring=0, talk=3600)) as sb:
        with voicekit.TeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, rate_limit=None
        ) as tc:
            call = tc.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav")
            cmiuuid = sb.call(lambda: sb.cmiuuids[call.request_id])
            for _ in range(500):
                if sb.call(lambda: sb.live_calls[cmiuuid].phase) == "answered":
                    break
                threading_sleep(0.01)
            assert tc.hold(cmiuuid).hold is True
            assert tc.toggle_hold(cmiuuid).hold is False
            assert tc.unhold(cmiuuid).hold is False
            assert tc.hangup(cmiuuid).action == "hangup"
            assert tc.lookup_call(call.request_id).request_id == call.request_id


def threading_sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


# --- the request path's rule for actions that must not be repeated, alone ------------------

TOGGLE = Endpoint("call_action.holdToggle", "/v1/call/action", creates_call=False, idempotent=False)
HANGUP = Endpoint("call_action.hangup", "/v1/call/action", creates_call=False)
BODY = {"appid": 1, "secret": "s3cr3t-value", "cmiuuid": "c", "action": "holdToggle"}


@pytest.mark.parametrize(
    "outcome", [Answer(503, b"{}"), Answer(302, b""), Answer(200, b"not json"), TimeoutError(), ConnectionResetError()]
)
def test_a_maybe_sent_toggle_is_unknown_and_a_hangup_is_retried(outcome: Any) -> None:
    toggle = classify(TOGGLE, outcome, url="u", request=BODY, secrets=("s3cr3t-value",))
    assert isinstance(toggle.error, ActionOutcomeUnknownError) and not toggle.retryable
    assert not isinstance(toggle.error, CallOutcomeUnknownError), "a hold places no call"
    assert "s3cr3t-value" not in str(toggle.error) and toggle.error.request["secret"] == "***"
    hangup = classify(HANGUP, outcome, url="u", request=BODY)
    assert not isinstance(hangup.error, OutcomeUnknownError)
    assert hangup.retryable or isinstance(outcome, Answer) and outcome.status == 302


def test_a_toggle_that_never_left_or_got_429_is_retried() -> None:
    refused = aiohttp.ClientConnectorError(Mock(), OSError(111, "refused"))
    assert classify(TOGGLE, refused, url="u", request=BODY).retryable
    assert classify(TOGGLE, Answer(429, b"{}"), url="u", request=BODY).retryable
    assert TOGGLE.retry_blind is False and HANGUP.retry_blind is True


async def test_control_and_lookup_results_carry_the_raw_answer(sb: Sandbox) -> None:
    async with client(sb) as tc:
        cmiuuid = await live_call(sb, tc)
        held = await tc.hold(cmiuuid)
        found = await tc.lookup_call("no-such-request")
    assert held.response is not None and held.response.status == 200
    assert "Content-Type" in held.response.headers
    assert found.response is not None and found.response.status == 200
