"""A griffe extension for the reference pages: attrs classes get their ``__init__`` signature.

attrs writes a class's ``__init__`` when the class is created, so griffe's static analysis sees
none, and mkdocstrings renders the class without a signature. This extension imports each class
of the package and, for an attrs class without an ``__init__`` of its own, adds the one attrs
made: every field that ``__init__`` takes, under its alias, with its annotation as written in the
source and its default. (The fields' table comes from griffe-fieldz, loaded beside it.)

Loaded from mkdocs.yml (``extensions: [docs/_griffe_attrs.py]``); it needs nothing but attrs and
griffe, both installed with the docs' dependencies, and works offline.
"""

from __future__ import annotations

from typing import Any

import attrs
import griffe

# What a field's source value looks like when it is attrs' own field call rather than the default.
_FIELD_CALLS = ("attrs.field(", "attr.ib(", "attr.field(", "attrs.Factory(", "attr.Factory(", "field(", "Factory(")


def _default(field: Any, member: object) -> str | griffe.Expr | None:
    """The default as the reader should see it: the source text when it is the plain default."""
    default = field.default
    if default is attrs.NOTHING:
        return None
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        factory = default.factory
        return f"{getattr(factory, '__qualname__', repr(factory))}()"
    value = getattr(member, "value", None)
    if value is not None and not str(value).startswith(_FIELD_CALLS):
        return value  # type: ignore[no-any-return]
    return repr(default)


def _annotation(field: Any, member: object) -> str | griffe.Expr | None:
    annotation = getattr(member, "annotation", None)
    if annotation is not None:
        return annotation  # type: ignore[no-any-return]
    kind = field.type
    if kind is None or isinstance(kind, str):
        return kind
    return getattr(kind, "__qualname__", repr(kind))


def _add_init(cls: griffe.Class) -> None:
    if "__init__" in cls.members:
        return
    try:
        runtime = griffe.dynamic_import(cls.path)
    except ImportError:
        return
    if not isinstance(runtime, type) or not attrs.has(runtime):
        return
    positional: list[griffe.Parameter] = []
    keyword: list[griffe.Parameter] = []
    members = cls.all_members
    for field in attrs.fields(runtime):
        if not field.init:
            continue
        member = members.get(field.name)
        kind = griffe.ParameterKind.keyword_only if field.kw_only else griffe.ParameterKind.positional_or_keyword
        parameter = griffe.Parameter(
            field.alias or field.name,
            annotation=_annotation(field, member),
            kind=kind,
            default=_default(field, member),
        )
        (keyword if field.kw_only else positional).append(parameter)
    self_ = griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)
    init = griffe.Function(
        "__init__",
        lineno=0,
        endlineno=0,
        parent=cls,
        parameters=griffe.Parameters(self_, *positional, *keyword),
        returns="None",
    )
    cls.set_member("__init__", init)


def _walk(obj: griffe.Module | griffe.Class, seen: set[str]) -> None:
    if obj.path in seen:
        return
    seen.add(obj.path)
    if isinstance(obj, griffe.Class):
        _add_init(obj)
    for member in list(obj.members.values()):
        if not member.is_alias and isinstance(member, griffe.Module | griffe.Class):
            _walk(member, seen)


class AttrsInit(griffe.Extension):
    """Adds the attrs-made ``__init__`` to every attrs class of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _walk(pkg, set())
