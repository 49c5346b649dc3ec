"""Decoding webhook bodies: JSON loading, per-field coercions, and cattrs errors as ValidationError.

A webhook body comes from the network, so whatever it holds ends in a parsed event or a
`ValidationError` (which the receivers answer with 400), never in an exception further on, when
the event is stored, keyed, encoded or compared. `load_object` accepts only what round-trips as
JSON: valid Unicode text (no lone surrogate) in keys and values, finite numbers (no ``NaN``,
``Infinity`` or ``1e400``), integers within +/-2**53, at most 32 levels of nesting.

Every coercion here is a cattrs structure hook (``hook(value, type)``) attached to one field through
``cattrs.gen.override``. They are per field, not per type, because the same Python type means
different things on the wire (seconds or milliseconds since the epoch, a number or a digit string),
and a type-keyed hook on the project's shared converter would change every other model too.
Each hook also bounds its field: identifiers to `MAX_ID_LEN` characters (what the tracker and the
journal key calls by), durations to [0, `MAX_CALL_SECONDS`], times to 1970..2105. Hooks raise
``ValueError``/``TypeError`` with the rule in words; `structure` turns that into a
`ValidationError` naming the wire field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeVar

import cattrs
import orjson
from cattrs.errors import AttributeValidationNote

from .._validate import json_number, show
from ..errors import ValidationError

__all__ = [
    "MAX_CALL_SECONDS",
    "MAX_EPOCH_SECONDS",
    "MAX_ID_LEN",
    "MAX_LABEL_LEN",
    "MAX_TEXT_LEN",
    "check_year",
    "code",
    "decimal",
    "epoch_millis",
    "epoch_millis_number",
    "epoch_seconds",
    "identifier",
    "json_object_string",
    "label",
    "load_object",
    "object_of",
    "required_identifier",
    "seconds",
    "structure",
    "text",
    "whole_number",
]

#: The longest identifier a webhook may carry (``cmiuuid``, ``request_id``, ``callSerialNo``, the
#: keys of ``extra_params``): the call tracker and the journal key calls by these, up to this length.
MAX_ID_LEN: Final = 256
#: The longest short label (a status, a hangup reason, a direction, a phone number).
MAX_LABEL_LEN: Final = 64
#: The longest other text (a record file name, a signature).
MAX_TEXT_LEN: Final = 1024
#: The longest call a webhook may report, in seconds. A week: far beyond any call a vendor bills
#: (TeleCMI's bridge defaults to 5400 s, its v3 API caps a call at 7200 s), far below an absurd one.
MAX_CALL_SECONDS: Final = 7 * 86_400
#: Call times are epoch seconds in [0, 2**32): from 1970 to early 2106. Outside it a time is no
#: call's, and converting it to another zone (or to a timestamp) could overflow.
MAX_EPOCH_SECONDS: Final = 2**32
#: Money amounts (``call_rate``, ``balance``) are within 10**18 and no finer than 10**-18.
_DECIMAL_DIGITS: Final = 18
_MIN_YEAR: Final = 1970
_MAX_YEAR: Final = 2105
#: Nesting a webhook body (or its ``extra_params``) may have; deeper is not a call's data.
_MAX_DEPTH: Final = 32

T = TypeVar("T")

StructureFn = Callable[[Mapping[str, Any], Any], T]


def load_object(data: Mapping[str, Any] | bytes | bytearray | str) -> dict[str, Any]:
    """Return the webhook body as a plain dict of plain JSON values, decoding JSON text or bytes.

    A mapping is copied (nested mappings become dicts, tuples lists), so that what is returned
    always encodes back to JSON.

    Raises:
        ValidationError: the body is not JSON or not a JSON object (field ``"payload"``), or a
            value is not plain JSON (a lone surrogate, NaN, an infinite number, an integer beyond
            +/-2**53, nesting deeper than 32 levels): ``field`` is the top-level key holding it.
    """
    if isinstance(data, Mapping):
        return object_of("payload", data, 0)
    if not isinstance(data, bytes | bytearray | str):
        raise ValidationError("payload", f"must be JSON text or a mapping, got {type(data).__name__}")
    decoded, plain = _loads("payload", data)
    return object_of("payload", decoded, 0, decoded=plain)


def _loads(field: str, data: bytes | bytearray | str) -> tuple[Any, bool]:
    """The decoded JSON, and whether its every string is known to be valid Unicode.

    orjson refuses what is not plain JSON text itself (bytes that are not UTF-8, a lone
    surrogate, NaN and Infinity, a number too large for a double), so after it the walk checks
    numbers and nesting only: a webhook's hot path. What orjson refuses is read again leniently,
    so that the walk names the field that holds the problem.
    """
    try:
        return orjson.loads(data), True
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data), False
    # JSONDecodeError and UnicodeDecodeError are ValueErrors (so is an integer of more than 4300
    # digits); absurd nesting hits the recursion limit.
    except (ValueError, RecursionError) as exc:
        raise ValidationError(field, "is not valid JSON") from exc


def _field_name(key: str) -> str:
    # A key names the field in the error only when it can be shown as is: short and printable
    # (the message goes to logs and to the sender).
    # An empty key would name no field at all.
    shown = key and len(key) <= MAX_LABEL_LEN and key.isprintable() and _is_unicode(key)
    return key if shown else "payload"


def _is_unicode(value: str) -> bool:
    # A lone surrogate passes every str check but cannot be encoded: it would fail later, when
    # the event is stored or sent on.
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def object_of(
    field: str, value: Mapping[Any, Any], depth: int, *, max_key_len: int | None = None, decoded: bool = False
) -> dict[str, Any]:
    """`value` as a plain dict of plain JSON values; each problem is reported under its top-level key.

    Args:
        field: the field named when the object itself is wrong (``"payload"``, ``"extra_params"``).
        value: a decoded JSON object, or any mapping.
        depth: how deep `value` already is.
        max_key_len: the longest key allowed.
        decoded: `value` comes from `_loads`, whose every string is valid Unicode already.
    """
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must be a JSON object, got {type(value).__name__}")
    top = depth == 0 and field == "payload"
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ValidationError(field, f"keys must be strings, got {type(key).__name__}")
        if not decoded and not _is_unicode(key):
            raise ValidationError(field, "keys must be valid Unicode text (one holds a lone surrogate)")
        if max_key_len is not None and len(key) > max_key_len:
            raise ValidationError(field, f"keys must be at most {max_key_len} characters, got one of {len(key)}")
        out[key] = _plain(_field_name(key) if top else field, item, depth + 1, decoded)
    return out


def _plain(field: str, value: Any, depth: int, decoded: bool = False) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if not decoded and not _is_unicode(value):
            raise ValidationError(field, "must be valid Unicode text (it holds a lone surrogate)")
        return value if decoded else str(value)
    if isinstance(value, int | float):
        return json_number(field, value)
    if depth >= _MAX_DEPTH:
        raise ValidationError(field, f"must nest at most {_MAX_DEPTH} levels deep")
    if isinstance(value, Mapping):
        return object_of(field, value, depth, decoded=decoded)
    if isinstance(value, list | tuple):
        return [_plain(field, item, depth + 1, decoded) for item in value]
    raise ValidationError(field, f"must be a JSON value, got {type(value).__name__}")


def structure(fn: StructureFn[T], cls: type[T], payload: Mapping[str, Any], wire_names: Mapping[str, str]) -> T:
    """Run a compiled cattrs structure function, reporting the first bad field as a ValidationError.

    Args:
        fn: the function made by ``make_dict_structure_fn`` for `cls`.
        cls: the attrs class being built.
        payload: the decoded body.
        wire_names: attribute name -> wire name, so errors name the field the sender used.
    """
    try:
        return fn(payload, cls)
    except cattrs.ClassValidationError as exc:
        with_notes, _ = exc.group_exceptions()
        for error, note in with_notes:
            if isinstance(note, AttributeValidationNote):
                field = wire_names.get(note.name, note.name)
            else:
                field = "payload"
            if isinstance(error, KeyError):
                raise ValidationError(field, "is required") from exc
            if isinstance(error, ValueError | TypeError):
                raise ValidationError(field, str(error)) from exc
        raise  # anything else is a bug in a hook, not bad input


_MAX_TEXT_INT = 10**64


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any, max_len: int) -> str | None:
    if _is_blank(value):
        return None
    if isinstance(value, str):
        if len(value) > max_len:
            raise ValueError(f"must be at most {max_len} characters, got {len(value)}")
        if not _is_unicode(value):
            raise ValueError("must be valid Unicode text (it holds a lone surrogate)")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # str() of an int past 4300 digits raises; no identifier or number of ours is that long.
        if abs(value) >= _MAX_TEXT_INT:
            raise ValueError("must be a string or a number of at most 64 digits")
        return str(value)
    raise TypeError(f"must be a string, got {type(value).__name__}")


def text(value: Any, _: Any = None) -> str | None:
    """A string field of at most `MAX_TEXT_LEN` characters; numbers become their digits; blank → None."""
    return _text(value, MAX_TEXT_LEN)


def label(value: Any, _: Any = None) -> str | None:
    """A short string (a status, a reason, a phone number: they arrive as numbers or strings) of at
    most `MAX_LABEL_LEN` characters; blank → None."""
    return _text(value, MAX_LABEL_LEN)


def identifier(value: Any, _: Any = None) -> str | None:
    """An id (``cmiuuid``, ``request_id``, ...) of at most `MAX_ID_LEN` characters; blank → None."""
    return _text(value, MAX_ID_LEN)


def required_identifier(value: Any, _: Any = None) -> str:
    """Like `identifier`, but blank is an error."""
    result = identifier(value)
    if result is None:
        raise ValueError("must not be empty")
    return result


def _number(value: Any) -> int | float | None:
    if _is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"must be a number, got {type(value).__name__}")
    number: int | float
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                raise ValueError("must be a number") from None
    else:
        number = value
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number


def whole_number(value: Any, _: Any = None) -> int | None:
    """An integer given as a JSON number or a digit string (``12``, ``"12"``); blank → None."""
    number = _number(value)
    if number is None:
        return None
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError("must be a whole number")
        return int(number)
    return number


def _bounded(value: Any, lo: int, hi: int, rule: str) -> int | None:
    number = whole_number(value)
    if number is not None and not lo <= number <= hi:
        raise ValueError(f"{rule}, got {show(number)}")
    return number


def seconds(value: Any, _: Any = None) -> int | None:
    """A call's duration in whole seconds, 0 to `MAX_CALL_SECONDS`; blank → None."""
    return _bounded(value, 0, MAX_CALL_SECONDS, f"must be a number of seconds from 0 to {MAX_CALL_SECONDS}")


def epoch_millis_number(value: Any, _: Any = None) -> int | None:
    """Milliseconds since the epoch as sent, from 1970 to 2105; blank → None."""
    return _bounded(value, 0, MAX_EPOCH_SECONDS * 1000 - 1, "must be an epoch time in ms from 1970 to 2105")


def code(value: Any, _: Any = None) -> int | None:
    """A vendor's numeric code (a 32-bit integer); blank → None."""
    return _bounded(value, -(2**31), 2**31 - 1, "must be a code of at most 32 bits")


def decimal(value: Any, _: Any = None) -> Decimal | None:
    """A money amount given as a number or a string (TeleCMI sends both); blank → None."""
    if _is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"must be a number, got {type(value).__name__}")
    written = str(value).strip()
    if len(written) > MAX_LABEL_LEN:
        raise ValueError(f"must be a number of at most {MAX_LABEL_LEN} characters")
    try:
        amount = Decimal(written)
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    # An exponent such as 1e999999 is text of a few characters but overflows any arithmetic on it.
    if amount and not -_DECIMAL_DIGITS <= amount.adjusted() < _DECIMAL_DIGITS:
        raise ValueError(f"must be an amount within 10**{_DECIMAL_DIGITS}, to 10**-{_DECIMAL_DIGITS}")
    return amount


def _from_epoch(epoch: float) -> dt.datetime:
    if not 0 <= epoch < MAX_EPOCH_SECONDS:
        raise ValueError(f"is not a valid epoch time (from {_MIN_YEAR} to {_MAX_YEAR}), got {show(epoch)}")
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def epoch_seconds(value: Any, _: Any = None) -> dt.datetime | None:
    """Seconds since the epoch (1970 to 2105) → an aware UTC datetime; blank or 0 (never a real
    call time) → None."""
    epoch = _number(value)
    return None if not epoch else _from_epoch(epoch)


def epoch_millis(value: Any, _: Any = None) -> dt.datetime | None:
    """Milliseconds since the epoch (1970 to 2105) → an aware UTC datetime; blank or 0 → None."""
    millis = epoch_millis_number(value)
    return None if not millis else _from_epoch(millis / 1000)


def check_year(moment: dt.datetime) -> dt.datetime:
    """`moment` if its year is one of a call's (1970 to 2105), so that it converts to any zone."""
    if not _MIN_YEAR <= moment.year <= _MAX_YEAR:
        raise ValueError(f"is not a call's time (from {_MIN_YEAR} to {_MAX_YEAR}), got the year {moment.year}")
    return moment


def json_object_string(value: Any, _: Any = None) -> dict[str, Any]:
    """A JSON object delivered as a string (TeleCMI ``extra_params``); blank → ``{}``.

    An already-decoded object is accepted too. Either way it holds plain JSON only (as
    `load_object` checks it) and keys of at most `MAX_ID_LEN` characters.
    """
    if _is_blank(value):
        return {}
    plain = False
    if isinstance(value, Mapping):
        decoded: Any = value
    elif isinstance(value, str):
        try:
            decoded, plain = _loads("extra_params", value)
        except ValidationError:
            raise ValueError("is not valid JSON") from None
        if not isinstance(decoded, dict):
            raise ValueError(f"must encode a JSON object, got {type(decoded).__name__}")
    else:
        raise TypeError(f"must be a JSON object encoded as a string, got {type(value).__name__}")
    try:
        return object_of("extra_params", decoded, 0, max_key_len=MAX_ID_LEN, decoded=plain)
    except ValidationError as exc:
        raise ValueError(exc.rule) from None
