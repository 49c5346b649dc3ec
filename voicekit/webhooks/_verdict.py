"""One verdict per webhook: did this call end, and was it answered?

The call tracker (`voicekit.tracking`) and the campaign journal (`voicekit.journal`) both ask it,
so that one webhook never means two things.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Literal, overload

import attrs

from ..errors import ValidationError
from ._decode import MAX_CALL_SECONDS
from ._huawei import HuaweiReleaseEvent
from ._telecmi import TeleCMICdr, TeleCMIEvent, TeleCMIStatus

__all__ = ["CallOutcome", "CallVerdict", "call_end"]


class CallOutcome(enum.StrEnum):
    """How a call ended."""

    ANSWERED = "answered"
    MISSED = "missed"
    """Nobody answered (rang out, rejected, or cancelled before the answer)."""
    FAILED = "failed"
    """The call ended, but its record says neither answered nor missed (no status, ``started``,
    or a status the vendor does not document) and shows no sign of an answer."""


@attrs.frozen(kw_only=True)
class CallVerdict:
    """How one call ended, as its final webhook tells it (see `call_end`)."""

    vendor: Literal["telecmi", "huawei"]
    outcome: CallOutcome
    call_id: str
    """The vendor's id of the call: TeleCMI ``cmiuuid`` (its ``request_id`` when absent), Huawei
    ``callSerialNo``."""
    request_id: str | None
    """What the request that placed the call returned: TeleCMI ``request_id``, Huawei
    ``callSerialNo``; ``None`` for a TeleCMI call placed otherwise (an inbound call)."""
    cmiuuid: str | None
    """TeleCMI's id of the call leg (what call control needs); ``None`` for Huawei."""
    number: str | None
    """The number called: TeleCMI ``to``, Huawei ``called``."""
    started_at: dt.datetime | None
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    billed_seconds: int | None
    """Seconds of talk: 0 when not answered; ``None`` when answered but the vendor did not say."""
    hangup_reason: str | None
    """TeleCMI ``hangup_reason``, or Huawei ``releaseReason`` as the code's digits."""

    @property
    def answered(self) -> bool:
        """Whether somebody answered."""
        return self.outcome is CallOutcome.ANSWERED


_ANSWERED_STATUSES = frozenset({TeleCMIStatus.ANSWERED, TeleCMIStatus.OUT_ANSWERED, TeleCMIStatus.OUT_BRIDGED})
_MISSED_STATUSES = frozenset({TeleCMIStatus.MISSED, TeleCMIStatus.HANGUP})


@overload
def call_end(webhook: HuaweiReleaseEvent) -> CallVerdict: ...
@overload
def call_end(webhook: TeleCMICdr | TeleCMIEvent) -> CallVerdict | None: ...
def call_end(webhook: TeleCMICdr | TeleCMIEvent | HuaweiReleaseEvent) -> CallVerdict | None:
    """The end of the call a webhook reports, or ``None`` when the webhook is not a call's end.

    The rules, decided once from the vendors' documents (TeleCMI: ``type`` is ``cdr`` or
    ``event``; ``status`` is one of ``started, answered, out_answered, out_bridged, hangup,
    missed``; ``leg`` is ``a`` or ``b``; ``answer_time`` is 0 or absent when nobody answered.
    Huawei: the release event ends every notification call; ``talkingTime`` and
    ``talkDuration`` tell the talk):

    | webhook         | ``leg``      | ``status``                                | sign of answer | verdict  |
    |-----------------|--------------|-------------------------------------------|----------------|----------|
    | TeleCMI event   | any          | any (live news; the call record follows)  | any            | ``None`` |
    | TeleCMI cdr     | ``b``        | any (the far party of a bridge)           | any            | ``None`` |
    | TeleCMI cdr     | ``a``/absent | ``answered, out_answered, out_bridged``   | any            | answered |
    | TeleCMI cdr     | ``a``/absent | ``missed, hangup``                        | yes            | answered |
    | TeleCMI cdr     | ``a``/absent | ``missed, hangup``                        | no             | missed   |
    | TeleCMI cdr     | ``a``/absent | ``started``, absent, or undocumented      | yes            | answered |
    | TeleCMI cdr     | ``a``/absent | ``started``, absent, or undocumented      | no             | failed   |
    | Huawei release  | -            | -                                         | yes            | answered |
    | Huawei release  | -            | -                                         | no             | missed   |

    A *sign of answer* is, for TeleCMI, an ``answer_time`` or ``billedsec`` above 0 (not
    ``duration``, which may count the ringing); for Huawei a ``talkingTime`` or a
    ``talkDuration`` above 0. A sign of answer outweighs a ``missed`` label: a person who
    answered must never be rung again because of a contradictory record.

    The other parts of the verdict: `CallVerdict.billed_seconds` is 0 when not answered;
    otherwise TeleCMI's ``billedsec``, else its ``duration``, else ``end_time - answer_time``
    (Huawei: ``talkDuration``, else ``releaseTime - talkingTime``), else ``None``.
    `CallVerdict.started_at` is TeleCMI's ``start_time`` (Huawei: ``createCallTime``, else
    ``alertingTime``); `CallVerdict.ended_at` is TeleCMI's ``end_time``, else the record's
    ``time`` (Huawei: ``releaseTime``).

    Raises:
        ValidationError: a TeleCMI call record (built by hand) with neither ``cmiuuid`` nor
            ``request_id``.
    """
    if isinstance(webhook, HuaweiReleaseEvent):
        return _huawei(webhook)
    if not isinstance(webhook, TeleCMICdr) or webhook.leg == "b":
        return None
    return _telecmi(webhook)


def _telecmi(cdr: TeleCMICdr) -> CallVerdict:
    sign_of_answer = cdr.answer_time is not None or bool(cdr.billed_seconds)
    status = cdr.status
    if status in _ANSWERED_STATUSES or sign_of_answer:
        outcome = CallOutcome.ANSWERED
    elif status in _MISSED_STATUSES:
        outcome = CallOutcome.MISSED
    else:
        outcome = CallOutcome.FAILED
    ended_at = cdr.end_time or cdr.time
    billed: int | None = 0
    if outcome is CallOutcome.ANSWERED:
        billed = _first(cdr.billed_seconds, cdr.duration, _seconds_between(cdr.answer_time, cdr.end_time))
    call_id = cdr.cmiuuid or cdr.request_id
    if call_id is None:
        # `parse_telecmi_webhook` refuses such a body; only a hand-built record gets here.
        raise ValidationError("cmiuuid", "a call record must name its call (cmiuuid or request_id)")
    return CallVerdict(
        vendor="telecmi",
        outcome=outcome,
        call_id=call_id,
        request_id=cdr.request_id,
        cmiuuid=cdr.cmiuuid,
        number=cdr.to_number,
        started_at=cdr.start_time,
        answered_at=cdr.answer_time,
        ended_at=ended_at,
        billed_seconds=billed,
        hangup_reason=None if cdr.hangup_reason is None else str(cdr.hangup_reason),
    )


def _huawei(event: HuaweiReleaseEvent) -> CallVerdict:
    answered = event.talking_time is not None or bool(event.talk_duration)
    billed: int | None = 0
    if answered:
        billed = _first(event.talk_duration, _seconds_between(event.talking_time, event.release_time))
    return CallVerdict(
        vendor="huawei",
        outcome=CallOutcome.ANSWERED if answered else CallOutcome.MISSED,
        call_id=event.call_serial_no,
        request_id=event.call_serial_no,
        cmiuuid=None,
        number=event.called,
        started_at=event.create_call_time or event.alerting_time,
        answered_at=event.talking_time,
        ended_at=event.release_time,
        billed_seconds=billed,
        hangup_reason=None if event.release_reason_code is None else str(event.release_reason_code),
    )


def _first(*values: int | None) -> int | None:
    return next((value for value in values if value is not None), None)


def _seconds_between(start: dt.datetime | None, end: dt.datetime | None) -> int | None:
    """The seconds from `start` to `end`; None when unknown, or longer than any call (times that
    far apart tell no call's length: the decoders refuse such a duration too)."""
    if start is None or end is None or end < start:
        return None
    seconds = int((end - start).total_seconds())
    return seconds if seconds <= MAX_CALL_SECONDS else None
