"""TeleCMI endpoints driven with the vendor documents' own sample requests, over loopback HTTP."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from tests import _samples
from voicekit.sandbox import Sandbox

REQUEST_ID = re.compile(r"^[A-Za-z0-9]{43}$")

# --- the vendor documents' own samples (only the secret is substituted) ----------------------

PLAY_MUSIC_SAMPLE: dict[str, Any] = json.loads(_samples.PLAY_MUSIC_REQUEST)
MAKE_CALL_SAMPLE: dict[str, Any] = json.loads(_samples.MAKE_CALL_REQUEST)
MAKE_CALL_SAMPLE_RESPONSE: dict[str, Any] = json.loads(_samples.MAKE_CALL_RESPONSE)
CLICK2CALL_SAMPLE: dict[str, Any] = json.loads(_samples.CLICK2CALL_REQUEST)
CLICK2CALL_SAMPLE_RESPONSE: dict[str, Any] = json.loads(_samples.CLICK2CALL_RESPONSE)

GLOBAL = "/v2/global_pcmo_make_call"
IND = "/v2/ind_pcmo_make_call"
C2C = "/v2/webrtc/click2call"


def with_secret(sample: dict[str, Any], sb: Sandbox, **changes: Any) -> dict[str, Any]:
    """The sample with the sandbox's secret and ``changes`` (a value of ``...`` deletes a key)."""
    body = copy.deepcopy(sample)
    body["secret"] = sb.telecmi_secret
    for key, value in changes.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def assert_same_shape(actual: Any, sample: Any) -> None:
    """Same keys (recursively) and same JSON types as the document's sample."""
    assert type(actual) is type(sample)
    if isinstance(sample, dict):
        assert set(actual) == set(sample)
        for key in sample:
            assert_same_shape(actual[key], sample[key])


# --- make a call / play a music -------------------------------------------------------------


async def test_play_music_doc_sample(sb: Sandbox, post: Any) -> None:
    answer = await post(sb.url + GLOBAL, json=with_secret(PLAY_MUSIC_SAMPLE, sb))
    assert answer.status == 200
    assert_same_shape(answer.body, MAKE_CALL_SAMPLE_RESPONSE)
    assert answer.body["status"] == answer.body["data"]["status"] == "progress"
    assert answer.body["code"] == 200
    request_id = answer.body["request_id"]
    assert REQUEST_ID.match(request_id)
    assert answer.body["data"]["request_id"] == request_id
    assert answer.headers["Content-Type"].startswith("application/json")

    [call] = sb.calls
    assert (call.endpoint, call.account, call.from_, call.to) == (GLOBAL, "2222226", "19170000000", "19170000001")
    assert call.request_id == request_id
    assert call.extra_params == {"key": "value"}
    assert sb.telecmi_secret not in repr(sb.calls)


@pytest.mark.parametrize("path", [GLOBAL, IND])
async def test_make_call_doc_sample_on_both_regions(sb: Sandbox, post: Any, path: str) -> None:
    answer = await post(sb.url + path, json=with_secret(MAKE_CALL_SAMPLE, sb))
    assert answer.status == 200
    assert_same_shape(answer.body, MAKE_CALL_SAMPLE_RESPONSE)
    assert [c.endpoint for c in sb.calls] == [path]
    assert sb.calls[0].request_id == answer.body["request_id"]


async def test_request_ids_are_fresh(sb: Sandbox, post: Any) -> None:
    ids = set()
    for _ in range(5):
        answer = await post(sb.url + GLOBAL, json=with_secret(MAKE_CALL_SAMPLE, sb))
        ids.add(answer.body["request_id"])
    assert len(ids) == 5
    assert len(sb.calls_to(19170000001)) == 5


async def test_digit_strings_are_accepted_as_numbers(sb: Sandbox, post: Any) -> None:
    body = with_secret(PLAY_MUSIC_SAMPLE, sb, to="19170000009")
    body["from"] = "19170000000"
    answer = await post(sb.url + GLOBAL, json=body)
    assert answer.status == 200
    assert sb.calls[0].to == "19170000009"


@pytest.mark.parametrize(
    "changes",
    [{"appid": 2222227}, {"secret": "wrong"}, {"secret": ""}],
    ids=["bad-appid", "bad-secret", "empty-secret"],
)
async def test_make_call_420_on_bad_credentials(sb: Sandbox, post: Any, changes: dict[str, Any]) -> None:
    body = with_secret(MAKE_CALL_SAMPLE, sb)
    body.update(changes)
    answer = await post(sb.url + GLOBAL, json=body)
    assert answer.status == 420
    assert answer.body == {"code": 420, "msg": answer.body["msg"], "status": "error"}
    assert "app id or secret" in answer.body["msg"]
    assert sb.calls == []


async def test_play_404_on_unknown_music_file(sb: Sandbox, post: Any) -> None:
    body = with_secret(PLAY_MUSIC_SAMPLE, sb, pcmo=[{"action": "play", "file_name": "nope.wav"}])
    answer = await post(sb.url + GLOBAL, json=body)
    assert answer.status == 404
    assert answer.body["status"] == "error" and "music" in answer.body["msg"]
    assert sb.calls == []


async def test_music_files_are_configurable(post: Any) -> None:
    async with Sandbox(music_files={"promo.mp3"}) as sb:
        ok = await post(
            sb.url + GLOBAL,
            json=with_secret(PLAY_MUSIC_SAMPLE, sb, pcmo=[{"action": "play", "file_name": "promo.mp3"}]),
        )
        gone = await post(sb.url + GLOBAL, json=with_secret(PLAY_MUSIC_SAMPLE, sb))
        sb.music_files.add("welcome_11112.wav")
        back = await post(sb.url + GLOBAL, json=with_secret(PLAY_MUSIC_SAMPLE, sb))
    assert (ok.status, gone.status, back.status) == (200, 404, 200)


@pytest.mark.parametrize("missing", ["appid", "secret", "from", "to", "pcmo"])
async def test_make_call_422_on_missing_required_property(sb: Sandbox, post: Any, missing: str) -> None:
    body = with_secret(MAKE_CALL_SAMPLE, sb)
    del body[missing]
    answer = await post(sb.url + GLOBAL, json=body)
    assert answer.status == 422
    assert answer.body["code"] == 422 and missing in answer.body["msg"]
    assert sb.calls == []


@pytest.mark.parametrize(
    "changes",
    [
        {"from": "+19170000000"},
        {"from": 1.5},
        {"to": True},
        {"to": [19170000001]},
        {"to": -5},
        {"to": "1" * 21},
        {"to": 10**20},
        {"appid": "2222226"},
        {"secret": 1234},
        {"pcmo": {"action": "hangup"}},
        {"pcmo": []},
        {"extra_params": 5},
    ],
    ids=repr,
)
async def test_make_call_422_on_wrong_types(sb: Sandbox, post: Any, changes: dict[str, Any]) -> None:
    body = with_secret(MAKE_CALL_SAMPLE, sb)
    body.update(changes)
    answer = await post(sb.url + GLOBAL, json=body)
    assert answer.status == 422
    assert answer.body["status"] == "error"
    assert sb.calls == []


VALID_ACTIONS: list[dict[str, Any]] = [
    {"action": "play", "file_name": "welcome.wav"},
    {"action": "play", "file_url": "https://example.test/welcome.mp3"},
    {"action": "speak", "text": "Hello"},
    {"action": "bridge", "connect": [{"type": "pstn", "number": "19170000002"}]},
    {"action": "connect", "call_type": "audio", "call": [{"type": "sip", "user": "alice"}]},
    {"action": "input", "action_url": "https://example.test/dtmf", "max_digit": 4, "timeout": 5},
    {
        "action": "play_get_input",
        "file_name": "welcome.mp3",
        "action_url": "https://example.test/dtmf",
        "max_digit": 1,
        "max_retry": 1,
        "timeout": 5,
    },
    {"action": "param", "text": "order-42"},
    {"action": "record"},
    {"action": "hangup"},
    {
        "action": "stream",
        "ws_url": "wss://example.test/ws",
        "listen_mode": "caller",
        "voice_quality": "8000",
        "stream_on_answer": True,
    },
]


@pytest.mark.parametrize("action", VALID_ACTIONS, ids=lambda a: a["action"])
async def test_every_pcmo_action_is_accepted(sb: Sandbox, post: Any, action: dict[str, Any]) -> None:
    answer = await post(sb.url + GLOBAL, json=with_secret(MAKE_CALL_SAMPLE, sb, pcmo=[action]))
    assert answer.status == 200, answer.body
    assert len(sb.calls) == 1


INVALID_ACTIONS: list[tuple[Any, int]] = [
    ({"action": "bridge", "duration": 300}, 502),
    ({"action": "bridge", "connect": []}, 502),
    ({"action": "bridge", "connect": [{"type": "pstn"}]}, 502),
    ({"action": "bridge", "connect": [{"type": "sip", "number": 1}]}, 502),
    ({"action": "bridge", "connect": ["19170000002"]}, 502),
    ({"action": "bridge", "connect": [{"type": "pstn", "number": 1}], "duration": "300"}, 502),
    ({"action": "play"}, 502),
    ({"action": "play", "file_name": "welcome.wav", "file_url": "https://example.test/a.mp3"}, 502),
    ({"action": "play", "file_url": "welcome.wav"}, 502),
    ({"action": "speak"}, 502),
    ({"action": "connect", "call": [{"type": "sip"}]}, 502),
    ({"action": "input"}, 502),
    ({"action": "play_get_input", "file_name": "welcome.wav"}, 502),
    ({"action": "play_get_input", "file_name": "nope.wav", "action_url": "https://example.test/d"}, 404),
    ({"action": "param", "text": 5}, 502),
    ({"action": "stream", "ws_url": "https://example.test/ws"}, 502),
    ({"action": "dance"}, 502),
    ({"file_name": "welcome.wav"}, 502),
    ("hangup", 502),
]


@pytest.mark.parametrize(("action", "status"), INVALID_ACTIONS, ids=repr)
async def test_invalid_pcmo_actions(sb: Sandbox, post: Any, action: Any, status: int) -> None:
    body = with_secret(MAKE_CALL_SAMPLE, sb, pcmo=[{"action": "hangup"}, action])
    answer = await post(sb.url + GLOBAL, json=body)
    assert answer.status == status
    assert answer.body["code"] == status and answer.body["status"] == "error"
    assert "pcmo[1]" in answer.body["msg"]
    assert sb.calls == []


# --- play_get_input: what the official SDK sends ----------------------------------------------

_DTMF = "https://example.test/dtmf"
_MUSIC_URL = "https://example.test/menu.mp3"


@pytest.mark.parametrize(
    "action",
    [
        # piopiy/action/input.py play_input: a URL goes out as both file_name and file_url.
        {
            "action": "play_get_input",
            "action_url": _DTMF,
            "file_name": _MUSIC_URL,
            "file_url": _MUSIC_URL,
            "max_digit": 1,
            "max_retry": 3,
            "timeout": 5,
        },
        {"action": "play_get_input", "action_url": _DTMF, "file_url": _MUSIC_URL},
        {"action": "play_get_input", "action_url": _DTMF, "file_name": "welcome.wav"},
    ],
    ids=["sdk-url", "url-only", "uploaded"],
)
async def test_play_get_input_takes_an_uploaded_file_or_a_url(sb: Sandbox, post: Any, action: Any) -> None:
    answer = await post(sb.url + GLOBAL, json=with_secret(MAKE_CALL_SAMPLE, sb, pcmo=[action]))
    assert answer.status == 200, answer.body
    assert len(sb.calls) == 1


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ({"action": "play_get_input", "action_url": _DTMF, "file_name": "welcome.wav", "file_url": _MUSIC_URL}, 502),
        ({"action": "play_get_input", "action_url": _DTMF, "file_url": "menu.mp3"}, 502),
        ({"action": "play_get_input", "action_url": _DTMF, "file_name": _MUSIC_URL}, 404),
        ({"action": "play_get_input", "action_url": _DTMF, "file_name": "welcome.wav", "max_retry": 0}, 502),
        ({"action": "play_get_input", "action_url": _DTMF}, 502),
    ],
    ids=["two-sources", "url-not-a-url", "url-as-name-only", "max_retry-0", "no-music"],
)
async def test_play_get_input_refusals(sb: Sandbox, post: Any, action: Any, status: int) -> None:
    answer = await post(sb.url + GLOBAL, json=with_secret(MAKE_CALL_SAMPLE, sb, pcmo=[action]))
    assert answer.status == status, answer.body
    assert sb.calls == []


# --- click to call --------------------------------------------------------------------------


async def test_click2call_doc_sample(sb: Sandbox, post: Any) -> None:
    answer = await post(sb.url + C2C, json=with_secret(CLICK2CALL_SAMPLE, sb))
    assert answer.status == 200
    assert_same_shape(answer.body, CLICK2CALL_SAMPLE_RESPONSE)
    assert answer.body["code"] == 200 and answer.body["msg"] == "Call initiated"
    assert REQUEST_ID.match(answer.body["request_id"])
    [call] = sb.calls
    assert (call.endpoint, call.account, call.to) == (C2C, "101_1111112", "9100000000")
    assert call.extra_params == {"crm": True}
    assert call.request_id == answer.body["request_id"]


@pytest.mark.parametrize(
    "changes",
    [{"user_id": ...}, {"secret": ...}, {"user_id": ""}, {"secret": None}, {"user_id": 101}],
    ids=["no-user", "no-secret", "empty-user", "null-secret", "int-user"],
)
async def test_click2call_400_when_user_or_secret_missing(sb: Sandbox, post: Any, changes: dict[str, Any]) -> None:
    answer = await post(sb.url + C2C, json=with_secret(CLICK2CALL_SAMPLE, sb, **changes))
    assert answer.status == 400
    assert answer.body == {"code": 400, "msg": "User id or secret param missing", "status": "error"}
    assert sb.calls == []


@pytest.mark.parametrize("changes", [{"user_id": "102_1111112"}, {"secret": "wrong"}], ids=["user", "secret"])
async def test_click2call_404_on_bad_user_or_secret(sb: Sandbox, post: Any, changes: dict[str, Any]) -> None:
    answer = await post(sb.url + C2C, json=with_secret(CLICK2CALL_SAMPLE, sb, **changes))
    assert answer.status == 404
    assert answer.body["status"] == "error"
    assert sb.calls == []


@pytest.mark.parametrize(
    "changes",
    [
        {"to": ...},
        {"to": "91-00"},
        {"to": 1.5},
        {"followme": True},
        {"followme": True, "webrtc": ...},
        {"webrtc": "yes"},
        {"callerid": "abc"},
    ],
    ids=["no-to", "bad-to", "float-to", "followme+webrtc", "followme+default-webrtc", "webrtc-str", "callerid"],
)
async def test_click2call_422(sb: Sandbox, post: Any, changes: dict[str, Any]) -> None:
    answer = await post(sb.url + C2C, json=with_secret(CLICK2CALL_SAMPLE, sb, **changes))
    assert answer.status == 422
    assert answer.body["code"] == 422
    assert sb.calls == []


async def test_click2call_followme_with_webrtc_off(sb: Sandbox, post: Any) -> None:
    body = with_secret(CLICK2CALL_SAMPLE, sb, followme=True, webrtc=False, callerid=19170000000)
    answer = await post(sb.url + C2C, json=body)
    assert answer.status == 200
    assert sb.calls[0].from_ == "19170000000"


async def test_extra_accounts_and_users(sb: Sandbox, post: Any) -> None:
    sb.add_telecmi_account(3333333, "other-secret", user_id="101_3333333")
    body = with_secret(MAKE_CALL_SAMPLE, sb, appid=3333333, secret="other-secret")
    assert (await post(sb.url + GLOBAL, json=body)).status == 200
    c2c = with_secret(CLICK2CALL_SAMPLE, sb, user_id="101_3333333", secret="other-secret")
    assert (await post(sb.url + C2C, json=c2c)).status == 200
    cross = with_secret(CLICK2CALL_SAMPLE, sb, user_id="101_3333333")
    assert (await post(sb.url + C2C, json=cross)).status == 404
    assert [c.account for c in sb.calls] == ["3333333", "101_3333333"]
