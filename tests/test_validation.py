"""Bad input raises ValidationError naming the field, before any network I/O."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from aioresponses import aioresponses

from tests.conftest import PIOPIY, REST
from voicekit import AsyncTeleCMI, RateLimit, TeleCMI
from voicekit.errors import ConfigurationError, ValidationError
from voicekit.telecmi import Bridge, Connect, Input, Play, PlayGetInput, Pstn, Sip, Speak, Stream

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
    "unknown action": (lambda tc: tc.make_call(from_=19170000000, to=19170000001,
                                               pcmo=[{"action": "dance"}]), "pcmo[0]"),
    "bad region": (lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[bridge()],
                                           region="eu"), "region"),
    "bad extra": (lambda tc: tc.make_call(from_=19170000000, to=19170000001, pcmo=[bridge()],
                                          extra_params={"x": object()}), "extra_params"),
    "webrtc+followme": (lambda tc: tc.click_to_call(user_id="101_1", to=9100000000, webrtc=True,
                                                    followme=True), "followme"),
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
    [({}, "VOICEKIT_TELECMI_APPID"), ({"VOICEKIT_TELECMI_APPID": "1"}, "VOICEKIT_TELECMI_SECRET"),
     ({"VOICEKIT_TELECMI_APPID": "abc", "VOICEKIT_TELECMI_SECRET": "s"}, "must be a number")],
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
            with pytest.raises(Exception) as info:
                await tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav")
    assert caplog.records, "the request was logged at debug level"
    assert SECRET not in caplog.text
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.__dict__)


async def test_a_vendor_echoing_the_secret_does_not_leak_it_into_the_error() -> None:
    echo = {"code": 422, "msg": f"bad request {{'secret': '{SECRET}'}}", "request": {"secret": SECRET, "to": 1}}
    with aioresponses() as m:
        m.post(REST + "/v2/global_pcmo_make_call", status=422, payload=echo)
        async with client() as tc:
            with pytest.raises(Exception) as info:
                await tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav")
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value.body)
    assert info.value.body["request"]["to"] == 1
