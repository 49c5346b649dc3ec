"""Fault injection, rate limiting and latency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from voicekit.sandbox import Sandbox

GLOBAL = "/v2/global_pcmo_make_call"
CREATE = "/apiaccess/rest/voiceNotification/v2/createVoiceNotification"


def play(sb: Sandbox, to: int = 19170000001) -> dict[str, Any]:
    return {
        "appid": sb.telecmi_appid,
        "secret": sb.telecmi_secret,
        "from": 19170000000,
        "to": to,
        "pcmo": [{"action": "play", "file_name": "welcome.wav"}],
    }


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_after_the_call_was_placed(sb: Sandbox, post: Any, status: int) -> None:
    fault = sb.faults.add(GLOBAL, status=status)
    failed = await post(sb.url + GLOBAL, json=play(sb))
    assert failed.status == status
    assert failed.body["code"] == status and failed.body["status"] == "error"
    # the dangerous case: the vendor placed the call although the client saw an error
    assert len(sb.calls_to(19170000001)) == 1
    assert (fault.remaining, fault.hits) == (0, 1)
    assert sb.faults.pending() == 0
    ok = await post(sb.url + GLOBAL, json=play(sb))
    assert ok.status == 200
    assert len(sb.calls) == 2


async def test_5xx_not_placed_and_count(sb: Sandbox, post: Any) -> None:
    sb.faults.add(GLOBAL, status=500, placed=False, count=2)
    assert sb.faults.pending(GLOBAL) == 2
    statuses = [(await post(sb.url + GLOBAL, json=play(sb))).status for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert len(sb.calls) == 1


async def test_fault_only_hits_its_path(sb: Sandbox, post: Any) -> None:
    sb.faults.add("/v2/ind_pcmo_make_call", status=503)
    assert (await post(sb.url + GLOBAL, json=play(sb))).status == 200
    assert (await post(sb.url + "/v2/ind_pcmo_make_call", json=play(sb))).status == 503
    assert (await post(sb.url + "/v2/ind_pcmo_make_call", json=play(sb))).status == 200


@pytest.mark.parametrize(("status", "phrase"), [(500, "Internal Server Error"), (503, "Service Unavailable")])
async def test_any_path_fault_and_huawei_shape(sb: Sandbox, post: Any, status: int, phrase: str) -> None:
    sb.faults.add(None, status=status, placed=False)
    answer = await post(sb.url + CREATE, json={})
    assert answer.status == status
    assert answer.body == {"retCode": str(status), "retMsg": phrase}


async def test_429_fault_is_never_placed(sb: Sandbox, post: Any) -> None:
    sb.faults.add(GLOBAL, status=429, count=2, retry_after=3)
    first = await post(sb.url + GLOBAL, json=play(sb))
    second = await post(sb.url + GLOBAL, json=play(sb))
    third = await post(sb.url + GLOBAL, json=play(sb))
    assert (first.status, second.status, third.status) == (429, 429, 200)
    assert first.headers["Retry-After"] == "3"
    assert first.body["code"] == 429
    assert len(sb.calls) == 1


async def test_drop_after_the_call_was_placed(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    sb.faults.add(GLOBAL, drop=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post(sb.url + GLOBAL, json=play(sb)) as response:
            await response.read()
    assert len(sb.calls) == 1
    assert list(sb.requests)[-1].status is None
    async with http.post(sb.url + GLOBAL, json=play(sb)) as response:
        assert response.status == 200


async def test_drop_before_placing(sb: Sandbox, http: aiohttp.ClientSession) -> None:
    sb.faults.add(GLOBAL, drop=True, placed=False)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post(sb.url + GLOBAL, json=play(sb)) as response:
            await response.read()
    assert sb.calls == []


async def test_stall_after_placing_times_the_client_out(sb: Sandbox, post: Any) -> None:
    sb.faults.add(GLOBAL, stall=5.0)
    with pytest.raises(asyncio.TimeoutError):
        await post(sb.url + GLOBAL, json=play(sb), client_timeout=0.2)
    assert len(sb.calls) == 1  # placed: the outcome is unknown to the client


async def test_stall_before_placing_when_the_client_gives_up(sb: Sandbox, post: Any) -> None:
    sb.faults.add(GLOBAL, stall=0.4, placed=False)
    with pytest.raises(asyncio.TimeoutError):
        await post(sb.url + GLOBAL, json=play(sb), client_timeout=0.1)
    await asyncio.sleep(0.6)
    assert sb.calls == []
    assert list(sb.requests)[-1].status is None


async def test_stall_before_placing_with_a_patient_client(sb: Sandbox, post: Any) -> None:
    sb.faults.add(GLOBAL, stall=0.2, placed=False)
    started = time.perf_counter()
    answer = await post(sb.url + GLOBAL, json=play(sb), client_timeout=5)
    assert answer.status == 200
    assert time.perf_counter() - started >= 0.19
    assert len(sb.calls) == 1


async def test_stall_then_status(sb: Sandbox, post: Any) -> None:
    sb.faults.add(GLOBAL, stall=0.1, status=504)
    started = time.perf_counter()
    answer = await post(sb.url + GLOBAL, json=play(sb))
    assert answer.status == 504 and time.perf_counter() - started >= 0.09
    assert len(sb.calls) == 1


async def test_stop_cuts_stalls_short(post: Any) -> None:
    sb = await Sandbox().start()
    sb.faults.add(GLOBAL, stall=30.0)
    pending = asyncio.ensure_future(post(sb.url + GLOBAL, json=play(sb), client_timeout=10))
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    await sb.stop()
    assert time.perf_counter() - started < 5
    try:
        answer = await pending
        assert answer.status == 200
    except aiohttp.ClientError:
        pass  # closing the connection is also acceptable; hanging is not


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"status": 429, "placed": True},
        {"status": 503, "drop": True},
        {"status": 200},
        {"status": 503, "count": 0},
        {"stall": -1.0},
    ],
    ids=repr,
)
def test_fault_plan_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Sandbox().faults.add(GLOBAL, **kwargs)


def test_fault_plan_defaults() -> None:
    faults = Sandbox().faults
    assert faults.add(GLOBAL, status=503).placed is True
    assert faults.add(GLOBAL, status=429).placed is False
    assert faults.add(GLOBAL, drop=True).placed is True
    assert faults.add(GLOBAL, stall=1.0).placed is True
    assert len(faults) == 4 and faults.pending() == 4
    faults.clear()
    assert faults.pending() == 0 and faults.take(GLOBAL) is None


# --- rate limit -------------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after(sb: Sandbox, post: Any) -> None:
    sb.rate_limit = 2
    sb.rate_burst = 3
    statuses = []
    for _ in range(4):
        answer = await post(sb.url + GLOBAL, json=play(sb))
        statuses.append(answer.status)
    assert statuses == [200, 200, 200, 429]
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.body == {"code": 429, "msg": "Too many requests", "status": "error"}
    assert len(sb.calls) == 3
    # per account: another app still has its own full bucket
    sb.add_telecmi_account(5555555, "five")
    other = dict(play(sb), appid=5555555, secret="five")
    assert (await post(sb.url + GLOBAL, json=other)).status == 200
    # off again
    sb.rate_limit = None
    assert (await post(sb.url + GLOBAL, json=play(sb))).status == 200


async def test_rate_limit_refills(post: Any) -> None:
    async with Sandbox(rate_limit=20, rate_burst=1) as sb:
        assert (await post(sb.url + GLOBAL, json=play(sb))).status == 200
        assert (await post(sb.url + GLOBAL, json=play(sb))).status == 429
        await asyncio.sleep(0.1)  # 20/s: one token every 0.05 s
        assert (await post(sb.url + GLOBAL, json=play(sb))).status == 200


async def test_rate_limit_covers_huawei(post: Any) -> None:
    async with Sandbox(rate_limit=1) as sb:
        creds = {"app_key": sb.huawei_app_key, "app_secret": sb.huawei_app_secret}
        first = await post(sb.url + "/apigovernance/api/oauth/tokenByAkSk", json=creds)
        second = await post(sb.url + "/apigovernance/api/oauth/tokenByAkSk", json=creds)
    assert (first.status, second.status) == (200, 429)
    assert second.body["retCode"] == "429" and second.headers["Retry-After"] == "1"


# --- latency ----------------------------------------------------------------------------------


async def test_latency_knob(post: Any) -> None:
    async with Sandbox(latency=0.15) as sb:
        started = time.perf_counter()
        assert (await post(sb.url + GLOBAL, json=play(sb))).status == 200
        assert time.perf_counter() - started >= 0.14
        sb.latency = 0.3
        started = time.perf_counter()
        assert (
            await post(sb.url + "/v1/outanswered", json={"appid": sb.telecmi_appid, "token": sb.telecmi_secret})
        ).status == 200
        assert time.perf_counter() - started >= 0.29
        sb.latency = 0
        started = time.perf_counter()
        await post(sb.url + GLOBAL, json=play(sb))
        assert time.perf_counter() - started < 0.29
