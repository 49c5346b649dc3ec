"""Huawei endpoints: tokens (with a fake clock), the document's sample, constraints, callbacks."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests import _samples
from tests._sandbox_huawei import CREATE, CREATE_SAMPLE, TOKEN, auth, get_token
from voicekit.sandbox import RET_BAD_TYPE, RET_BAD_VALUE, RET_MISSING, RET_PLAY_SOURCE, Sandbox

# --- the vendor document's own example -----------------------------------------------------

CREATE_SAMPLE_RESPONSE: dict[str, Any] = json.loads(_samples.HUAWEI_RESPONSE)
TOKEN_RESPONSE_KEYS = {"AccessToken", "ApplyType", "CreateTime", "Expires", "Scope", "AppKey", "UserID"}
CALLBACK_FIELDS = {
    "callSerialNo",
    "called",
    "signature",
    "timestamp",
    "nonce",
    "callerPresent",
    "createCallTime",
    "alertingTime",
    "talkingTime",
    "releaseTime",
    "talkDuration",
    "recordfile",
    "locationId",
    "releaseReason",
}
HUAWEI_TIME = re.compile(r"^\d{4}/\d{2}/\d{2},\d{2}:\d{2}:\d{2}:\d{3}$")


async def wait_for(predicate: Any, seconds: float = 5.0) -> None:
    """Poll ``predicate`` every 10 ms for at most ``seconds``."""
    for _ in range(int(seconds * 100)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


# --- token -----------------------------------------------------------------------------------


async def test_token_shape_and_expiry_header(post: Any) -> None:
    now = [1_700_000_000.0]
    async with Sandbox(clock=lambda: now[0]) as sb:
        answer = await post(
            sb.url + TOKEN,
            json={"app_key": sb.huawei_app_key, "app_secret": sb.huawei_app_secret},
            headers={"Content-Type": "application/json", "X-Token-Expire": "1200"},
        )
        default = await post(sb.url + TOKEN, json={"app_key": sb.huawei_app_key, "app_secret": sb.huawei_app_secret})
    assert answer.status == 200
    assert set(answer.body) == TOKEN_RESPONSE_KEYS
    assert all(isinstance(v, str) for v in answer.body.values())
    assert answer.body["ApplyType"] == "Bearer"
    assert answer.body["Expires"] == "1200"
    assert answer.body["CreateTime"] == "1700000000"
    assert answer.body["AppKey"] == sb.huawei_app_key
    assert default.body["Expires"] == "600"
    assert default.body["AccessToken"] != answer.body["AccessToken"]
    assert sb.huawei_token_requests == 2


@pytest.mark.parametrize(
    "creds",
    [{"app_key": "nope"}, {"app_secret": "nope"}],
    ids=["key", "secret"],
)
async def test_token_401_on_bad_keys(sb: Sandbox, post: Any, creds: dict[str, str]) -> None:
    body = {"app_key": sb.huawei_app_key, "app_secret": sb.huawei_app_secret, **creds}
    answer = await post(sb.url + TOKEN, json=body)
    assert answer.status == 401
    assert answer.body == {"retCode": "401", "retMsg": answer.body["retMsg"]}
    assert sb.huawei_tokens == {}


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"X-Token-Expire": "3601"}, None),
        ({"X-Token-Expire": "0"}, None),
        ({"X-Token-Expire": "ten"}, None),
        ({}, {"app_key": "sandbox-app-key"}),
        ({}, {"app_key": 1, "app_secret": 2}),
        ({"Content-Type": "text/plain"}, None),
    ],
    ids=["expire-too-long", "expire-zero", "expire-text", "no-secret", "int-keys", "content-type"],
)
async def test_token_400(sb: Sandbox, post: Any, headers: dict[str, str], body: Any) -> None:
    body = body if body is not None else {"app_key": sb.huawei_app_key, "app_secret": sb.huawei_app_secret}
    if "Content-Type" in headers:
        answer = await post(sb.url + TOKEN, data=json.dumps(body).encode(), headers=headers)
    else:
        answer = await post(sb.url + TOKEN, json=body, headers=headers)
    assert answer.status == 400
    assert answer.body["retCode"] == "400"


async def test_token_max_expiry_is_accepted(sb: Sandbox, post: Any) -> None:
    token = await get_token(sb, post, expire="3600")
    assert sb.huawei_tokens[token].expires_in == 3600


async def test_tokens_really_expire(post: Any) -> None:
    now = [1_700_000_000.0]
    async with Sandbox(clock=lambda: now[0]) as sb:
        token = await get_token(sb, post, expire="60")
        now[0] += 59.9
        assert (await post(sb.url + CREATE, json=CREATE_SAMPLE, headers=auth(sb, token))).status == 200
        now[0] += 0.1
        expired = await post(sb.url + CREATE, json=CREATE_SAMPLE, headers=auth(sb, token))
        assert expired.status == 401 and "expired" in expired.body["retMsg"]
        fresh = await get_token(sb, post)
        assert (await post(sb.url + CREATE, json=CREATE_SAMPLE, headers=auth(sb, fresh))).status == 200
    assert len(sb.calls) == 2


# --- create ----------------------------------------------------------------------------------


async def test_create_doc_sample(sb: Sandbox, post: Any) -> None:
    token = await get_token(sb, post)
    answer = await post(sb.url + CREATE, json=CREATE_SAMPLE, headers=auth(sb, token))
    assert answer.status == 200
    assert set(answer.body) == set(CREATE_SAMPLE_RESPONSE)
    assert answer.body["retCode"] == "0" and answer.body["retMsg"] == "Created successfully."
    serial = answer.body["result"]["callSerialNo"]
    assert set(answer.body["result"]) == {"callSerialNo"}
    assert isinstance(serial, str) and re.fullmatch(r"[1-9]\d{18}", serial)
    [call] = sb.calls
    assert (call.endpoint, call.account, call.to, call.from_, call.request_id) == (
        CREATE,
        sb.huawei_app_key,
        "8899",
        "2222201",
        serial,
    )
    assert token not in repr(sb.calls) and sb.huawei_app_secret not in repr(sb.calls)
    # the sample's callback host is not loopback: the sandbox must not send anything there
    await wait_for(lambda: len(sb.callbacks) == 1)
    [delivery] = sb.callbacks
    assert delivery.status is None and delivery.error is not None and "loopback" in delivery.error


async def test_create_without_x_app_key_header(sb: Sandbox, post: Any) -> None:
    token = await get_token(sb, post)
    answer = await post(sb.url + CREATE, json=CREATE_SAMPLE, headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200 and answer.body["retCode"] == "0"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        "mismatch",
    ],
    ids=["none", "basic", "empty-bearer", "unknown", "x-app-key-mismatch"],
)
async def test_create_401(sb: Sandbox, post: Any, headers: Any) -> None:
    if headers == "mismatch":
        token = await get_token(sb, post)
        headers = {"X-APP-Key": "someone-else", "Authorization": f"Bearer {token}"}
    answer = await post(sb.url + CREATE, json=CREATE_SAMPLE, headers=headers)
    assert answer.status == 401
    assert answer.body["retCode"] == "401"
    assert sb.calls == []


async def test_token_of_another_account(sb: Sandbox, post: Any) -> None:
    sb.add_huawei_account("second-key", "second-secret")
    answer = await post(sb.url + TOKEN, json={"app_key": "second-key", "app_secret": "second-secret"})
    token = answer.body["AccessToken"]
    ok = await post(
        sb.url + CREATE, json=CREATE_SAMPLE, headers={"X-APP-Key": "second-key", "Authorization": f"Bearer {token}"}
    )
    wrong = await post(sb.url + CREATE, json=CREATE_SAMPLE, headers=auth(sb, token))
    assert (ok.status, wrong.status) == (200, 401)
    assert sb.calls[0].account == "second-key"


def _mutate(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(CREATE_SAMPLE)
    target: Any = body
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return body


CONSTRAINTS: list[tuple[str, Any, str | None, str]] = [
    ("called", ..., RET_MISSING, "called"),
    ("called", 8899, RET_BAD_TYPE, "called"),
    ("called", "", RET_BAD_VALUE, "called"),
    ("called", "1" * 33, RET_BAD_VALUE, "called"),
    ("called", "1" * 32, None, ""),
    ("playList", ..., RET_MISSING, "playList"),
    ("playList", {"voiceId": "1"}, RET_BAD_TYPE, "playList"),
    ("playList", [], RET_BAD_VALUE, "playList"),
    ("playList", [{"voiceId": str(i)} for i in range(6)], RET_BAD_VALUE, "playList"),
    ("playList", [{"voiceId": str(i)} for i in range(5)], None, ""),
    ("playList", ["100001"], RET_BAD_TYPE, "playList[0]"),
    ("playList", [{"templateParams": ["1"]}], RET_PLAY_SOURCE, "playList[0]"),
    ("playList", [{"voiceId": "1", "templateId": "2"}], RET_PLAY_SOURCE, "playList[0]"),
    ("playList", [{"voiceFileName": "a.wav"}, {"templateId": "t1", "templateParams": ["x"]}], None, ""),
    ("playList.0.voiceId", 100001, RET_BAD_TYPE, "playList[0].voiceId"),
    ("playList.0.templateParams", [], RET_BAD_VALUE, "playList[0].templateParams"),
    ("playList.0.templateParams", ["x"] * 11, RET_BAD_VALUE, "playList[0].templateParams"),
    ("playList.0.templateParams", ["x"] * 10, None, ""),
    ("playList.0.templateParams", "100", RET_BAD_TYPE, "playList[0].templateParams"),
    ("playList.0.templateParams", ["100", 200], RET_BAD_TYPE, "playList[0].templateParams[1]"),
    ("playList.0.templateParams", ["x" * 33], RET_BAD_VALUE, "playList[0].templateParams[0]"),
    ("playList.0.templateParams", ["x" * 32], None, ""),
    ("callBackUrl", "http://127.0.0.1/" + "c" * 240, RET_BAD_VALUE, "callBackUrl"),
    ("callBackUrl", "http://127.0.0.1/" + "c" * 239, None, ""),
    ("callBackUrl", "ftp://127.0.0.1/cb", RET_BAD_VALUE, "callBackUrl"),
    ("callBackUrl", 80, RET_BAD_TYPE, "callBackUrl"),
    ("callerPresent", "2" * 33, RET_BAD_VALUE, "callerPresent"),
    ("callerPresent", 2222201, RET_BAD_TYPE, "callerPresent"),
    ("callerPresent", ..., None, ""),
    ("playTimes", 0, RET_BAD_VALUE, "playTimes"),
    ("playTimes", 6, RET_BAD_VALUE, "playTimes"),
    ("playTimes", "1", RET_BAD_TYPE, "playTimes"),
    ("playTimes", True, RET_BAD_TYPE, "playTimes"),
    ("playTimes", 5, None, ""),
    ("priority", "0", RET_BAD_VALUE, "priority"),
    ("priority", "10", RET_BAD_VALUE, "priority"),
    ("priority", 9, RET_BAD_TYPE, "priority"),
    ("priority", "1", None, ""),
    ("priority", "9", None, ""),
]


@pytest.mark.parametrize(("path", "value", "ret_code", "field"), CONSTRAINTS, ids=lambda v: repr(v)[:20])
async def test_create_constraints(
    sb: Sandbox, post: Any, path: str, value: Any, ret_code: str | None, field: str
) -> None:
    sb.callback_delay = 60  # no callback traffic in this test
    token = await get_token(sb, post)
    answer = await post(sb.url + CREATE, json=_mutate(path, value), headers=auth(sb, token))
    assert answer.status == 200
    if ret_code is None:
        assert answer.body["retCode"] == "0", answer.body
        assert len(sb.calls) == 1
    else:
        assert answer.body == {"retCode": ret_code, "retMsg": answer.body["retMsg"]}
        assert f" {field} " in answer.body["retMsg"] or f" {field}." in answer.body["retMsg"]
        assert sb.calls == []


# --- release-event callback ------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """A loopback callback receiver: (url, received payloads, statuses to answer with)."""
    received: list[dict[str, Any]] = []
    statuses: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.json())
        status = statuses.pop(0) if statuses else 200
        return web.json_response({"retCode": "0", "retMsg": "success"}, status=status)

    app = web.Application()
    app.router.add_post("/callbackTest", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/callbackTest", received, statuses
    finally:
        await runner.cleanup()


async def test_release_callback_is_posted_to_loopback(
    sb: Sandbox, post: Any, receiver: tuple[str, list[dict[str, Any]], list[int]]
) -> None:
    url, received, _ = receiver
    token = await get_token(sb, post)
    body = dict(CREATE_SAMPLE, callBackUrl=url)
    answer = await post(sb.url + CREATE, json=body, headers=auth(sb, token))
    serial = answer.body["result"]["callSerialNo"]
    await wait_for(lambda: len(sb.callbacks) == 1)
    [payload] = received
    assert set(payload) == CALLBACK_FIELDS
    assert all(isinstance(v, str) for v in payload.values())
    assert payload["callSerialNo"] == serial
    assert payload["called"] == "8899" and payload["callerPresent"] == "2222201"
    assert payload["releaseReason"] == "0"
    for key in ("createCallTime", "alertingTime", "talkingTime", "releaseTime"):
        assert HUAWEI_TIME.match(payload[key]), payload[key]
    assert payload["createCallTime"] < payload["alertingTime"] < payload["talkingTime"] < payload["releaseTime"]
    assert payload["talkDuration"] == str(sb.huawei_talk_duration)
    assert sb.callbacks[0].status == 200 and sb.callbacks[0].error is None
    assert sb.callbacks[0].payload == payload


async def test_callback_knobs_and_failures_never_crash(
    post: Any, receiver: tuple[str, list[dict[str, Any]], list[int]]
) -> None:
    url, received, statuses = receiver
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    async with Sandbox(
        callback_delay=0.0, huawei_release_reason="4", huawei_callback_signer=lambda p: "sig:" + p["callSerialNo"]
    ) as sb:
        token = await get_token(sb, post)
        statuses.append(500)
        first = await post(sb.url + CREATE, json=dict(CREATE_SAMPLE, callBackUrl=url), headers=auth(sb, token))
        await post(
            sb.url + CREATE,
            json=dict(CREATE_SAMPLE, callBackUrl=f"http://127.0.0.1:{dead_port}/cb"),
            headers=auth(sb, token),
        )
        await post(
            sb.url + CREATE,
            json={k: v for k, v in CREATE_SAMPLE.items() if k != "callBackUrl"},
            headers=auth(sb, token),
        )
        await wait_for(lambda: len(sb.callbacks) == 2)
        await asyncio.sleep(0.05)
        still = await post(sb.url + CREATE, json=CREATE_SAMPLE, headers=auth(sb, token))
    by_url = {d.url: d for d in sb.callbacks[:2]}
    assert by_url[url].status == 500
    assert by_url[f"http://127.0.0.1:{dead_port}/cb"].status is None
    assert by_url[f"http://127.0.0.1:{dead_port}/cb"].error
    [payload] = received
    assert payload["releaseReason"] == "4"
    assert payload["signature"] == "sig:" + first.body["result"]["callSerialNo"]
    assert still.status == 200
    assert len(sb.calls) == 4


async def test_a_huawei_callback_to_another_machine_is_skipped_and_logged(post: Any) -> None:
    async with Sandbox(callback_delay=0.0) as sb:
        token = await get_token(sb, post)
        url = "http://192.0.2.1/cb"
        answer = await post(sb.url + CREATE, json=dict(CREATE_SAMPLE, callBackUrl=url), headers=auth(sb, token))
        assert answer.status == 200
        await wait_for(lambda: len(sb.callbacks) == 1)
    [delivery] = sb.callbacks
    assert (delivery.url, delivery.status, delivery.error) == (url, None, "skipped: not a loopback URL")
    assert delivery.payload["callSerialNo"] == answer.body["result"]["callSerialNo"]
