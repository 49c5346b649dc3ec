"""Huawei BES voice notifications: the wire form, the token life cycle, errors and validation."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from tests import _samples
from tests.conftest import FAST_RETRY, HUAWEI
from voicekit import AsyncHuaweiVoice, HuaweiVoice
from voicekit.errors import (
    AuthenticationError,
    CallOutcomeUnknownError,
    ConfigurationError,
    InvalidRequestError,
    NonVendorResponseError,
    NotFoundError,
    ValidationError,
    VendorError,
)
from voicekit.huawei import Prompt

TOKEN_URL = HUAWEI + "/apigovernance/api/oauth/tokenByAkSk"
NOTIFY_URL = HUAWEI + "/apiaccess/rest/voiceNotification/v2/createVoiceNotification"
APP_KEY = "9000000000000000000000000000003"
APP_SECRET = "app-secret-do-not-leak"


def token_payload(token: str = "tok-1", expires: int = 600, age: int = 0) -> dict:
    return {
        "AccessToken": token,
        "ApplyType": "Bearer",
        "CreateTime": str(int(time.time()) - age),
        "Expires": str(expires),
        "Scope": "default",
        "AppKey": APP_KEY,
        "UserID": "u1",
    }


def client() -> AsyncHuaweiVoice:
    return AsyncHuaweiVoice(base_url=HUAWEI, app_key=APP_KEY, app_secret=APP_SECRET, rate_limit=None, retry=FAST_RETRY)


def seed_example(hw: AsyncHuaweiVoice):
    return hw.create_voice_notification(
        called="8899",
        play_list=[Prompt(voice_id="100001", template_params=["100", "200"])],
        play_times=1,
        caller_present="2222201",
        callback_url="http://xx.xx.xx.xx:8800/callbackTest",
    )


def requests_to(m: aioresponses, url: str) -> list:
    return m.requests.get(("POST", URL(url)), [])


async def test_the_documented_example_is_sent_exactly_with_its_headers() -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload=token_payload("9tok7"))
        m.post(NOTIFY_URL, body=_samples.HUAWEI_RESPONSE, content_type="application/json")
        async with client() as hw:
            result = await seed_example(hw)
        (token_call,) = requests_to(m, TOKEN_URL)
        (call,) = requests_to(m, NOTIFY_URL)
    assert json.loads(token_call.kwargs["data"]) == {"app_key": APP_KEY, "app_secret": APP_SECRET}
    assert token_call.kwargs["headers"]["X-Token-Expire"] == "3600"
    assert json.loads(call.kwargs["data"]) == json.loads(_samples.HUAWEI_REQUEST)
    assert call.kwargs["headers"]["X-APP-Key"] == APP_KEY
    assert call.kwargs["headers"]["Authorization"] == "Bearer 9tok7"
    assert call.kwargs["headers"]["Content-Type"] == "application/json"
    assert result.call_serial_no == "1308434073450058757"


async def test_twenty_concurrent_notifications_fetch_one_token() -> None:
    async def slow_token(url: object, **kwargs: object) -> CallbackResult:
        await asyncio.sleep(0.02)
        return CallbackResult(payload=token_payload())

    with aioresponses() as m:
        m.post(TOKEN_URL, callback=slow_token, repeat=True)
        m.post(NOTIFY_URL, body=_samples.HUAWEI_RESPONSE, content_type="application/json", repeat=True)
        async with client() as hw:
            results = await asyncio.gather(*(seed_example(hw) for _ in range(20)))
        assert len(requests_to(m, TOKEN_URL)) == 1
        assert len(requests_to(m, NOTIFY_URL)) == 20
    assert {r.call_serial_no for r in results} == {"1308434073450058757"}


async def test_a_live_token_is_reused_and_an_expiring_one_renewed() -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload=token_payload("long", expires=600))
        m.post(NOTIFY_URL, body=_samples.HUAWEI_RESPONSE, content_type="application/json", repeat=True)
        async with client() as hw:
            await seed_example(hw)
            await seed_example(hw)
        assert len(requests_to(m, TOKEN_URL)) == 1
    with aioresponses() as m:
        # Minted 95 s ago for 100 s: inside the renewal margin, so the next request mints another.
        m.post(TOKEN_URL, payload=token_payload("old", expires=100, age=95))
        m.post(TOKEN_URL, payload=token_payload("new", expires=600))
        m.post(NOTIFY_URL, body=_samples.HUAWEI_RESPONSE, content_type="application/json", repeat=True)
        async with client() as hw:
            await seed_example(hw)
            await seed_example(hw)
        assert len(requests_to(m, TOKEN_URL)) == 2
        auth = [c.kwargs["headers"]["Authorization"] for c in requests_to(m, NOTIFY_URL)]
    assert auth == ["Bearer old", "Bearer new"]


async def test_a_401_renews_the_token_once_and_retries_once() -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload=token_payload("revoked"))
        m.post(TOKEN_URL, payload=token_payload("fresh"))
        m.post(NOTIFY_URL, status=401, payload={"retCode": "401", "retMsg": "unauthorized"})
        m.post(NOTIFY_URL, body=_samples.HUAWEI_RESPONSE, content_type="application/json")
        async with client() as hw:
            result = await seed_example(hw)
        auth = [c.kwargs["headers"]["Authorization"] for c in requests_to(m, NOTIFY_URL)]
    assert auth == ["Bearer revoked", "Bearer fresh"]
    assert result.call_serial_no


async def test_a_second_401_is_raised() -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload=token_payload(), repeat=True)
        m.post(NOTIFY_URL, status=401, payload={"retCode": "401", "retMsg": "unauthorized"}, repeat=True)
        async with client() as hw:
            with pytest.raises(AuthenticationError) as info:
                await seed_example(hw)
        assert len(requests_to(m, NOTIFY_URL)) == 2
    assert info.value.status == 401


async def test_a_401_in_another_shape_renews_the_token_once_then_says_it_is_not_the_vendor() -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload=token_payload(), repeat=True)
        m.post(NOTIFY_URL, status=401, body="Unauthorized", content_type="text/plain", repeat=True)
        async with client() as hw:
            with pytest.raises(NonVendorResponseError) as info:
                await seed_example(hw)
        assert len(requests_to(m, NOTIFY_URL)) == 2 and len(requests_to(m, TOKEN_URL)) == 2
    assert info.value.status == 401


async def test_bad_keys_at_the_token_endpoint_are_an_authentication_error() -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, status=401, payload={"retCode": "401", "retMsg": "bad keys"})
        async with client() as hw:
            with pytest.raises(AuthenticationError) as info:
                await seed_example(hw)
        assert requests_to(m, NOTIFY_URL) == []
    assert APP_SECRET not in str(info.value)


async def test_a_failing_ret_code_is_a_vendor_error_with_code_and_message() -> None:
    body = {"retCode": "100005", "retMsg": "The called number is invalid."}
    with aioresponses() as m:
        m.post(TOKEN_URL, payload=token_payload())
        m.post(NOTIFY_URL, payload=body)
        async with client() as hw:
            with pytest.raises(VendorError) as info:
                await seed_example(hw)
    assert (info.value.status, info.value.code, info.value.body) == (200, "100005", body)
    assert "The called number is invalid." in str(info.value)


@pytest.mark.parametrize(("status", "error"), [(400, InvalidRequestError), (404, NotFoundError)])
async def test_documented_statuses_map_to_typed_errors(status: int, error: type) -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload=token_payload())
        m.post(NOTIFY_URL, status=status, payload={"retCode": str(status), "retMsg": "no"}, repeat=True)
        async with client() as hw:
            with pytest.raises(error):
                await seed_example(hw)
        assert len(requests_to(m, NOTIFY_URL)) == 1


@pytest.mark.parametrize("failure", [{"status": 500}, {"status": 503}, {"exception": TimeoutError()}])
async def test_a_notification_whose_outcome_is_unknown_is_never_retried(failure: dict) -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload=token_payload())
        m.post(NOTIFY_URL, repeat=True, **failure)
        async with client() as hw:
            with pytest.raises(CallOutcomeUnknownError) as info:
                await seed_example(hw)
        assert len(requests_to(m, NOTIFY_URL)) == 1
    assert info.value.request["called"] == "8899"
    assert "Authorization" not in json.dumps(info.value.request)


def prompt() -> Prompt:
    return Prompt(voice_id="1")


VALID = {"called": "8899", "play_list": [prompt()]}
BOUNDS = [
    ("called", "", False),
    ("called", "1", True),
    ("called", "9" * 32, True),
    ("called", "9" * 33, False),
    ("called", 8899, False),
    ("play_list", [], False),
    ("play_list", [prompt()] * 5, True),
    ("play_list", [prompt()] * 6, False),
    ("play_list", [{"voiceId": "1"}], False),
    ("callback_url", "http://h.test/" + "a" * 242, True),
    ("callback_url", "http://h.test/" + "a" * 243, False),
    ("callback_url", "ftp://h.test/cb", False),
    ("caller_present", "1" * 32, True),
    ("caller_present", "1" * 33, False),
    ("play_times", 0, False),
    ("play_times", 1, True),
    ("play_times", 5, True),
    ("play_times", 6, False),
    ("priority", 0, False),
    ("priority", 1, True),
    ("priority", "9", True),
    ("priority", 10, False),
    ("priority", "high", False),
]


@pytest.mark.parametrize(("field", "value", "ok"), BOUNDS)
async def test_every_documented_constraint_on_both_sides(field: str, value: object, ok: bool) -> None:
    with aioresponses() as m:
        m.post(TOKEN_URL, payload=token_payload())
        m.post(NOTIFY_URL, body=_samples.HUAWEI_RESPONSE, content_type="application/json")
        async with client() as hw:
            call = hw.create_voice_notification(**{**VALID, field: value})
            if ok:
                await call
                sent = json.loads(requests_to(m, NOTIFY_URL)[0].kwargs["data"])
                if field == "priority":
                    assert sent["priority"] == str(value)
            else:
                with pytest.raises(ValidationError) as info:
                    await call
                assert info.value.field.startswith(field)
                assert m.requests == {}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "voice_id"),
        ({"voice_id": "1", "template_id": "2"}, "voice_id"),
        ({"voice_file_name": ""}, "voice_file_name"),
        ({"template_id": "t", "template_params": []}, "template_params"),
        ({"template_id": "t", "template_params": ["p"] * 11}, "template_params"),
        ({"template_id": "t", "template_params": ["x" * 33]}, "template_params[0]"),
        ({"template_id": "t", "template_params": "abc"}, "template_params"),
    ],
)
def test_a_prompt_holds_exactly_one_id_and_valid_params(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Prompt(**kwargs)
    assert info.value.field == field


def test_template_params_at_their_bounds_are_accepted() -> None:
    assert len(Prompt(template_id="t", template_params=["x" * 32] * 10).template_params or ()) == 10
    assert Prompt(voice_file_name="a.wav", template_params=["1"]).template_params == ("1",)


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEKIT_HUAWEI_BASE_URL", HUAWEI)
    monkeypatch.setenv("VOICEKIT_HUAWEI_APP_KEY", APP_KEY)
    monkeypatch.setenv("VOICEKIT_HUAWEI_APP_SECRET", APP_SECRET)
    hw = AsyncHuaweiVoice()
    assert hw.base_url == HUAWEI and hw.app_key == APP_KEY
    assert APP_SECRET not in repr(hw) and APP_KEY not in repr(hw)
    monkeypatch.delenv("VOICEKIT_HUAWEI_APP_SECRET")
    with pytest.raises(ConfigurationError, match="VOICEKIT_HUAWEI_APP_SECRET"):
        AsyncHuaweiVoice()


def test_the_blocking_client_places_a_notification() -> None:
    from aiohttp import web

    from tests._server import ThreadedServer

    async def token(request: web.Request) -> web.Response:
        return web.json_response(token_payload("sync-token"))

    async def notify(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer sync-token"
        return web.json_response(json.loads(_samples.HUAWEI_RESPONSE))

    routes = {
        "/apigovernance/api/oauth/tokenByAkSk": token,
        "/apiaccess/rest/voiceNotification/v2/createVoiceNotification": notify,
    }
    with ThreadedServer(routes) as srv:
        with HuaweiVoice(base_url=srv.url, app_key=APP_KEY, app_secret=APP_SECRET, rate_limit=None) as hw:
            result = hw.create_voice_notification(called="8899", play_list=[Prompt(voice_id="100001")])
            assert APP_SECRET not in repr(hw)
    assert result.call_serial_no == "1308434073450058757"
    assert srv.hits == 2
