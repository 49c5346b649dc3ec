"""Malformed input gets vendor-style 4xx answers and never takes the sandbox down."""

from __future__ import annotations

import io
from typing import Any

import pytest

from voicekit.sandbox import ROUTES, Sandbox

TOKEN = "/apigovernance/api/oauth/tokenByAkSk"
CREATE = "/apiaccess/rest/voiceNotification/v2/createVoiceNotification"

BAD_BODIES = {
    "invalid-json": b'{"appid": 2222226,',
    "empty": b"",
    "array": b"[1, 2, 3]",
    "string": b'"hello"',
    "number": b"42",
    "null": b"null",
    "nan": b'{"appid": NaN}',
    "not-utf8": b"\xff\xfe\x00{",
    "deeply-nested": b"[" * 200_000 + b"]" * 200_000,
    "huge-int": b'{"appid": ' + b"1" * 5000 + b"}",
}


async def headers_for(sb: Sandbox, path: str, post: Any) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if path == CREATE:  # authentication comes first there
        creds = {"app_key": sb.huawei_app_key, "app_secret": sb.huawei_app_secret}
        token = (await post(sb.url + TOKEN, json=creds)).body["AccessToken"]
        headers["Authorization"] = f"Bearer {token}"
    return headers


def assert_vendor_error(path: str, body: Any, status: int) -> None:
    if path.startswith("/api"):
        assert body == {"retCode": str(status), "retMsg": body["retMsg"]}
    else:
        assert body == {"code": status, "msg": body["msg"], "status": "error"}


@pytest.mark.parametrize("path", ROUTES)
async def test_bad_bodies_get_400_on_every_route(sb: Sandbox, post: Any, path: str) -> None:
    headers = await headers_for(sb, path, post)
    for name, raw in BAD_BODIES.items():
        answer = await post(sb.url + path, data=raw, headers=headers)
        assert answer.status == 400, (name, answer.body)
        assert_vendor_error(path, answer.body, 400)
    assert sb.calls == []
    assert sb.request_count(status=500) == 0


@pytest.mark.parametrize("path", ROUTES)
async def test_huge_body_gets_413(sb: Sandbox, post: Any, path: str) -> None:
    headers = await headers_for(sb, path, post)
    raw = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    answer = await post(sb.url + path, data=io.BytesIO(raw), headers=headers)
    assert answer.status == 413
    assert_vendor_error(path, answer.body, 413)


async def test_body_limit_is_configurable(post: Any) -> None:
    async with Sandbox(max_body_size=100) as sb:
        answer = await post(sb.url + "/v1/outanswered", json={"appid": sb.telecmi_appid, "token": "x" * 200})
    assert answer.status == 413


async def test_unknown_path_and_wrong_method(sb: Sandbox, post: Any, http: Any) -> None:
    answer = await post(sb.url + "/v2/nope", json={})
    assert answer.status == 404
    assert_vendor_error("/v2/nope", answer.body, 404)
    huawei = await post(sb.url + "/apiaccess/rest/nope", json={})
    assert huawei.status == 404
    assert_vendor_error("/apiaccess/rest/nope", huawei.body, 404)
    async with http.get(sb.url + "/v2/global_pcmo_make_call") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        assert_vendor_error("/v2", await response.json(), 405)


WRONG_TYPES: list[tuple[str, dict[str, Any], int]] = [
    ("/v2/global_pcmo_make_call", {"appid": [1], "secret": "s", "from": 1, "to": 2, "pcmo": []}, 422),
    ("/v2/global_pcmo_make_call", {"appid": 2222226, "secret": {"x": 1}, "from": 1, "to": 2, "pcmo": []}, 422),
    (
        "/v2/global_pcmo_make_call",
        {"appid": 2222226, "secret": "sandbox-secret", "from": {}, "to": 2, "pcmo": [{"action": "hangup"}]},
        422,
    ),
    (
        "/v2/global_pcmo_make_call",
        {"appid": 2222226, "secret": "sandbox-secret", "from": 1, "to": 2, "pcmo": [[["deep"]]]},
        502,
    ),
    (
        "/v2/global_pcmo_make_call",
        {"appid": 2222226, "secret": "sandbox-secret", "from": 1, "to": 2, "pcmo": [{"action": ["play"]}]},
        502,
    ),
    ("/v2/webrtc/click2call", {"user_id": ["101_1111112"], "secret": "sandbox-secret", "to": 1}, 400),
    ("/v2/webrtc/click2call", {"user_id": "101_1111112", "secret": "sandbox-secret", "to": {"n": 1}}, 422),
    ("/v1/outanswered", {"appid": 2222226, "token": "sandbox-secret", "start_date": [1]}, 422),
    ("/v1/outanswered", {"appid": 2222226, "token": "sandbox-secret", "page": 10**30, "limit": 100}, 200),
    ("/v1/outanswered", {"appid": 2222226, "token": "sandbox-secret", "start_date": -1e308, "end_date": 1e308}, 200),
    ("/apigovernance/api/oauth/tokenByAkSk", {"app_key": None, "app_secret": None}, 400),
]


@pytest.mark.parametrize(("path", "body", "status"), WRONG_TYPES, ids=repr)
async def test_wrong_types_get_vendor_answers(
    sb: Sandbox, post: Any, path: str, body: dict[str, Any], status: int
) -> None:
    answer = await post(sb.url + path, json=body)
    assert answer.status == status, answer.body
    if status != 200:
        assert_vendor_error(path, answer.body, status)
    assert sb.calls == []


async def test_huawei_wrong_types_are_business_errors(sb: Sandbox, post: Any) -> None:
    headers = await headers_for(sb, CREATE, post)
    for body in ({"called": None}, {"called": ["8899"], "playList": "x"}, {"called": "1", "playList": [None]}):
        answer = await post(sb.url + CREATE, json=body, headers=headers)
        assert answer.status == 200
        assert answer.body["retCode"] not in ("0", None)
    assert sb.calls == []


async def test_server_keeps_serving_after_garbage(sb: Sandbox, post: Any) -> None:
    for raw in BAD_BODIES.values():
        await post(sb.url + "/v2/global_pcmo_make_call", data=raw)
    body = {
        "appid": sb.telecmi_appid,
        "secret": sb.telecmi_secret,
        "from": 19170000000,
        "to": 19170000001,
        "pcmo": [{"action": "hangup"}],
    }
    assert (await post(sb.url + "/v2/global_pcmo_make_call", json=body)).status == 200
    assert sb.request_count(status=500) == 0
    assert sb.request_count("/v2/global_pcmo_make_call", 400) == len(BAD_BODIES)
