"""request -> limiter -> transport -> retry -> error mapping: the one path every request takes."""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import time
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any, Final, Self

import aiohttp
import anyio
import attrs
import orjson
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from . import _constants as C
from . import _fork, _observe, _otel
from ._config import MAX_SECONDS, NOT_GIVEN, NotGiven, RateLimit, RetryPolicy, Timeout
from ._otel import RequestTrace
from ._ratelimit import AccountPaused, LimiterBackend, RateLimiter, Start, departing
from ._redact import REDACTED, redact_url
from ._response import Response, attach
from ._retry import parse_retry_after, retry_delay
from ._sending import current_ticket
from ._validate import check_number, show
from .errors import (
    ActionOutcomeUnknownError,
    APIStatusError,
    AuthenticationError,
    CallOutcomeUnknownError,
    ConfigurationError,
    ConnectError,
    InvalidRequestError,
    NonVendorResponseError,
    NotFoundError,
    OutcomeUnknownError,
    ProxyAuthenticationError,
    ProxyConnectError,
    RateLimitedError,
    ReadError,
    ServerError,
    UnexpectedResponseError,
    UsageError,
    ValidationError,
    VoiceKitError,
)

__all__ = [
    "Answer",
    "BaseAsyncClient",
    "Endpoint",
    "ErrorTable",
    "RedactedCause",
    "Verdict",
    "classify",
    "redact",
    "scrub",
    "send_once",
]

log = logging.getLogger("voicekit")

#: Keys (in bodies and headers, compared in lower case) whose value is a secret, whatever it is.
SECRET_KEYS: Final = frozenset(
    {"secret", "token", "app_secret", "accesstoken", "authorization", "proxy-authorization", "x-app-secret"}
)


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower() in SECRET_KEYS


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
    `idempotent=False` (e.g. toggling hold) gets the same never-blind-retry rule without placing
    a call: a request that may have reached the vendor is reported as outcome unknown.
    `error_keys` are the fields of the vendor's error body (one of them is enough); an error
    status whose body holds none of them is not the vendor's answer. Empty: any body is.
    """

    name: str
    path: str
    creates_call: bool
    errors: ErrorTable = attrs.field(factory=dict)
    idempotent: bool = True
    error_keys: tuple[str, ...] = ()

    def speaks(self, body: Any) -> bool:
        """Whether an error `body` (decoded JSON, or text) is in the vendor's error shape."""
        if not self.error_keys:
            return True
        return isinstance(body, dict) and any(body.get(key) is not None for key in self.error_keys)

    @property
    def retry_blind(self) -> bool:
        """Whether a request that may have been processed can be sent again."""
        return self.idempotent and not self.creates_call


def redact(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a request body with every secret replaced by ``***``."""
    return {k: (REDACTED if _secret_key(k) else v) for k, v in body.items()}


_dumps: Final = orjson.dumps


def scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` with every secret-named key and every occurrence of a secret replaced.

    For error material only (bodies, messages, echoed requests): a vendor may echo a request
    back. Never applied to a successful result, where a short secret could mangle real data.
    """
    if isinstance(value, str):
        # Longest first: a secret inside a longer one (a password inside its Basic header)
        # must not leave the rest of the longer one behind.
        for secret in sorted(secrets, key=len, reverse=True):
            if secret and secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {
            (scrub(k, secrets) if isinstance(k, str) else k): (REDACTED if _secret_key(k) else scrub(v, secrets))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, secrets) for v in value]
    return value


def _vendor_code(body: Any) -> str | int | None:
    if isinstance(body, dict):
        for key in ("retCode", "code"):
            if key in body:
                value = body[key]
                if isinstance(value, bool) or not isinstance(value, str | int):
                    return str(value)[:64]
                return value if not isinstance(value, str) else value[:64]
    return None


def _message(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        for key in ("msg", "message", "retMsg", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return f"{fallback}: {value[:200]}"
    return fallback


def _error_body(raw: bytes) -> Any:
    """The body of an answer for an error to carry: its JSON, else (a bounded prefix of) its text."""
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[: C.MAX_ERROR_BODY_CHARS].decode("utf-8", "replace")


def _header_secrets(headers: Mapping[str, str] | None) -> tuple[str, ...]:
    """Credentials carried in this request's headers (a bearer token), to scrub from its errors."""
    if not headers:
        return ()
    value = headers.get("Authorization")
    if not value:
        return ()
    scheme, _, token = value.partition(" ")
    return (token or scheme,)


# -- one send --------------------------------------------------------------------------------

#: A body larger than this is not read: no documented answer comes near it.
MAX_BODY_BYTES: Final = 16 * 1024 * 1024


@attrs.frozen
class Answer:
    """What one send brought back: the status, the headers that steer a retry, the raw body.

    `raw` is None when the body was larger than `MAX_BODY_BYTES` and was not read.
    """

    status: int
    raw: bytes | None
    retry_after: float | None = None
    location: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)


#: Set for each attempt: the connection pool marks it False when it starts getting the attempt a
#: connection and True once that is ready (reused, or opened with its TLS handshake or proxy
#: tunnel). While it is False no byte of the request has left, so a timeout then is a failure
#: to connect, not an outcome unknown. Unmarked (None: a transport that bypasses the pool), a
#: timeout stays unknown.
connected: Final[ContextVar[list[bool | None] | None]] = ContextVar("voicekit_connected", default=None)


class NeverConnectedError(TimeoutError):
    """The attempt's time ran out before its connection was ready: nothing was sent."""


#: What a send may raise for a failed exchange; everything else is a defect, not the network.
TRANSPORT_ERRORS: Final = (aiohttp.ClientError, TimeoutError, OSError, asyncio.IncompleteReadError, ValueError)


async def send_once(
    session: aiohttp.ClientSession,
    url: str,
    data: bytes,
    headers: Mapping[str, str] | None,
    **options: Any,
) -> Answer:
    """POST `data` once. Redirects are never followed: a redirect is an answer like any other.

    `options` go to aiohttp as they are (a proxy, a per-call timeout).

    Raises:
        one of `TRANSPORT_ERRORS` when no complete answer arrived; `NeverConnectedError` when
        the time ran out before a connection was ready (nothing was sent).
    """
    ready: list[bool | None] = [None]
    token = connected.set(ready)
    try:
        return await _post_once(session, url, data, headers, **options)
    except TimeoutError as exc:
        if ready[0] is not False or isinstance(exc, aiohttp.ConnectionTimeoutError):
            raise
        raise NeverConnectedError() from exc
    finally:
        connected.reset(token)


async def _post_once(
    session: aiohttp.ClientSession,
    url: str,
    data: bytes,
    headers: Mapping[str, str] | None,
    **options: Any,
) -> Answer:
    async with session.post(url, data=data, headers=headers, allow_redirects=False, **options) as resp:
        status = resp.status
        length = resp.content_length
        if length is not None and length <= MAX_BODY_BYTES:
            raw: bytes | None = await resp.read()
        else:
            raw = await _read_bounded(resp)
        retry_after = parse_retry_after(resp.headers.get("Retry-After")) if status in (429, 503) else None
        location = resp.headers.get("Location") if 300 <= status < 400 else None
    return Answer(status, raw, retry_after, location, resp.headers)


async def _read_bounded(resp: aiohttp.ClientResponse) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


# -- what an attempt's outcome means ----------------------------------------------------------


@attrs.frozen
class Verdict:
    """What to do with one attempt's outcome: return `value`, or raise `error` (after retrying
    it while `retryable` and the policy allows, waiting at least `retry_after`)."""

    value: Any = None
    error: Exception | None = None
    retryable: bool = False
    retry_after: float | None = None
    #: the vendor said 429: slow the account down.
    throttled: bool = False


def classify(
    endpoint: Endpoint,
    outcome: Answer | BaseException,
    *,
    url: str,
    request: Mapping[str, Any],
    parse: Callable[[Any], Any] | None = None,
    secrets: tuple[str, ...] = (),
    timeout: Timeout | None = None,
    proxy: str | None = None,
) -> Verdict:
    """Decide what one attempt's outcome means; a pure function of what happened.

    Every error it decides on is scrubbed here, along its whole chain of causes: this is the
    one place every error of a request passes.

    Args:
        endpoint: the endpoint asked; a call-creating one never retries what may have left.
        outcome: the `Answer`, or the exception the send raised.
        url: the URL asked (no credentials travel in it).
        request: the request body (redacted before any error carries it).
        parse: turns the decoded JSON of a 2xx into the result; raising anything but a
            `VoiceKitError` means the answer is unreadable.
        secrets: what to scrub from every piece of error material.
        timeout: the timeouts in force, for the messages.
        proxy: the proxy the request went through (without credentials), for the messages.
    """
    verdict = _decide(endpoint, outcome, url, request, parse, secrets, timeout or Timeout(), proxy)
    if verdict.error is not None:
        scrub_chain(verdict.error, secrets)
    return verdict


def _decide(
    endpoint: Endpoint,
    outcome: Answer | BaseException,
    url: str,
    request: Mapping[str, Any],
    parse: Callable[[Any], Any] | None,
    secrets: tuple[str, ...],
    timeout: Timeout,
    proxy: str | None,
) -> Verdict:
    if isinstance(outcome, BaseException):
        return _classify_transport(endpoint, outcome, url, request, secrets, timeout, proxy)
    status, raw = outcome.status, outcome.raw
    if 200 <= status < 300:
        try:
            if raw is None:
                raise ValueError(f"the answer is larger than {MAX_BODY_BYTES} bytes")
            data = orjson.loads(raw)
            value = data if parse is None else parse(data)
            return Verdict(value=attach(value, Response(status, outcome.headers)))
        except VoiceKitError as exc:
            if isinstance(exc, APIStatusError) and exc.response is None:
                exc.response = _error_response(outcome, secrets)
            return Verdict(error=exc)
        except Exception as exc:  # noqa: BLE001 - whatever the parser raised, the answer is unreadable
            problem = UnexpectedResponseError(
                f"unreadable answer ({_describe(exc)})",
                status=status,
                body=scrub(_error_body(raw or b""), secrets),
                endpoint=endpoint.name,
                response=_error_response(outcome, secrets),
            )
            problem.__cause__ = exc
            return _unreadable(endpoint, problem, request, secrets)
    body = scrub(_error_body(raw or b""), secrets)
    response = _error_response(outcome, secrets)
    if 300 <= status < 400:
        where = scrub(redact_url(outcome.location) if outcome.location else "nowhere", secrets)
        problem = UnexpectedResponseError(
            f"redirected to {where}; voicekit follows no redirect (check the base URL)",
            status=status,
            body=body,
            endpoint=endpoint.name,
            response=response,
        )
        return _answered_but(endpoint, problem, request, secrets, retryable=False)
    # Who answered an error status. A proxy's 407 is never the vendor's, and 429 means "slow
    # down, nothing was done" whoever says it: both are decided by the status alone. For the
    # rest, a body outside the vendor's error shape (aiohttp's "404: Not Found", an HTML page,
    # an empty body, JSON of another shape) says that something else answered: a wrong
    # base_url or path, a proxy, a gateway.
    # - 4xx: the server that answered refused the request rather than acting on it, and it
    #   was not the vendor, so the vendor never processed it: nothing was placed, on any
    #   endpoint. A configuration error (NonVendorResponseError), never retried, never unknown.
    # - 5xx: a gateway answers 502 or 504 for the vendor behind it, possibly after passing the
    #   request on, and the vendor may have placed the call: outcome unknown on call-creating
    #   endpoints, a retried ServerError elsewhere, exactly as for the vendor's own 5xx.
    # - 2xx and 3xx (above) are judged as before: an unreadable 2xx or a redirect may follow a
    #   placed call just the same.
    if status == 407:
        return Verdict(error=_proxy_refused(endpoint, body, response, proxy))
    speaks = status == 429 or endpoint.speaks(body)
    if 400 <= status < 500 and not speaks:
        error: APIStatusError = NonVendorResponseError(
            f"this answer is not the vendor's ({_shape(body)}): the base URL, its path or a proxy on the way is "
            "wrong, and the request was not processed; check base_url",
            status=status,
            body=body,
            endpoint=endpoint.name,
            response=response,
        )
        return Verdict(error=error)
    error = _status_error(endpoint, status, body, outcome.retry_after, response)
    if status == 429:
        return Verdict(error=error, retryable=True, retry_after=outcome.retry_after, throttled=True)
    if status >= 500:
        what = None if speaks else f"HTTP {status} came back, not in the vendor's shape (a gateway or proxy answered)"
        return _answered_but(
            endpoint, error, request, secrets, retryable=True, retry_after=outcome.retry_after, what=what
        )
    return Verdict(error=error)


def _proxy_refused(endpoint: Endpoint, body: Any, response: Response, proxy: str | None) -> ProxyAuthenticationError:
    """A 407 to a plain-http request: the proxy wants credentials, or other ones."""
    if proxy is None:
        where = "a proxy on the way (none is configured)"
    else:
        where = f"the proxy {redact_url(proxy)}"
    return ProxyAuthenticationError(
        f"{endpoint.name}: {where} answered HTTP 407 (Proxy Authentication Required) and passed nothing on to "
        "the vendor; give the proxy's user and password as proxy='http://user:password@host:port' or in "
        "HTTP_PROXY / HTTPS_PROXY, and check them",
        status=407,
        body=body,
        endpoint=endpoint.name,
        proxy=proxy,
        response=response,
    )


def _shape(body: Any) -> str:
    """What came back instead of the vendor's error body, in a few words."""
    if body is None or (isinstance(body, str) and not body.strip()):
        return "an empty body"
    if isinstance(body, str):
        return f"text {show(' '.join(body.split()))}"
    if isinstance(body, dict):
        keys = ", ".join(show(str(k)) for k in list(body)[:4]) + (", ..." if len(body) > 4 else "")
        return f"JSON with {keys}" if keys else "an empty JSON object"
    return f"a JSON {'array' if isinstance(body, list) else type(body).__name__}"


def _answered_but(
    endpoint: Endpoint,
    error: APIStatusError,
    request: Mapping[str, Any],
    secrets: tuple[str, ...],
    *,
    retryable: bool,
    retry_after: float | None = None,
    what: str | None = None,
) -> Verdict:
    """A redirect or a 5xx: the request reached the vendor, who may have acted on it. Where a
    blind retry is not allowed, the outcome is unknown; elsewhere `error` stands (and is retried
    when `retryable`)."""
    if endpoint.retry_blind:
        return Verdict(error=error, retryable=retryable, retry_after=retry_after)
    what = what or f"the vendor answered HTTP {error.status}"
    unknown = _unknown(endpoint, what, request, secrets, status=error.status, body=error.body, cause=error)
    return Verdict(error=unknown)


def _error_response(answer: Answer, secrets: tuple[str, ...]) -> Response:
    """The answer's status and headers for an error to carry, scrubbed like all error material."""
    headers = CIMultiDict((k, scrub(v, secrets)) for k, v in answer.headers.items())
    return Response(answer.status, CIMultiDictProxy(headers))


def _classify_transport(
    endpoint: Endpoint,
    exc: BaseException,
    url: str,
    request: Mapping[str, Any],
    secrets: tuple[str, ...],
    timeout: Timeout,
    proxy: str | None = None,
) -> Verdict:
    error: Exception
    shown_proxy = redact_url(proxy) if proxy else "(the environment's)"
    if isinstance(exc, aiohttp.InvalidURL):
        # Never sent: the URL cannot even be parsed into a request.
        error = ConfigurationError(f"{endpoint.name}: {scrub(str(exc), secrets)} is not a usable URL")
    elif isinstance(exc, aiohttp.ClientHttpProxyError):
        # The proxy answered the tunnel request (CONNECT, for an https URL) with an error: no
        # byte went to the vendor, whatever the status. A connect failure, retried like one.
        error = ProxyConnectError(
            f"the proxy {shown_proxy} refused to open a tunnel for {endpoint.name}: it answered HTTP "
            f"{exc.status} {scrub(exc.message, secrets)!r}, and nothing reached the vendor; check the proxy "
            "settings (proxy=, HTTPS_PROXY, NO_PROXY) and the proxy's user and password",
            status=exc.status,
            proxy=shown_proxy,
            method="POST",
            url=url,
        )
        return _with_cause(Verdict(error=error, retryable=True), exc)
    elif isinstance(exc, aiohttp.ClientProxyConnectionError):
        error = ProxyConnectError(
            f"could not connect to the proxy {shown_proxy} for {endpoint.name} "
            f"({scrub(str(exc.os_error or exc), secrets)}); check the proxy settings (proxy=, HTTP(S)_PROXY)",
            proxy=shown_proxy,
            method="POST",
            url=url,
        )
        return _with_cause(Verdict(error=error, retryable=True), exc)
    elif isinstance(exc, aiohttp.ClientConnectorError):
        error = ConnectError(
            f"could not connect to {endpoint.name} ({scrub(str(exc.os_error or exc), secrets)})",
            method="POST",
            url=url,
        )
        return _with_cause(Verdict(error=error, retryable=True), exc)
    elif isinstance(exc, aiohttp.ConnectionTimeoutError | NeverConnectedError):
        budget = timeout.connect if isinstance(exc, aiohttp.ConnectionTimeoutError) else timeout.total
        error = ConnectError(
            f"timed out connecting for {endpoint.name} after {budget} s; nothing was sent",
            method="POST",
            url=url,
        )
        return _with_cause(Verdict(error=error, retryable=True), exc)
    else:
        what = (
            f"no answer within {timeout.total} s"
            if isinstance(exc, TimeoutError)
            else f"the connection failed mid-request ({type(exc).__name__})"
        )
        if not endpoint.retry_blind:
            error = _unknown(endpoint, what, request, secrets, cause=exc)
        else:
            return _with_cause(
                Verdict(error=ReadError(f"{endpoint.name}: {what}", method="POST", url=url), retryable=True),
                exc,
            )
    return _with_cause(Verdict(error=error), exc)


def _with_cause(verdict: Verdict, cause: BaseException) -> Verdict:
    if verdict.error is not None and verdict.error.__cause__ is None:
        verdict.error.__cause__ = cause
    return verdict


def _unreadable(
    endpoint: Endpoint,
    problem: UnexpectedResponseError,
    request: Mapping[str, Any],
    secrets: tuple[str, ...],
) -> Verdict:
    if not endpoint.retry_blind:
        return Verdict(
            error=_unknown(
                endpoint,
                f"the vendor answered HTTP {problem.status} with an {problem.message}",
                request,
                secrets,
                status=problem.status,
                body=problem.body,
                cause=problem,
            )
        )
    return Verdict(error=problem, retryable=True)


def _unknown(
    endpoint: Endpoint,
    what: str,
    request: Mapping[str, Any],
    secrets: tuple[str, ...],
    *,
    status: int | None = None,
    body: Any = None,
    cause: BaseException | None = None,
) -> OutcomeUnknownError:
    cls = CallOutcomeUnknownError if endpoint.creates_call else ActionOutcomeUnknownError
    error = cls(
        f"{endpoint.name}: {what}",
        endpoint=endpoint.name,
        request=scrub(redact(request), secrets),
        status=status,
        body=body,
        response=cause.response if isinstance(cause, APIStatusError) else None,
    )
    error.__cause__ = cause
    return error


def _status_error(
    endpoint: Endpoint,
    status: int,
    body: Any,
    retry_after: float | None,
    response: Response | None = None,
) -> APIStatusError:
    entry = endpoint.errors.get(status) or _DEFAULT_ERRORS.get(status)
    if status >= 500 and entry is None:
        entry = (ServerError, "the vendor failed")
    if entry is None:
        entry = (APIStatusError, "unexpected answer")
    cls, meaning = entry
    kwargs: dict[str, Any] = {
        "status": status,
        "code": _vendor_code(body),
        "body": body,
        "endpoint": endpoint.name,
        "response": response,
    }
    if cls is RateLimitedError:
        return RateLimitedError(_message(body, meaning), retry_after=retry_after, **kwargs)
    return cls(_message(body, meaning), **kwargs)


# -- no secret along an error's chain ----------------------------------------------------------


class RedactedCause(Exception):
    """Stands in an error's chain for a foreign exception that held a secret voicekit could
    not scrub out of it; it names the exception's type."""


#: How deep a secret is looked for inside one exception's attributes.
_MAX_DEPTH: Final = 8


def scrub_chain(error: BaseException, secrets: tuple[str, ...]) -> None:
    """Scrub `error` and every exception along its ``__cause__`` / ``__context__`` chain, in
    place: arguments, every attribute (strings, bodies, headers, aiohttp's ``request_info``,
    a ``JSONDecodeError``'s ``doc``). A link that still holds a secret afterwards (an attribute
    of a type voicekit cannot rebuild) is cut from the chain and a `RedactedCause` stands in
    its place."""
    _scrub_exception(error, secrets)
    if _holds_secret(error, secrets):
        # voicekit's own error: blank whatever attribute still holds one (never expected).
        for name, value in list(_attributes(error).items()):
            if _holds_secret(value, secrets):
                error.__dict__[name] = None
        error.args = tuple(None if _holds_secret(arg, secrets) else arg for arg in error.args)
    seen = {id(error)}
    links = [error]
    while links:
        link = links.pop()
        for name in ("__cause__", "__context__"):
            nxt = getattr(link, name)
            if nxt is None or id(nxt) in seen:
                continue
            seen.add(id(nxt))
            _scrub_exception(nxt, secrets)
            if _holds_secret(nxt, secrets):
                cut = RedactedCause(f"{type(nxt).__module__}.{type(nxt).__qualname__}: withheld, it held a credential")
                setattr(link, name, cut)
            else:
                links.append(nxt)


def _attributes(exc: BaseException) -> dict[str, Any]:
    try:
        return dict(vars(exc))
    except TypeError:
        return {}


def _scrub_exception(exc: BaseException, secrets: tuple[str, ...]) -> None:
    for name, value in _attributes(exc).items():
        clean = _scrubbed(value, secrets)
        if clean is not value:
            # Straight into the instance dict: an attribute may be a property of its class.
            exc.__dict__[name] = clean
    args = tuple(_scrubbed(arg, secrets) for arg in exc.args)
    if any(new is not old for new, old in zip(args, exc.args, strict=True)):
        exc.args = args


def _scrubbed(value: Any, secrets: tuple[str, ...], depth: int = 0) -> Any:
    """`value` with its secrets taken out; the very same object when it held none."""
    if depth > _MAX_DEPTH:
        return value
    if isinstance(value, str):
        clean = scrub(value, secrets)
        return value if clean == value else clean
    if isinstance(value, bytes):
        clean_bytes = value
        for secret in sorted(secrets, key=len, reverse=True):
            if secret:
                clean_bytes = clean_bytes.replace(secret.encode(), REDACTED.encode())
        return value if clean_bytes == value else clean_bytes
    if isinstance(value, aiohttp.RequestInfo):
        parts = [_scrubbed(part, secrets, depth + 1) for part in value]
        if all(new is old for new, old in zip(parts, value, strict=True)):
            return value
        return aiohttp.RequestInfo(parts[0], parts[1], parts[2], parts[3])
    if isinstance(value, yarl.URL):
        text = str(value.with_password(REDACTED) if value.password else value)
        clean = scrub(text, secrets)
        return value if clean == str(value) else yarl.URL(clean, encoded=True)
    if isinstance(value, Response):
        headers = _scrubbed(value.headers, secrets, depth + 1)
        return value if headers is value.headers else Response(value.status, headers)
    if isinstance(value, Mapping):  # bodies, and headers (a secret header's value goes whole)
        old_pairs = list(value.items())
        pairs = [
            (_scrubbed(k, secrets, depth + 1), REDACTED if _secret_key(k) else _scrubbed(v, secrets, depth + 1))
            for k, v in old_pairs
        ]
        if all(nk is k and nv is v for (nk, nv), (k, v) in zip(pairs, old_pairs, strict=True)):
            return value
        if isinstance(value, CIMultiDictProxy | CIMultiDict):
            return CIMultiDictProxy(CIMultiDict(pairs))
        return dict(pairs)
    if isinstance(value, list | tuple):
        items = [_scrubbed(item, secrets, depth + 1) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return tuple(items) if isinstance(value, tuple) else items
    return value


def _holds_secret(value: Any, secrets: tuple[str, ...], depth: int = 0) -> bool:
    """Whether a secret shows anywhere in `value`: its text, its items, its attributes."""
    if not secrets or depth > _MAX_DEPTH or value is None or isinstance(value, bool | int | float):
        return False
    if isinstance(value, str):
        return any(secret and secret in value for secret in secrets)
    if isinstance(value, bytes | bytearray):
        return _holds_secret(bytes(value).decode("utf-8", "replace"), secrets, depth)
    if isinstance(value, BaseException):
        texts = [_safe(str, value), _safe(repr, value)]
        return any(_holds_secret(t, secrets, depth + 1) for t in texts) or any(
            _holds_secret(v, secrets, depth + 1) for v in (*value.args, *_attributes(value).values())
        )
    if isinstance(value, Mapping):
        return any(
            _holds_secret(k, secrets, depth + 1) or _holds_secret(v, secrets, depth + 1) for k, v in value.items()
        )
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_secret(item, secrets, depth + 1) for item in value)
    if attrs.has(type(value)):  # e.g. a Response, whose repr leaves its headers out
        fields = attrs.fields(type(value))
        return any(_holds_secret(getattr(value, f.name, None), secrets, depth + 1) for f in fields)
    if _holds_secret(_safe(repr, value), secrets, depth + 1):
        return True
    attributes = getattr(value, "__dict__", None)
    return isinstance(attributes, dict) and _holds_secret(attributes, secrets, depth + 1)


def _safe(render: Callable[[Any], str], value: Any) -> str:
    try:
        return render(value)
    except Exception:  # noqa: BLE001 - a foreign object's str() or repr() may fail; nothing shows then
        return ""


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def check_proxy(value: object) -> str | None | NotGiven:
    """The `proxy=` setting: NOT_GIVEN (the environment's), None (never) or an http(s) URL."""
    if value is None or isinstance(value, NotGiven):
        return value
    url = _proxy_url("proxy", value)
    return str(url)


def _proxy_url(field: str, value: object) -> yarl.URL:
    # The value is shown redacted: a proxy URL carries its password, and a malformed one may
    # hold it anywhere (then only its scheme shows).
    shown = show(redact_url(value)) if isinstance(value, str) else show(value)
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        raise ValidationError(field, f"must be a proxy URL such as http://proxy:3128, got {shown}")
    text = value.strip()
    if "://" not in text:
        text = "http://" + text  # the environment's convention: host:port means an HTTP proxy
    try:
        url = yarl.URL(text)
        url.port  # noqa: B018 - an invalid port raises here
    except ValueError:
        raise ValidationError(field, f"must be a proxy URL such as http://proxy:3128, got {shown}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationError(field, f"must be an http(s) proxy URL with a host, got {shown}")
    return url


def proxy_options(setting: str | None | NotGiven, origin: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """aiohttp's options to reach `origin` through the proxy in force, and the proxy's
    credentials in every form they may show in: the password as written and decoded, the
    ``user:password`` base64 of Basic authentication, and the whole ``Proxy-Authorization``
    value (credentials in the proxy URL become that header).

    NOT_GIVEN reads ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY`` (as `urllib` does), here, once
    per origin: aiohttp's own ``trust_env`` would look them up (and ``.netrc``) in a thread on
    every request.
    """
    if setting is None:
        return {}, ()
    if isinstance(setting, NotGiven):
        scheme, _, rest = origin.partition("://")
        host = yarl.URL(origin).host or rest
        if urllib.request.proxy_bypass(host):
            return {}, ()
        found = urllib.request.getproxies().get(scheme)
        if not found:
            return {}, ()
        try:
            url = _proxy_url(f"{scheme.upper()}_PROXY", found)
        except ValidationError as exc:
            raise ConfigurationError(f"the environment variable {exc}") from None
    else:
        url = yarl.URL(setting)
    options: dict[str, Any] = {"proxy": url.with_user(None)}
    if url.user is None:
        return options, ()
    forms = credential_forms(url)
    options["proxy_headers"] = {"Proxy-Authorization": forms[0]}
    return options, forms


def credential_forms(url: yarl.URL) -> tuple[str, ...]:
    """The credentials in `url`'s userinfo in every form they may show in: the whole Basic
    ``Authorization`` value first, its ``user:password`` base64, the password as written and
    decoded. Empty when the URL has none."""
    if url.user is None and url.password is None:
        return ()
    credentials = base64.b64encode(f"{url.user or ''}:{url.password or ''}".encode()).decode()
    forms = (f"Basic {credentials}", credentials, url.raw_password or "", url.password or "")
    return tuple(dict.fromkeys(form for form in forms if form))


def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=timeout.total, sock_connect=timeout.connect)


def call_timeout(value: object) -> Timeout | None:
    """A per-call `timeout=`: NOT_GIVEN (the client's), a `Timeout`, or total seconds."""
    if isinstance(value, NotGiven):
        return None
    if isinstance(value, Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("timeout", f"must be a Timeout or a number of seconds, got {show(value)}")
    return Timeout(total=value)


def _log_outcome(url: str, outcome: Answer | BaseException, elapsed: float, secrets: tuple[str, ...]) -> None:
    if isinstance(outcome, BaseException):
        log.debug("POST %s failed after %.1f ms: %s", url, elapsed * 1000, scrub(_describe(outcome), secrets))
        return
    body = scrub(_error_body((outcome.raw or b"")[: C.MAX_ERROR_BODY_CHARS]), secrets)
    log.debug("POST %s -> %s in %.1f ms: %s", url, outcome.status, elapsed * 1000, body)


@attrs.frozen(kw_only=True)
class RetryEvent:
    """One retry about to happen, as `with_options(on_retry=...)` is told it: the endpoint, the
    attempt that failed (1 for the first), why (``"rate-limited"``, ``"server-error"``,
    ``"connect"``, ``"read"``, or the error's class name), the error itself and the seconds
    waited before the next attempt."""

    endpoint: str
    attempt: int
    reason: str
    delay: float
    error: Exception


def _retry_reason(error: Exception) -> str:
    if isinstance(error, RateLimitedError):
        return "rate-limited"
    if isinstance(error, ServerError):
        return "server-error"
    if isinstance(error, ConnectError):
        return "connect"
    if isinstance(error, ReadError):
        return "read"
    return type(error).__name__


def _coerce_timeout(timeout: object) -> Timeout:
    """A client's timeouts from `timeout=`: a `Timeout`, seconds in all, or None (the defaults)."""
    if isinstance(timeout, Timeout):
        return timeout
    if timeout is None:
        return Timeout()
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ValidationError("timeout", f"must be a voicekit.Timeout or a number of seconds, got {show(timeout)}")
    # Named "timeout" here (not Timeout's "total"): that is the argument the caller gave.
    return Timeout(total=check_number("timeout", timeout, 0.0, MAX_SECONDS, lo_open=True))


def _coerce_retry(retry: object) -> RetryPolicy:
    # `is None`, not truthiness: retry=0 or retry="" must be refused, not read as "default".
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ValidationError("retry", f"must be a voicekit.RetryPolicy or None, got {show(retry)}")
    return RetryPolicy() if retry is None else retry


class _Pool:
    """A client's connection pool, shared with the clients `with_options` derives from it."""

    __slots__ = ("closed", "fork_generation", "loop", "session")

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.fork_generation = _fork.generation()
        self.closed = False


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
        proxy: str | None | NotGiven = NOT_GIVEN,
        connection_limit: int = C.DEFAULT_CONNECTION_LIMIT,
    ) -> None:
        self._timeout = _coerce_timeout(timeout)
        # The timeouts the pool's session was made with; a derived client passes its own per request.
        self._pool_timeout = self._timeout
        self._retry = _coerce_retry(retry)
        self._on_retry: Callable[[RetryEvent], object] | None = None
        if limiter_backend is not None and not (
            callable(getattr(limiter_backend, "acquire", None)) and callable(getattr(limiter_backend, "penalize", None))
        ):
            raise ValidationError(
                "limiter_backend",
                "must implement voicekit's LimiterBackend (async acquire and penalize) or be None",
            )
        self._limiter = RateLimiter(f"{self._vendor}:{account}", RateLimit.coerce(rate_limit), limiter_backend)
        self._connection_limit = connection_limit
        self._proxy = check_proxy(proxy)
        # Per origin (scheme://host:port): the proxy options for aiohttp, resolved once.
        self._proxy_options: dict[str, dict[str, Any]] = {}
        self._proxy_secrets: tuple[str, ...] = ()
        self._pool = _Pool()
        self._owns_pool = True
        self._closed = False

    def _secret_values(self) -> tuple[str, ...]:
        """The credentials this client holds, scrubbed from anything an error carries."""
        return ()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def rate_limit(self) -> RateLimit | None:
        """The client-side limit in force for this account, or None if this client does not limit.

        That is the strictest rate and the smallest burst given to any client of this account in
        this process, which may be stricter than this client's own `rate_limit=`: every client
        of one account shares one limit.
        """
        return self._limiter.limit

    def with_options(
        self,
        *,
        timeout: Timeout | float | None | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None | NotGiven = NOT_GIVEN,
        on_retry: Callable[[RetryEvent], object] | None | NotGiven = NOT_GIVEN,
    ) -> Self:
        """A client like this one with other timeouts, another retry policy or a retry hook,
        sharing this one's connection pool and rate limiter (nothing is opened).

        `on_retry` is called before each retry is waited for, with a `RetryEvent` (why, after
        which attempt, how long the wait); what it raises is logged and ignored. Closing the
        derived client leaves the pool open: close this one (it closes the pool for both).

        Raises:
            ValidationError: a bad `timeout`, `retry` or `on_retry`.
        """
        clone = copy.copy(self)
        clone._owns_pool = False
        clone._closed = False
        if not isinstance(timeout, NotGiven):
            clone._timeout = _coerce_timeout(timeout)
        if not isinstance(retry, NotGiven):
            clone._retry = _coerce_retry(retry)
        if not isinstance(on_retry, NotGiven):
            if on_retry is not None and not callable(on_retry):
                raise ValidationError(
                    "on_retry", f"must be a callable taking a RetryEvent, or None, got {show(on_retry)}"
                )
            clone._on_retry = on_retry
        return clone

    def _get_session(self) -> aiohttp.ClientSession:
        pool = self._pool
        if self._closed or pool.closed:
            raise UsageError("this client is closed; create a new one")
        loop = asyncio.get_running_loop()
        session = pool.session
        if session is not None and pool.fork_generation != _fork.generation():
            _abandon_after_fork(session)
            session = pool.session = None
        if session is None or session.closed:
            pool.fork_generation = _fork.generation()
            session = aiohttp.ClientSession(
                connector=_Connector(limit=self._connection_limit),
                timeout=aiohttp.ClientTimeout(total=self._pool_timeout.total, sock_connect=self._pool_timeout.connect),
                # Set once here rather than per request: aiohttp merges per-request headers anew
                # each time, which costs more than the rest of our request building.
                headers={
                    "User-Agent": _user_agent(),
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
            )
            pool.session, pool.loop = session, loop
        elif pool.loop is not loop:
            raise UsageError(
                "this client's connections belong to another event loop; create one client per "
                "event loop, or use the blocking client (e.g. voicekit.TeleCMI) from threads"
            )
        return session

    async def aclose(self) -> None:
        """Close the connection pool (a client from `with_options` leaves its parent's open). The
        client cannot be used afterwards."""
        self._closed = True
        if not self._owns_pool:
            return
        pool = self._pool
        pool.closed = True
        session, pool.session = pool.session, None
        if session is not None and not session.closed:
            if pool.fork_generation != _fork.generation():
                _abandon_after_fork(session)
            else:
                await session.close()

    async def __aenter__(self) -> Self:
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
        parse: Callable[[Any], Any] | None = None,
        attempt_timeout: Timeout | None = None,
    ) -> Any:
        """POST `body` as JSON; return `parse` of the decoded JSON of a 2xx answer.

        `attempt_timeout` overrides the client's timeouts for each attempt of this call.

        Raises:
            ValidationError: the body cannot be encoded as JSON; nothing was sent.
            CallOutcomeUnknownError: a call-creating request may have been processed.
            RateLimitedError: 429 until the policy gave up, or the account is paused by the
                vendor for longer than this request's time budget (nothing was sent).
            APIStatusError: the mapped subclass for the vendor's answer.
            NonVendorResponseError: a 4xx that is not in the vendor's shape (check base_url).
            ProxyAuthenticationError: a proxy answered 407; nothing was sent on.
            ConnectError, ReadError: the exchange failed, once retries are spent (a proxy that
                refused the tunnel: `ProxyConnectError`).
        """
        telemetry = _otel.current()
        if telemetry is None:
            return await self._exchange(endpoint, url, body, headers, parse, attempt_timeout, None)
        ticket = current_ticket.get()
        with telemetry.request(
            self._vendor, endpoint.name, endpoint.creates_call, None if ticket is None else ticket.key
        ) as trace:
            return await self._exchange(endpoint, url, body, headers, parse, attempt_timeout, trace)

    async def _exchange(
        self,
        endpoint: Endpoint,
        url: str,
        body: dict[str, Any],
        headers: Mapping[str, str] | None,
        parse: Callable[[Any], Any] | None,
        attempt_timeout: Timeout | None,
        trace: RequestTrace | None,
    ) -> Any:
        """`_post`'s exchange, told to `trace` (the request's span) when telemetry is on."""
        try:
            data = _dumps(body)
        except TypeError as exc:
            raise ValidationError("request", f"cannot be encoded as JSON ({exc})") from None
        session = self._get_session()
        policy = self._retry
        options = self._options_for(url)
        if "proxy_headers" in options and url.startswith("http:"):
            # A plain-HTTP request goes to the proxy as it is: its credentials ride along on it
            # (aiohttp sends `proxy_headers` only when it opens a tunnel for https).
            headers = {**(headers or {}), **options["proxy_headers"]}
        if attempt_timeout is None and self._timeout is not self._pool_timeout:
            attempt_timeout = self._timeout  # a client from `with_options`: its own timeouts
        if attempt_timeout is not None:
            options = {**options, "timeout": _client_timeout(attempt_timeout)}
        secrets = self._secret_values() + self._proxy_secrets + _header_secrets(headers)
        proxy = str(options["proxy"]) if "proxy" in options else None
        shown_url = url
        if "@" in url:
            # Credentials in the base URL: aiohttp sends them as Basic authentication, so they
            # are scrubbed in every form, and the URL is logged and carried without them.
            secrets += credential_forms(yarl.URL(url))
            shown_url = redact_url(url)
        debug = log.isEnabledFor(logging.DEBUG)
        deadline = time.monotonic() + policy.timeout
        ticket = current_ticket.get() if endpoint.creates_call else None
        attempt = 0
        while True:
            attempt += 1
            if trace is not None:
                trace.attempts = attempt
            # The start counts from the moment the request leaves: the connection pool reports
            # it once the connection is ready (see `_Connector`), after `before_send` too.
            with await self._acquire(endpoint, deadline):
                if ticket is not None:
                    await ticket.depart()
                if debug:
                    log.debug("POST %s %s", shown_url, _dumps(scrub(redact(body), secrets)).decode())
                    sent = time.perf_counter()
                outcome: Answer | BaseException
                try:
                    outcome = await send_once(session, url, data, headers, **options)
                except TRANSPORT_ERRORS as exc:
                    outcome = exc
            if trace is not None and isinstance(outcome, Answer):
                trace.status = outcome.status
            verdict = classify(
                endpoint,
                outcome,
                url=shown_url,
                request=body,
                parse=parse,
                secrets=secrets,
                timeout=attempt_timeout or self._timeout,
                proxy=proxy,
            )
            if debug:
                _log_outcome(shown_url, outcome, time.perf_counter() - sent, secrets)
            error = verdict.error
            if error is None:
                return verdict.value
            if verdict.throttled:
                pause = verdict.retry_after if verdict.retry_after is not None else None
                await self._limiter.penalize(None if pause is None else min(pause, C.MAX_VENDOR_PAUSE))
            delay = (
                retry_delay(policy, attempt, verdict.retry_after, deadline - time.monotonic())
                if verdict.retryable
                else None
            )
            if delay is None:
                raise error
            log.debug("retrying %s in %.3f s (attempt %d): %s", endpoint.name, delay, attempt, error)
            if trace is not None:
                trace.retry(_retry_reason(error), delay)
            if self._on_retry is not None:
                event = RetryEvent(
                    endpoint=endpoint.name, attempt=attempt, reason=_retry_reason(error), delay=delay, error=error
                )
                try:
                    self._on_retry(event)
                except Exception:  # noqa: BLE001 - a hook never changes the call
                    log.exception("the on_retry hook raised; the retry goes on")
            await anyio.sleep(delay)

    def _options_for(self, url: str) -> dict[str, Any]:
        """What aiohttp needs to reach `url`'s origin: its proxy, if any (resolved once)."""
        cut = url.find("/", url.find("//") + 2)
        origin = url if cut < 0 else url[:cut]
        options = self._proxy_options.get(origin)
        if options is None:
            options, secrets = proxy_options(self._proxy, origin)
            self._proxy_options[origin] = options
            self._proxy_secrets = tuple(dict.fromkeys((*self._proxy_secrets, *secrets)))
        return options

    async def _acquire(self, endpoint: Endpoint, deadline: float) -> AbstractContextManager[object]:
        sink = _observe.sink
        started = time.monotonic() if sink is not None else 0.0
        try:
            granted = await self._limiter.acquire(max_pause=max(0.0, deadline - time.monotonic()))
            if sink is not None:
                sink.limiter_wait(time.monotonic() - started)
            return granted
        except AccountPaused as paused:
            until = time.strftime("%H:%M:%S", time.localtime(time.time() + paused.remaining))
            raise RateLimitedError(
                f"the vendor paused this account for another {paused.remaining:.0f} s (until "
                f"{until}), longer than this request may wait; nothing was sent",
                status=429,
                retry_after=paused.remaining,
                endpoint=endpoint.name,
            ) from None


class _Connector(aiohttp.TCPConnector):
    """The connection pool; it tells the rate limiter when a request has left.

    A request's bytes leave as soon as its connection is ready (reused, or newly opened with its
    TLS handshake or proxy tunnel): nothing in between waits for the network. So this is where
    the limiter learns of the start (`voicekit._ratelimit.departing`), not when it granted it.

    The bytes are written once the requesting task next yields, by a task that aiohttp creates
    right after this returns (before Python 3.12), or at once (eager tasks). So the departures
    are logged a turn of the loop after that task was queued: never earlier than the real ones
    (a busy loop or a preempted thread can only make the window hold them longer), and for all
    the requests that left in one turn at once.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._leaving: list[Start] = []

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Any],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's own signature
    ) -> aiohttp.connector.Connection:
        ready = connected.get()
        if ready is not None:
            ready[0] = False  # getting a connection: nothing of the request has left
        conn = await super().connect(req, traces, timeout)
        if ready is not None:
            ready[0] = True
        start = departing.get()
        if start is not None:
            self._leaving.append(start)
            if len(self._leaving) == 1:
                asyncio.get_running_loop().call_soon(self._after_writes_queued)
        return conn

    def _after_writes_queued(self) -> None:
        # Every request of this batch queued its write before this ran: what is queued now runs
        # after those writes.
        leaving, self._leaving = self._leaving, []
        asyncio.get_running_loop().call_soon(_depart, leaving)


def _depart(starts: list[Start]) -> None:
    for start in starts:
        start.depart()


# Pooled connections inherited from the parent process, kept referenced and never closed.
_fork_orphans: list[object] = []


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
