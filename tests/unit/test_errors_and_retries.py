"""Status mapping per endpoint, the retry rules, and the never-twice guarantee."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from tests import _samples
from tests.conftest import FAST_RETRY, PIOPIY, REST
from voicekit import AsyncTeleCMI, RetryPolicy
from voicekit.errors import (
    AuthenticationError,
    CallOutcomeUnknownError,
    ConnectError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ReadError,
    ServerError,
    UnexpectedResponseError,
    VoiceKitError,
)
from voicekit.telecmi import Bridge, Pstn

MAKE = REST + "/v2/global_pcmo_make_call"
C2C = REST + "/v2/webrtc/click2call"
CDR = PIOPIY + "/v1/outanswered"
SECRET = "top-secret-value"


def client(appid: int, retry: RetryPolicy = FAST_RETRY) -> AsyncTeleCMI:
    return AsyncTeleCMI(appid=appid, secret=SECRET, base_url=REST, piopiy_url=PIOPIY, retry=retry, rate_limit=None)


def count(m: aioresponses, url: str) -> int:
    return len(m.requests.get(("POST", URL(url)), []))


async def play(tc: AsyncTeleCMI) -> object:
    return await tc.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav")


async def bridge(tc: AsyncTeleCMI) -> object:
    return await tc.make_call(
        from_=19170000000, to=19170000001, pcmo=[Bridge(from_=19170000000, connect=[Pstn(number=19170000002)])]
    )


async def click(tc: AsyncTeleCMI) -> object:
    return await tc.click_to_call(user_id="101_1111112", to=9100000000)


async def records(tc: AsyncTeleCMI) -> object:
    return await tc.outgoing_answered(page_size=5)


@pytest.mark.parametrize(
    ("call", "url", "status", "error", "code"),
    [
        (play, MAKE, 420, AuthenticationError, 420),
        (play, MAKE, 404, NotFoundError, 404),
        (play, MAKE, 422, InvalidRequestError, 422),
        (bridge, MAKE, 420, AuthenticationError, 420),
        (bridge, MAKE, 422, InvalidRequestError, 422),
        (click, C2C, 404, AuthenticationError, 404),
        (click, C2C, 400, InvalidRequestError, 400),
        (records, CDR, 404, AuthenticationError, 404),
    ],
)
async def test_documented_statuses_map_to_typed_errors(appid, call, url, status, error, code) -> None:
    body = {"code": status, "msg": "vendor says no", "status": "error"}
    with aioresponses() as m:
        m.post(url, status=status, payload=body, repeat=True)
        async with client(appid) as tc:
            with pytest.raises(error) as info:
                await call(tc)
        assert count(m, url) == 1, "a documented refusal is never retried"
    exc = info.value
    assert (exc.status, exc.code, exc.body) == (status, code, body)
    assert "vendor says no" in str(exc)
    assert SECRET not in str(exc) and SECRET not in repr(exc.body)


async def test_404_means_bad_music_on_play_but_bad_credentials_on_click_to_call(appid) -> None:
    with aioresponses() as m:
        m.post(MAKE, status=404, payload={"code": 404})
        m.post(C2C, status=404, payload={"code": 404})
        async with client(appid) as tc:
            with pytest.raises(NotFoundError, match="music"):
                await play(tc)
            with pytest.raises(AuthenticationError, match="user id or secret"):
                await click(tc)


@pytest.mark.parametrize("call", [play, bridge, click])
@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "body": "oops"},
        {"status": 502, "body": "<html>bad gateway</html>", "content_type": "text/html"},
        {"status": 502, "payload": {"code": 502, "msg": "The property required is missing"}},
        {"status": 503, "body": "unavailable"},
        {"exception": TimeoutError()},
        {"exception": aiohttp.ServerTimeoutError("read timeout")},
        {"exception": aiohttp.ServerDisconnectedError()},
        {"exception": aiohttp.ClientPayloadError("connection dropped mid-body")},
    ],
    ids=["500", "502-gateway", "502-documented", "503", "timeout", "read-timeout", "disconnected", "dropped"],
)
async def test_call_creation_is_never_retried_when_the_outcome_is_unknown(appid, call, failure) -> None:
    url = C2C if call is click else MAKE
    with aioresponses() as m:
        m.post(url, repeat=True, **failure)
        async with client(appid) as tc:
            with pytest.raises(CallOutcomeUnknownError) as info:
                await call(tc)
        assert count(m, url) == 1
    exc = info.value
    assert exc.request["secret"] == "***"
    assert exc.request["to"] in (19170000001, 9100000000)
    assert SECRET not in str(exc) and SECRET not in json.dumps(exc.request)
    assert exc.status == failure.get("status")


async def test_call_creation_is_retried_when_the_connection_was_refused(appid) -> None:
    with aioresponses() as m:
        m.post(
            MAKE,
            exception=aiohttp.ClientConnectorError(
                aiohttp.client_reqrep.ConnectionKey("rest.test", 80, False, True, None, None, None),
                ConnectionRefusedError(111, "refused"),
            ),
        )
        m.post(MAKE, body=_samples.MAKE_CALL_RESPONSE, content_type="application/json")
        async with client(appid) as tc:
            call = await play(tc)
        assert count(m, MAKE) == 2
    assert call.status == "progress"


async def test_connect_timeout_is_retried_and_then_reported_as_connect_error(appid) -> None:
    with aioresponses() as m:
        m.post(MAKE, exception=aiohttp.ConnectionTimeoutError("connect timeout"), repeat=True)
        async with client(appid, RetryPolicy(attempts=3, initial=0, max_delay=0)) as tc:
            with pytest.raises(ConnectError):
                await play(tc)
        assert count(m, MAKE) == 3


async def test_429_is_retried_for_call_creation_honouring_retry_after(appid) -> None:
    with aioresponses() as m:
        m.post(MAKE, status=429, headers={"Retry-After": "0"}, payload={"code": 429})
        m.post(MAKE, body=_samples.MAKE_CALL_RESPONSE, content_type="application/json")
        async with client(appid) as tc:
            call = await play(tc)
        assert count(m, MAKE) == 2
    assert call.request_id


async def test_429_gives_up_after_the_attempts_and_carries_retry_after(appid) -> None:
    with aioresponses() as m:
        m.post(MAKE, status=429, headers={"Retry-After": "0"}, payload={"code": 429}, repeat=True)
        async with client(appid, RetryPolicy(attempts=2, initial=0, max_delay=0)) as tc:
            with pytest.raises(RateLimitedError) as info:
                await play(tc)
        assert count(m, MAKE) == 2
    assert info.value.retry_after == 0


async def test_a_retry_after_beyond_the_cap_is_raised_not_slept(appid) -> None:
    with aioresponses() as m:
        m.post(MAKE, status=429, headers={"Retry-After": "3600"}, payload={"code": 429}, repeat=True)
        async with client(appid) as tc:
            with pytest.raises(RateLimitedError) as info:
                await play(tc)
        assert count(m, MAKE) == 1
    assert info.value.retry_after == 3600


@pytest.mark.parametrize(
    "failure",
    [{"status": 500}, {"status": 503}, {"exception": TimeoutError()}, {"exception": aiohttp.ServerDisconnectedError()}],
    ids=["500", "503", "timeout", "disconnected"],
)
async def test_read_only_requests_are_retried_on_transient_failures(appid, failure) -> None:
    with aioresponses() as m:
        m.post(CDR, **failure)
        m.post(CDR, body=_samples.OUTANSWERED_RESPONSE, content_type="application/json")
        async with client(appid) as tc:
            page = await records(tc)
        assert count(m, CDR) == 2
    assert page.total == 3


async def test_read_only_retries_are_capped(appid) -> None:
    with aioresponses() as m:
        m.post(CDR, status=503, repeat=True)
        async with client(appid, RetryPolicy(attempts=3, initial=0, max_delay=0)) as tc:
            with pytest.raises(ServerError):
                await records(tc)
        assert count(m, CDR) == 3
    with aioresponses() as m:
        m.post(CDR, exception=TimeoutError(), repeat=True)
        async with client(appid, RetryPolicy(attempts=2, initial=0, max_delay=0)) as tc:
            with pytest.raises(ReadError):
                await records(tc)
        assert count(m, CDR) == 2


async def test_an_unreadable_vendor_answer_is_retried_then_a_typed_error(appid) -> None:
    with aioresponses() as m:
        m.post(CDR, payload={"total": "many", "cdr": "nope"}, repeat=True)
        async with client(appid) as tc:
            with pytest.raises(UnexpectedResponseError, match="unreadable answer") as caught:
                await records(tc)
    assert caught.value.status == 200
    assert len(m.requests[("POST", URL(CDR))]) == FAST_RETRY.attempts


def test_every_error_is_a_voicekit_error() -> None:
    for cls in (AuthenticationError, CallOutcomeUnknownError, ConnectError, ReadError, RateLimitedError):
        assert issubclass(cls, VoiceKitError)
