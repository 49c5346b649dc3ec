"""Small validators shared by the vendor models; each raises ValidationError naming the field."""

from __future__ import annotations

import re
from collections.abc import Sized
from typing import Any

from .errors import ValidationError

__all__ = [
    "check_bool",
    "check_http_url",
    "check_int_range",
    "check_len",
    "check_str",
    "phone_number",
]

# The vendor SDK's own rule for phone numbers: no leading zero, 7 to 16 digits.
_PHONE = re.compile(r"[1-9][0-9]{6,15}")
_PHONE_MIN, _PHONE_MAX = 10**6, 10**16


def phone_number(field: str, value: Any) -> int:
    """An international number as the vendor wants it (digits only, as a JSON number)."""
    if type(value) is int and _PHONE_MIN <= value < _PHONE_MAX:
        return value  # the common case, without a regex
    if isinstance(value, bool):
        raise ValidationError(field, "must be a phone number, not a boolean")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip().removeprefix("+").replace(" ", "").replace("-", "")
    else:
        raise ValidationError(field, f"must be a phone number (int or digit string), got {type(value).__name__}")
    if not _PHONE.fullmatch(text):
        raise ValidationError(field, f"must be 7-16 digits without a leading zero, got {value!r}")
    return int(text)


def check_str(field: str, value: Any, *, max_len: int | None = None, min_len: int = 1) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {type(value).__name__}")
    if len(value.strip()) < min_len:
        raise ValidationError(field, "must not be empty")
    if max_len is not None and len(value) > max_len:
        raise ValidationError(field, f"must be at most {max_len} characters, got {len(value)}")
    return value


def check_len(field: str, value: Sized, lo: int, hi: int) -> None:
    if not lo <= len(value) <= hi:
        raise ValidationError(field, f"must hold {lo} to {hi} items, got {len(value)}")


def check_int_range(field: str, value: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
        raise ValidationError(field, f"must be {bound}, got {value}")
    return value


def check_bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, f"must be True or False, got {value!r}")
    return value


def check_http_url(
    field: str, value: Any, *, max_len: int | None = None, schemes: tuple[str, ...] = ("http", "https")
) -> str:
    check_str(field, value, max_len=max_len)
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in schemes or not rest or rest.startswith("/"):
        raise ValidationError(field, f"must be a {' or '.join(schemes)} URL, got {value!r}")
    return str(value)
