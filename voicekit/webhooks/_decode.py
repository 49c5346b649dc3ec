"""Decoding webhook bodies: JSON loading, per-field coercions, and cattrs errors as ValidationError.

Every coercion here is a cattrs structure hook (``hook(value, type)``) attached to one field through
``cattrs.gen.override``. They are per field, not per type, because the same Python type means
different things on the wire (seconds or milliseconds since the epoch, a number or a digit string),
and a type-keyed hook on the project's shared converter would change every other model too.
Hooks raise ``ValueError``/``TypeError`` with the rule in words; `structure` turns that into a
`ValidationError` naming the wire field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import cattrs
from cattrs.errors import AttributeValidationNote

from ..errors import ValidationError

__all__ = [
    "decimal",
    "epoch_millis",
    "epoch_seconds",
    "json_object_string",
    "load_object",
    "required_text",
    "structure",
    "text",
    "whole_number",
]

T = TypeVar("T")

StructureFn = Callable[[Mapping[str, Any], Any], T]


def load_object(data: Mapping[str, Any] | bytes | bytearray | str) -> dict[str, Any]:
    """Return the webhook body as a dict, decoding JSON text or bytes.

    Raises:
        ValidationError: (field ``"payload"``) the body is not JSON, or not a JSON object.
    """
    if isinstance(data, Mapping):
        payload = dict(data)
        # Keys are wire names; a non-string key cannot come from JSON and names nothing.
        for key in payload:
            if not isinstance(key, str):
                raise ValidationError("payload", f"keys must be strings, got {type(key).__name__}")
        return payload
    if not isinstance(data, bytes | bytearray | str):
        raise ValidationError("payload", f"must be JSON text or a mapping, got {type(data).__name__}")
    try:
        decoded = json.loads(data)
    # JSONDecodeError and UnicodeDecodeError are ValueErrors; absurd nesting hits the recursion limit.
    except (ValueError, RecursionError) as exc:
        raise ValidationError("payload", "is not valid JSON") from exc
    if not isinstance(decoded, dict):
        raise ValidationError("payload", f"must be a JSON object, got {type(decoded).__name__}")
    return decoded


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


def text(value: Any, _: Any = None) -> str | None:
    """A string field; numbers become their digits (phone numbers arrive either way); blank → None."""
    if _is_blank(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # str() of an int past 4300 digits raises; no identifier or number of ours is that long.
        if abs(value) >= _MAX_TEXT_INT:
            raise ValueError("must be a string or a number of at most 64 digits")
        return str(value)
    raise TypeError(f"must be a string, got {type(value).__name__}")


def required_text(value: Any, _: Any = None) -> str:
    """Like `text`, but blank is an error."""
    result = text(value)
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


def decimal(value: Any, _: Any = None) -> Decimal | None:
    """A money amount given as a number or a string (TeleCMI sends both); blank → None."""
    if _is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"must be a number, got {type(value).__name__}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    return amount


def _from_epoch(seconds: float) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("is not a valid epoch time") from None


def epoch_seconds(value: Any, _: Any = None) -> dt.datetime | None:
    """Seconds since the epoch → an aware UTC datetime; blank or 0 (never a real call time) → None."""
    seconds = _number(value)
    return None if not seconds else _from_epoch(seconds)


def epoch_millis(value: Any, _: Any = None) -> dt.datetime | None:
    """Milliseconds since the epoch → an aware UTC datetime; blank or 0 → None."""
    millis = whole_number(value)
    if not millis:
        return None
    try:
        seconds = millis / 1000
    except OverflowError:  # an int too large for a float
        raise ValueError("is not a valid epoch time") from None
    return _from_epoch(seconds)


def json_object_string(value: Any, _: Any = None) -> dict[str, Any]:
    """A JSON object delivered as a string (TeleCMI ``extra_params``); blank → ``{}``.

    An already-decoded object is accepted as is.
    """
    if _is_blank(value):
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str):
        raise TypeError(f"must be a JSON object encoded as a string, got {type(value).__name__}")
    try:
        decoded = json.loads(value)
    # Absurd nesting hits the recursion limit; that is bad input too, not a crash.
    except (ValueError, RecursionError):
        raise ValueError("is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise ValueError(f"must encode a JSON object, got {type(decoded).__name__}")
    return decoded
