"""Small validators shared by the models and clients; each raises ValidationError naming the field.

Every check here is total: whatever it is given (a huge int, nan, a list, an object with a hostile
``__eq__``), it returns the checked value or raises `ValidationError`, never another exception.
Messages show the offending value through `show`, which never fails and never grows unbounded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sized
from typing import Any, Final
from urllib.parse import urlsplit

from .errors import ValidationError

__all__ = [
    "JSON_INT_MAX",
    "json_number",
    "check_base_url",
    "check_bool",
    "check_header_value",
    "check_http_url",
    "check_int_range",
    "check_json_object",
    "check_len",
    "check_number",
    "check_seq",
    "check_str",
    "phone_number",
    "show",
]

# The vendor SDK's own rule for phone numbers: no leading zero, 7 to 16 digits.
_PHONE = re.compile(r"[1-9][0-9]{6,15}")
_PHONE_MIN, _PHONE_MAX = 10**6, 10**16
# Longer than any phone number in any notation; longer text is refused before any regex runs.
_PHONE_TEXT_MAX = 64

#: The largest integer a JSON body may carry: orjson encodes only 64-bit integers, and a vendor
#: parsing JSON numbers as doubles loses precision well before that anyway.
JSON_INT_MAX: Final = 2**53
#: Nesting depth allowed in caller-supplied JSON (``extra_params``); deeper is not a parameter set.
_JSON_MAX_DEPTH: Final = 32

_SHOW_MAX = 60


def show(value: Any) -> str:
    """A short, safe rendering of `value` for an error message (never raises, never huge)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        # str() of an int with more than 4300 digits raises ValueError; say how big it is instead.
        if abs(value) >= 10**18:
            return f"an integer of {value.bit_length()} bits"
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, str):
        text = value if len(value) <= _SHOW_MAX else value[:_SHOW_MAX] + "..."
        return repr(text)
    return f"a {type(value).__name__}"


def _utf8(field: str, value: str) -> None:
    # A lone surrogate passes every str check but cannot be encoded: it would fail when the
    # request body is serialised, i.e. after the call was accepted.
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(field, "must be valid Unicode text (it holds a lone surrogate)") from None


def phone_number(field: str, value: Any) -> int:
    """An international number as the vendor wants it (digits only, as a JSON number)."""
    if type(value) is int and _PHONE_MIN <= value < _PHONE_MAX:
        return value  # the common case, without a regex
    if isinstance(value, bool):
        raise ValidationError(field, "must be a phone number, not a boolean")
    if isinstance(value, int):
        # Range first: str() of a huge int raises, and no number outside it is a phone number.
        raise ValidationError(field, f"must be 7-16 digits without a leading zero, got {show(value)}")
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a phone number (an int or a digit string), got {type(value).__name__}")
    if len(value) > _PHONE_TEXT_MAX:
        raise ValidationError(field, f"must be 7-16 digits, got {len(value)} characters")
    text = value.strip().removeprefix("+").replace(" ", "").replace("-", "")
    # `[0-9]` matches ASCII digits only, so no other script's digits reach int().
    if not _PHONE.fullmatch(text):
        raise ValidationError(field, f"must be 7-16 digits without a leading zero, got {show(value)}")
    return int(text)


def check_str(field: str, value: Any, *, max_len: int | None = None, min_len: int = 1) -> str:
    """A string of `min_len` non-blank to `max_len` characters, encodable as UTF-8."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {type(value).__name__}")
    if max_len is not None and len(value) > max_len:
        raise ValidationError(field, f"must be at most {max_len} characters, got {len(value)}")
    if len(value.strip()) < min_len:
        raise ValidationError(field, "must not be empty")
    _utf8(field, value)
    return str(value)


def check_header_value(field: str, value: Any, *, max_len: int = 1024) -> str:
    """A credential sent in an HTTP header: printable ASCII without spaces at the ends.

    aiohttp refuses a header holding CR, LF or other control characters only when it sends it;
    checking here keeps that failure before any I/O.
    """
    text = check_str(field, value, max_len=max_len)
    if not text.isascii() or not text.isprintable() or text != text.strip():
        raise ValidationError(
            field, "must be printable ASCII without leading or trailing spaces (it is sent in a header)"
        )
    return text


def check_len(field: str, value: Sized, lo: int, hi: int) -> None:
    """`value` holds `lo` to `hi` items."""
    if not lo <= len(value) <= hi:
        raise ValidationError(field, f"must hold {lo} to {hi} items, got {len(value)}")


def check_seq(field: str, value: Any, what: str) -> tuple[Any, ...]:
    """A list or tuple of items (`what` names them for the message), as a tuple.

    Only lists and tuples: a string or a dict is iterable but never meant as a list, and an
    arbitrary iterable might never end.
    """
    if not isinstance(value, list | tuple):
        raise ValidationError(field, f"must be a list of {what}, got {type(value).__name__}")
    return tuple(value)


def check_int_range(field: str, value: Any, lo: int, hi: int | None = None) -> int:
    """An int (not a bool) in [lo, hi]; without `hi`, at most `JSON_INT_MAX` so it can be sent."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be an integer, got {show(value)}")
    top = JSON_INT_MAX if hi is None else hi
    if value < lo or value > top:
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise ValidationError(field, f"must be {bound}, got {show(value)}")
    return int(value)


def check_number(field: str, value: Any, lo: float, hi: float, *, lo_open: bool = False) -> float:
    """A finite real number (int or float, not a bool) in [lo, hi] (or (lo, hi] if `lo_open`)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(field, f"must be a number, got {show(value)}")
    # Compare before converting: float() of a huge int raises OverflowError.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(field, f"must be a finite number, got {show(value)}")
    low_ok = value > lo if lo_open else value >= lo
    if not low_ok or value > hi:
        low = f"> {lo:g}" if lo_open else f">= {lo:g}"
        raise ValidationError(field, f"must be {low} and <= {hi:g}, got {show(value)}")
    return float(value)


def check_bool(field: str, value: Any) -> bool:
    """True or False (not 0, 1 or "yes")."""
    if not isinstance(value, bool):
        raise ValidationError(field, f"must be True or False, got {show(value)}")
    return value


def _split_url(field: str, value: Any, schemes: tuple[str, ...], max_len: int | None) -> Any:
    text = check_str(field, value, max_len=max_len)
    want = " or ".join(schemes)
    if any(ch.isspace() for ch in text) or not text.isprintable():
        raise ValidationError(field, f"must be a {want} URL without spaces, got {show(text)}")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValidationError(field, f"must be a valid {want} URL, got {show(text)}") from None
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ValidationError(
            field, f"must be a {want} URL with a host, e.g. {schemes[-1]}://example.com/..., got {show(text)}"
        )
    return parts


def check_http_url(
    field: str, value: Any, *, max_len: int | None = None, schemes: tuple[str, ...] = ("http", "https")
) -> str:
    """An absolute URL with one of `schemes` and a host."""
    _split_url(field, value, schemes, max_len)
    return str(value)


def check_base_url(field: str, value: Any) -> str:
    """A vendor base URL: http(s), a host, no query or fragment; returned without a trailing slash."""
    parts = _split_url(field, value, ("http", "https"), 2048)
    if parts.query or parts.fragment or str(value).rstrip().endswith(("?", "#")):
        raise ValidationError(field, f"must have no query or fragment, got {show(value)}")
    return str(value).rstrip("/")


def json_number(field: str, value: int | float) -> int | float:
    """A JSON number as a plain int or float: an integer within +/-2**53 (what every JSON reader
    keeps exact), or a finite float (NaN and Infinity are not JSON). Not for bools.

    Raises:
        ValidationError: anything else.
    """
    if isinstance(value, int):
        if not -JSON_INT_MAX <= value <= JSON_INT_MAX:
            raise ValidationError(field, f"integers must be within +/-2**53, got {show(value)}")
        return int(value)
    if not math.isfinite(value):
        raise ValidationError(field, f"must be a finite number (NaN and Infinity are not JSON), got {show(value)}")
    return float(value)


def _json(field: str, value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        _utf8(field, value)
        return str(value)
    if isinstance(value, int | float):
        return json_number(field, value)
    if depth >= _JSON_MAX_DEPTH:
        raise ValidationError(field, f"must nest at most {_JSON_MAX_DEPTH} levels deep")
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(field, f"keys must be strings, got {show(key)}")
            _utf8(field, key)
            out[str(key)] = _json(field, item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_json(field, item, depth + 1) for item in value]
    raise ValidationError(
        field, f"must hold only JSON values (str, int, float, bool, None, lists, mappings), got {show(value)}"
    )


def check_json_object(field: str, value: Any) -> dict[str, Any]:
    """Any `Mapping` of string keys to JSON values, as a plain dict that serialises as is.

    Nested mappings become dicts and tuples lists; nan, inf, integers beyond 2**53, non-string
    keys and anything that is not JSON are refused.
    """
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must be a mapping (a JSON object), got {type(value).__name__}")
    result: dict[str, Any] = _json(field, value, 0)
    return result
