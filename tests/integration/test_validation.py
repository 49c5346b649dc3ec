"""Bad input raises ValidationError naming the field, before any network I/O."""

from __future__ import annotations

import datetime as dt
import logging
import math
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from aioresponses import aioresponses

from tests._server import CALL_OK
from tests.conftest import PIOPIY, REST
from voicekit import AsyncTeleCMI, RateLimit, RetryPolicy, TeleCMI, Timeout
from voicekit.errors import APIStatusError, ConfigurationError, ValidationError
from voicekit.huawei import AsyncHuaweiVoice, Prompt
from voicekit.sandbox import Sandbox
from voicekit.telecmi import Bridge, Connect, Input, Play, PlayGetInput, Pstn, Sip, Speak, Stream
from voicekit.telecmi._actions import Action, pcmo_to_wire
from voicekit.webhooks import constant_time_equals, parse_huawei_release_event, parse_telecmi_webhook

SECRET = "never-show-me-1234"


def client() -> AsyncTeleCMI:
    return AsyncTeleCMI(appid=2222226, secret=SECRET, base_url=REST, piopiy_url=PIOPIY, rate_limit=None)


def bridge() -> Bridge:
    return Bridge(from_=19170000000, connect=[Pstn(number=19170000002)])


CALLS = {
    "missing to": (lambda tc: tc.play_music(from_=19170000000, to="", file_name="a.wav"), "to"),
    "letters in to": (lambda tc: tc.play_music(from_=19170000000, to="91abc", file_name="a.wav"), "to"),
    "leading zero": (lambda tc: tc.play_music(from_=19170000000, to="0917000000", file_name="a.wav"), "to"),
    "bool number": (lambda tc: tc.play_music(from_=True, to=19170000001, file_name="a.wav"), "from_"),
    "float number": (lambda tc: tc.play_music(from_=1.5, to=19170000001, file_name="a.wav"), "from_"),
    "empty file": (lambda tc: tc.play_music(from_=19170000000, to=19170000001, file_name=""), "file_name"),
    "no file": (lambda tc: tc.play_music(from_=19170000000, to=19170000001), "file_name"),
    "not audio": (lambda tc: tc.play_music(from_=19170000000, to=19170000001, file_name="a.txt"), "file_name"),
    "empty pcmo": (lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[]), "pcmo"),
    "unknown action": (
        lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[{"action": "dance"}]),
        "pcmo[0]",
    ),
    "bad region": (lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[bridge()], region="eu"), "region"),
    "bad extra": (
        lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[bridge()], extra_params={"x": object()}),
        "extra_params",
    ),
    "webrtc+followme": (
        lambda tc: tc.click_to_call(user_id="101_1", to=9100000000, webrtc=True, followme=True),
        "followme",
    ),
    "empty user": (lambda tc: tc.click_to_call(user_id=" ", to=9100000000), "user_id"),
    "non-bool webrtc": (lambda tc: tc.click_to_call(user_id="101_1", to=9100000000, webrtc="yes"), "webrtc"),
}


@pytest.mark.parametrize("case", list(CALLS), ids=list(CALLS))
async def test_bad_call_input_is_refused_before_any_request(case: str) -> None:
    make, field = CALLS[case]
    with aioresponses() as m:
        async with client() as tc:
            with pytest.raises(ValidationError) as info:
                await make(tc)
        assert m.requests == {}
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Bridge(from_=19170000000, connect=[]), "connect"),
        (lambda: Bridge(from_=19170000000, connect=[19170000002]), "connect[0]"),
        (lambda: Bridge(from_=19170000000, connect=[Pstn(number=19170000002)], duration=0), "duration"),
        (lambda: Bridge(from_=19170000000, connect=[Pstn(number=19170000002)], timeout=-1), "timeout"),
        (lambda: Bridge(from_=19170000000, connect=[Pstn(number=19170000002)], loop=True), "loop"),
        (lambda: Bridge(from_="x", connect=[Pstn(number=19170000002)]), "from_"),
        (lambda: Pstn(number="12"), "connect.number"),
        (lambda: Play(file_name="a.wav", file_url="https://x.test/a.wav"), "file_name"),
        (lambda: Play(file_url="ftp://x.test/a.wav"), "file_url"),
        (lambda: Speak(text=""), "text"),
        (lambda: Connect(call=[]), "call"),
        (lambda: Connect(call="alice"), "call"),
        (lambda: Sip(user=""), "call.user"),
        (lambda: Input(action_url="not a url"), "action_url"),
        (lambda: PlayGetInput(file_name="menu.wav", action_url="https://x.test", max_digit=0), "max_digit"),
        (lambda: Stream(ws_url="https://x.test/ws"), "ws_url"),
    ],
)
def test_pcmo_actions_check_their_documented_shape(build, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"limit": 0}, "limit"),
        ({"start": 1_700_000_000}, "start"),
        ({"start": "yesterday"}, "start"),
        ({"start": dt.datetime(2024, 2, 1, tzinfo=dt.UTC), "end": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}, "start"),
    ],
)
async def test_bad_record_queries_are_refused_before_any_request(kwargs: dict, field: str) -> None:
    with aioresponses() as m:
        async with client() as tc:
            with pytest.raises(ValidationError) as info:
                await tc.outgoing_answered(**kwargs)
        assert m.requests == {}
    assert info.value.field == field


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEKIT_TELECMI_APPID", "2222226")
    monkeypatch.setenv("VOICEKIT_TELECMI_SECRET", SECRET)
    monkeypatch.setenv("VOICEKIT_TELECMI_BASE_URL", "http://127.0.0.1:9/")
    tc = AsyncTeleCMI()
    assert tc.appid == 2222226
    assert tc.base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "VOICEKIT_TELECMI_APPID"),
        ({"VOICEKIT_TELECMI_APPID": "1"}, "VOICEKIT_TELECMI_SECRET"),
        ({"VOICEKIT_TELECMI_APPID": "abc", "VOICEKIT_TELECMI_SECRET": "s"}, "must be a number"),
    ],
)
def test_missing_credentials_say_how_to_give_them(monkeypatch: pytest.MonkeyPatch, env: dict, message: str) -> None:
    for var in ("VOICEKIT_TELECMI_APPID", "VOICEKIT_TELECMI_SECRET"):
        monkeypatch.delenv(var, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigurationError, match=message):
        AsyncTeleCMI()


@pytest.mark.parametrize("bad", [0, -5, "fast", True])
def test_rate_limit_must_be_a_positive_rate(bad: object) -> None:
    with pytest.raises(ValidationError):
        AsyncTeleCMI(appid=1, secret="s", rate_limit=bad)  # type: ignore[arg-type]


def test_burst_cannot_exceed_the_rate() -> None:
    with pytest.raises(ValidationError, match="burst"):
        RateLimit(rate=5, burst=6)


async def test_the_secret_never_reaches_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="voicekit")
    tc = client()
    assert SECRET not in repr(tc)
    sync = TeleCMI(appid=2222226, secret=SECRET, base_url=REST, rate_limit=None)
    assert SECRET not in repr(sync)
    sync.close()
    with aioresponses() as m:
        m.post(REST + "/v2/global_pcmo_make_call", status=420, payload={"code": 420, "msg": "bad secret"})
        async with tc:
            with pytest.raises(APIStatusError) as info:
                await tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav")
    assert caplog.records, "the request was logged at debug level"
    assert SECRET not in caplog.text
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.__dict__)


async def test_a_vendor_echoing_the_secret_does_not_leak_it_into_the_error() -> None:
    echo = {"code": 422, "msg": f"bad request {{'secret': '{SECRET}'}}", "request": {"secret": SECRET, "to": 1}}
    with aioresponses() as m:
        m.post(REST + "/v2/global_pcmo_make_call", status=422, payload=echo)
        async with client() as tc:
            with pytest.raises(APIStatusError) as info:
                await tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav")
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value.body)
    assert info.value.body["request"]["to"] == 1


# -- regressions: each leak that used to escape as something other than ValidationError ----------

HUGE = 10**5000


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda tc: tc.play_music(from_=19170000000, to=19170000001, file_name=["a.wav"]), "file_name"),
        (lambda tc: tc.play_music(from_=19170000000, to=19170000001, file_url={"u": 1}), "file_url"),
        (lambda tc: tc.play_music(from_=19170000000, to=HUGE, file_name="a.wav"), "to"),
        (lambda tc: tc.play_music(from_=-HUGE, to=19170000001, file_name="a.wav"), "from_"),
        (lambda tc: tc.play_music(from_=19170000000, to="٩١٧٠٠٠٠٠٠٠١", file_name="a.wav"), "to"),
        (lambda tc: tc.play_music(from_=19170000000, to="9" * 5000, file_name="a.wav"), "to"),
        (lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[Action()]), "pcmo[0]"),
        (lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=Action()), "pcmo[0]"),
        (lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[bridge()], region=["ind"]), "region"),
        (
            lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[bridge()], extra_params={1: "x"}),
            "extra_params",
        ),
        (
            lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[bridge()], extra_params={"x": math.nan}),
            "extra_params",
        ),
        (
            lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[bridge()], extra_params={"x": 10**30}),
            "extra_params",
        ),
        (
            lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[bridge()], extra_params={"x": "\ud800"}),
            "extra_params",
        ),
        (
            lambda tc: tc.make_call(
                from_=19170000000, to=19170000001, pcmo=[bridge()], extra_params=MappingProxyType({"x": {1, 2}})
            ),
            "extra_params",
        ),
        (lambda tc: tc.click_to_call(user_id="101_1", to=9100000000, callerid=HUGE), "callerid"),
        (lambda tc: tc.click_to_call(user_id="101_1", to=9100000000, extra_params="x"), "extra_params"),
        (lambda tc: tc.click_to_call(user_id="x" * 10_000, to=9100000000), "user_id"),
        (lambda tc: tc.click_to_call(user_id="101_1", to=9100000000, webrtc=1), "webrtc"),
    ],
)
async def test_regressions_calls_refused_before_any_request(make: Any, field: str) -> None:
    with aioresponses() as m:
        async with client() as tc:
            with pytest.raises(ValidationError) as info:
                await make(tc)
        assert m.requests == {}
    assert info.value.field == field


async def test_any_json_mapping_is_accepted_as_extra_params() -> None:
    with aioresponses() as m:
        m.post(REST + "/v2/global_pcmo_make_call", payload=CALL_OK)
        async with client() as tc:
            await tc.make_call(
                from_=19170000000,
                to=19170000001,
                pcmo=[bridge()],
                extra_params=MappingProxyType({"crm": MappingProxyType({"ids": (1, 2)})}),
            )
        [call] = next(iter(m.requests.values()))
    assert orjson.loads(call.kwargs["data"])["extra_params"] == {"crm": {"ids": [1, 2]}}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": math.nan}, "start"),
        ({"start": math.inf}, "start"),
        ({"end": -math.inf}, "end"),
        ({"start": dt.datetime(1, 1, 1)}, "start"),
        ({"end": dt.datetime.max}, "end"),
        ({"end": 10**30}, "end"),
        ({"start": HUGE}, "start"),
        ({"start": "1700000000000"}, "start"),
        ({"page_size": HUGE}, "page_size"),
        ({"limit": HUGE}, "limit"),
        ({"limit": 2.5}, "limit"),
    ],
)
async def test_regressions_record_arguments(kwargs: dict[str, Any], field: str) -> None:
    with aioresponses() as m:
        async with client() as tc:
            with pytest.raises(ValidationError) as info:
                await tc.outgoing_answered(**kwargs)
        assert m.requests == {}
    assert info.value.field == field


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: RateLimit(rate=math.inf), "rate"),
        (lambda: RateLimit(rate=math.nan), "rate"),
        (lambda: RateLimit(rate=10**400), "rate"),
        (lambda: RateLimit(rate=True), "rate"),
        (lambda: RateLimit(rate="5"), "rate"),
        (lambda: RateLimit(rate=5, burst=2.0), "burst"),
        (lambda: RateLimit.coerce(10**400), "rate_limit"),
        (lambda: Timeout(total="5"), "total"),
        (lambda: Timeout(connect=math.nan), "connect"),
        (lambda: Timeout(total=10**400), "total"),
        (lambda: Timeout(total=10**9), "total"),
        (lambda: RetryPolicy(attempts="3"), "attempts"),
        (lambda: RetryPolicy(attempts=True), "attempts"),
        (lambda: RetryPolicy(attempts=10**6), "attempts"),
        (lambda: RetryPolicy(timeout=math.inf), "timeout"),
        (lambda: RetryPolicy(initial=-1), "initial"),
        (lambda: RetryPolicy(max_delay=math.nan), "max_delay"),
        (lambda: RetryPolicy(max_retry_after="60"), "max_retry_after"),
    ],
)
def test_regressions_config_objects(build: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"base_url": 123}, "base_url"),
        ({"base_url": "rest.telecmi.com"}, "base_url"),
        ({"base_url": "https://"}, "base_url"),
        ({"base_url": "https://rest.telecmi.com/?x=1"}, "base_url"),
        ({"base_url": "https://rest.telecmi.com/#top"}, "base_url"),
        ({"base_url": "ftp://rest.telecmi.com"}, "base_url"),
        ({"base_url": "https://host:99999"}, "base_url"),
        ({"piopiy_url": "piopiy.telecmi.com"}, "piopiy_url"),
        ({"retry": "x"}, "retry"),
        ({"retry": 0}, "retry"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": 10**400}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"appid": HUGE}, "appid"),
        ({"appid": True}, "appid"),
        ({"appid": "²"}, "appid"),
        ({"secret": 123}, "secret"),
        ({"page_concurrency": HUGE}, "page_concurrency"),
        ({"rate_limit": math.inf}, "rate_limit"),
        ({"limiter_backend": "redis"}, "limiter_backend"),
    ],
)
def test_regressions_telecmi_constructor(kwargs: dict[str, Any], field: str) -> None:
    args = {"appid": 1, "secret": "s", **kwargs}
    with pytest.raises(ValidationError) as info:
        AsyncTeleCMI(**args)
    assert info.value.field == field


def test_base_urls_from_the_environment_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEKIT_TELECMI_BASE_URL", "rest.telecmi.com")
    with pytest.raises(ConfigurationError, match="VOICEKIT_TELECMI_BASE_URL"):
        AsyncTeleCMI(appid=1, secret="s")
    monkeypatch.setenv("VOICEKIT_HUAWEI_BASE_URL", "https://x.test/?q")
    with pytest.raises(ConfigurationError, match="VOICEKIT_HUAWEI_BASE_URL"):
        AsyncHuaweiVoice(app_key="k", app_secret="s")


def test_a_trailing_slash_on_a_base_url_is_fine() -> None:
    tc = AsyncTeleCMI(appid=1, secret="s", base_url="https://rest.telecmi.com/", piopiy_url="http://[::1]:8080/")
    assert tc.base_url == "https://rest.telecmi.com" and tc.piopiy_url == "http://[::1]:8080"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"base_url": "service.besclouds.com"}, "base_url"),
        ({"app_key": "k\r\nX-Evil: 1"}, "app_key"),
        ({"app_secret": ["s"]}, "app_secret"),
        ({"token_lifetime": HUGE}, "token_lifetime"),
        ({"token_lifetime": 3600.0}, "token_lifetime"),
    ],
)
def test_regressions_huawei_constructor(kwargs: dict[str, Any], field: str) -> None:
    args = {"base_url": "https://service.besclouds.com", "app_key": "k", "app_secret": "s", **kwargs}
    with pytest.raises(ValidationError) as info:
        AsyncHuaweiVoice(**args)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"priority": "²"}, "priority"),
        ({"priority": "9" * 5000}, "priority"),
        ({"priority": HUGE}, "priority"),
        ({"priority": "0"}, "priority"),
        ({"priority": 5.0}, "priority"),
        ({"play_times": HUGE}, "play_times"),
        ({"play_times": True}, "play_times"),
        ({"called": 8899}, "called"),
        ({"called": "8" * 33}, "called"),
        ({"caller_present": "1" * 33}, "caller_present"),
        ({"callback_url": "x" * 300}, "callback_url"),
        ({"callback_url": "https://" + "a" * 260}, "callback_url"),
        ({"play_list": Prompt(voice_id="1")}, "play_list"),
        ({"play_list": {"voice_id": "1"}}, "play_list"),
        ({"play_list": [Prompt(voice_id="1")] * 6}, "play_list"),
    ],
)
async def test_regressions_huawei_notification(kwargs: dict[str, Any], field: str) -> None:
    args = {"called": "8899", "play_list": [Prompt(voice_id="1")], **kwargs}
    with aioresponses() as m:
        async with AsyncHuaweiVoice(base_url="https://hw.test", app_key="k", app_secret="s", rate_limit=None) as hw:
            with pytest.raises(ValidationError) as info:
                await hw.create_voice_notification(**args)
        assert m.requests == {}
    assert info.value.field == field


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Prompt(voice_id="1", template_params="abc"), "template_params"),
        (lambda: Prompt(voice_id="1", template_params={"a": "b"}), "template_params"),
        (lambda: Prompt(voice_id="1", template_params=["x" * 33]), "template_params[0]"),
        (lambda: Prompt(voice_id=1), "voice_id"),
        (lambda: Bridge(from_=19170000000, connect=[Pstn(number=19170000002)], duration=HUGE), "duration"),
        (lambda: Bridge(from_=19170000000, connect=(p for p in [Pstn(number=19170000002)])), "connect"),
        (lambda: Bridge(from_=19170000000, connect=[Pstn(number=19170000002)], loop=2**64), "loop"),
        (lambda: Input(action_url="https://x.test", timeout=10**30), "timeout"),
        (lambda: Input(action_url="https://x .test"), "action_url"),
        (lambda: Input(action_url="https://[::1"), "action_url"),
        (lambda: Play(file_name="a\ud800.wav"), "file_name"),
        (lambda: Speak(text=b"hi"), "text"),
        (lambda: PlayGetInput(action_url="https://x.test"), "file_name"),
        (
            lambda: PlayGetInput(file_name="a.wav", file_url="https://x.test/a.wav", action_url="https://x.test"),
            "file_name",
        ),
        (lambda: PlayGetInput(file_name="a.wav", action_url="https://x.test", max_retry=0), "max_retry"),
        (lambda: PlayGetInput(file_url="menu.wav", action_url="https://x.test"), "file_url"),
    ],
)
def test_regressions_models(build: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    assert info.value.field == field


def test_play_get_input_with_a_url_is_sent_as_the_official_sdk_sends_it() -> None:
    action = PlayGetInput(file_url="https://x.test/menu.mp3", action_url="https://x.test/dtmf", max_retry=3)
    assert pcmo_to_wire([action]) == [
        {
            "action": "play_get_input",
            "file_name": "https://x.test/menu.mp3",
            "file_url": "https://x.test/menu.mp3",
            "action_url": "https://x.test/dtmf",
            "max_retry": 3,
        }
    ]


async def test_play_get_input_both_forms_are_accepted_by_the_sandbox() -> None:
    async with Sandbox() as sb:
        async with AsyncTeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, rate_limit=None
        ) as tc:
            for action in (
                PlayGetInput(file_url="https://x.test/menu.mp3", action_url="https://x.test/d", max_retry=1),
                PlayGetInput(file_name=sorted(sb.music_files)[0], action_url="https://x.test/d", max_retry=1),
            ):
                await tc.make_call(from_=19170000000, to=19170000001, pcmo=[action])
        assert len(sb.calls) == 2


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "cdr", "cmiuuid": "u", "time": 10**400},
        {"type": "cdr", "cmiuuid": "u", "to": 10**400},
        {"type": "cdr", "cmiuuid": "u", "extra_params": "[" * 100_000},
        {"type": "cdr", "cmiuuid": "u", "start_time": "1e400"},
        {1: "x"},
        b"[" * 100_000,
        b"\xff\xfe",
    ],
)
def test_regressions_telecmi_webhook(payload: Any) -> None:
    with pytest.raises(ValidationError):
        parse_telecmi_webhook(payload)


def test_regressions_huawei_webhook() -> None:
    with pytest.raises(ValidationError) as info:
        parse_huawei_release_event({"callSerialNo": "1"}, tz="Asia/Shanghai")  # type: ignore[arg-type]
    assert info.value.field == "tz"
    with pytest.raises(ValidationError) as info:
        parse_huawei_release_event({"callSerialNo": "1"}, tz=[])  # type: ignore[arg-type]
    assert info.value.field == "tz"
    with pytest.raises(ValidationError):
        parse_huawei_release_event({"callSerialNo": "1", "talkDuration": 10**400, "releaseReason": "x"})
    assert not constant_time_equals(None, "sig")  # type: ignore[arg-type]
    assert not constant_time_equals("\ud800", "sig")
