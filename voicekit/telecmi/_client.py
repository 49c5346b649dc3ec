"""AsyncTeleCMI, and TeleCMI, its blocking twin."""

from __future__ import annotations

import datetime as dt
import functools
import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal

import attrs
import orjson

from .. import _constants as C
from .. import _sync
from .._base_client import BaseAsyncClient, Endpoint
from .._bulk import Outcome, run_many, run_many_batches
from .._config import NOT_GIVEN, NotGiven, RateLimit, RetryPolicy, Timeout, env_or
from .._converter import converter
from .._pagination import AsyncPaginator, Page
from .._ratelimit import LimiterBackend
from .._sending import BeforeSend
from .._validate import check_bool, check_int_range, check_str, phone_number
from ..errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    ValidationError,
)
from ._actions import Action, Play, pcmo_to_wire
from ._models import CallRecord, CallResult, ClickToCallResult, Dial

__all__ = ["AsyncTeleCMI", "TeleCMI"]

Region = Literal["global", "ind"]

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
        "make_call", f"/v2/{region}_pcmo_make_call", creates_call=True,
        errors=_MAKE_CALL_ERRORS,
    )
    for region in ("global", "ind")
}
_CLICK2CALL: Final = Endpoint(
    "click_to_call", "/v2/webrtc/click2call", creates_call=True,
    errors={
        404: (AuthenticationError, "invalid user id or secret"),
        400: (InvalidRequestError, "user id or secret missing"),
    },
)
_CDR_ERRORS: Final = {404: (AuthenticationError, "invalid app id or secret")}
_RECORDS: Final = {
    kind: Endpoint(f"records.{kind}", f"/v1/{kind}", creates_call=False, errors=_CDR_ERRORS)
    for kind in ("outanswered", "answered", "missed", "outmissed")
}

_EPOCH_MS_FLOOR = 100_000_000_000  # 1973 in milliseconds; smaller numbers are seconds by mistake


def _epoch_ms(field: str, value: dt.datetime | int | float | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, "must be a datetime or epoch milliseconds")
    if value < _EPOCH_MS_FLOOR:
        raise ValidationError(field, f"must be epoch milliseconds; {value!r} looks like seconds")
    return int(value)


@functools.lru_cache(maxsize=256)
def _play_flow(file_name: str | None, file_url: str | None) -> list[dict[str, Any]]:
    """The wire form of a one-step play flow; campaigns play few files, so it is built once each.

    The returned list is shared: callers must not mutate it.
    """
    return pcmo_to_wire([Play(file_name=file_name, file_url=file_url)])


def _extra_params(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        try:
            orjson.dumps(value)
        except TypeError as exc:
            raise ValidationError("extra_params", f"must be JSON-serialisable ({exc})") from None
        return dict(value)
    if isinstance(value, str):
        return value
    raise ValidationError("extra_params", "must be a dict (a JSON object) or a string")


def _region(value: Any) -> Region:
    if value not in ("global", "ind"):
        raise ValidationError("region", f'must be "global" or "ind", got {value!r}')
    return value  # type: ignore[no-any-return]


@attrs.frozen
class _Window:
    start: int
    end: int


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
    """

    _vendor = "telecmi"

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
    ) -> None:
        raw_appid = str(env_or(None if appid is None else str(appid), "VOICEKIT_TELECMI_APPID", "app id"))
        try:
            self.appid = int(raw_appid)
        except ValueError:
            raise ConfigurationError(f"the app id must be a number, got {raw_appid!r}") from None
        self._secret = str(env_or(secret, "VOICEKIT_TELECMI_SECRET", "app secret"))
        rest = env_or(base_url, "VOICEKIT_TELECMI_BASE_URL", "", required=False)
        piopiy = env_or(piopiy_url, "VOICEKIT_TELECMI_PIOPIY_URL", "", required=False)
        self.base_url = (rest or C.TELECMI_REST_URL).rstrip("/")
        self.piopiy_url = (piopiy or C.TELECMI_PIOPIY_URL).rstrip("/")
        check_int_range("page_concurrency", page_concurrency, 1, 64)
        self.page_concurrency = page_concurrency
        super().__init__(
            account=str(self.appid),
            timeout=timeout,
            retry=retry,
            rate_limit=C.DEFAULT_TELECMI_RATE if isinstance(rate_limit, NotGiven) else rate_limit,
            limiter_backend=limiter_backend,
        )

    def __repr__(self) -> str:
        return f"AsyncTeleCMI(appid={self.appid}, base_url={self.base_url!r})"

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
    ) -> CallResult:
        """Place a call that runs the PCMO flow `pcmo` (e.g. ``[Bridge(...)]``).

        Raises:
            ValidationError: bad input; nothing was sent.
            AuthenticationError, NotFoundError, InvalidRequestError: the vendor refused it.
            CallOutcomeUnknownError: the call may have been placed; it was not retried.
        """
        return await self._place(from_, to, pcmo_to_wire(pcmo), region, extra_params)

    async def _place(
        self, from_: Any, to: Any, pcmo: list[dict[str, Any]], region: Any, extra_params: Any
    ) -> CallResult:
        endpoint = _MAKE_CALL[_region(region)]
        body: dict[str, Any] = {
            "appid": self.appid,
            "secret": self._secret,
            "from": phone_number("from_", from_),
            "to": phone_number("to", to),
            "pcmo": pcmo,
        }
        extra = _extra_params(extra_params)
        if extra is not None:
            body["extra_params"] = extra
        result: CallResult = await self._post(
            endpoint, self.base_url + endpoint.path, body, parse=_call_result
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
    ) -> CallResult:
        """Call `to` and play an uploaded music file (or one at `file_url`)."""
        return await self._place(from_, to, _play_flow(file_name, file_url), region, extra_params)

    async def click_to_call(
        self,
        *,
        user_id: str,
        to: int | str,
        extra_params: Mapping[str, Any] | None = None,
        webrtc: bool = True,
        followme: bool = False,
        callerid: int | str | None = None,
    ) -> ClickToCallResult:
        """Ring the user `user_id` first, then connect them to `to`.

        `followme=True` rings the user's mobile instead of the softphone and needs `webrtc=False`.
        """
        body: dict[str, Any] = {
            "user_id": check_str("user_id", user_id),
            "secret": self._secret,
            "to": phone_number("to", to),
            "webrtc": check_bool("webrtc", webrtc),
            "followme": check_bool("followme", followme),
        }
        if webrtc and followme:
            raise ValidationError("followme", "followme=True needs webrtc=False")
        if extra_params is not None:
            if not isinstance(extra_params, Mapping):
                raise ValidationError("extra_params", "must be a dict (a JSON object)")
            body["extra_params"] = _extra_params(extra_params)
        if callerid is not None:
            body["callerid"] = phone_number("callerid", callerid)
        result: ClickToCallResult = await self._post(
            _CLICK2CALL, self.base_url + _CLICK2CALL.path, body, parse=_click_result
        )
        return result

    # -- bulk --------------------------------------------------------------------------------

    async def _dial(self, spec: Dial) -> CallResult:
        if spec.pcmo is not None:
            if spec.file_name is not None or spec.file_url is not None:
                raise ValidationError("pcmo", "give either pcmo or file_name / file_url, not both")
            return await self.make_call(
                from_=spec.from_, to=spec.to, pcmo=spec.pcmo, region=_region(spec.region),
                extra_params=spec.extra_params,
            )
        return await self.play_music(
            from_=spec.from_, to=spec.to, file_name=spec.file_name, file_url=spec.file_url,
            region=_region(spec.region), extra_params=spec.extra_params,
        )

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
        check_int_range("concurrency", concurrency, 1, C.MAX_BULK_CONCURRENCY)
        return run_many(specs, self._dial, _dial_key, concurrency=concurrency, before_send=before_send)

    def _dial_batches(
        self,
        specs: Iterable[Dial] | AsyncIterable[Dial],
        concurrency: int,
        before_send: BeforeSend | None = None,
    ) -> AsyncIterator[Sequence[Outcome[CallResult]]]:
        check_int_range("concurrency", concurrency, 1, C.MAX_BULK_CONCURRENCY)
        return run_many_batches(
            specs, self._dial, _dial_key, concurrency=concurrency, before_send=before_send
        )

    # -- call records ------------------------------------------------------------------------

    def _records(
        self,
        kind: str,
        start: dt.datetime | int | None,
        end: dt.datetime | int | None,
        page_size: int,
        limit: int | None,
    ) -> AsyncPaginator[CallRecord]:
        endpoint = _RECORDS[kind]
        check_int_range("page_size", page_size, 1, C.MAX_PAGE_SIZE)
        if limit is not None:
            check_int_range("limit", limit, 1)
        start_ms = _epoch_ms("start", start)
        end_ms = _epoch_ms("end", end)
        if start_ms is not None and end_ms is not None and start_ms > end_ms:
            raise ValidationError("start", "must not be after end")
        url = self.piopiy_url + endpoint.path
        appid, secret = self.appid, self._secret

        def pin() -> _Window:
            stop = end_ms if end_ms is not None else int(time.time() * 1000)
            begin = start_ms if start_ms is not None else stop - C.DEFAULT_RECORD_WINDOW_SECONDS * 1000
            if begin > stop:
                raise ValidationError("start", "must not be after end (now, by default)")
            return _Window(begin, stop)

        async def fetch(window: object, number: int) -> Page[CallRecord]:
            assert isinstance(window, _Window)
            page: Page[CallRecord] = await self._post(endpoint, url, {
                "appid": appid, "token": secret, "start_date": window.start,
                "end_date": window.end, "page": number, "limit": page_size,
            }, parse=lambda data: _page(data, number, page_size))
            return page

        return AsyncPaginator(
            fetch, pin, page_size=page_size, limit=limit, concurrency=self.page_concurrency
        )

    def outgoing_answered(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
    ) -> AsyncPaginator[CallRecord]:
        """Outgoing answered calls in [start, end] (default: the last 24 hours), newest first.

        ``await`` it for the first page (with `total`), or ``async for`` over every record.
        `start` and `end` are datetimes or epoch milliseconds; `limit` caps the records yielded.
        """
        return self._records("outanswered", start, end, page_size, limit)

    def outgoing_missed(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
    ) -> AsyncPaginator[CallRecord]:
        """Outgoing missed calls; see `outgoing_answered`."""
        return self._records("outmissed", start, end, page_size, limit)

    def answered(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
    ) -> AsyncPaginator[CallRecord]:
        """Incoming answered calls; see `outgoing_answered`."""
        return self._records("answered", start, end, page_size, limit)

    def missed(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
    ) -> AsyncPaginator[CallRecord]:
        """Incoming missed calls; see `outgoing_answered`."""
        return self._records("missed", start, end, page_size, limit)


def _dial_key(spec: Dial) -> str:
    if not isinstance(spec, Dial):
        raise ValidationError("specs", f"must hold voicekit.telecmi.Dial items, got {type(spec).__name__}")
    return check_str("key", spec.key, max_len=C.MAX_KEY_LEN)


def _call_result(data: Any) -> CallResult:
    """The documented answer of a placed call; anything else raises (the answer is unreadable)."""
    return converter.structure(data, CallResult)


def _click_result(data: Any) -> ClickToCallResult:
    return converter.structure(data, ClickToCallResult)


def _page(data: Any, number: int, page_size: int) -> Page[CallRecord]:
    """One documented page of call records; raises for any other shape (the answer is then
    unreadable, and the request path retries it)."""
    if not isinstance(data, dict):
        raise TypeError(f"a page of call records must be a JSON object, got {type(data).__name__}")
    if "cdr" not in data:
        raise KeyError("the page has no 'cdr' list")
    total = data.get("total", data.get("count"))
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ValueError(f"the page's total must be a count, got {total!r}")
    records = converter.structure(data["cdr"], list[CallRecord])
    return Page(number=number, page_size=page_size, total=total, records=records)


class SyncPaginator:
    """Blocking view of an `AsyncPaginator`: iterate for every record, `.first_page()` for one."""

    def __init__(self, paginator: AsyncPaginator[CallRecord]) -> None:
        self._paginator = paginator

    def first_page(self) -> Page[CallRecord]:
        async def first() -> Page[CallRecord]:
            return await self._paginator

        return _sync.call(first)

    @property
    def total(self) -> int:
        """The total the vendor reports for the window (fetches the first page)."""
        return self.first_page().total

    def pages(self) -> Iterator[Page[CallRecord]]:
        return _sync.iterate_batches(self._paginator.pages, lambda page: (page,))

    def __iter__(self) -> Iterator[CallRecord]:
        limit = self._paginator.limit
        remaining = math.inf if limit is None else limit
        for page in self.pages():
            for record in page.records:
                if remaining <= 0:
                    return
                remaining -= 1
                yield record
            if remaining <= 0:
                return


class TeleCMI:
    """Blocking TeleCMI client: the same methods and arguments as `AsyncTeleCMI`.

    Every call runs on voicekit's background event loop; use it from any thread, from a notebook,
    or after a fork. Use it as a context manager or call `close()`.
    """

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
    ) -> None:
        self._async = AsyncTeleCMI(
            appid=appid, secret=secret, base_url=base_url, piopiy_url=piopiy_url,
            timeout=timeout, retry=retry, rate_limit=rate_limit, limiter_backend=limiter_backend,
            page_concurrency=page_concurrency,
        )
        _sync.register(self, self._async)

    def __repr__(self) -> str:
        return f"TeleCMI(appid={self._async.appid}, base_url={self._async.base_url!r})"

    @property
    def appid(self) -> int:
        return self._async.appid

    def close(self) -> None:
        """Close the connection pool (on the loop that owns it)."""
        _sync.call(self._async.aclose)

    def __enter__(self) -> TeleCMI:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def make_call(
        self,
        *,
        from_: int | str,
        to: int | str,
        pcmo: Sequence[Action] | Action,
        region: Region = "global",
        extra_params: Mapping[str, Any] | str | None = None,
    ) -> CallResult:
        """Blocking `AsyncTeleCMI.make_call`."""
        return _sync.call(lambda: self._async.make_call(
            from_=from_, to=to, pcmo=pcmo, region=region, extra_params=extra_params))

    def play_music(
        self,
        *,
        from_: int | str,
        to: int | str,
        file_name: str | None = None,
        file_url: str | None = None,
        region: Region = "global",
        extra_params: Mapping[str, Any] | str | None = None,
    ) -> CallResult:
        """Blocking `AsyncTeleCMI.play_music`."""
        return _sync.call(lambda: self._async.play_music(
            from_=from_, to=to, file_name=file_name, file_url=file_url, region=region,
            extra_params=extra_params))

    def click_to_call(
        self,
        *,
        user_id: str,
        to: int | str,
        extra_params: Mapping[str, Any] | None = None,
        webrtc: bool = True,
        followme: bool = False,
        callerid: int | str | None = None,
    ) -> ClickToCallResult:
        """Blocking `AsyncTeleCMI.click_to_call`."""
        return _sync.call(lambda: self._async.click_to_call(
            user_id=user_id, to=to, extra_params=extra_params, webrtc=webrtc, followme=followme,
            callerid=callerid))

    def dial_many(
        self,
        specs: Iterable[Dial] | AsyncIterable[Dial],
        *,
        concurrency: int = C.DEFAULT_BULK_CONCURRENCY,
        before_send: BeforeSend | None = None,
    ) -> Iterator[Outcome[CallResult]]:
        """Blocking `AsyncTeleCMI.dial_many`: outcomes cross threads in batches, not one by one."""
        return _sync.iterate_batches(lambda: self._async._dial_batches(specs, concurrency, before_send), iter)

    def outgoing_answered(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
    ) -> SyncPaginator:
        """Blocking `AsyncTeleCMI.outgoing_answered`: iterate it, or call `.first_page()`."""
        return SyncPaginator(self._async.outgoing_answered(
            start=start, end=end, page_size=page_size, limit=limit))

    def outgoing_missed(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
    ) -> SyncPaginator:
        """Blocking `AsyncTeleCMI.outgoing_missed`."""
        return SyncPaginator(self._async.outgoing_missed(
            start=start, end=end, page_size=page_size, limit=limit))

    def answered(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
    ) -> SyncPaginator:
        """Blocking `AsyncTeleCMI.answered`."""
        return SyncPaginator(self._async.answered(
            start=start, end=end, page_size=page_size, limit=limit))

    def missed(
        self,
        *,
        start: dt.datetime | int | None = None,
        end: dt.datetime | int | None = None,
        page_size: int = C.DEFAULT_PAGE_SIZE,
        limit: int | None = None,
    ) -> SyncPaginator:
        """Blocking `AsyncTeleCMI.missed`."""
        return SyncPaginator(self._async.missed(
            start=start, end=end, page_size=page_size, limit=limit))
