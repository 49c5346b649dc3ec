"""TeleCMI results and call records, structured from the vendor's JSON by the one converter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from .._converter import wire

__all__ = ["CallRecord", "CallResult", "ClickToCallResult", "Dial"]


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
