"""TeleCMI (rest host) and PIOPIY (call records) endpoints, validated from the vendor documents."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from .._http import Reject, is_int, is_number, json_response, read_object, refuse_if_throttled, reject
from .._ledger import PlacedCall
from .._runtime import RUNTIME_KEY
from ._calls import lookup_entry, place_telecmi_call
from ._state import TELECMI_STATE, TelecmiState
from ._store import DAY_MS

__all__ = ["call_action", "call_lookup", "call_records", "click2call", "error_body", "make_call"]

MSG_AUTH = "Invalid app id or secret, failed to authenticate token"
MSG_MISSING = "Missing required property"
MSG_PCMO = "The property required is missing"
MSG_MUSIC = "Invalid music filename"
MSG_C2C_MISSING = "User id or secret param missing"
MSG_C2C_AUTH = "Failed to authenticate secret (invalid user id or secret)"
MSG_CDR_AUTH = "Invalid app id or secret, authentication failed"
MSG_NO_CALL = "No live call with this cmiuuid"
MSG_ENDED = "The call has already ended"
MSG_NOT_ANSWERED = "The call is not answered yet; only a live answered call can be held"

#: Call control's answer to a bad appid / secret. Undocumented: 420 as on the make-call API, which
#: takes the same appid + secret body (the call-record family answers 404 instead).
CALL_ACTION_AUTH_STATUS = 420
#: The per-call lookup belongs to the call-record family, which answers 404 for bad credentials.
LOOKUP_AUTH_STATUS = 404
#: The actions of ``POST /v1/call/action``.
CALL_ACTIONS = ("hangup", "hold", "unhold", "holdToggle")

_MAKE_CALL_REQUIRED = ("appid", "secret", "from", "to", "pcmo")


def _missing(body: dict[str, Any], key: str) -> bool:
    return body.get(key) is None


#: Longest accepted phone number (E.164 allows 15 digits; room for trunk prefixes).
MAX_PHONE_DIGITS = 20


def _phone(value: object) -> str | None:
    """Digits of a phone number given as a positive integer or a digit string, else ``None``."""
    if is_int(value):
        digits = str(value) if isinstance(value, int) and value > 0 else ""
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        digits = value
    else:
        return None
    return digits if 0 < len(digits) <= MAX_PHONE_DIGITS else None


def _extra_params(body: dict[str, Any], status: int) -> Any:
    extra = body.get("extra_params")
    if extra is not None and not isinstance(extra, dict | str):
        reject(status, "extra_params must be a JSON object or a string")
    return extra


# ---------------------------------------------------------------------- PCMO validation


def _pcmo_missing(where: str, key: str, rule: str = "is required") -> Reject:
    return Reject(502, f"{MSG_PCMO}: {where}.{key} {rule}")


def _need_str(action: dict[str, Any], where: str, key: str) -> str:
    value = action.get(key)
    if not isinstance(value, str) or not value:
        raise _pcmo_missing(where, key, "is required (a non-empty string)")
    return value


def _opt_str(action: dict[str, Any], where: str, key: str) -> None:
    value = action.get(key)
    if value is not None and not isinstance(value, str):
        raise _pcmo_missing(where, key, "must be a string")


def _opt_pos_int(action: dict[str, Any], where: str, *keys: str) -> None:
    for key in keys:
        value = action.get(key)
        if value is not None and not (is_int(value) and value > 0):
            raise _pcmo_missing(where, key, "must be a positive integer")


def _url(action: dict[str, Any], where: str, key: str, schemes: tuple[str, ...]) -> None:
    value = _need_str(action, where, key)
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise _pcmo_missing(where, key, f"must be a {'/'.join(schemes)} URL")


def _music(state: TelecmiState, where: str, file_name: str) -> None:
    if file_name not in state.music_files:
        reject(404, f"{MSG_MUSIC}: {where}.file_name {file_name!r} is not an uploaded music file")


def _play(state: TelecmiState, where: str, action: dict[str, Any]) -> None:
    has_name = action.get("file_name") is not None
    has_url = action.get("file_url") is not None
    if has_name == has_url:
        raise _pcmo_missing(where, "file_name", "or file_url is required (exactly one of them)")
    if has_name:
        _music(state, where, _need_str(action, where, "file_name"))
    else:
        _url(action, where, "file_url", ("http", "https"))


def _speak(state: TelecmiState, where: str, action: dict[str, Any]) -> None:
    _need_str(action, where, "text")


def _targets(action: dict[str, Any], where: str, key: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """The non-empty array `key` of objects typed `kind` (bridge's pstn, connect's sip)."""
    items = action.get(key)
    if not isinstance(items, list) or not items:
        raise _pcmo_missing(where, key, "is required (a non-empty array)")
    targets = []
    for i, target in enumerate(items):
        at = f"{where}.{key}[{i}]"
        if not isinstance(target, dict):
            raise Reject(502, f"{MSG_PCMO}: {at} must be an object")
        if target.get("type") != kind:
            raise _pcmo_missing(at, "type", f'is required and must be "{kind}"')
        targets.append((at, target))
    return targets


def _bridge(state: TelecmiState, where: str, action: dict[str, Any]) -> None:
    for at, target in _targets(action, where, "connect", "pstn"):
        if _phone(target.get("number")) is None:
            raise _pcmo_missing(at, "number", "is required (a phone number)")
    if action.get("from") is not None and _phone(action["from"]) is None:
        raise _pcmo_missing(where, "from", "must be a phone number")
    _opt_pos_int(action, where, "duration", "timeout", "loop")
    _opt_str(action, where, "ring_type")


def _connect(state: TelecmiState, where: str, action: dict[str, Any]) -> None:
    for at, target in _targets(action, where, "call", "sip"):
        _need_str(target, at, "user")
    _opt_str(action, where, "call_type")


def _input(state: TelecmiState, where: str, action: dict[str, Any]) -> None:
    _url(action, where, "action_url", ("http", "https"))
    _opt_pos_int(action, where, "max_digit", "timeout")


def _play_get_input(state: TelecmiState, where: str, action: dict[str, Any]) -> None:
    """``play_get_input``: the music is an uploaded ``file_name`` or a ``file_url``.

    The document lists ``{file_name*, action_url*, max_digit, max_retry=1, timeout}``; TeleCMI's
    official SDK (piopiy/action/input.py, ``play_input``) sends a music URL as ``file_url`` and
    copies it into ``file_name`` too. So a ``file_url`` is the music, and a ``file_name`` beside
    it must be that same URL; without a ``file_url`` the ``file_name`` must be an uploaded file.
    ``max_digit``, ``max_retry`` and ``timeout`` are positive integers (``max_retry`` defaults
    to 1, the SDK sends 3; 0 is not documented).
    """
    _url(action, where, "action_url", ("http", "https"))
    _opt_pos_int(action, where, "max_digit", "max_retry", "timeout")
    if action.get("file_url") is not None:
        _url(action, where, "file_url", ("http", "https"))
        name = action.get("file_name")
        if name is not None and name != action["file_url"]:
            raise _pcmo_missing(where, "file_name", "must be absent or equal file_url when file_url is given")
        return
    _music(state, where, _need_str(action, where, "file_name"))


def _param(state: TelecmiState, where: str, action: dict[str, Any]) -> None:
    _need_str(action, where, "text")


def _no_fields(state: TelecmiState, where: str, action: dict[str, Any]) -> None:
    return None


def _stream(state: TelecmiState, where: str, action: dict[str, Any]) -> None:
    _url(action, where, "ws_url", ("ws", "wss"))
    _opt_str(action, where, "listen_mode")
    quality = action.get("voice_quality")
    if quality is not None and not (isinstance(quality, str) or is_int(quality)):
        raise _pcmo_missing(where, "voice_quality", 'must be a string such as "8000"')
    answer = action.get("stream_on_answer")
    if answer is not None and not isinstance(answer, bool):
        raise _pcmo_missing(where, "stream_on_answer", "must be a boolean")


_ActionCheck = Callable[[TelecmiState, str, dict[str, Any]], None]

#: PCMO actions and their validators (the vendor's PCMO overview and per-action pages).
PCMO_ACTIONS: dict[str, _ActionCheck] = {
    "play": _play,
    "speak": _speak,
    "bridge": _bridge,
    "connect": _connect,
    "input": _input,
    "play_get_input": _play_get_input,
    "param": _param,
    "record": _no_fields,
    "hangup": _no_fields,
    "stream": _stream,
}


def _validate_pcmo(state: TelecmiState, pcmo: object) -> None:
    if not isinstance(pcmo, list):
        reject(422, f"{MSG_MISSING}: pcmo must be an array of actions")
    if not pcmo:
        reject(422, f"{MSG_MISSING}: pcmo must hold at least one action")
    for i, action in enumerate(pcmo):
        where = f"pcmo[{i}]"
        if not isinstance(action, dict):
            reject(502, f"{MSG_PCMO}: {where} must be an object")
        name = action.get("action")
        if not isinstance(name, str):
            raise _pcmo_missing(where, "action")
        check = PCMO_ACTIONS.get(name)
        if check is None:
            reject(502, f"{MSG_PCMO}: {where}.action {name!r} is not a PCMO action")
        check(state, where, action)


# ---------------------------------------------------------------------- ledger → records


def _record_placed(request: web.Request, call: PlacedCall, appid: int, from_field: str) -> None:
    """Add ``call`` to the ledger and play it out (see ``_calls``): it ends as a record."""
    place_telecmi_call(request.app[TELECMI_STATE], request.app[RUNTIME_KEY], call, appid, from_field)


# ---------------------------------------------------------------------- handlers


def error_body(status: int, message: str) -> dict[str, Any]:
    """TeleCMI / PIOPIY error answers (not documented by the vendor; chosen here)."""
    return {"code": status, "msg": message, "status": "error"}


async def make_call(request: web.Request) -> web.StreamResponse:
    """``POST /v2/{global,ind}_pcmo_make_call``: place a PCMO call (play, bridge, ...)."""
    state = request.app[TELECMI_STATE]
    body = await read_object(request)
    for key in _MAKE_CALL_REQUIRED:
        if _missing(body, key):
            reject(422, f"{MSG_MISSING}: {key}")
    appid, secret = body["appid"], body["secret"]
    if not is_int(appid):
        reject(422, f"{MSG_MISSING}: appid must be a number")
    if not isinstance(secret, str):
        reject(422, f"{MSG_MISSING}: secret must be a string")
    if not state.telecmi_app_ok(appid, secret):
        reject(420, MSG_AUTH)
    refuse_if_throttled(state, f"telecmi:{appid}")
    from_ = _phone(body["from"])
    if from_ is None:
        reject(422, f"{MSG_MISSING}: from must be a phone number")
    to = _phone(body["to"])
    if to is None:
        reject(422, f"{MSG_MISSING}: to must be a phone number")
    extra = _extra_params(body, 422)
    _validate_pcmo(state, body["pcmo"])

    request_id = state.new_request_id()
    call = PlacedCall(
        endpoint=request.path,
        account=str(appid),
        from_=from_,
        to=to,
        request_id=request_id,
        extra_params=extra,
        time=state.clock(),
    )
    _record_placed(request, call, appid, from_)
    return json_response(
        {
            "data": {"status": "progress", "request_id": request_id},
            "status": "progress",
            "request_id": request_id,
            "code": 200,
        }
    )


async def click2call(request: web.Request) -> web.StreamResponse:
    """``POST /v2/webrtc/click2call``: ring the user first, then ``to``."""
    state = request.app[TELECMI_STATE]
    body = await read_object(request)
    user_id, secret = body.get("user_id"), body.get("secret")
    if not isinstance(user_id, str) or not user_id or not isinstance(secret, str) or not secret:
        reject(400, MSG_C2C_MISSING)
    appid = state.telecmi_user_app(user_id, secret)
    if appid is None:
        reject(404, MSG_C2C_AUTH)
    refuse_if_throttled(state, f"telecmi:{appid}")
    if _missing(body, "to"):
        reject(422, f"{MSG_MISSING}: to")
    to = _phone(body["to"])
    if to is None:
        reject(422, f"{MSG_MISSING}: to must be a phone number")
    webrtc = body.get("webrtc", True)
    followme = body.get("followme", False)
    webrtc = True if webrtc is None else webrtc
    followme = False if followme is None else followme
    if not isinstance(webrtc, bool) or not isinstance(followme, bool):
        reject(422, f"{MSG_MISSING}: webrtc and followme must be booleans")
    if followme and webrtc:
        reject(422, f"{MSG_MISSING}: webrtc must be false when followme is true")
    callerid = body.get("callerid")
    if callerid is not None and _phone(callerid) is None:
        reject(422, f"{MSG_MISSING}: callerid must be a phone number")
    extra = _extra_params(body, 422)

    request_id = state.new_request_id()
    call = PlacedCall(
        endpoint=request.path,
        account=user_id,
        from_=_phone(callerid) if callerid is not None else None,
        to=to,
        request_id=request_id,
        extra_params=extra,
        time=state.clock(),
    )
    _record_placed(request, call, appid, user_id)
    return json_response({"code": 200, "msg": "Call initiated", "request_id": request_id})


def _window_bound(body: dict[str, Any], key: str, default: int, rounding: Callable[[float], int]) -> int:
    value = body.get(key)
    if value is None:
        return default
    if not is_number(value):
        reject(422, f"{key} must be a timestamp in milliseconds")
    return rounding(value)


def _positive_int(body: dict[str, Any], key: str, default: int, maximum: int | None = None) -> int:
    value = body.get(key)
    if value is None:
        return default
    if not is_int(value) or value < 1 or (maximum is not None and value > maximum):
        limit = f" and at most {maximum}" if maximum is not None else ""
        reject(422, f"{key} must be an integer of at least 1{limit}")
    assert isinstance(value, int)
    return value


def call_records(kind: str) -> Handler:
    """The handler of ``POST /v1/<kind>`` (``answered``, ``missed``, ``outanswered``, ``outmissed``)."""

    async def records_of_kind(request: web.Request) -> web.StreamResponse:
        return await _call_records(request, kind)

    return records_of_kind


async def _call_records(request: web.Request, kind: str) -> web.StreamResponse:
    """``POST /v1/{outanswered,answered,missed,outmissed}``: paged call records, newest first."""
    state = request.app[TELECMI_STATE]
    body = await read_object(request)
    # The record endpoints name the app secret "token" (CHUB-India document).
    appid = _credentials(state, body, 404, MSG_CDR_AUTH, secret_key="token")
    refuse_if_throttled(state, f"telecmi:{appid}")
    now_ms = int(state.clock() * 1000)
    end = _window_bound(body, "end_date", now_ms, math.floor)
    start = _window_bound(body, "start_date", now_ms - DAY_MS, math.ceil)
    page = _positive_int(body, "page", 1)
    limit = _positive_int(body, "limit", 10, state.MAX_PAGE_LIMIT)
    if state.page_cap is not None:
        # Like TeleCMI's global record endpoints (limit at most 20): a larger limit is served
        # this many records per page, and pages are counted by this size.
        limit = min(limit, state.page_cap)
    total, records = state.records.query(appid, kind, start, end, page, limit, state.seeded(appid, kind))
    return json_response({"total": total, "cdr": records, "code": 200})


def _credentials(
    state: TelecmiState,
    body: dict[str, Any],
    auth_status: int,
    auth_message: str,
    *,
    secret_key: str = "secret",
) -> int:
    """The authenticated appid of an ``{appid, <secret_key>}`` body, or a rejection."""
    for key in ("appid", secret_key):
        if _missing(body, key):
            reject(422, f"{MSG_MISSING}: {key}")
    appid, secret = body["appid"], body[secret_key]
    if not is_int(appid):
        reject(422, f"{MSG_MISSING}: appid must be a number")
    if not isinstance(secret, str):
        reject(422, f"{MSG_MISSING}: {secret_key} must be a string")
    if not state.telecmi_app_ok(appid, secret):
        reject(auth_status, auth_message)
    assert isinstance(appid, int)
    return appid


async def call_action(request: web.Request) -> web.StreamResponse:
    """``POST /v1/call/action``: hang up, hold, unhold or toggle hold on a live call.

    Answers 200 ``{"code": 200, "status": "success", "msg", "cmiuuid", "action", "hold"}``;
    422 for a missing or bad field or an unknown action, 420 for bad credentials, 404 for an
    unknown ``cmiuuid`` (or one of another app) and for a call that has ended, 409 for hold
    actions on a call that is still ringing.
    """
    state = request.app[TELECMI_STATE]
    body = await read_object(request)
    appid = _credentials(state, body, CALL_ACTION_AUTH_STATUS, MSG_AUTH)
    refuse_if_throttled(state, f"telecmi:{appid}")
    cmiuuid, action = body.get("cmiuuid"), body.get("action")
    if not isinstance(cmiuuid, str) or not cmiuuid.strip():
        reject(422, f"{MSG_MISSING}: cmiuuid must be a non-empty string")
    if not isinstance(action, str) or action not in CALL_ACTIONS:
        reject(422, f"{MSG_MISSING}: action must be one of {', '.join(CALL_ACTIONS)}")
    live = state.live_calls.get(cmiuuid)
    if live is None or live.appid != appid:
        ended = state.ended_calls.get(cmiuuid)
        if ended is not None and ended.appid == appid:
            reject(404, MSG_ENDED)
        reject(404, MSG_NO_CALL)
    if action == "hangup":
        live.hang_up()
        msg = "Call hangup"
    else:
        if live.phase != "answered":
            reject(409, MSG_NOT_ANSWERED)
        held = {"hold": True, "unhold": False, "holdToggle": not live.held}[action]
        if held != live.held:
            live.held = held
            live.hold_changes += 1
        msg = "Call on hold" if live.held else "Call resumed"
    return json_response(
        {"code": 200, "status": "success", "msg": msg, "cmiuuid": cmiuuid, "action": action, "hold": live.held}
    )


async def call_lookup(request: web.Request) -> web.StreamResponse:
    """``POST /v1/piopiy/requestid_cdr``: the records of one call by its ``request_id``.

    Answers ``{"count", "cdr": [...], "code": 200}``; the list is empty while the call is live
    and for an unknown ``request_id``. 422 for a missing or bad field, 404 for bad credentials.
    """
    state = request.app[TELECMI_STATE]
    body = await read_object(request)
    appid = _credentials(state, body, LOOKUP_AUTH_STATUS, MSG_CDR_AUTH)
    refuse_if_throttled(state, f"telecmi:{appid}")
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not request_id.strip():
        reject(422, f"{MSG_MISSING}: request_id must be a non-empty string")
    cmiuuid = state.cmiuuids.get(request_id)
    ended = state.ended_calls.get(cmiuuid) if cmiuuid is not None else None
    records = [lookup_entry(ended)] if ended is not None and ended.appid == appid else []
    return json_response({"count": len(records), "cdr": records, "code": 200})
