"""AsyncTeleCMI; TeleCMI, its blocking twin, is generated from it (`_twins`)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Final, Literal, TypeVar

from .. import _constants as C
from .._base_client import BaseAsyncClient, Endpoint, call_timeout
from .._bulk import Outcome, check_bulk, run_many
from .._config import NOT_GIVEN, NotGiven, RateLimit, RetryPolicy, Timeout, checked_setting
from .._converter import converter
from .._pagination import AsyncPaginator, Page, Paginator, Window, check_page
from .._ratelimit import LimiterBackend
from .._redact import redact_url
from .._sending import BeforeSend
from .._validate import (
    check_base_url,
    check_bool,
    check_int_range,
    check_json_object,
    check_str,
    phone_number,
    show,
)
from ..errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    ValidationError,
)
from ._actions import Action, pcmo_to_wire
from ._models import (
    CallActionResult,
    CallLeg,
    CallLookup,
    CallRecord,
    CallResult,
    ClickToCallResult,
    Dial,
    Region,
    check_region,
    make_call_body,
    play_flow,
)

__all__ = ["AsyncTeleCMI"]

T = TypeVar("T")

# TeleCMI answers its errors as JSON with `code` (the status again) and `msg`: an error status
# in any other body came from something else (a wrong base URL, a proxy; see `classify`).
_ERROR_KEYS: Final = ("code", "msg")

# The document also gives 502 as "the property required is missing". Every property is
# validated before sending, so a 502 that still arrives is as likely a failing gateway after the
# call was placed: like every 5xx on a call-creating request it is reported as outcome unknown
# (see `classify`), never as "not placed".
_MAKE_CALL_ERRORS: Final = {
    420: (AuthenticationError, "invalid app id or secret"),
    404: (NotFoundError, "invalid music file name"),
    422: (InvalidRequestError, "a required property is missing"),
}
_MAKE_CALL = {
    region: Endpoint(
        "make_call",
        f"/v2/{region}_pcmo_make_call",
        creates_call=True,
        errors=_MAKE_CALL_ERRORS,
        error_keys=_ERROR_KEYS,
    )
    for region in ("global", "ind")
}
_CLICK2CALL: Final = Endpoint(
    "click_to_call",
    "/v2/webrtc/click2call",
    creates_call=True,
    errors={
        404: (AuthenticationError, "invalid user id or secret"),
        400: (InvalidRequestError, "user id or secret missing"),
    },
    error_keys=_ERROR_KEYS,
)
_CDR_ERRORS: Final = {404: (AuthenticationError, "invalid app id or secret")}
RecordKind = Literal["outgoing_answered", "outgoing_missed", "answered", "missed"]
_RECORDS: Final = {
    kind: Endpoint(f"records.{path}", f"/v1/{path}", creates_call=False, errors=_CDR_ERRORS, error_keys=_ERROR_KEYS)
    for kind, path in (
        ("outgoing_answered", "outanswered"),
        ("outgoing_missed", "outmissed"),
        ("answered", "answered"),
        ("missed", "missed"),
    )
}

# Call control (``POST /v1/call/action``). The statuses are not documented: 420 for bad
# credentials as on the make-call API (same body), 404 for a call that is unknown or has ended.
_CALL_ACTION_ERRORS: Final = {
    420: (AuthenticationError, "invalid app id or secret"),
    404: (NotFoundError, "no live call with this cmiuuid (unknown, or it has already ended)"),
    409: (InvalidRequestError, "the call cannot take this action now (e.g. not answered yet)"),
    422: (InvalidRequestError, "a required property is missing or invalid"),
}
_CALL_ACTIONS: Final = {
    # Hanging up twice ends the call once: retried on transient failures like a read.
    "hangup": Endpoint(
        "call_action.hangup",
        "/v1/call/action",
        creates_call=False,
        errors=_CALL_ACTION_ERRORS,
        error_keys=_ERROR_KEYS,
    ),
    # Holds are never retried blind: a toggle sent twice undoes itself, and voicekit treats
    # hold / unhold the same way rather than guess how the vendor applies a repeat.
    **{
        action: Endpoint(
            f"call_action.{action}",
            "/v1/call/action",
            creates_call=False,
            idempotent=False,
            errors=_CALL_ACTION_ERRORS,
            error_keys=_ERROR_KEYS,
        )
        for action in ("hold", "unhold", "holdToggle")
    },
}
_LOOKUP: Final = Endpoint(
    "lookup_call", "/v1/piopiy/requestid_cdr", creates_call=False, errors=_CDR_ERRORS, error_keys=_ERROR_KEYS
)
_MAX_CMIUUID = 128
_MAX_REQUEST_ID = 256

_EPOCH_MS_FLOOR = 100_000_000_000  # 1973 in milliseconds; smaller numbers are seconds by mistake
# 9999-12-31 in milliseconds: the last instant a datetime can show, far inside a 64-bit integer.
_EPOCH_MS_CEILING = 253_402_300_799_999


def _epoch_ms(field: str, value: dt.datetime | int | float | None) -> int | None:
    """`value` (an aware or local datetime, or epoch milliseconds) as epoch milliseconds.

    Every value the vendor's window cannot hold (nan, inf, year 1 or 9999 at the edges, numbers
    beyond 64 bits) is refused here, before it could fail when the body is serialised.
    """
    if value is None:
        return None
    rule = "must be a datetime or epoch milliseconds between 1973 and 9999"
    if isinstance(value, dt.datetime):
        try:
            # timestamp() of a naive datetime near year 1 or 9999 overflows in the local zone.
            millis: float = value.timestamp() * 1000
        except (OverflowError, OSError, ValueError):
            raise ValidationError(field, f"{rule}; {value.isoformat()} cannot be converted") from None
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, f"{rule}, got {type(value).__name__}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(field, f"{rule}, got {show(value)}")
    else:
        millis = value
    if millis < _EPOCH_MS_FLOOR:
        if not isinstance(value, dt.datetime) and millis > 0:
            raise ValidationError(
                field, f"must be epoch milliseconds; {show(value)} looks like seconds (multiply by 1000)"
            )
        raise ValidationError(field, f"{rule}, got {show(value)}")
    if millis > _EPOCH_MS_CEILING:
        raise ValidationError(field, f"{rule}, got {show(value)}")
    return int(millis)


# The documented user ids look like "101_1111112"; anything this long is not one.
_MAX_USER_ID = 256


def _appid(field: str, value: Any) -> int:
    """The app id: a positive integer, or its ASCII digits as a string."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 10**18:
        raise ValidationError(field, f"must be a number (the positive app id), got {show(value)}")
    return int(value)


def _secret(field: str, value: Any) -> str:
    return check_str(field, value, max_len=1024)


def _required(value: T | None, var: str, what: str) -> T:
    if value is None:
        raise ConfigurationError(f"no {what} given: pass it as an argument or set {var}")
    return value


class AsyncTeleCMI(BaseAsyncClient):
    """Async TeleCMI client: calls with PCMO flows, click-to-call and call records.

    Args:
        appid: the app id (or ``VOICEKIT_TELECMI_APPID``).
        secret: the app secret (or ``VOICEKIT_TELECMI_SECRET``); never shown in repr or errors.
        base_url: the REST host (or ``VOICEKIT_TELECMI_BASE_URL``); default rest.telecmi.com.
        piopiy_url: the call-record host (or ``VOICEKIT_TELECMI_PIOPIY_URL``); default
            piopiy.telecmi.com.
        timeout: a `Timeout`, or the total seconds per attempt.
        retry: the `RetryPolicy` for transient failures (never-twice rules always apply).
        rate_limit: requests per second or a `RateLimit`, shared by every client of this app id in
            the process; ``None`` turns client-side limiting off.
        limiter_backend: where the limit's state lives (default: in this process).
        page_concurrency: call-record pages fetched at once.
        proxy: an http(s) proxy URL; by default ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY``
            are honoured; ``None`` never uses a proxy.
    """

    _vendor = "telecmi"
    appid: int

    def __init__(
        self,
        *,
        appid: int | str | None = None,
        secret: str | None = None,
        base_url: str | None = None,
        piopiy_url: str | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | float | None | NotGiven = NOT_GIVEN,
        limiter_backend: LimiterBackend | None = None,
        page_concurrency: int = C.DEFAULT_PAGE_CONCURRENCY,
        proxy: str | None | NotGiven = NOT_GIVEN,
    ) -> None:
        # An argument that breaks a rule is a ValidationError; a bad environment variable, or
        # neither given, a ConfigurationError that names the variable.
        self.appid = _required(
            checked_setting(appid, "VOICEKIT_TELECMI_APPID", "appid", _appid),
            "VOICEKIT_TELECMI_APPID",
            "app id",
        )
        self._secret = _required(
            checked_setting(secret, "VOICEKIT_TELECMI_SECRET", "secret", _secret),
            "VOICEKIT_TELECMI_SECRET",
            "app secret",
        )
        rest = checked_setting(base_url, "VOICEKIT_TELECMI_BASE_URL", "base_url", check_base_url)
        piopiy = checked_setting(piopiy_url, "VOICEKIT_TELECMI_PIOPIY_URL", "piopiy_url", check_base_url)
        self.base_url = rest or C.TELECMI_REST_URL
        self.piopiy_url = piopiy or C.TELECMI_PIOPIY_URL
        check_int_range("page_concurrency", page_concurrency, 1, 64)
        self.page_concurrency = page_concurrency
        super().__init__(
            account=str(self.appid),
            timeout=timeout,
            retry=retry,
            rate_limit=C.DEFAULT_TELECMI_RATE if isinstance(rate_limit, NotGiven) else rate_limit,
            limiter_backend=limiter_backend,
            proxy=proxy,
        )

    def __repr__(self) -> str:
        return f"AsyncTeleCMI(appid={self.appid}, base_url={redact_url(self.base_url)!r})"

    def _secret_values(self) -> tuple[str, ...]:
        return (self._secret,)

    # -- calls -------------------------------------------------------------------------------

    async def make_call(
        self,
        *,
        from_: int | str,
        to: int | str,
        pcmo: Sequence[Action] | Action,
        region: Region = "global",
        extra_params: Mapping[str, Any] | str | None = None,
        timeout: Timeout | float | NotGiven = NOT_GIVEN,
    ) -> CallResult:
        """Place a call that runs the PCMO flow `pcmo` (e.g. ``[Bridge(...)]``).

        `extra_params`, a JSON object or its text, comes back in the vendor's webhooks (text that
        is not a JSON object is refused). `timeout` (a `Timeout` or seconds) overrides the
        client's for this call. The result's `response` holds the HTTP status and headers.

        Raises:
            ValidationError: bad input; nothing was sent.
            AuthenticationError, NotFoundError, InvalidRequestError: the vendor refused it.
            CallOutcomeUnknownError: the call may have been placed; it was not retried.
        """
        flow = pcmo_to_wire(pcmo)
        return await self._place(from_, to, flow, region, extra_params, timeout)

    async def _place(
        self,
        from_: Any,
        to: Any,
        pcmo: list[dict[str, Any]],
        region: Any,
        extra_params: Any,
        timeout: object = NOT_GIVEN,
    ) -> CallResult:
        endpoint = _MAKE_CALL[check_region(region)]
        body = make_call_body(from_=from_, to=to, pcmo=pcmo, extra_params=extra_params)
        return await self._send_call(endpoint, body, timeout)

    async def _send_call(self, endpoint: Endpoint, body: dict[str, Any], timeout: object) -> CallResult:
        result: CallResult = await self._post(
            endpoint,
            self.base_url + endpoint.path,
            {"appid": self.appid, "secret": self._secret, **body},
            parse=_call_result,
            attempt_timeout=call_timeout(timeout),
        )
        return result

    async def play_music(
        self,
        *,
        from_: int | str,
        to: int | str,
        file_name: str | None = None,
        file_url: str | None = None,
        region: Region = "global",
        extra_params: Mapping[str, Any] | str | None = None,
        timeout: Timeout | float | NotGiven = NOT_GIVEN,
    ) -> CallResult:
        """Call `to` and play an uploaded music file (or one at `file_url`); see `make_call`."""
        flow = play_flow(file_name, file_url)
        return await self._place(from_, to, flow, region, extra_params, timeout)

    async def click_to_call(
        self,
        *,
        user_id: str,
        to: int | str,
        extra_params: Mapping[str, Any] | None = None,
        webrtc: bool = True,
        followme: bool = False,
        callerid: int | str | None = None,
        timeout: Timeout | float | NotGiven = NOT_GIVEN,
    ) -> ClickToCallResult:
        """Ring the user `user_id` first, then connect them to `to`.

        `followme=True` rings the user's mobile instead of the softphone and needs `webrtc=False`.
        """
        body: dict[str, Any] = {
            "user_id": check_str("user_id", user_id, max_len=_MAX_USER_ID),
            "secret": self._secret,
            "to": phone_number("to", to),
            "webrtc": check_bool("webrtc", webrtc),
            "followme": check_bool("followme", followme),
        }
        if webrtc and followme:
            raise ValidationError("followme", "followme=True needs webrtc=False")
        if extra_params is not None:
            # The click-to-call document types extra_params as a JSON object only.
            body["extra_params"] = check_json_object("extra_params", extra_params)
        if callerid is not None:
            body["callerid"] = phone_number("callerid", callerid)
        result: ClickToCallResult = await self._post(
            _CLICK2CALL,
            self.base_url + _CLICK2CALL.path,
            body,
            parse=_click_result,
            attempt_timeout=call_timeout(timeout),
        )
        return result

    # -- bulk --------------------------------------------------------------------------------

    async def _dial(self, spec: Dial) -> CallResult:
        # The spec builds (and checks) its own body, with its key in extra_params.
        body = spec.body()
        return await self._send_call(_MAKE_CALL[check_region(spec.region)], body, NOT_GIVEN)

    def dial_many(
        self,
        specs: Iterable[Dial] | AsyncIterable[Dial],
        *,
        concurrency: int = C.DEFAULT_BULK_CONCURRENCY,
        before_send: BeforeSend | None = None,
    ) -> AsyncIterator[Outcome[CallResult]]:
        """Place many calls; yield one `Outcome` per `Dial` as it completes.

        `specs` is consumed lazily; at most `concurrency` calls are in flight, each through the
        account's rate limiter. Whatever one call raises becomes its key's outcome
        (`outcome.unknown` tells a call that may have been placed), and an item that is not a
        `Dial` becomes the failed outcome of key ``"#N"`` (its position); closing the iterator
        cancels what is in flight.

        `before_send`, an async callable, is awaited with a call's key after the rate limiter
        granted it and right before its request leaves (a journal marks the key "sending"
        there); whatever it raises stops that call and becomes its outcome.
        """
        check_bulk(specs, concurrency, before_send)
        return run_many(specs, self._dial, _dial_key, concurrency=concurrency, before_send=before_send)

    # -- call records ------------------------------------------------------------------------

    def call_records(
        self,
        kind: RecordKind,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        timeout: Timeout | float | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[CallRecord]:
        """Call records of one `kind` in [start, end] (default: the last 24 hours), newest first.

        `kind` is ``"outgoing_answered"``, ``"outgoing_missed"``, ``"answered"`` or ``"missed"``
        (each also a method of its own). The paginator gives the first page (with `total`) or
        every record: ``await`` it or ``async for`` over it (the blocking client's: `first_page()`,
        or ``for``). `start` and `end` are datetimes or epoch milliseconds;
        `limit` caps the records yielded; `timeout` applies to each page's request. A vendor
        that serves fewer than `page_size` records a page (TeleCMI's global record endpoints cap
        ``limit`` at 20) is paged by the size it serves, which the first page's ``page_size`` tells.
        """
        if not isinstance(kind, str) or kind not in _RECORDS:
            raise ValidationError("kind", f"must be one of {', '.join(_RECORDS)}, got {show(kind)}")
        endpoint = _RECORDS[kind]
        check_int_range("page_size", page_size, 1, C.MAX_PAGE_SIZE)
        if limit is not None:
            check_int_range("limit", limit, 1)
        start_ms = _epoch_ms("start", start)
        end_ms = _epoch_ms("end", end)
        if start_ms is not None and end_ms is not None and start_ms > end_ms:
            raise ValidationError("start", "must not be after end")
        attempt_timeout = call_timeout(timeout)
        url = self.piopiy_url + endpoint.path
        appid, secret = self.appid, self._secret

        def pin() -> Window:
            # Called once per paginator, on first use: "now" is read then, and only then.
            stop = end_ms if end_ms is not None else int(time.time() * 1000)
            begin = start_ms if start_ms is not None else stop - C.DEFAULT_RECORD_WINDOW_SECONDS * 1000
            if begin > stop:
                raise ValidationError("start", "must not be after end (now, by default)")
            return Window(begin, stop)

        async def fetch(window: Window, number: int, size: int, exact: bool) -> Page[CallRecord]:
            page: Page[CallRecord] = await self._post(
                endpoint,
                url,
                {
                    "appid": appid,
                    "token": secret,
                    "start_date": window.start,
                    "end_date": window.end,
                    "page": number,
                    "limit": size,
                },
                parse=lambda data: _page(data, number, size, exact),
                attempt_timeout=attempt_timeout,
            )
            return page

        return AsyncPaginator(fetch, pin, page_size=page_size, limit=limit, concurrency=self.page_concurrency)

    def outgoing_answered(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        timeout: Timeout | float | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[CallRecord]:
        """Outgoing answered calls: ``call_records("outgoing_answered", ...)``."""
        return self.call_records(
            "outgoing_answered", start=start, end=end, page_size=page_size, limit=limit, timeout=timeout
        )

    def outgoing_missed(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        timeout: Timeout | float | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[CallRecord]:
        """Outgoing missed calls: ``call_records("outgoing_missed", ...)``."""
        return self.call_records(
            "outgoing_missed", start=start, end=end, page_size=page_size, limit=limit, timeout=timeout
        )

    def answered(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        timeout: Timeout | float | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[CallRecord]:
        """Incoming answered calls: ``call_records("answered", ...)``."""
        return self.call_records("answered", start=start, end=end, page_size=page_size, limit=limit, timeout=timeout)

    def missed(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
        timeout: Timeout | float | NotGiven = NOT_GIVEN,
    ) -> AsyncPaginator[CallRecord]:
        """Incoming missed calls: ``call_records("missed", ...)``."""
        return self.call_records("missed", start=start, end=end, page_size=page_size, limit=limit, timeout=timeout)

    # -- call control and lookup ---------------------------------------------------------------

    async def _call_action(self, action: str, cmiuuid: Any, timeout: object) -> CallActionResult:
        endpoint = _CALL_ACTIONS[action]
        body: dict[str, Any] = {
            "appid": self.appid,
            "secret": self._secret,
            "cmiuuid": check_str("cmiuuid", cmiuuid, max_len=_MAX_CMIUUID),
            "action": action,
        }
        attempt_timeout = call_timeout(timeout)
        result: CallActionResult = await self._post(
            endpoint,
            self.piopiy_url + endpoint.path,
            body,
            parse=lambda data: _action_result(data, body["cmiuuid"], action),
            attempt_timeout=attempt_timeout,
        )
        return result

    async def hangup(self, cmiuuid: str, *, timeout: Timeout | float | NotGiven = NOT_GIVEN) -> CallActionResult:
        """Hang up the live call `cmiuuid` (from its webhooks, or `CallTracker.cmiuuid`).

        Safe to repeat, so transient failures are retried; a `NotFoundError` after a retry can
        mean the first attempt already ended the call.

        Raises:
            ValidationError: bad `cmiuuid`; nothing was sent.
            NotFoundError: no live call has this `cmiuuid` (unknown, or already ended).
            AuthenticationError: bad app id or secret.
        """
        return await self._call_action("hangup", cmiuuid, timeout)

    async def hold(self, cmiuuid: str, *, timeout: Timeout | float | NotGiven = NOT_GIVEN) -> CallActionResult:
        """Put the live, answered call `cmiuuid` on hold.

        Never retried blind: when the request may have reached the vendor (a 5xx, a timeout, a
        dropped connection) it raises `ActionOutcomeUnknownError` instead; check the call's state.

        Raises:
            ValidationError: bad `cmiuuid`; nothing was sent.
            NotFoundError: no live call has this `cmiuuid`.
            InvalidRequestError: the call cannot be held now (e.g. still ringing).
            ActionOutcomeUnknownError: the hold may or may not have taken effect.
        """
        return await self._call_action("hold", cmiuuid, timeout)

    async def unhold(self, cmiuuid: str, *, timeout: Timeout | float | NotGiven = NOT_GIVEN) -> CallActionResult:
        """Take the live call `cmiuuid` off hold; never retried blind (see `hold`)."""
        return await self._call_action("unhold", cmiuuid, timeout)

    async def toggle_hold(self, cmiuuid: str, *, timeout: Timeout | float | NotGiven = NOT_GIVEN) -> CallActionResult:
        """Flip the hold state of the live call `cmiuuid` (``holdToggle``); never retried blind:
        a toggle sent twice would undo itself. `CallActionResult.hold` tells the new state."""
        return await self._call_action("holdToggle", cmiuuid, timeout)

    async def lookup_call(self, request_id: str, *, timeout: Timeout | float | NotGiven = NOT_GIVEN) -> CallLookup:
        """The vendor's records of one call, by the `request_id` its placing returned.

        The result has no legs while the call is live or when the id is unknown (check
        `CallLookup.found`). Read-only: retried on transient failures.

        Raises:
            ValidationError: bad `request_id`; nothing was sent.
            AuthenticationError: bad app id or secret.
        """
        body: dict[str, Any] = {
            "appid": self.appid,
            "secret": self._secret,
            "request_id": check_str("request_id", request_id, max_len=_MAX_REQUEST_ID),
        }
        attempt_timeout = call_timeout(timeout)
        result: CallLookup = await self._post(
            _LOOKUP,
            self.piopiy_url + _LOOKUP.path,
            body,
            parse=lambda data: _lookup(data, body["request_id"]),
            attempt_timeout=attempt_timeout,
        )
        return result


def _action_result(data: Any, cmiuuid: str, action: str) -> CallActionResult:
    """Call control's answer; an error-shaped 200 is unreadable, never a success."""
    if not isinstance(data, dict):
        raise TypeError(f"the answer must be a JSON object, got {type(data).__name__}")
    code = data.get("code", 200)
    if code not in (200, "200"):
        raise ValueError(f"the answer carries code {code!r}")
    msg = data.get("msg")
    hold = data.get("hold")
    return CallActionResult(
        cmiuuid=cmiuuid,
        action=action,
        msg=msg if isinstance(msg, str) else "",
        hold=hold if isinstance(hold, bool) else None,
    )


def _lookup(data: Any, request_id: str) -> CallLookup:
    """The per-call lookup's ``{count, cdr: [...]}``; anything else raises (unreadable)."""
    if not isinstance(data, dict) or not isinstance(data.get("cdr"), list):
        raise KeyError("the answer has no 'cdr' list")
    legs = converter.structure(data["cdr"], list[CallLeg])
    return CallLookup(request_id=request_id, legs=legs)


def _dial_key(spec: Dial) -> str:
    if not isinstance(spec, Dial):
        raise ValidationError("specs", f"must hold voicekit.telecmi.Dial items, got {type(spec).__name__}")
    return check_str("key", spec.key, max_len=C.MAX_KEY_LEN)


def _call_result(data: Any) -> CallResult:
    """The documented answer of a placed call; anything else raises (the answer is unreadable)."""
    result = converter.structure(data, CallResult)
    if not result.request_id.strip():
        raise ValueError("the answer has an empty request_id")
    return result


def _click_result(data: Any) -> ClickToCallResult:
    result = converter.structure(data, ClickToCallResult)
    if not result.request_id.strip():
        raise ValueError("the answer has an empty request_id")
    return result


# The last millisecond of the year 9999: a record time past it cannot be a datetime.
_MAX_RECORD_MS: Final = 253_402_300_799_999


def _page(data: Any, number: int, page_size: int, exact: bool) -> Page[CallRecord]:
    """Page `number` of call records, as the document shapes it; raises for anything else (the
    answer is then unreadable, and the request path retries it).

    A page must hold the records its total implies (`check_page`): exactly, or, when not
    `exact` (asked before the vendor's page size is known), possibly fewer.
    """
    if not isinstance(data, dict):
        raise TypeError(f"a page of call records must be a JSON object, got {type(data).__name__}")
    if "cdr" not in data:
        # An error-shaped 200 ({"code": 500, "status": "error"}) must never read as an empty page.
        raise KeyError("the page has no 'cdr' list")
    total = data.get("total", data.get("count"))
    if isinstance(total, bool) or not isinstance(total, int) or not 0 <= total < 2**53:
        raise ValueError(f"the page's total must be a count, got {total!r}")
    records = converter.structure(data["cdr"], list[CallRecord])
    for record in records:
        if not 0 <= record.time <= _MAX_RECORD_MS:
            raise ValueError(f"record {record.id!r} has an impossible time {record.time}")
    check_page(number, page_size, total, len(records), exact=exact)
    return Page(number=number, page_size=page_size, total=total, records=records)


#: The blocking paginator's name before it served every paged endpoint.
SyncPaginator = Paginator
