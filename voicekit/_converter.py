"""The one cattrs converter, and the hook that maps Python names onto vendor wire names."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = ["converter", "wire"]

T = TypeVar("T")

converter = cattrs.Converter()
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, lambda v, _: Decimal(str(v)))
converter.register_unstructure_hook(dt.datetime, lambda d: d.isoformat())


def wire(
    cls: type[T],
    *,
    rename: dict[str, str] | None = None,
    omit_none: bool = True,
    forbid_extra_keys: bool = False,
) -> type[T]:
    """Register (un)structure hooks that map `cls`'s fields to their vendor wire names.

    Fields whose default is ``None`` are left out of the wire form when they are ``None``, so an
    optional vendor property is sent only when the caller gave it. Hooks are generated once, here,
    and compiled by cattrs: nothing on the hot path looks names up.
    """
    rename = rename or {}
    overrides: dict[str, Any] = {}
    for field in attrs.fields(cls):  # type: ignore[arg-type]
        kw: dict[str, Any] = {}
        if field.name in rename:
            kw["rename"] = rename[field.name]
        if omit_none and field.default is None:
            kw["omit_if_default"] = True
        if kw:
            overrides[field.name] = override(**kw)
    converter.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, converter, **overrides))
    converter.register_structure_hook(
        cls,
        make_dict_structure_fn(
            cls, converter, _cattrs_forbid_extra_keys=forbid_extra_keys, **overrides
        ),
    )
    return cls
