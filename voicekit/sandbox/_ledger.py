"""The ledger tests judge by: the calls the vendors placed, the request log, webhook attempts."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = ["CallbackDelivery", "Ledger", "PlacedCall", "RequestLogEntry"]


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


class Ledger:
    """Every vendor's placed calls (``calls``) and the log of every request (``requests``)."""

    def __init__(self, *, request_log_size: int) -> None:
        self.calls: list[PlacedCall] = []
        self.requests: deque[RequestLogEntry] = deque(maxlen=request_log_size)

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

    def _reset_ledger(self) -> None:
        """Forget placed calls and logged requests."""
        self.calls.clear()
        self.requests.clear()
