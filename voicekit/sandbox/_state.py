"""Sandbox configuration, knobs, vendor-side stores and the ledger of placed calls."""

from __future__ import annotations

import hmac
import math
import random
import secrets
import string
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ._faults import FaultPlan
from ._outcomes import OutcomePlan
from ._store import CDR_KINDS, CdrStore, SeededRecords

if TYPE_CHECKING:
    from ._calls import LiveCall

__all__ = [
    "CDR_RESEND_SCHEDULE",
    "DEFAULT_HUAWEI_APP_KEY",
    "DEFAULT_HUAWEI_APP_SECRET",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MUSIC_FILES",
    "DEFAULT_TELECMI_APPID",
    "DEFAULT_TELECMI_SECRET",
    "DEFAULT_TELECMI_USER_ID",
    "CallbackDelivery",
    "HuaweiToken",
    "PlacedCall",
    "RequestLogEntry",
    "SandboxState",
]

DEFAULT_TELECMI_APPID = 2222226
DEFAULT_TELECMI_SECRET = "sandbox-secret"
DEFAULT_TELECMI_USER_ID = "101_1111112"
DEFAULT_MUSIC_FILES = frozenset({"welcome_11112.wav", "welcome.wav", "welcome.mp3", "hold.mp3"})
DEFAULT_HUAWEI_APP_KEY = "sandbox-app-key"
DEFAULT_HUAWEI_APP_SECRET = "sandbox-app-secret"
DEFAULT_MAX_BODY_SIZE = 1024 * 1024
#: When TeleCMI sends a call record (cdr) webhook: at once, then +5, +10 and +15 minutes (offsets
#: in seconds from the first attempt), until the receiver answers 200.
CDR_RESEND_SCHEDULE: tuple[float, ...] = (0.0, 300.0, 600.0, 900.0)

_ALNUM = string.ascii_letters + string.digits
# Identifiers only need to be unique, not unguessable: a fast PRNG keeps requests cheap.
_random = random.Random()


class RequestLogEntry(NamedTuple):
    """One answered (or dropped) request: ``status`` is ``None`` when no answer was sent."""

    method: str
    path: str
    status: int | None
    time: float


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """One call the emulated vendor placed: the vendor's own log. Never holds a secret.

    Attributes:
        endpoint: request path that placed it.
        account: TeleCMI appid (as a string), click-to-call user id, or Huawei app key.
        from_: caller id / ``callerPresent`` (digits as a string), or ``None``.
        to: the dialed number (digits as a string) or Huawei ``called``.
        request_id: TeleCMI ``request_id`` or Huawei ``callSerialNo``.
        extra_params: the request's ``extra_params`` as sent (``None`` when absent).
        time: epoch seconds (sandbox clock) when the call was placed.
    """

    endpoint: str
    account: str
    from_: str | None
    to: str
    request_id: str
    extra_params: Any
    time: float


@dataclass(frozen=True, slots=True)
class CallbackDelivery:
    """One webhook attempt: a Huawei release event, or a TeleCMI event or cdr.

    ``status`` is the receiver's HTTP status, ``None`` when not delivered; ``error`` says why
    (``"skipped: not a loopback URL"`` or the transport error).
    """

    url: str
    payload: dict[str, Any]
    status: int | None
    error: str | None
    time: float


@dataclass(frozen=True, slots=True)
class HuaweiToken:
    """An issued Huawei access token (kept server-side only)."""

    app_key: str
    created: float
    expires_in: int

    def expired(self, now: float) -> bool:
        """Whether the token is no longer valid at ``now`` (epoch seconds)."""
        return now >= self.created + self.expires_in


class SandboxState:
    """Everything the emulated vendors know: accounts, knobs, stores, ledger and logs.

    All knobs are plain attributes that may be changed while the sandbox runs. See the package
    docstring for the meaning of each one.
    """

    #: Actual ``Retry-After`` seconds are rounded up to at least this many.
    MIN_RETRY_AFTER = 1
    #: Largest ``limit`` accepted by the call-record endpoints.
    MAX_PAGE_LIMIT = 100

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        telecmi_appid: int = DEFAULT_TELECMI_APPID,
        telecmi_secret: str = DEFAULT_TELECMI_SECRET,
        telecmi_user_id: str = DEFAULT_TELECMI_USER_ID,
        music_files: Iterable[str] = DEFAULT_MUSIC_FILES,
        huawei_app_key: str = DEFAULT_HUAWEI_APP_KEY,
        huawei_app_secret: str = DEFAULT_HUAWEI_APP_SECRET,
        latency: float = 0.0,
        rate_limit: float | None = None,
        rate_burst: int | None = None,
        seed_records: int = 0,
        record_delay: float = 0.0,
        callback_delay: float = 0.05,
        billedsec: int = 30,
        huawei_release_reason: str = "0",
        huawei_talk_duration: int = 12,
        huawei_callback_signer: Callable[[dict[str, str]], str] | None = None,
        clock: Callable[[], float] = time.time,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        request_log_size: int = 100_000,
        outcomes: OutcomePlan | None = None,
        time_scale: float = 0.0,
        telecmi_webhook_url: str | None = None,
        cdr_resend_schedule: Sequence[float] = CDR_RESEND_SCHEDULE,
        page_cap: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.telecmi_appid = telecmi_appid
        self.telecmi_secret = telecmi_secret
        self.telecmi_user_id = telecmi_user_id
        self.music_files: set[str] = set(music_files)
        self.huawei_app_key = huawei_app_key
        self.huawei_app_secret = huawei_app_secret
        self.latency = latency
        self.rate_limit = rate_limit
        self.rate_burst = rate_burst
        self.seed_records = seed_records
        self.record_delay = record_delay
        self.callback_delay = callback_delay
        self.billedsec = billedsec
        self.huawei_release_reason = huawei_release_reason
        self.huawei_talk_duration = huawei_talk_duration
        self.huawei_callback_signer = huawei_callback_signer
        self.clock = clock
        self.max_body_size = max_body_size
        self.outcomes = OutcomePlan() if outcomes is None else outcomes
        if isinstance(time_scale, bool) or not time_scale >= 0:
            raise ValueError("time_scale must be >= 0 (wall seconds per simulated second)")
        self.time_scale = float(time_scale)
        self.telecmi_webhook_url = telecmi_webhook_url
        self.cdr_resend_schedule: tuple[float, ...] = tuple(float(x) for x in cdr_resend_schedule)
        if page_cap is not None and (isinstance(page_cap, bool) or not isinstance(page_cap, int) or page_cap < 1):
            raise ValueError("page_cap must be None or an integer >= 1 (records per call-record page)")
        #: The most records one call-record page holds, whatever ``limit`` asks (None: no cap).
        self.page_cap = page_cap
        #: extra TeleCMI accounts: appid -> secret
        self.telecmi_accounts: dict[int, str] = {}
        #: extra click-to-call users: user_id -> (appid, secret)
        self.telecmi_users: dict[str, tuple[int, str]] = {}
        #: extra Huawei accounts: app_key -> app_secret
        self.huawei_accounts: dict[str, str] = {}

        self.faults = FaultPlan()
        self.calls: list[PlacedCall] = []
        self.requests: deque[RequestLogEntry] = deque(maxlen=request_log_size)
        self.callbacks: list[CallbackDelivery] = []
        #: TeleCMI event and cdr webhook attempts, in order.
        self.telecmi_webhooks: list[CallbackDelivery] = []
        #: TeleCMI calls still ringing or talking, by cmiuuid.
        self.live_calls: dict[str, LiveCall] = {}
        #: TeleCMI calls that have ended, by cmiuuid.
        self.ended_calls: dict[str, LiveCall] = {}
        #: request_id -> cmiuuid of every placed TeleCMI call.
        self.cmiuuids: dict[str, str] = {}
        self.records = CdrStore()
        self.huawei_tokens: dict[str, HuaweiToken] = {}
        self.huawei_token_requests = 0
        # Seeded records end "now" as of construction, so a default 24 h window holds them all.
        self.seed_end_ms = int(clock() * 1000)
        self._buckets: dict[str, list[float]] = {}
        self._url: str | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """Base URL of the running sandbox, e.g. ``http://127.0.0.1:54321``."""
        if self._url is None:
            raise RuntimeError("the sandbox is not running")
        return self._url

    @property
    def telecmi_url(self) -> str:
        """Base URL standing in for ``https://rest.telecmi.com``."""
        return self.url

    @property
    def piopiy_url(self) -> str:
        """Base URL standing in for ``https://piopiy.telecmi.com``."""
        return self.url

    @property
    def huawei_url(self) -> str:
        """Base URL standing in for the Huawei domain (``https://service.besclouds.com``)."""
        return self.url

    # ------------------------------------------------------------------ accounts

    def add_telecmi_account(self, appid: int, secret: str, user_id: str | None = None) -> None:
        """Register another TeleCMI app (and optionally a click-to-call user of it)."""
        self.telecmi_accounts[appid] = secret
        if user_id is not None:
            self.telecmi_users[user_id] = (appid, secret)

    def add_huawei_account(self, app_key: str, app_secret: str) -> None:
        """Register another Huawei app key / secret pair."""
        self.huawei_accounts[app_key] = app_secret

    def telecmi_app_ok(self, appid: int, secret: str) -> bool:
        """Whether ``appid`` / ``secret`` name a configured TeleCMI app."""
        if appid == self.telecmi_appid:
            expected: str | None = self.telecmi_secret
        else:
            expected = self.telecmi_accounts.get(appid)
        return expected is not None and hmac.compare_digest(expected.encode(), secret.encode())

    def telecmi_user_app(self, user_id: str, secret: str) -> int | None:
        """The appid of click-to-call user ``user_id`` if ``secret`` matches, else ``None``."""
        if user_id == self.telecmi_user_id:
            appid, expected = self.telecmi_appid, self.telecmi_secret
        elif user_id in self.telecmi_users:
            appid, expected = self.telecmi_users[user_id]
        else:
            return None
        return appid if hmac.compare_digest(expected.encode(), secret.encode()) else None

    def huawei_app_ok(self, app_key: str, app_secret: str) -> bool:
        """Whether ``app_key`` / ``app_secret`` name a configured Huawei app."""
        if app_key == self.huawei_app_key:
            expected: str | None = self.huawei_app_secret
        else:
            expected = self.huawei_accounts.get(app_key)
        return expected is not None and hmac.compare_digest(expected.encode(), app_secret.encode())

    # ------------------------------------------------------------------ rate limit

    def throttle(self, account: str) -> int | None:
        """Take one token from ``account``'s bucket; return ``Retry-After`` seconds if empty.

        A token bucket of ``rate_burst`` tokens (default: ``ceil(rate_limit)``, at least 1)
        refilled at ``rate_limit`` tokens per second; ``rate_limit = None`` disables it.
        """
        rate = self.rate_limit
        if rate is None:
            return None
        burst = float(self.rate_burst if self.rate_burst is not None else max(1, math.ceil(rate)))
        now = time.monotonic()
        bucket = self._buckets.get(account)
        if bucket is None:
            bucket = self._buckets[account] = [burst, now]
        tokens = min(burst, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return None
        bucket[0] = tokens
        wait = (1.0 - tokens) / rate if rate > 0 else 3600.0
        return max(self.MIN_RETRY_AFTER, math.ceil(wait))

    # ------------------------------------------------------------------ data

    def seeded(self, appid: int, kind: str) -> SeededRecords | None:
        """The seeded records of ``(appid, kind)``: only the default account's outanswered."""
        if self.seed_records <= 0 or kind != "outanswered" or appid != self.telecmi_appid:
            return None
        return SeededRecords(count=self.seed_records, end_ms=self.seed_end_ms, appid=appid)

    def make_record(
        self,
        *,
        appid: int,
        to: int,
        from_: str,
        time_ms: int,
        billedsec: int | None = None,
        name: str = "unknown",
        record_id: str | None = None,
        filename: str | None = None,
    ) -> dict[str, Any]:
        """Build a call record shaped like the vendor document's sample (not stored)."""
        return {
            "_id": self.records.new_id(time_ms) if record_id is None else record_id,
            "to": to,
            "time": time_ms,
            "from": from_,
            "billedsec": self.billedsec if billedsec is None else billedsec,
            "rate": "0.6",
            "record": "true",
            "filename": (f"{time_ms}{_random.randrange(10**14):014d}_{appid}.mp3" if filename is None else filename),
            "name": name,
        }

    def add_record(
        self,
        kind: str,
        *,
        to: int,
        from_: str,
        time_ms: int | None = None,
        billedsec: int | None = None,
        appid: int | None = None,
        name: str = "unknown",
        record_id: str | None = None,
        filename: str | None = None,
    ) -> dict[str, Any]:
        """Store a call record of ``kind`` (``"answered"``, ``"missed"``, ...) and return it.

        Defaults: the default TeleCMI app, the sandbox clock's "now", ``billedsec``, and a
        generated ``_id`` and ``filename``.
        """
        if kind not in CDR_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CDR_KINDS)}")
        appid = self.telecmi_appid if appid is None else appid
        record = self.make_record(
            appid=appid,
            to=to,
            from_=from_,
            time_ms=int(self.clock() * 1000) if time_ms is None else time_ms,
            billedsec=billedsec,
            name=name,
            record_id=record_id,
            filename=filename,
        )
        self.records.add(appid, kind, record)
        return record

    def calls_to(self, number: str | int) -> list[PlacedCall]:
        """Every placed call whose ``to`` is ``number``."""
        wanted = str(number)
        return [call for call in self.calls if call.to == wanted]

    def request_count(self, path: str | None = None, status: int | None = None) -> int:
        """Logged requests, optionally filtered by path and status."""
        return sum(
            1
            for entry in list(self.requests)
            if (path is None or entry.path == path) and (status is None or entry.status == status)
        )

    def reset(self) -> None:
        """Forget placed calls, records, logs, tokens, faults and rate-limit state."""
        self.calls.clear()
        self.requests.clear()
        self.callbacks.clear()
        self.telecmi_webhooks.clear()
        self.live_calls.clear()
        self.ended_calls.clear()
        self.cmiuuids.clear()
        self.outcomes.reset_counts()
        self.records.clear()
        self.huawei_tokens.clear()
        self.huawei_token_requests = 0
        self.faults.clear()
        self._buckets.clear()

    # ------------------------------------------------------------------ ids

    @staticmethod
    def new_request_id() -> str:
        """A TeleCMI-style request id: 43 random alphanumerics."""
        return "".join(_random.choices(_ALNUM, k=43))

    @staticmethod
    def new_call_serial_no() -> str:
        """A Huawei-style ``callSerialNo``: 19 random digits, no leading zero."""
        return str(_random.randrange(10**18, 10**19))

    @staticmethod
    def new_secret_token() -> str:
        """A fresh, unguessable opaque access token."""
        return secrets.token_urlsafe(48)
