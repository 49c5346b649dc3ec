"""AsyncHuaweiVoice (voice notifications over Huawei BES); HuaweiVoice, its blocking twin, is
generated from it (`_twins`)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from typing import Any, Final

from .. import _constants as C
from .. import _fork
from .._base_client import BaseAsyncClient, Endpoint, call_timeout
from .._bulk import Outcome, check_bulk, run_many
from .._config import NOT_GIVEN, NotGiven, RateLimit, RetryPolicy, Timeout, checked_setting, env_or
from .._ratelimit import LimiterBackend
from .._redact import redact_url
from .._sending import BeforeSend
from .._validate import (
    check_base_url,
    check_header_value,
    check_int_range,
    check_str,
)
from ..errors import (
    AuthenticationError,
    InvalidRequestError,
    NonVendorResponseError,
    NotFoundError,
    ValidationError,
    VendorError,
)
from ._models import NotificationResult, Notify, Prompt, notification_body

__all__ = ["AsyncHuaweiVoice"]

# Huawei answers in `retCode` / `retMsg`. Its API gateway (the token path is under
# /apigovernance) may refuse a request in the gateway's own `error_code` / `error_msg` form
# before the service sees it; the seed document shows no error body at all, so both forms count
# as the vendor's (uncertain: correct it here). An error status in any other body came from
# something else (a wrong base URL, a proxy; see `classify`).
_ERROR_KEYS: Final = ("retCode", "retMsg", "error_code", "error_msg")

_TOKEN: Final = Endpoint(
    "token",
    "/apigovernance/api/oauth/tokenByAkSk",
    creates_call=False,
    errors={401: (AuthenticationError, "invalid app key or app secret")},
    error_keys=_ERROR_KEYS,
)
_NOTIFY: Final = Endpoint(
    "create_voice_notification",
    "/apiaccess/rest/voiceNotification/v2/createVoiceNotification",
    creates_call=True,
    # The document's 500 ("business failure") is reported as outcome unknown, as every 5xx on a
    # call-creating request is: the notification may have been created.
    errors={
        400: (InvalidRequestError, "incorrect request; check the path and parameters"),
        401: (AuthenticationError, "unauthorized; check the purchased services and the account"),
        404: (NotFoundError, "not found; check the request path"),
    },
    error_keys=_ERROR_KEYS,
)


def _as_float(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return default
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return default
    return number if math.isfinite(number) else default


def _token_answer(data: Any) -> tuple[str, Any, Any]:
    """The token, its Expires and its CreateTime; an answer without a token is unreadable."""
    token = data.get("AccessToken") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise KeyError("the token endpoint answered without an AccessToken")
    return token, data.get("Expires"), data.get("CreateTime")


class _TokenManager:
    """Caches the access token, renews it before expiry, and fetches it once for many waiters."""

    def __init__(self, client: AsyncHuaweiVoice, lifetime: int) -> None:
        self._client = client
        self._lifetime = lifetime
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock: asyncio.Lock | None = None
        self._lock_owner: tuple[asyncio.AbstractEventLoop, int] | None = None

    def _fetch_lock(self) -> asyncio.Lock:
        # A lock belongs to one loop, and one taken at fork() stays taken in the child: each
        # (loop, fork generation) gets its own.
        owner = (asyncio.get_running_loop(), _fork.generation())
        if self._lock is None or self._lock_owner != owner:
            self._lock, self._lock_owner = asyncio.Lock(), owner
        return self._lock

    async def get(self) -> str:
        token = self._token
        if token is not None and time.monotonic() < self._renew_at:
            return token
        async with self._fetch_lock():
            # Whoever waited on the lock finds the token the first waiter fetched.
            if self._token is not None and time.monotonic() < self._renew_at:
                return self._token
            return await self._fetch()

    @property
    def current(self) -> str | None:
        return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (the vendor refused it), unless it was already replaced."""
        if self._token == token:
            self._token = None

    async def _fetch(self) -> str:
        client = self._client
        answer: tuple[str, Any, Any] = await client._post(
            _TOKEN,
            client.base_url + _TOKEN.path,
            {"app_key": client.app_key, "app_secret": client._app_secret},
            headers={"X-Token-Expire": str(self._lifetime)},
            parse=_token_answer,
        )
        token, raw_expires, raw_created = answer
        expires = min(max(_as_float(raw_expires, self._lifetime), 0.0), float(self._lifetime))
        now = time.time()
        age = now - _as_float(raw_created, now)
        # Expires counts from CreateTime; a clock skew between us and the vendor must not make
        # every token look stale, so an implausible age is ignored.
        remaining = expires - age if 0 <= age <= expires else expires
        margin = min(C.HUAWEI_TOKEN_RENEW_MARGIN, expires * 0.1)
        self._token = token
        self._renew_at = time.monotonic() + max(0.0, remaining - margin)
        return token


class AsyncHuaweiVoice(BaseAsyncClient):
    """Async Huawei BES client for voice notifications.

    Args:
        base_url: your tenant's domain, e.g. ``https://service.besclouds.com``
            (or ``VOICEKIT_HUAWEI_BASE_URL``).
        app_key: the app key (or ``VOICEKIT_HUAWEI_APP_KEY``).
        app_secret: the app secret (or ``VOICEKIT_HUAWEI_APP_SECRET``); never shown anywhere.
        token_lifetime: seconds each access token is asked to live (at most 3600).
        timeout, retry, rate_limit, limiter_backend, proxy: as for `voicekit.AsyncTeleCMI`.
    """

    _vendor = "huawei"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        app_key: str | None = None,
        app_secret: str | None = None,
        token_lifetime: int = C.HUAWEI_TOKEN_LIFETIME,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        rate_limit: RateLimit | float | None | NotGiven = NOT_GIVEN,
        limiter_backend: LimiterBackend | None = None,
        proxy: str | None | NotGiven = NOT_GIVEN,
    ) -> None:
        # An argument that breaks a rule is a ValidationError; a bad environment variable a
        # ConfigurationError naming it; neither given, a ConfigurationError saying how to give it.
        self.base_url = checked_setting(base_url, "VOICEKIT_HUAWEI_BASE_URL", "base_url", check_base_url) or str(
            env_or(None, "VOICEKIT_HUAWEI_BASE_URL", "base URL")
        )
        # The app key travels in the X-APP-Key header, so it must be header-safe.
        self.app_key = checked_setting(app_key, "VOICEKIT_HUAWEI_APP_KEY", "app_key", check_header_value) or str(
            env_or(None, "VOICEKIT_HUAWEI_APP_KEY", "app key")
        )
        self._app_secret = checked_setting(app_secret, "VOICEKIT_HUAWEI_APP_SECRET", "app_secret", _app_secret) or str(
            env_or(None, "VOICEKIT_HUAWEI_APP_SECRET", "app secret")
        )
        check_int_range("token_lifetime", token_lifetime, 60, C.HUAWEI_TOKEN_LIFETIME)
        self._tokens = _TokenManager(self, token_lifetime)
        super().__init__(
            account=self.app_key,
            timeout=timeout,
            retry=retry,
            rate_limit=C.DEFAULT_HUAWEI_RATE if isinstance(rate_limit, NotGiven) else rate_limit,
            limiter_backend=limiter_backend,
            proxy=proxy,
        )

    def __repr__(self) -> str:
        return f"AsyncHuaweiVoice(base_url={redact_url(self.base_url)!r}, app_key={_mask(self.app_key)!r})"

    def _secret_values(self) -> tuple[str, ...]:
        token = self._tokens.current
        return (self._app_secret, token) if token else (self._app_secret,)

    async def create_voice_notification(
        self,
        *,
        called: str,
        play_list: Sequence[Prompt],
        callback_url: str | None = None,
        caller_present: str | None = None,
        play_times: int | None = None,
        priority: int | str | None = None,
        timeout: Timeout | float | NotGiven = NOT_GIVEN,
    ) -> NotificationResult:
        """Call `called` and play `play_list` (1-5 prompts).

        `timeout` (a `Timeout` or seconds) overrides the client's for this call; the result's
        `response` holds the HTTP status and headers.

        Raises:
            ValidationError: a documented constraint is broken; nothing was sent.
            VendorError: the vendor answered ``retCode`` other than ``"0"``.
            AuthenticationError, InvalidRequestError, NotFoundError: HTTP 401, 400, 404.
            CallOutcomeUnknownError: the call may have been placed (5xx, timeout, dropped
                connection); it was not retried.
        """
        body = notification_body(called, play_list, callback_url, caller_present, play_times, priority)
        attempt_timeout = call_timeout(timeout)
        url = self.base_url + _NOTIFY.path
        for attempt in (1, 2):
            token = await self._tokens.get()
            headers = {"X-APP-Key": self.app_key, "Authorization": f"Bearer {token}"}
            try:
                result: NotificationResult = await self._post(
                    _NOTIFY,
                    url,
                    body,
                    headers=headers,
                    parse=_notification_result,
                    attempt_timeout=attempt_timeout,
                )
            except (AuthenticationError, NonVendorResponseError) as exc:
                # 401: the request was not processed. Renew the token once and retry, whatever
                # the body (a gateway in front of the vendor may answer an expired token in a
                # shape of its own); a second 401 is raised as it came.
                if exc.status != 401 or attempt == 2:
                    raise
                self._tokens.invalidate(token)
                continue
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _notify(self, spec: Notify) -> NotificationResult:
        return await self.create_voice_notification(
            called=spec.called,
            play_list=spec.play_list,
            callback_url=spec.callback_url,
            caller_present=spec.caller_present,
            play_times=spec.play_times,
            priority=spec.priority,
        )

    def notify_many(
        self,
        specs: Iterable[Notify] | AsyncIterable[Notify],
        *,
        concurrency: int = C.DEFAULT_BULK_CONCURRENCY,
        before_send: BeforeSend | None = None,
    ) -> AsyncIterator[Outcome[NotificationResult]]:
        """Create many notifications; yield one `Outcome` per `Notify` as it completes.

        See `voicekit.AsyncTeleCMI.dial_many` for the guarantees.
        """
        check_bulk(specs, concurrency, before_send)
        return run_many(specs, self._notify, _notify_key, concurrency=concurrency, before_send=before_send)


def _notify_key(spec: Notify) -> str:
    if not isinstance(spec, Notify):
        raise ValidationError("specs", f"must hold voicekit.huawei.Notify items, got {type(spec).__name__}")
    return check_str("key", spec.key, max_len=C.MAX_KEY_LEN)


def _app_secret(field: str, value: Any) -> str:
    return check_str(field, value, max_len=1024)


def _notification_result(data: Any) -> NotificationResult:
    """The documented answer; a ``retCode`` other than ``"0"`` is the vendor's refusal
    (`VendorError`), and any other shape raises (the answer is unreadable)."""
    if not isinstance(data, dict):
        raise TypeError(f"the answer must be a JSON object, got {type(data).__name__}")
    code = data.get("retCode")
    if not isinstance(code, str | int) or isinstance(code, bool):
        raise KeyError("the answer has no retCode")
    message = data.get("retMsg")
    message = message if isinstance(message, str) else ""
    if str(code) != "0":
        raise VendorError(
            message[:200] or "the vendor reported a failure",
            status=200,
            code=str(code)[:64],
            body=data,
            endpoint=_NOTIFY.name,
        )
    result = data.get("result")
    serial = result.get("callSerialNo") if isinstance(result, dict) else None
    if isinstance(serial, bool) or not isinstance(serial, str | int) or serial == "":
        raise KeyError("the answer has no result.callSerialNo")
    return NotificationResult(call_serial_no=str(serial), ret_code="0", ret_msg=message)


def _mask(value: str) -> str:
    return value[:2] + "***" + value[-2:] if len(value) > 6 else "***"
