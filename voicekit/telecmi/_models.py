"""TeleCMI results and call records, structured from the vendor's JSON by the one converter."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs

from .._converter import wire

__all__ = ["CallRecord", "CallResult", "ClickToCallResult"]


@attrs.frozen(kw_only=True)
class CallResult:
    """The vendor accepted a call: `request_id` identifies it, `status` is ``"progress"``."""

    request_id: str
    status: str


@attrs.frozen(kw_only=True)
class ClickToCallResult:
    """A click-to-call was initiated (`msg` is ``"Call initiated"``)."""

    request_id: str
    msg: str = ""


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


wire(CallResult)
wire(ClickToCallResult)
wire(CallRecord, rename={"id": "_id", "from_": "from"})
