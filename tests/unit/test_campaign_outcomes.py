"""One spec, one body: `Dial.body` and `Notify.body` validate and build the request body, the
campaign key riding in TeleCMI's ``extra_params``; the campaign reader reports what they refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aioresponses import aioresponses

from voicekit import AsyncTeleCMI
from voicekit.errors import ValidationError
from voicekit.huawei import Notify, Prompt
from voicekit.journal import read_campaign
from voicekit.telecmi import Dial, Play


def test_a_dial_carries_its_key_merged_with_its_own_extra_params() -> None:
    body = Dial(
        key="c-1", from_="+1 917 000 0000", to=9100000001, file_name="welcome.wav", extra_params={"crm": 1}
    ).body()
    assert body["extra_params"] == {"crm": 1, "voicekit_key": "c-1"}
    assert body["from"] == 19170000000 and body["to"] == 9100000001
    assert body["pcmo"] == [{"action": "play", "file_name": "welcome.wav"}]
    assert "secret" not in body and "appid" not in body
    assert Dial(key="k", from_=19170000000, to=9100000001, file_name="a.wav").body()["extra_params"] == {
        "voicekit_key": "k"
    }


def test_extra_params_text_stays_text_with_the_key_in_it() -> None:
    body = Dial(key="k", from_=19170000000, to=9100000001, file_name="a.wav", extra_params='{"a": [1]}').body()
    assert isinstance(body["extra_params"], str)
    assert json.loads(body["extra_params"]) == {"a": [1], "voicekit_key": "k"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"extra_params": {"voicekit_key": "other"}}, "extra_params"),
        ({"extra_params": "not json"}, "extra_params"),
        ({"extra_params": "[1]"}, "extra_params"),
        ({"extra_params": 7}, "extra_params"),
        ({"region": "mars"}, "region"),
        ({"to": "12"}, "to"),
        ({"key": ""}, "key"),
        ({"pcmo": [Play(file_name="a.wav")]}, "pcmo"),  # and file_name: not both
    ],
)
def test_a_bad_dial_is_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    spec = {"key": "k", "from_": 19170000000, "to": 9100000001, "file_name": "a.wav", **changes}
    with pytest.raises(ValidationError) as info:
        Dial(**spec).body()  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_notify_builds_the_documented_body() -> None:
    body = Notify(
        key="n",
        called="8899",
        play_list=[Prompt(voice_id="100001", template_params=["1"])],
        callback_url="http://example.test/cb",
        play_times=2,
        priority=3,
    ).body()
    assert body == {
        "called": "8899",
        "playList": [{"voiceId": "100001", "templateParams": ["1"]}],
        "callBackUrl": "http://example.test/cb",
        "playTimes": 2,
        "priority": "3",
    }
    with pytest.raises(ValidationError) as info:
        Notify(key="n", called="8899", play_list=[], priority=3).body()
    assert info.value.field == "play_list"


async def test_dial_many_sends_the_body_the_spec_built(appid: int) -> None:
    spec = Dial(key="row-7", from_=19170000000, to=9100000001, file_name="a.wav", extra_params={"crm": 2})
    with aioresponses() as mocked:
        mocked.post(
            "https://rest.telecmi.com/v2/global_pcmo_make_call",
            payload={"code": 200, "status": "progress", "request_id": "r1"},
        )
        async with AsyncTeleCMI(appid=appid, secret="s", rate_limit=None) as tc:
            outcomes = [o async for o in tc.dial_many([spec])]
        assert outcomes[0].ok
        ((_, calls),) = mocked.requests.items()
        sent = json.loads(calls[0].kwargs["data"])
    assert sent == {"appid": appid, "secret": "s", **spec.body()}


def test_the_campaign_reader_reports_a_row_that_claims_another_key(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "key,to,from,file_name,extra_params\n"
        'a,9100000001,19170000000,w.wav,"{""voicekit_key"": ""b""}"\n'
        'b,9100000002,19170000000,w.wav,"{""voicekit_key"": ""b""}"\n',
        encoding="utf-8",
    )
    rows = list(read_campaign(path))
    assert rows[0].spec is None and "voicekit_key" in (rows[0].problem or "")
    assert rows[1].spec is not None and rows[1].problem is None
