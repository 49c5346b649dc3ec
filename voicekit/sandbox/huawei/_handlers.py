"""Huawei BES cloud endpoints: access tokens and voice notifications."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from .._http import is_int, json_response, read_object, refuse_if_throttled, reject
from .._ledger import PlacedCall
from .._runtime import RUNTIME_KEY
from ._release import release_callback
from ._state import HUAWEI_STATE, HuaweiState, HuaweiToken

__all__ = [
    "RET_BAD_TYPE",
    "RET_BAD_VALUE",
    "RET_MISSING",
    "RET_PLAY_SOURCE",
    "create_voice_notification",
    "error_body",
    "token_by_ak_sk",
]

#: ``retCode`` of a mandatory parameter that is absent (or null).
RET_MISSING = "02000001"
#: ``retCode`` of a parameter of the wrong JSON type.
RET_BAD_TYPE = "02000002"
#: ``retCode`` of a parameter whose value, length or array size is out of range.
RET_BAD_VALUE = "02000003"
#: ``retCode`` of a playList item without exactly one of voiceId, voiceFileName, templateId.
RET_PLAY_SOURCE = "02000004"

DEFAULT_TOKEN_EXPIRE = 600
MAX_TOKEN_EXPIRE = 3600
_PLAY_SOURCES = ("voiceId", "voiceFileName", "templateId")
_MSG_UNAUTHORIZED = "Unauthorized operation"
_MAX_TOKENS_BEFORE_PRUNE = 256


class _Invalid(Exception):
    """A business-rule violation, answered with HTTP 200 and a non-"0" retCode."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def error_body(status: int, message: str) -> dict[str, Any]:
    """Huawei's HTTP error answers: ``{"retCode": "<status>", "retMsg": message}``."""
    return {"retCode": str(status), "retMsg": message}


def _throttle(state: HuaweiState, app_key: str) -> None:
    refuse_if_throttled(state, f"huawei:{app_key}")


# ---------------------------------------------------------------------- token


async def token_by_ak_sk(request: web.Request) -> web.StreamResponse:
    """``POST /apigovernance/api/oauth/tokenByAkSk``: mint an access token."""
    state = request.app[HUAWEI_STATE]
    state.huawei_token_requests += 1
    if request.content_type != "application/json":
        reject(400, "Content-Type must be application/json")
    expire_header = request.headers.get("X-Token-Expire")
    if expire_header is None:
        expires_in = DEFAULT_TOKEN_EXPIRE
    else:
        text = expire_header.strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_TOKEN_EXPIRE:
            reject(400, f"X-Token-Expire must be an integer from 1 to {MAX_TOKEN_EXPIRE}")
        expires_in = int(text)
    body = await read_object(request)
    app_key, app_secret = body.get("app_key"), body.get("app_secret")
    if not isinstance(app_key, str) or not isinstance(app_secret, str):
        reject(400, "app_key and app_secret are mandatory strings")
    if not state.huawei_app_ok(app_key, app_secret):
        reject(401, f"{_MSG_UNAUTHORIZED}: invalid app_key or app_secret")
    _throttle(state, app_key)

    now = state.clock()
    tokens = state.huawei_tokens
    if len(tokens) >= _MAX_TOKENS_BEFORE_PRUNE:
        for value in [k for k, t in tokens.items() if t.expired(now)]:
            del tokens[value]
    access_token = state.new_secret_token()
    tokens[access_token] = HuaweiToken(app_key=app_key, created=now, expires_in=expires_in)
    return json_response(
        {
            "AccessToken": access_token,
            "ApplyType": "Bearer",
            "CreateTime": str(int(now)),
            "Expires": str(expires_in),
            "Scope": "default",
            "AppKey": app_key,
            "UserID": app_key,
        }
    )


def _authenticate(request: web.Request, state: HuaweiState) -> str:
    """Return the app key of the request's valid Bearer token, or reject with 401."""
    authorization = request.headers.get("Authorization")
    if authorization is None or not authorization.startswith("Bearer "):
        reject(401, f"{_MSG_UNAUTHORIZED}: Authorization must be 'Bearer <AccessToken>'")
    token = state.huawei_tokens.get(authorization[len("Bearer ") :].strip())
    if token is None:
        reject(401, f"{_MSG_UNAUTHORIZED}: unknown access token")
    if token.expired(state.clock()):
        reject(401, f"{_MSG_UNAUTHORIZED}: the access token has expired")
    app_key = request.headers.get("X-APP-Key")
    if app_key is not None and app_key != token.app_key:
        reject(401, f"{_MSG_UNAUTHORIZED}: X-APP-Key does not match the access token")
    return token.app_key


# ---------------------------------------------------------------------- validation


def _string(body: dict[str, Any], key: str, *, required: bool, max_len: int) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise _Invalid(RET_MISSING, f"The parameter {key} is mandatory.")
        return None
    if not isinstance(value, str):
        raise _Invalid(RET_BAD_TYPE, f"The parameter {key} must be a string.")
    if not 1 <= len(value) <= max_len:
        raise _Invalid(RET_BAD_VALUE, f"The length of {key} must be from 1 to {max_len}.")
    return value


def _validate_play_item(index: int, item: object) -> None:
    where = f"playList[{index}]"
    if not isinstance(item, dict):
        raise _Invalid(RET_BAD_TYPE, f"The parameter {where} must be an object.")
    present = [key for key in _PLAY_SOURCES if item.get(key) is not None]
    if len(present) != 1:
        raise _Invalid(
            RET_PLAY_SOURCE,
            f"The parameter {where} must set exactly one of voiceId, voiceFileName, templateId.",
        )
    source = present[0]
    if not isinstance(item[source], str) or not item[source]:
        raise _Invalid(RET_BAD_TYPE, f"The parameter {where}.{source} must be a non-empty string.")
    params = item.get("templateParams")
    if params is None:
        return
    if not isinstance(params, list):
        raise _Invalid(RET_BAD_TYPE, f"The parameter {where}.templateParams must be an array.")
    if not 1 <= len(params) <= 10:
        raise _Invalid(RET_BAD_VALUE, f"The parameter {where}.templateParams must hold 1 to 10 items.")
    for j, param in enumerate(params):
        if not isinstance(param, str):
            raise _Invalid(RET_BAD_TYPE, f"The parameter {where}.templateParams[{j}] must be a string.")
        if len(param) > 32:
            raise _Invalid(
                RET_BAD_VALUE,
                f"The parameter {where}.templateParams[{j}] exceeds 32 characters.",
            )


def _validate_notification(body: dict[str, Any]) -> None:
    _string(body, "called", required=True, max_len=32)
    play_list = body.get("playList")
    if play_list is None:
        raise _Invalid(RET_MISSING, "The parameter playList is mandatory.")
    if not isinstance(play_list, list):
        raise _Invalid(RET_BAD_TYPE, "The parameter playList must be an array.")
    if not 1 <= len(play_list) <= 5:
        raise _Invalid(RET_BAD_VALUE, "The parameter playList must hold 1 to 5 items.")
    for index, item in enumerate(play_list):
        _validate_play_item(index, item)
    url = _string(body, "callBackUrl", required=False, max_len=256)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _Invalid(RET_BAD_VALUE, "The parameter callBackUrl must be an http(s) URL.")
    _string(body, "callerPresent", required=False, max_len=32)
    play_times = body.get("playTimes")
    if play_times is not None:
        if not is_int(play_times):
            raise _Invalid(RET_BAD_TYPE, "The parameter playTimes must be an integer.")
        if not 1 <= play_times <= 5:
            raise _Invalid(RET_BAD_VALUE, "The parameter playTimes must be from 1 to 5.")
    priority = body.get("priority")
    if priority is not None:
        if not isinstance(priority, str):
            raise _Invalid(RET_BAD_TYPE, "The parameter priority must be a string.")
        if priority not in {"1", "2", "3", "4", "5", "6", "7", "8", "9"}:
            raise _Invalid(RET_BAD_VALUE, "The parameter priority must be from 1 to 9.")


# ---------------------------------------------------------------------- create


async def create_voice_notification(request: web.Request) -> web.StreamResponse:
    """``POST /apiaccess/rest/voiceNotification/v2/createVoiceNotification``."""
    state = request.app[HUAWEI_STATE]
    app_key = _authenticate(request, state)
    _throttle(state, app_key)
    body = await read_object(request)
    try:
        _validate_notification(body)
    except _Invalid as exc:
        return json_response({"retCode": exc.code, "retMsg": exc.message})

    serial = state.new_call_serial_no()
    call = PlacedCall(
        endpoint=request.path,
        account=app_key,
        from_=body.get("callerPresent"),
        to=body["called"],
        request_id=serial,
        extra_params=None,
        time=state.clock(),
    )
    state.calls.append(call)
    decision = state.outcomes.decide(call.to, default_talk=float(state.huawei_talk_duration))
    url = body.get("callBackUrl")
    if url is not None:
        runtime = request.app[RUNTIME_KEY]
        runtime.spawn(release_callback(state, runtime, url, call, decision))
    return json_response({"retMsg": "Created successfully.", "retCode": "0", "result": {"callSerialNo": serial}})
