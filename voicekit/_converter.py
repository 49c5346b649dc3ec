"""The one cattrs converter, and the hook that maps Python names onto vendor wire names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = ["AS_GIVEN", "LOCAL", "FieldHooks", "as_given", "converter", "wire"]

#: Field metadata marking an attribute that is not part of the vendor's wire form.
LOCAL = "voicekit.local"

T = TypeVar("T")

# Digits beyond this are not an id, a count or a duration, whatever a vendor sends.
_MAX_DIGITS = 32


def _structure_str(value: Any, _: object) -> str:
    """A vendor string; a number is accepted as its digits (vendors mix the two for ids)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and -(10**_MAX_DIGITS) < value < 10**_MAX_DIGITS:
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_int(value: Any, _: object) -> int:
    """A vendor integer: a JSON integer, an integral float, or a short string of ASCII digits."""
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        if digits.isascii() and digits.isdigit() and len(digits) <= _MAX_DIGITS:
            return int(text)
    raise ValueError(f"expected an integer, got {value!r:.40}")


def _structure_decimal(value: Any, _: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    if isinstance(value, str) and len(value) > 2 * _MAX_DIGITS:
        raise ValueError("expected a number, got a long string")
    number = Decimal(str(value))
    if not number.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return number


converter = cattrs.Converter()
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, _structure_decimal)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(int, _structure_int)
converter.register_unstructure_hook(dt.datetime, lambda d: d.isoformat())


def as_given(value: Any, _: object = None) -> Any:
    """A field hook that passes a JSON value through both ways, unchanged (see `wire`'s `hooks`)."""
    return value


#: A field's hooks in `wire`: how its value is unstructured, and how it is structured.
FieldHooks = tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]
#: The hooks of a field whose JSON value is its Python value, checked later (not here).
AS_GIVEN: FieldHooks = (as_given, as_given)


def wire(
    cls: type[T],
    *,
    rename: dict[str, str] | None = None,
    omit_none: bool = True,
    forbid_extra_keys: bool = False,
    omit: Collection[str] = (),
    hooks: Mapping[str, FieldHooks] | None = None,
    detailed_errors: bool = True,
) -> type[T]:
    """Register (un)structure hooks that map `cls`'s fields to their vendor wire names.

    Fields whose default is ``None`` are left out of the wire form when they are ``None``, so an
    optional vendor property is sent only when the caller gave it. Hooks are generated once, here,
    and compiled by cattrs: nothing on the hot path looks names up.

    The fields named in `omit` are never written nor read (like fields marked `LOCAL`); `hooks`
    gives a field its own (unstructure, structure) pair. With `detailed_errors` false, structuring
    raises what went wrong (a `KeyError` for a missing key) instead of cattrs' grouped errors.
    """
    rename = rename or {}
    hooks = hooks or {}
    overrides: dict[str, Any] = {}
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        kw: dict[str, Any] = {}
        if field.metadata.get(LOCAL) or field.name in omit:
            # Ours, not the vendor's (e.g. a result's `response`): never read nor written.
            overrides[field.name] = override(omit=True)
            continue
        if field.name in rename:
            kw["rename"] = rename[field.name]
        if omit_none and field.default is None:
            kw["omit_if_default"] = True
        if field.name in hooks:
            kw["unstruct_hook"], kw["struct_hook"] = hooks[field.name]
        if kw:
            overrides[field.name] = override(**kw)
    converter.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, converter, **overrides))
    converter.register_structure_hook(
        cls,
        make_dict_structure_fn(
            cls,
            converter,
            _cattrs_forbid_extra_keys=forbid_extra_keys,
            _cattrs_detailed_validation=detailed_errors,
            **overrides,
        ),
    )
    return cls
