"""TeleCMI (PIOPIY) webhooks: call records (``type: "cdr"``) and live call events (``"event"``)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import attrs
from cattrs.gen import make_dict_structure_fn, override

from .._converter import converter
from ..errors import ValidationError
from . import _decode
from ._decode import StructureFn

__all__ = [
    "TeleCMICdr",
    "TeleCMIEvent",
    "TeleCMIHangupReason",
    "TeleCMIStatus",
    "TeleCMIWebhook",
    "parse_telecmi_webhook",
    "telecmi_dedup_key",
]

Leg = Literal["a", "b"]


class TeleCMIStatus(enum.StrEnum):
    """The documented values of a webhook's ``status``.

    A status outside this list is kept as a plain ``str`` rather than rejected: refusing the
    webhook would make the vendor resend a record we could have stored. Compare with strings or
    members alike (``event.status == "answered"``).
    """

    STARTED = "started"
    ANSWERED = "answered"
    OUT_ANSWERED = "out_answered"
    OUT_BRIDGED = "out_bridged"
    HANGUP = "hangup"
    MISSED = "missed"


class TeleCMIHangupReason(enum.StrEnum):
    """The documented values of ``hangup_reason`` (named after the SIP message seen by TeleCMI).

    The vendor lists the values without defining them; an unlisted value is kept as a plain ``str``.
    """

    SENT_BYE = "sent_bye"
    RECV_BYE = "recv_bye"
    RECV_CANCEL = "recv_cancel"
    SENT_REJECT = "sent_reject"


@attrs.frozen(kw_only=True)
class _TeleCMIPayload:
    """The fields common to both kinds of TeleCMI webhook; absent ones are ``None``."""

    appid: str | None = None
    direction: str | None = None
    cmiuuid: str | None = None
    """The call leg's id; with `leg` it identifies a call record."""
    conversation_uuid: str | None = None
    leg: Leg | None = None
    request_id: str | None = None
    """The id returned by the make-call request (absent for inbound calls)."""
    extra_params: dict[str, Any] = attrs.field(factory=dict)
    """Your ``extra_params`` from the make-call request, decoded from the JSON string TeleCMI sends."""
    time: dt.datetime | None = None
    """``time`` (milliseconds since the epoch) as an aware UTC datetime."""
    time_ms: int | None = None
    """``time`` exactly as sent, in milliseconds."""
    duration: int | None = None
    """``duration`` in seconds (0 to a week)."""
    billed_seconds: int | None = None
    """``billedsec``: the seconds the vendor bills (0 to a week), when it sends them."""
    start_time: dt.datetime | None = None
    answer_time: dt.datetime | None = None
    """``None`` when the call was never answered (sent as 0 or left out)."""
    end_time: dt.datetime | None = None
    call_rate: Decimal | None = None
    balance: Decimal | None = None
    status: TeleCMIStatus | str | None = None
    hangup_reason: TeleCMIHangupReason | str | None = None
    from_number: str | None = None
    """``from``, always a string (TeleCMI sends numbers as JSON numbers or strings)."""
    to_number: str | None = None
    """``to``, always a string."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    """The payload as received, including keys this version does not model."""


@attrs.frozen(kw_only=True)
class TeleCMICdr(_TeleCMIPayload):
    """A call record (``type: "cdr"``). TeleCMI resends it at +5, +10 and +15 minutes."""


@attrs.frozen(kw_only=True)
class TeleCMIEvent(_TeleCMIPayload):
    """A live call event (``type: "event"``), e.g. a leg started, was answered or hung up."""


TeleCMIWebhook: TypeAlias = TeleCMICdr | TeleCMIEvent


def _leg(value: Any, _: Any = None) -> Leg | None:
    leg = _decode.label(value)
    if leg is None:
        return None
    if leg == "a":
        return "a"
    if leg == "b":
        return "b"
    raise ValueError("must be 'a' or 'b'")


def _known_or_text(enum_type: type[enum.StrEnum]) -> Any:
    def hook(value: Any, _: Any = None) -> enum.StrEnum | str | None:
        if value is not None and not isinstance(value, str):
            raise TypeError(f"must be a string, got {type(value).__name__}")
        label = _decode.label(value)
        if label is None:
            return None
        try:
            return enum_type(label)
        except ValueError:
            return label

    return hook


_WIRE_NAMES = {
    "appid": "appid",
    "direction": "direction",
    "cmiuuid": "cmiuuid",
    "conversation_uuid": "conversation_uuid",
    "leg": "leg",
    "request_id": "request_id",
    "extra_params": "extra_params",
    "time": "time",
    "time_ms": "time",
    "duration": "duration",
    "billed_seconds": "billedsec",
    "start_time": "start_time",
    "answer_time": "answer_time",
    "end_time": "end_time",
    "call_rate": "call_rate",
    "balance": "balance",
    "status": "status",
    "hangup_reason": "hangup_reason",
    "from_number": "from",
    "to_number": "to",
}

_HOOKS: dict[str, Any] = {
    "appid": _decode.identifier,
    "direction": _decode.label,
    "cmiuuid": _decode.identifier,
    "conversation_uuid": _decode.identifier,
    "request_id": _decode.identifier,
    "leg": _leg,
    "extra_params": _decode.json_object_string,
    "time": _decode.epoch_millis,
    "time_ms": _decode.epoch_millis_number,
    "duration": _decode.seconds,
    "billed_seconds": _decode.seconds,
    "start_time": _decode.epoch_seconds,
    "answer_time": _decode.epoch_seconds,
    "end_time": _decode.epoch_seconds,
    "call_rate": _decode.decimal,
    "balance": _decode.decimal,
    "status": _known_or_text(TeleCMIStatus),
    "hangup_reason": _known_or_text(TeleCMIHangupReason),
    "from_number": _decode.label,
    "to_number": _decode.label,
}


def _structurer(cls: type[_TeleCMIPayload]) -> StructureFn[Any]:
    overrides: dict[str, Any] = {
        name: override(rename=wire, struct_hook=_HOOKS.get(name, _decode.text)) for name, wire in _WIRE_NAMES.items()
    }
    return make_dict_structure_fn(cls, converter, raw=override(omit=True), **overrides)


_KINDS: dict[str, tuple[type[TeleCMIWebhook], StructureFn[Any]]] = {
    "cdr": (TeleCMICdr, _structurer(TeleCMICdr)),
    "event": (TeleCMIEvent, _structurer(TeleCMIEvent)),
}


def parse_telecmi_webhook(data: Mapping[str, Any] | bytes | bytearray | str) -> TeleCMIWebhook:
    """Parse a TeleCMI webhook body into a `TeleCMICdr` or a `TeleCMIEvent`.

    Required: ``type`` (``"cdr"`` or ``"event"``) and at least one of ``cmiuuid`` and
    ``request_id``, without which the webhook cannot be tied to a call. Unknown keys are kept in
    ``raw``; an unknown ``status`` or ``hangup_reason`` is kept as a plain string.

    Every field is bounded, so that a parsed webhook can be keyed, stored and encoded again
    without a surprise: ids (and the keys of ``extra_params``) at most 256 characters, statuses,
    reasons and numbers at most 64, ``duration`` and ``billedsec`` 0 to a week, times 1970 to 2105;
    and the whole body is plain JSON (see `load_object <voicekit.webhooks>`).

    Raises:
        ValidationError: the body is not a JSON object, a required field is missing, a field has
            the wrong type or is out of its bounds, a value is not plain JSON (a lone surrogate,
            NaN, an integer beyond +/-2**53), or ``extra_params`` is not a JSON object encoded
            as a string; ``field`` is the wire name.
    """
    payload = _decode.load_object(data)
    kind = payload.get("type")
    if kind is None:
        raise ValidationError("type", "is required")
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ValidationError("type", "must be 'cdr' or 'event'")
    cls, fn = _KINDS[kind]
    webhook: TeleCMIWebhook = _decode.structure(fn, cls, payload, _WIRE_NAMES)
    if webhook.cmiuuid is None and webhook.request_id is None:
        raise ValidationError("cmiuuid", "is required (or request_id) to tie the webhook to a call")
    return attrs.evolve(webhook, raw=MappingProxyType(payload))


def telecmi_dedup_key(webhook: TeleCMIWebhook) -> str:
    """The key under which a webhook counts as already delivered.

    A call record is identified by its type, ``cmiuuid`` and ``leg`` (``request_id`` stands in
    when ``cmiuuid`` is absent), e.g. ``"telecmi:cdr:cmiuuid=…:leg=a"``. An event also includes its
    ``status``, since one leg reports several (started, answered, hangup).
    """
    kind = "cdr" if isinstance(webhook, TeleCMICdr) else "event"
    call = f"cmiuuid={webhook.cmiuuid}" if webhook.cmiuuid else f"request_id={webhook.request_id}"
    key = f"telecmi:{kind}:{call}:leg={webhook.leg or '-'}"
    if kind == "event":
        key += f":status={webhook.status or '-'}"
    return key
