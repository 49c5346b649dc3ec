"""The Huawei CEC voice-notification release callback ("Release Event") as a typed event."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs
from cattrs.gen import make_dict_structure_fn, override

from .._converter import converter
from ..errors import ValidationError
from . import _decode
from ._decode import StructureFn

__all__ = ["HuaweiReleaseEvent", "ReleaseReason", "parse_huawei_release_event"]


class ReleaseReason(enum.IntEnum):
    """Why a Huawei voice notification ended (the callback's ``releaseReason``).

    Only code 0 is publicly documented. Any other code becomes `UNKNOWN`, and the code itself stays
    on the event as `HuaweiReleaseEvent.release_reason_code`; add members here as codes become known.
    """

    UNKNOWN = -1
    """A code this version does not know; read `HuaweiReleaseEvent.release_reason_code`."""

    CALLED_PARTY_HUNG_UP = 0
    """The called party hung up after the call connected."""


@attrs.frozen(kw_only=True)
class HuaweiReleaseEvent:
    """A Huawei release callback: the notification call is over.

    Times are the vendor's wall-clock readings made timezone-aware with the zone given to the parser
    (UTC unless told otherwise; the vendor does not state its zone). Optional fields the vendor left
    empty are ``None``.
    """

    call_serial_no: str
    """``callSerialNo``: the id returned when the call was created."""
    called: str | None = None
    caller_present: str | None = None
    create_call_time: dt.datetime | None = None
    alerting_time: dt.datetime | None = None
    talking_time: dt.datetime | None = None
    release_time: dt.datetime | None = None
    talk_duration: int | None = None
    """``talkDuration`` in seconds (0 to a week)."""
    record_file: str | None = None
    location_id: str | None = None
    release_reason: ReleaseReason | None = None
    """``releaseReason`` as an enum; `ReleaseReason.UNKNOWN` for undocumented codes."""
    release_reason_code: int | None = None
    """``releaseReason`` exactly as sent, also for codes `ReleaseReason` does not know."""
    timestamp: str | None = None
    nonce: str | None = None
    signature: str | None = attrs.field(default=None, repr=False)
    """Present only when the callback URL was passed through the API and a Shared Key is set."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    """The payload as received, including keys this version does not model."""


# Date, comma, H:M:S:milliseconds, e.g. "2022/02/17,13:10:06:836".
_HUAWEI_TIME = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2}),(\d{1,2}):(\d{1,2}):(\d{1,2})(?::(\d{1,3}))?")
_TIME_RULE = "must be a time like 2022/02/17,13:10:06:836"


def _huawei_time(value: Any, tz: dt.tzinfo) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"{_TIME_RULE}, got {type(value).__name__}")
    match = _HUAWEI_TIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(_TIME_RULE)
    year, month, day, hour, minute, second, millis = match.groups()
    try:
        moment = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int(millis or 0) * 1000, tzinfo=tz,
        )  # fmt: skip
    except ValueError:
        raise ValueError(_TIME_RULE) from None
    return _decode.check_year(moment)


def check_tz(tz: Any) -> None:
    """Refuse a `tz` that is not a `datetime.tzinfo` (a zone name string is a common slip)."""
    if not isinstance(tz, dt.tzinfo):
        raise ValidationError(
            "tz", f"must be a datetime.tzinfo such as ZoneInfo('Asia/Shanghai'), got {type(tz).__name__}"
        )


def _release_reason(value: Any, _: Any = None) -> ReleaseReason | None:
    code = _decode.code(value)
    if code is None:
        return None
    try:
        return ReleaseReason(code)
    except ValueError:
        return ReleaseReason.UNKNOWN


_WIRE_NAMES = {
    "call_serial_no": "callSerialNo",
    "called": "called",
    "caller_present": "callerPresent",
    "create_call_time": "createCallTime",
    "alerting_time": "alertingTime",
    "talking_time": "talkingTime",
    "release_time": "releaseTime",
    "talk_duration": "talkDuration",
    "record_file": "recordfile",
    "location_id": "locationId",
    "release_reason": "releaseReason",
    "release_reason_code": "releaseReason",
    "timestamp": "timestamp",
    "nonce": "nonce",
    "signature": "signature",
}

_TIME_FIELDS = ("create_call_time", "alerting_time", "talking_time", "release_time")


@functools.lru_cache(maxsize=16)
def _structurer(tz: dt.tzinfo) -> StructureFn[HuaweiReleaseEvent]:
    """Compile the structure function for one time zone (the wire times carry none)."""

    def time(value: Any, _: Any) -> dt.datetime | None:
        return _huawei_time(value, tz)

    hooks: dict[str, Any] = {
        "call_serial_no": _decode.required_identifier,
        "called": _decode.label,
        "caller_present": _decode.label,
        "talk_duration": _decode.seconds,
        "location_id": _decode.identifier,
        "release_reason": _release_reason,
        "release_reason_code": _decode.code,
        "timestamp": _decode.label,
        "nonce": _decode.identifier,
    }
    hooks |= dict.fromkeys(_TIME_FIELDS, time)
    overrides: dict[str, Any] = {
        name: override(rename=wire, struct_hook=hooks.get(name, _decode.text)) for name, wire in _WIRE_NAMES.items()
    }
    return make_dict_structure_fn(HuaweiReleaseEvent, converter, raw=override(omit=True), **overrides)


def parse_huawei_release_event(
    data: Mapping[str, Any] | bytes | bytearray | str, *, tz: dt.tzinfo = dt.UTC
) -> HuaweiReleaseEvent:
    """Parse a Huawei release callback body into a `HuaweiReleaseEvent`.

    Only ``callSerialNo`` is required: it is what ties the callback to the call you created.
    Every field is bounded (``callSerialNo`` at most 256 characters, ``called`` and
    ``callerPresent`` at most 64, ``talkDuration`` 0 to a week, times in the years 1970 to 2105)
    and the whole body is plain JSON, as for `parse_telecmi_webhook`.

    Args:
        data: the request body (JSON bytes or text) or an already-decoded mapping.
        tz: the zone of the vendor's wall-clock times. The vendor does not document it; UTC is the
            default, pass your tenant's zone (e.g. ``ZoneInfo("Asia/Shanghai")``) if it differs.

    Raises:
        ValidationError: the body is not a JSON object, ``callSerialNo`` is missing, or a field has
            the wrong type or format; ``field`` is the wire name (``"createCallTime"``). Also
            (field ``"tz"``) when `tz` is not a `datetime.tzinfo`.
    """
    check_tz(tz)
    payload = _decode.load_object(data)
    event = _decode.structure(_structurer(tz), HuaweiReleaseEvent, payload, _WIRE_NAMES)
    return attrs.evolve(event, raw=MappingProxyType(payload))
