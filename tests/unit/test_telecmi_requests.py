"""The exact wire form of every TeleCMI request, against the documents' own samples."""

from __future__ import annotations

import json

import pytest
from aioresponses import aioresponses
from yarl import URL

from tests import _samples
from tests.conftest import PIOPIY, REST
from voicekit import AsyncTeleCMI
from voicekit.telecmi import (
    Bridge,
    CallRecord,
    Connect,
    Hangup,
    Input,
    Param,
    Play,
    PlayGetInput,
    Pstn,
    Record,
    Sip,
    Speak,
    Stream,
)


def sent_json(m: aioresponses, url: str) -> dict:
    (call,) = m.requests[("POST", URL(url))]
    return json.loads(call.kwargs["data"])


def client(appid: int = 2222226, secret: str = "xxxx-xxxx-xxxx-xxxx") -> AsyncTeleCMI:
    return AsyncTeleCMI(appid=appid, secret=secret, base_url=REST, piopiy_url=PIOPIY, rate_limit=None)


async def test_play_music_sends_the_documented_sample() -> None:
    url = REST + "/v2/global_pcmo_make_call"
    with aioresponses() as m:
        m.post(url, body=_samples.MAKE_CALL_RESPONSE, content_type="application/json")
        async with client() as tc:
            call = await tc.play_music(
                from_=19170000000,
                to=19170000001,
                file_name="welcome_11112.wav",
                extra_params={"key": "value"},
            )
        assert sent_json(m, url) == json.loads(_samples.PLAY_MUSIC_REQUEST)
    assert call.request_id == "FrTckxcdYpJQFwSwki7ee2qY90MOYhgRyFzqgSlK5uT"
    assert call.status == "progress"


@pytest.mark.parametrize("region", ["global", "ind"])
async def test_make_call_bridge_sends_the_documented_sample(region: str) -> None:
    url = f"{REST}/v2/{region}_pcmo_make_call"
    with aioresponses() as m:
        m.post(url, body=_samples.MAKE_CALL_RESPONSE, content_type="application/json")
        async with client() as tc:
            call = await tc.make_call(
                from_=19170000000,
                to=19170000001,
                region=region,
                extra_params={"key": "value"},
                pcmo=[Bridge(from_=19170000000, duration=300, timeout=20, loop=2, connect=[Pstn(number=19170000002)])],
            )
        assert sent_json(m, url) == json.loads(_samples.MAKE_CALL_REQUEST)
    assert call.status == "progress"


async def test_click_to_call_sends_the_documented_sample() -> None:
    url = REST + "/v2/webrtc/click2call"
    with aioresponses() as m:
        m.post(url, body=_samples.CLICK2CALL_RESPONSE, content_type="application/json")
        async with client(secret="2e0d75-d843-45-945-4171dd7a") as tc:
            result = await tc.click_to_call(user_id="101_1111112", to=9100000000, extra_params={"crm": True})
        assert sent_json(m, url) == json.loads(_samples.CLICK2CALL_REQUEST)
    assert result.request_id == "s96C6XK1BUHX0oVZfOo5NhoJfZZJd0y1nmrNN6dhdkW"
    assert result.msg == "Call initiated"


async def test_outgoing_answered_first_page_matches_the_documented_sample() -> None:
    url = PIOPIY + "/v1/outanswered"
    with aioresponses() as m:
        m.post(url, body=_samples.OUTANSWERED_RESPONSE, content_type="application/json")
        async with client(appid=1111113, secret="xxxx-xxxx-xxxx-xxx") as tc:
            page = await tc.outgoing_answered(start=1570559400000, end=1570642200000, page_size=5)
        assert sent_json(m, url) == json.loads(_samples.OUTANSWERED_REQUEST)
    assert page.total == 3
    assert [r.id for r in page.records] == [
        "5d9df5b97a2b952710b030dd",
        "5d9df5097a2b952710b030d8",
        "5d9df556362b8f1430593411",
    ]
    first = page.records[0]
    assert isinstance(first, CallRecord)
    assert (first.to, first.from_, first.billedsec, str(first.rate)) == ("9100000000", "209_1111113", 17, "0.6")
    assert first.started_at.year == 2019


@pytest.mark.parametrize(
    ("action", "wire"),
    [
        (Play(file_url="https://example.test/a.mp3"), {"action": "play", "file_url": "https://example.test/a.mp3"}),
        (Speak(text="hello"), {"action": "speak", "text": "hello"}),
        (
            Connect(call=[Sip(user="alice")]),
            {"action": "connect", "call_type": "audio", "call": [{"type": "sip", "user": "alice"}]},
        ),
        (
            Input(action_url="https://example.test/dtmf", max_digit=4, timeout=5),
            {"action": "input", "action_url": "https://example.test/dtmf", "max_digit": 4, "timeout": 5},
        ),
        (
            PlayGetInput(file_name="menu.wav", action_url="https://example.test/dtmf", max_retry=1),
            {
                "action": "play_get_input",
                "file_name": "menu.wav",
                "action_url": "https://example.test/dtmf",
                "max_retry": 1,
            },
        ),
        (Param(text="crm=1"), {"action": "param", "text": "crm=1"}),
        (Record(), {"action": "record"}),
        (Hangup(), {"action": "hangup"}),
        (
            Stream(ws_url="wss://example.test/audio", voice_quality="8000"),
            {"action": "stream", "ws_url": "wss://example.test/audio", "voice_quality": "8000"},
        ),
    ],
)
async def test_every_pcmo_action_has_its_documented_wire_form(action: object, wire: dict) -> None:
    url = REST + "/v2/global_pcmo_make_call"
    with aioresponses() as m:
        m.post(url, body=_samples.MAKE_CALL_RESPONSE, content_type="application/json")
        async with client() as tc:
            await tc.make_call(from_=19170000000, to=19170000001, pcmo=[action])
        assert sent_json(m, url)["pcmo"] == [wire]
