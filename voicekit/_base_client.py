"""request -> limiter -> transport -> retry -> error mapping: the one path every request takes."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from typing import Any, Final

import aiohttp
import anyio
import attrs
import orjson

from . import _constants as C
from ._config import RateLimit, RetryPolicy, Timeout
from ._ratelimit import LimiterBackend, RateLimiter
from ._retry import backoff_delay, parse_retry_after
from .errors import (
    APIStatusError,
    AuthenticationError,
    CallOutcomeUnknownError,
    ConnectError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ReadError,
    ServerError,
    UsageError,
    ValidationError,
)

__all__ = ["BaseAsyncClient", "Endpoint", "ErrorTable", "redact", "scrub"]

log = logging.getLogger("voicekit")

SECRET_KEYS: Final = frozenset(
    {"secret", "token", "app_secret", "AccessToken", "Authorization", "authorization"}
)
REDACTED: Final = "***"

ErrorTable = Mapping[int, tuple[type[APIStatusError], str]]

# What a status means when the endpoint's document is silent about it.
_DEFAULT_ERRORS: Final[ErrorTable] = {
    400: (InvalidRequestError, "bad request"),
    401: (AuthenticationError, "unauthorized"),
    403: (AuthenticationError, "forbidden"),
    404: (NotFoundError, "not found"),
    422: (InvalidRequestError, "unprocessable request"),
    429: (RateLimitedError, "rate limited"),
}



@attrs.frozen
class Endpoint:
    """One vendor endpoint: its name, path, whether it places a call, and its status table.

    For an endpoint that places calls every 5xx means "outcome unknown", whatever the table says.
    """

    name: str
    path: str
    creates_call: bool
    errors: ErrorTable = attrs.field(factory=dict)


def redact(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a request body with every secret replaced by ``***``."""
    return {k: (REDACTED if k in SECRET_KEYS else v) for k, v in body.items()}


_dumps: Final = orjson.dumps

def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with every occurrence of a secret replaced, in case a vendor echoes a request back."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret and secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: (REDACTED if k in SECRET_KEYS else scrub(v, secrets)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


def _vendor_code(body: Any) -> str | int | None:
    if isinstance(body, dict):
        for key in ("retCode", "code"):
            if key in body:
                value = body[key]
                return value if isinstance(value, str | int) else str(value)
    return None


def _message(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        for key in ("msg", "message", "retMsg", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return f"{fallback}: {value}"
    return fallback


def _parse_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")[:2000]


class BaseAsyncClient:
    """Everything the async vendor clients share: the session, the limiter, retries, errors.

    The aiohttp session is created lazily on the first request, on the running loop, and closed on
    that loop by `aclose()`; nothing touches the network at construction.
    """

    _vendor: str = "vendor"

    def __init__(
        self,
        *,
        account: str,
        timeout: Timeout | float | None,
        retry: RetryPolicy | None,
        rate_limit: RateLimit | float | None,
        limiter_backend: LimiterBackend | None,
        connection_limit: int = C.DEFAULT_CONNECTION_LIMIT,
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, Timeout | int | float | None):
            raise ValidationError("timeout", "must be a Timeout or a number of seconds")
        self._timeout = (
            timeout if isinstance(timeout, Timeout)
            else Timeout(total=float(timeout)) if timeout is not None else Timeout()
        )
        self._retry = retry or RetryPolicy()
        self._limiter = RateLimiter(
            f"{self._vendor}:{account}", RateLimit.coerce(rate_limit), limiter_backend
        )
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._fork_generation = _fork_generation
        self._closed = False

    def _secret_values(self) -> tuple[str, ...]:
        """The credentials this client holds, scrubbed from anything an error carries."""
        return ()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def rate_limit(self) -> RateLimit | None:
        """The client-side limit in force for this account, or None."""
        return self._limiter.limit

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise UsageError("this client is closed; create a new one")
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and self._fork_generation != _fork_generation:
            _abandon_after_fork(session)
            session = self._session = None
        if session is None or session.closed:
            self._fork_generation = _fork_generation
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connection_limit),
                timeout=aiohttp.ClientTimeout(
                    total=self._timeout.total, sock_connect=self._timeout.connect
                ),
                # Set once here rather than per request: aiohttp merges per-request headers anew
                # each time, which costs more than the rest of our request building.
                headers={
                    "User-Agent": _user_agent(),
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
            )
            self._session, self._session_loop = session, loop
        elif self._session_loop is not loop:
            raise UsageError(
                "this client's connections belong to another event loop; create one client per "
                "event loop, or use the blocking client (e.g. voicekit.TeleCMI) from threads"
            )
        return session

    async def aclose(self) -> None:
        """Close the connection pool. The client cannot be used afterwards."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> Any:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the request path --------------------------------------------------------------------

    async def _post(
        self,
        endpoint: Endpoint,
        url: str,
        body: dict[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """POST `body` as JSON and return the parsed JSON of a 2xx answer.

        Raises the mapped `APIStatusError` subclass, `ConnectError` / `ReadError` once retries are
        spent, or `CallOutcomeUnknownError` when a call-creating request may have been processed.
        """
        session = self._get_session()
        policy = self._retry
        data = _dumps(body)
        deadline = time.monotonic() + policy.timeout
        attempt = 0
        while True:
            attempt += 1
            await self._limiter.acquire()
            retry_after: float | None = None
            try:
                async with session.post(url, data=data, headers=headers) as resp:
                    status = resp.status
                    raw = await resp.read()
                    if status == 429:
                        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            except aiohttp.ClientConnectorError as exc:
                error: Exception = ConnectError(
                    f"could not connect to {endpoint.name} ({exc.os_error or exc})",
                    method="POST", url=url,
                )
                error.__cause__ = exc
            except aiohttp.ConnectionTimeoutError as exc:
                error = ConnectError(
                    f"timed out connecting for {endpoint.name} after {self._timeout.connect} s",
                    method="POST", url=url,
                )
                error.__cause__ = exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                what = (
                    f"no answer within {self._timeout.total} s"
                    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError)
                    else f"the connection failed mid-request ({type(exc).__name__})"
                )
                if endpoint.creates_call:
                    raise CallOutcomeUnknownError(
                        f"{endpoint.name}: {what}", endpoint=endpoint.name, request=redact(body)
                    ) from exc
                error = ReadError(f"{endpoint.name}: {what}", method="POST", url=url)
                error.__cause__ = exc
            else:
                if 200 <= status < 300:
                    log.debug("POST %s -> %s", endpoint.path, status)
                    return _parse_body(raw)
                log.debug("POST %s -> %s", endpoint.path, status)
                parsed = scrub(_parse_body(raw), self._secret_values())
                error = self._status_error(endpoint, status, parsed, retry_after)
                if status == 429:
                    await self._limiter.penalize(retry_after)
                elif endpoint.creates_call and status >= 500 and isinstance(error, ServerError):
                    raise CallOutcomeUnknownError(
                        f"{endpoint.name}: the vendor answered HTTP {status}",
                        endpoint=endpoint.name, request=redact(body), status=status, body=parsed,
                    ) from error
                elif not isinstance(error, ServerError):
                    raise error

            # Only transient failures reach this point: connect errors, 429, and (for read-only
            # requests) read failures and 5xx.
            delay = backoff_delay(policy, attempt, retry_after)
            if (
                attempt >= policy.attempts
                or time.monotonic() + delay > deadline
                or (retry_after is not None and retry_after > policy.max_retry_after)
            ):
                raise error
            log.debug("retrying %s in %.3f s (attempt %d): %s", endpoint.name, delay, attempt, error)
            await anyio.sleep(delay)

    def _status_error(
        self, endpoint: Endpoint, status: int, body: Any, retry_after: float | None
    ) -> APIStatusError:
        entry = endpoint.errors.get(status) or _DEFAULT_ERRORS.get(status)
        if status >= 500 and (entry is None or endpoint.creates_call):
            entry = (ServerError, entry[1] if entry else "the vendor failed")
        if entry is None:
            entry = (APIStatusError, "unexpected answer")
        cls, meaning = entry
        kwargs: dict[str, Any] = {
            "status": status, "code": _vendor_code(body), "body": body, "endpoint": endpoint.name
        }
        if cls is RateLimitedError:
            return RateLimitedError(_message(body, meaning), retry_after=retry_after, **kwargs)
        return cls(_message(body, meaning), **kwargs)


# Pooled connections inherited from the parent process, kept referenced and never closed.
_fork_orphans: list[object] = []
# Bumped in a forked child; a client whose session predates it drops that session. Cheaper than
# asking the OS for the PID on every request.
_fork_generation = 0


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


def _abandon_after_fork(session: aiohttp.ClientSession) -> None:
    """Drop a session inherited across fork() without touching the parent's sockets.

    Closing an inherited transport unregisters its socket from the event loop's epoll instance,
    which the child shares with the parent: the parent would then never hear its answer. So the
    child keeps the pooled connections referenced and forgets them; aiohttp has no public API for
    this, hence the private attribute.
    """
    connector = session.connector
    conns = getattr(connector, "_conns", None)
    if conns:
        _fork_orphans.append(dict(conns))
        conns.clear()
    session.detach()


def _user_agent() -> str:
    from ._version import __version__

    return f"voicekit/{__version__} aiohttp/{aiohttp.__version__}"
