"""Every make-call body comes from one builder: a single call, a played music and a bulk `Dial`
send the same body for the same call, under one ``extra_params`` rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

from tests import _samples
from tests.conftest import PIOPIY, REST
from voicekit import AsyncTeleCMI
from voicekit.errors import ValidationError
from voicekit.telecmi import Dial, Play

URL_GLOBAL = REST + "/v2/global_pcmo_make_call"


def client() -> AsyncTeleCMI:
    return AsyncTeleCMI(appid=2222226, secret="s3cret", base_url=REST, piopiy_url=PIOPIY, rate_limit=None)


def sent(m: aioresponses) -> list[dict[str, Any]]:
    return [json.loads(call.kwargs["data"]) for call in m.requests.get(("POST", URL(URL_GLOBAL)), [])]


async def test_play_music_make_call_and_a_dial_send_one_body() -> None:
    with aioresponses() as m:
        m.post(URL_GLOBAL, body=_samples.MAKE_CALL_RESPONSE, content_type="application/json", repeat=True)
        async with client() as tc:
            await tc.play_music(from_="+1 917 000 0000", to=9100000001, file_name="a.wav", extra_params={"crm": 1})
            await tc.make_call(
                from_=19170000000, to="9100000001", pcmo=Play(file_name="a.wav"), extra_params='{"crm":1}'
            )
            spec = Dial(key="k", from_=19170000000, to=9100000001, file_name="a.wav", extra_params={"crm": 1})
            [outcome] = [o async for o in tc.dial_many([spec])]
            assert outcome.ok
        played, made, dialed = sent(m)
    assert played == {**made, "extra_params": {"crm": 1}}
    assert made["extra_params"] == '{"crm":1}'  # text is sent as given
    assert dialed == {**played, "extra_params": {"crm": 1, "voicekit_key": "k"}}


@pytest.mark.parametrize("text", ["not json", "[1]", '"a string"', "7", "null", "{"])
async def test_extra_params_text_that_is_not_a_json_object_is_refused_by_every_call(text: str) -> None:
    with aioresponses() as m:
        async with client() as tc:
            with pytest.raises(ValidationError) as single:
                await tc.make_call(from_=19170000000, to=9100000001, pcmo=Play(file_name="a.wav"), extra_params=text)
            with pytest.raises(ValidationError) as played:
                await tc.play_music(from_=19170000000, to=9100000001, file_name="a.wav", extra_params=text)
        assert m.requests == {}
    with pytest.raises(ValidationError) as bulk:
        Dial(key="k", from_=19170000000, to=9100000001, file_name="a.wav", extra_params=text).body()
    assert single.value.field == played.value.field == bulk.value.field == "extra_params"
    assert single.value.rule == played.value.rule == bulk.value.rule


@pytest.mark.parametrize("text", ["", "  ", '{"a": [1, {"b": null}]}'])
async def test_json_object_text_is_sent_as_given_by_a_single_call(text: str) -> None:
    with aioresponses() as m:
        m.post(URL_GLOBAL, body=_samples.MAKE_CALL_RESPONSE, content_type="application/json")
        async with client() as tc:
            await tc.play_music(from_=19170000000, to=9100000001, file_name="a.wav", extra_params=text)
        [body] = sent(m)
    assert body["extra_params"] == text
    merged = Dial(key="k", from_=19170000000, to=9100000001, file_name="a.wav", extra_params=text).body()
    assert json.loads(merged["extra_params"]) == {**(json.loads(text) if text.strip() else {}), "voicekit_key": "k"}


async def test_no_extra_params_sends_none() -> None:
    with aioresponses() as m:
        m.post(URL_GLOBAL, body=_samples.MAKE_CALL_RESPONSE, content_type="application/json")
        async with client() as tc:
            await tc.play_music(from_=19170000000, to=9100000001, file_name="a.wav")
        [body] = sent(m)
    assert "extra_params" not in body
