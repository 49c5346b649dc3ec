"""What the emulated TeleCMI knows: apps, click-to-call users, music files, records, calls."""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .._http import secret_matches
from .._ledger import CallbackDelivery, Ledger, PlacedCall
from .._outcomes import CONTROL_HANGUP_REASON, Decision
from .._runtime import Knobs
from ._store import CDR_KINDS, CdrStore, SeededRecords

__all__ = [
    "CDR_RESEND_SCHEDULE",
    "DEFAULT_MUSIC_FILES",
    "DEFAULT_TELECMI_APPID",
    "DEFAULT_TELECMI_SECRET",
    "DEFAULT_TELECMI_USER_ID",
    "TELECMI_STATE",
    "LiveCall",
    "TelecmiState",
]

DEFAULT_TELECMI_APPID = 2222226
DEFAULT_TELECMI_SECRET = "sandbox-secret"
DEFAULT_TELECMI_USER_ID = "101_1111112"
DEFAULT_MUSIC_FILES = frozenset({"welcome_11112.wav", "welcome.wav", "welcome.mp3", "hold.mp3"})
#: When TeleCMI sends a call record (cdr) webhook: at once, then +5, +10 and +15 minutes (offsets
#: in seconds from the first attempt), until the receiver answers 200.
CDR_RESEND_SCHEDULE: tuple[float, ...] = (0.0, 300.0, 600.0, 900.0)

_ALNUM = string.ascii_letters + string.digits
# Identifiers only need to be unique, not unguessable: a fast PRNG keeps requests cheap.
_random = random.Random()


@dataclass(eq=False)
class LiveCall:
    """A TeleCMI call between placement and its end (``sb.live_calls[cmiuuid]``).

    Attributes:
        phase: ``"ringing"``, ``"answered"`` or ``"ended"``.
        held: whether call control put it on hold.
        hold_changes: how many times call control changed `held` (a toggle sent twice shows).
    """

    call: PlacedCall
    appid: int
    from_field: str
    decision: Decision
    cmiuuid: str
    conversation_uuid: str
    phase: str = "ringing"
    held: bool = False
    hold_changes: int = 0
    hangup_reason: str | None = None
    answer_at: float | None = None
    end_at: float | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _wall0: float = field(default_factory=time.monotonic, repr=False)

    def hang_up(self) -> None:
        """End the call now, as call control does (``hangup_reason`` ``sent_bye``)."""
        if self.hangup_reason is None:
            self.hangup_reason = CONTROL_HANGUP_REASON
        self._stop.set()

    def sim_now(self, scale: float) -> float:
        """The simulated time (sandbox clock seconds) this call has reached."""
        if scale <= 0:
            return self.call.time
        return self.call.time + (time.monotonic() - self._wall0) / scale

    async def wait(self, sim_seconds: float, scale: float) -> bool:
        """Let `sim_seconds` of the call pass; ``False`` when it was hung up meanwhile."""
        if self._stop.is_set():
            return False
        if scale <= 0 or sim_seconds <= 0:
            return True
        try:
            await asyncio.wait_for(self._stop.wait(), sim_seconds * scale)
        except TimeoutError:
            return True
        return False


class TelecmiState(Knobs, Ledger):
    """The TeleCMI part of the sandbox state, set up by :meth:`_setup_telecmi`."""

    #: Largest ``limit`` accepted by the call-record endpoints.
    MAX_PAGE_LIMIT = 100

    def _setup_telecmi(
        self,
        *,
        telecmi_appid: int,
        telecmi_secret: str,
        telecmi_user_id: str,
        music_files: Iterable[str],
        seed_records: int,
        record_delay: float,
        billedsec: int,
        telecmi_webhook_url: str | None,
        cdr_resend_schedule: Sequence[float],
        page_cap: int | None,
    ) -> None:
        self.telecmi_appid = telecmi_appid
        self.telecmi_secret = telecmi_secret
        self.telecmi_user_id = telecmi_user_id
        self.music_files: set[str] = set(music_files)
        self.seed_records = seed_records
        self.record_delay = record_delay
        self.billedsec = billedsec
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
        #: TeleCMI event and cdr webhook attempts, in order.
        self.telecmi_webhooks: list[CallbackDelivery] = []
        #: TeleCMI calls still ringing or talking, by cmiuuid.
        self.live_calls: dict[str, LiveCall] = {}
        #: TeleCMI calls that have ended, by cmiuuid.
        self.ended_calls: dict[str, LiveCall] = {}
        #: request_id -> cmiuuid of every placed TeleCMI call.
        self.cmiuuids: dict[str, str] = {}
        self.records = CdrStore()
        # Seeded records end "now" as of construction, so a default 24 h window holds them all.
        self.seed_end_ms = int(self.clock() * 1000)

    # ------------------------------------------------------------------ addresses

    @property
    def telecmi_url(self) -> str:
        """Base URL standing in for ``https://rest.telecmi.com``."""
        return self.url

    @property
    def piopiy_url(self) -> str:
        """Base URL standing in for ``https://piopiy.telecmi.com``."""
        return self.url

    # ------------------------------------------------------------------ accounts

    def add_telecmi_account(self, appid: int, secret: str, user_id: str | None = None) -> None:
        """Register another TeleCMI app (and optionally a click-to-call user of it)."""
        self.telecmi_accounts[appid] = secret
        if user_id is not None:
            self.telecmi_users[user_id] = (appid, secret)

    def telecmi_app_ok(self, appid: int, secret: str) -> bool:
        """Whether ``appid`` / ``secret`` name a configured TeleCMI app."""
        expected = self.telecmi_secret if appid == self.telecmi_appid else self.telecmi_accounts.get(appid)
        return secret_matches(expected, secret)

    def telecmi_user_app(self, user_id: str, secret: str) -> int | None:
        """The appid of click-to-call user ``user_id`` if ``secret`` matches, else ``None``."""
        if user_id == self.telecmi_user_id:
            appid, expected = self.telecmi_appid, self.telecmi_secret
        elif user_id in self.telecmi_users:
            appid, expected = self.telecmi_users[user_id]
        else:
            return None
        return appid if secret_matches(expected, secret) else None

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

    def _reset_telecmi(self) -> None:
        """Forget webhook attempts, calls and records."""
        self.telecmi_webhooks.clear()
        self.live_calls.clear()
        self.ended_calls.clear()
        self.cmiuuids.clear()
        self.records.clear()

    # ------------------------------------------------------------------ ids

    @staticmethod
    def new_request_id() -> str:
        """A TeleCMI-style request id: 43 random alphanumerics."""
        return "".join(_random.choices(_ALNUM, k=43))


TELECMI_STATE = web.AppKey("voicekit_sandbox_telecmi_state", TelecmiState)
