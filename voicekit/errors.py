"""The voicekit exception tree.

Every error voicekit raises derives from `VoiceKitError`::

    VoiceKitError
    ├── ValidationError            bad input, caught before any network I/O (also a ValueError)
    ├── ConfigurationError         missing credentials or an unusable setting
    │   ├── CampaignMismatchError  a journal (or campaign name) that holds another campaign
    │   ├── ProxyAuthenticationError   a proxy answered 407: it wants (other) credentials
    │   └── NonVendorResponseError     an error status not in the vendor's shape: check base_url
    │                                  (also an APIStatusError: it carries status and body)
    ├── UsageError                 the API was called in a way that cannot work (e.g. from the loop thread)
    ├── TransportError             the HTTP exchange itself failed
    │   ├── ConnectError           the request provably never reached the vendor
    │   │   ├── LimiterUnavailableError  the shared rate limit's store (Redis) cannot be reached
    │   │   └── ProxyConnectError  the proxy refused the tunnel (CONNECT answered 407, 403, 502...)
    │   │                          or could not be reached
    │   └── ReadError              sent, but the answer was lost (timeout or dropped connection)
    ├── OutcomeUnknownError        a request that changes something may or may not have been processed
    │   ├── CallOutcomeUnknownError    ... placed a call (never retried: it could ring twice)
    │   └── ActionOutcomeUnknownError  ... held or unheld a live call
    ├── RecordsChangedError        records landed in a pinned window while it was paged through
    ├── CallTrackingTimeout        a tracked call did not end within the wait (also a TimeoutError)
    ├── JournalError               a campaign journal cannot be used or written
    │   ├── CampaignMismatchError  (also a ConfigurationError, above)
    │   ├── JournalBusyError       another process runs this SQLite journal
    │   ├── JournalNotFoundError   no journal (or no such campaign) there yet
    │   ├── JournalUnavailableError  the database stayed unreachable past the reconnect window
    │   └── LeaseLostError         this worker was silent too long: it must send nothing more
    └── APIStatusError             the vendor answered with an error
        ├── AuthenticationError    bad app id / secret / token (TeleCMI 420, click-to-call 404, Huawei 401)
        ├── NotFoundError          e.g. an unknown music file, a wrong path
        ├── InvalidRequestError    the vendor rejected the request's content (400, 422)
        ├── RateLimitedError       429, or the account is paused; `retry_after` says how long
        ├── ServerError            5xx
        ├── UnexpectedResponseError  a 2xx (or 3xx) whose body is not what the document says
        ├── VendorError            HTTP 200 carrying a failure code (Huawei `retCode != "0"`)
        └── NonVendorResponseError (see ConfigurationError above)

Errors never carry a secret, along their whole ``__cause__`` / ``__context__`` chain: request
bodies are redacted, echoed credentials are scrubbed, and a foreign exception that cannot be
scrubbed is cut from the chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._response import Response

__all__ = [
    "APIStatusError",
    "CampaignMismatchError",
    "ActionOutcomeUnknownError",
    "AuthenticationError",
    "CallOutcomeUnknownError",
    "CallTrackingTimeout",
    "ConfigurationError",
    "ConnectError",
    "InvalidRequestError",
    "JournalBusyError",
    "JournalError",
    "JournalNotFoundError",
    "JournalUnavailableError",
    "LeaseLostError",
    "LimiterUnavailableError",
    "NonVendorResponseError",
    "NotFoundError",
    "OutcomeUnknownError",
    "ProxyAuthenticationError",
    "ProxyConnectError",
    "RateLimitedError",
    "ReadError",
    "RecordsChangedError",
    "ServerError",
    "TransportError",
    "UnexpectedResponseError",
    "UsageError",
    "ValidationError",
    "VendorError",
    "VoiceKitError",
]


class VoiceKitError(Exception):
    """Root of every error voicekit raises."""


class ValidationError(VoiceKitError, ValueError):
    """Input broke a documented constraint; nothing was sent.

    Attributes:
        field: the offending field, as the caller named it (``"to"``, ``"play_list[2].voice_id"``).
        rule: the rule that was broken, in words.
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class ConfigurationError(VoiceKitError):
    """A client cannot be built as configured (e.g. no credentials were given)."""


class ProxyAuthenticationError(ConfigurationError):
    """A proxy answered 407 (Proxy Authentication Required) instead of passing the request on:
    nothing reached the vendor. Give the proxy's credentials, as
    ``proxy="http://user:password@host:port"`` or in ``HTTP_PROXY`` / ``HTTPS_PROXY``.

    A 407 is never the vendor's answer, so it is never an `APIStatusError`.

    Attributes:
        status: the HTTP status (407).
        body: what the proxy answered, with every credential scrubbed.
        endpoint: the endpoint name.
        proxy: the proxy's URL without its credentials, or ``None`` if none was configured.
        response: the proxy's answer (status and headers).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 407,
        body: Any = None,
        endpoint: str = "",
        proxy: str | None = None,
        response: Response | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.endpoint = endpoint
        self.proxy = proxy
        self.response = response
        super().__init__(message)


class UsageError(VoiceKitError, RuntimeError):
    """The API was used in a way that cannot work; the message says what to do instead."""


class TransportError(VoiceKitError):
    """The HTTP exchange failed before a complete response arrived.

    Attributes:
        method, url: the request, without credentials (they travel in the body or headers).
    """

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        self.method = method
        self.url = url
        super().__init__(message)


class ConnectError(TransportError):
    """The request never reached the vendor (refused, DNS failure, connect timeout); safe to retry."""


class LimiterUnavailableError(ConnectError):
    """The store of the account's shared rate limit (Redis) cannot be reached: nothing was sent.

    The limiter fails closed: a call that cannot be counted against the shared limit is not
    made (as with a refused connection, a later run sends it).
    """


class ProxyConnectError(ConnectError):
    """The proxy did not open the way to the vendor: it answered the tunnel request (``CONNECT``,
    for an https vendor URL) with an error such as 407, 403 or 502, or it could not be reached.
    Nothing reached the vendor; it is retried like a refused connection. Check the proxy
    settings (``proxy=``, ``HTTPS_PROXY``, ``NO_PROXY``) and the proxy's credentials.

    Attributes:
        status: the proxy's HTTP status, or ``None`` when the proxy could not be reached.
        proxy: the proxy's URL without its credentials.
    """

    def __init__(
        self, message: str, *, status: int | None = None, proxy: str = "", method: str = "", url: str = ""
    ) -> None:
        self.status = status
        self.proxy = proxy
        super().__init__(message, method=method, url=url)


class ReadError(TransportError):
    """The request was sent but no complete answer came back (read timeout, dropped connection)."""


class OutcomeUnknownError(VoiceKitError):
    """A request that changes something may or may not have been processed, and the SDK cannot
    tell: voicekit never retries such a request. Check before repeating it.

    Attributes:
        endpoint: the endpoint name (``"make_call"``, ``"call_action.hold"``, ...).
        request: the request body with secrets redacted.
        status: the HTTP status if one arrived (a 5xx), else ``None``.
        body: the response body if one arrived.
        response: the raw answer (status and headers) if one arrived, else ``None``.
    """

    #: What the caller is told to do; each subclass says it for what it sent.
    advice = "it may or may not have taken effect, and voicekit did not retry it. Check before repeating it."

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        request: dict[str, Any],
        status: int | None = None,
        body: Any = None,
        response: Response | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.request = request
        self.status = status
        self.body = body
        self.response = response
        super().__init__(f"{message}; {self.advice}")


class CallOutcomeUnknownError(OutcomeUnknownError):
    """A call-creating request may have placed a call, and the SDK cannot tell.

    voicekit never retries such a request: a retry could ring a person twice. Reconcile with the
    vendor's call records (or your webhooks) before dialling this number again.
    """

    advice = (
        "the call may or may not have been placed, and voicekit did not retry it. Check the call "
        "records before dialling again."
    )


class ActionOutcomeUnknownError(OutcomeUnknownError):
    """A call-control action that must not be repeated blindly (hold, unhold, toggling hold) may
    or may not have taken effect: check the call's state before repeating it."""

    advice = (
        "the action may or may not have taken effect, and voicekit did not retry it. Check the "
        "call's state before repeating it."
    )


class APIStatusError(VoiceKitError):
    """The vendor answered with an error.

    Attributes:
        status: the HTTP status code.
        code: the vendor's own code (TeleCMI ``code``, Huawei ``retCode``), if any.
        body: the parsed response body (or its text).
        endpoint: the endpoint name.
        response: the raw answer (status and headers), when one arrived.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | int | None = None,
        body: Any = None,
        endpoint: str = "",
        response: Response | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.body = body
        self.endpoint = endpoint
        self.message = message
        self.response = response
        super().__init__(f"{endpoint + ': ' if endpoint else ''}{message} (HTTP {status})")

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers (empty when none arrived)."""
        return self.response.headers if self.response is not None else {}


class AuthenticationError(APIStatusError):
    """The vendor refused the credentials; check the app id / user id and secret."""


class NotFoundError(APIStatusError):
    """The vendor could not find what was asked for (a music file, a path)."""


class InvalidRequestError(APIStatusError):
    """The vendor rejected the request's content (a property missing or invalid)."""


class RateLimitedError(APIStatusError):
    """The vendor asked us to slow down (429). `retry_after` is in seconds, if given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(APIStatusError):
    """The vendor failed (5xx) on a request that does not create a call."""


class UnexpectedResponseError(APIStatusError):
    """The vendor answered, but not as its document says: a 2xx body that is not JSON, lacks a
    documented field or has the wrong shape, or a redirect. `body` holds what came back.

    On a call-creating request this is never raised on its own: the call may have been placed,
    so the caller gets `CallOutcomeUnknownError` with this error as its ``__cause__``.
    """


class RecordsChangedError(VoiceKitError):
    """Call records landed inside the pinned window while it was being paged through, where
    voicekit has already passed, so it cannot yield each record exactly once.

    Page a window that has settled (an `end` a few minutes in the past), or iterate again.

    Attributes:
        expected: the total the first page reported.
        seen: the total the vendor reported later.
    """

    def __init__(self, message: str, *, expected: int, seen: int) -> None:
        self.expected = expected
        self.seen = seen
        super().__init__(message)


class VendorError(APIStatusError):
    """The vendor answered 200 but reported a failure (Huawei ``retCode`` other than ``"0"``)."""


class JournalError(VoiceKitError):
    """A campaign journal cannot be used or written: missing, not a journal, of a version this
    voicekit does not read, or its database failed. The message says which, and what to do."""


class CampaignMismatchError(JournalError, ConfigurationError):
    """The journal (or the campaign name in it) belongs to another campaign file, vendor,
    columns or shard: run the original file with it, or give this campaign another name or
    journal."""


class JournalBusyError(JournalError):
    """Another process is running this (SQLite) journal right now."""


class JournalNotFoundError(JournalError):
    """There is no journal there (or not the campaign asked for) yet: a run has not created it."""


class JournalUnavailableError(JournalError):
    """The journal's database stayed unreachable for longer than the reconnect window: nothing
    more is sent; run again once it is back (no row is lost or dialed twice)."""


class LeaseLostError(JournalError):
    """This worker's lease on a shared journal expired (it was silent too long): it must not
    send anything more; its calls in flight are unknown. Run it again to rejoin."""


class NonVendorResponseError(ConfigurationError, APIStatusError):
    """An error status came back in a body that is not the vendor's documented error shape
    (TeleCMI answers JSON with ``code`` / ``msg``, Huawei ``retCode`` / ``retMsg``): a wrong
    ``base_url`` or path, a proxy or a gateway answered (aiohttp's ``404: Not Found``, an HTML
    page, an empty body, JSON of another shape). It is raised for a 4xx, which refuses the
    request: the request was not processed, and no call was placed. Check ``base_url``.

    A 5xx in another shape stays a `ServerError` (or `CallOutcomeUnknownError` on a
    call-creating request): a gateway answers 502 or 504 after it may have passed the request on.
    It carries `status`, `body` and `endpoint` like every `APIStatusError`; `code` is ``None``.
    """


class CallTrackingTimeout(VoiceKitError, TimeoutError):
    """The call did not end (no final webhook arrived) within the wait's timeout.

    The call may still be going, or its webhook may be late or lost: look it up by its request
    id (`AsyncTeleCMI.lookup_call`) before acting on it.
    """

    def __init__(self, key: str, timeout: float) -> None:
        self.key = key
        self.timeout = timeout
        super().__init__(f"call {key!r} did not end within {timeout:g} s")
