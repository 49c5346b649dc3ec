"""The sandbox state: the shared knobs and ledger plus every vendor's part, in one object."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from ._ledger import CallbackDelivery, Ledger, PlacedCall, RequestLogEntry
from ._outcomes import OutcomePlan
from ._runtime import DEFAULT_MAX_BODY_SIZE, Knobs
from .huawei._state import DEFAULT_HUAWEI_APP_KEY, DEFAULT_HUAWEI_APP_SECRET, HuaweiState
from .telecmi._state import (
    CDR_RESEND_SCHEDULE,
    DEFAULT_MUSIC_FILES,
    DEFAULT_TELECMI_APPID,
    DEFAULT_TELECMI_SECRET,
    DEFAULT_TELECMI_USER_ID,
    TelecmiState,
)

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
    "PlacedCall",
    "RequestLogEntry",
    "SandboxState",
]


class SandboxState(TelecmiState, HuaweiState):
    """Everything the emulated vendors know: accounts, knobs, stores, ledger and logs.

    All knobs are plain attributes that may be changed while the sandbox runs. See the package
    docstring for the meaning of each one.
    """

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
        Knobs.__init__(
            self,
            host=host,
            port=port,
            latency=latency,
            rate_limit=rate_limit,
            rate_burst=rate_burst,
            clock=clock,
            max_body_size=max_body_size,
            outcomes=outcomes,
            time_scale=time_scale,
        )
        Ledger.__init__(self, request_log_size=request_log_size)
        self._setup_telecmi(
            telecmi_appid=telecmi_appid,
            telecmi_secret=telecmi_secret,
            telecmi_user_id=telecmi_user_id,
            music_files=music_files,
            seed_records=seed_records,
            record_delay=record_delay,
            billedsec=billedsec,
            telecmi_webhook_url=telecmi_webhook_url,
            cdr_resend_schedule=cdr_resend_schedule,
            page_cap=page_cap,
        )
        self._setup_huawei(
            huawei_app_key=huawei_app_key,
            huawei_app_secret=huawei_app_secret,
            callback_delay=callback_delay,
            huawei_release_reason=huawei_release_reason,
            huawei_talk_duration=huawei_talk_duration,
            huawei_callback_signer=huawei_callback_signer,
        )

    def reset(self) -> None:
        """Forget placed calls, records, logs, tokens, faults and rate-limit state."""
        self._reset_ledger()
        self._reset_telecmi()
        self._reset_huawei()
        self._reset_knobs()
