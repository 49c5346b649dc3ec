"""TeleCMI results and call records, structured from the vendor's JSON by the one converter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from .._converter import LOCAL, wire
from .._response import Response

__all__ = [
    "CallActionResult",
    "CallLeg",
    "CallLookup",
    "CallRecord",
    "CallResult",
    "ClickToCallResult",
    "Dial",
]


@attrs.frozen(kw_only=True)
class CallResult:
    """The vendor accepted a call: `request_id` identifies it, `status` is ``"progress"``;
    `response` holds the HTTP status and headers."""

    request_id: str
    status: str
    response: Response | None = attrs.field(default=None, eq=False, repr=False, metadata={LOCAL: True})


@attrs.frozen(kw_only=True)
class ClickToCallResult:
    """A click-to-call was initiated (`msg` is ``"Call initiated"``); `response` holds the HTTP
    status and headers."""

    request_id: str
    msg: str = ""
    response: Response | None = attrs.field(default=None, eq=False, repr=False, metadata={LOCAL: True})


@attrs.frozen(kw_only=True)
class CallRecord:
    """One call detail record.

    Numbers are normalised to strings (the vendor sends ``to`` as a number and ``from`` as a
    string), `rate` to a Decimal, and `time` stays epoch milliseconds; `started_at` is the aware
    datetime.
    """

    id: str
    to: str
    time: int
    from_: str | None = None
    billedsec: int = 0
    rate: Decimal | None = None
    record: str | None = None
    filename: str | None = None
    name: str | None = None
    agent: str | None = None

    @property
    def started_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time / 1000, tz=dt.UTC)


@attrs.frozen(kw_only=True)
class Dial:
    """One call of a bulk run: a caller-chosen `key`, and what `make_call` or `play_music` takes.

    Give `pcmo` for a full flow, or `file_name` / `file_url` to play a music. The fields are
    validated when the call is sent, so one bad row becomes that row's outcome, not an exception
    that stops the run.
    """

    key: str
    from_: int | str
    to: int | str
    file_name: str | None = None
    file_url: str | None = None
    pcmo: Sequence[Any] | None = None
    region: str = "global"
    extra_params: Mapping[str, Any] | str | None = None


wire(CallResult)
wire(ClickToCallResult)
wire(CallRecord, rename={"id": "_id", "from_": "from"})


@attrs.frozen(kw_only=True)
class CallActionResult:
    """Call control accepted `action` (``"hangup"``, ``"hold"``, ``"unhold"`` or ``"holdToggle"``)
    on the live call `cmiuuid`; `hold` is whether the call is now on hold, when the vendor says."""

    cmiuuid: str
    action: str
    msg: str = ""
    hold: bool | None = None
    response: Response | None = attrs.field(default=None, eq=False, repr=False, metadata={LOCAL: True})


@attrs.frozen(kw_only=True)
class CallLeg:
    """One record of the per-call lookup: a leg (``"a"`` or ``"b"``) of the call.

    The documented fields are `duration`, `balance`, `rate`, `leg`, `direction` and `status`;
    the others are filled when the vendor sends them. Times are epoch seconds.
    """

    leg: str | None = None
    direction: str | None = None
    status: str | None = None
    duration: int | None = None
    rate: Decimal | None = None
    balance: Decimal | None = None
    request_id: str | None = None
    cmiuuid: str | None = None
    billedsec: int | None = None
    hangup_reason: str | None = None
    from_: str | None = None
    to: str | None = None
    start_time: int | None = None
    answer_time: int | None = None
    end_time: int | None = None


@attrs.frozen(kw_only=True)
class CallLookup:
    """What the per-call lookup knows of `request_id`: its legs, none while the call is live
    (or when the id is unknown)."""

    request_id: str
    legs: list[CallLeg] = attrs.field(factory=list)
    response: Response | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def found(self) -> bool:
        """Whether the vendor has a record of the call (it has ended)."""
        return bool(self.legs)


wire(CallActionResult)
wire(CallLeg, rename={"from_": "from"})
