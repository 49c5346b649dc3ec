"""Generate the blocking twins of voicekit's async classes.

    python scripts/gen_blocking.py           # (re)write the generated modules
    python scripts/gen_blocking.py --check   # exit 1, naming each file, when one is stale

Every public member of an async class (its own and inherited, found with `inspect`) becomes a
member of the blocking twin with the same signature and docstring, read from the source with
`ast` so that annotations and defaults are written as the async side spells them. The body
forwards to the async twin through `voicekit._sync`:

- ``async def`` (a coroutine)               -> ``_sync.call(...)``, its result as is;
- ``async def`` that yields, or a ``def``
  returning ``AsyncIterator[T]``            -> ``Iterator[T]``, read through ``_sync.iterate``;
- a bulk sender (``specs``, ``concurrency``,
  ``before_send``)                          -> ``_sync.iterate_bulk`` (sync specs are read in a
                                               thread of their own, never on the loop);
- ``def`` returning ``AsyncPaginator[T]``   -> ``Paginator[T]`` (the blocking paginator);
- an async ``@classmethod`` returning Self  -> a classmethod building the twin around it;
- a ``@property``                           -> a property reading the async twin's;
- an attribute annotated in the class body
  (``path: str``)                           -> a read-only property reading the async twin's.

What `BlockingClient` already provides (``close``, ``with_options``, ``with``) is not generated;
what cannot be generated is declared in `MODULES` below.
The output is formatted with ruff, so it passes the project's ruff and mypy settings as is.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import functools
import importlib
import inspect
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "scripts/gen_blocking.py"


@dataclass
class Twin:
    """One blocking class generated from one async class."""

    source: str  # "module:AsyncClass"
    name: str
    base: str  # the blocking base class, as written in the output
    doc: str
    constructor: bool = True  # mirror the async __init__ (clients) or keep the base's (journals)
    head: str = ""  # declared by hand, written right after the docstring (class attributes)
    extra: str = ""  # declared by hand, written after the generated members
    prepare: dict[str, dict[str, str]] = field(default_factory=dict)  # method -> argument -> expression
    skip: frozenset[str] = frozenset()
    generate: bool = True  # False: the class is only `head` (a twin inheriting every member)


@dataclass
class Module:
    path: str  # relative to the repository
    doc: str
    twins: list[Twin]
    imports: list[str] = field(default_factory=list)  # extra names used by `head` / `extra`: "module:name"


# What `BlockingClient` gives every twin: never generated.
PROVIDED = frozenset({"aclose", "with_options"})

MODULES = [
    Module(
        path="voicekit/telecmi/_twins.py",
        doc="TeleCMI, the blocking twin of `AsyncTeleCMI`.",
        twins=[
            Twin(
                source="voicekit.telecmi._client:AsyncTeleCMI",
                name="TeleCMI",
                base="_sync.BlockingClient[AsyncTeleCMI]",
                doc="""Blocking TeleCMI client: the same methods and arguments as `AsyncTeleCMI`.

Every call runs on voicekit's background event loop; use it from any thread, from a notebook,
or after a fork. Use it as a context manager or call `close()`.""",
            )
        ],
    ),
    Module(
        path="voicekit/huawei/_twins.py",
        doc="HuaweiVoice, the blocking twin of `AsyncHuaweiVoice`.",
        twins=[
            Twin(
                source="voicekit.huawei._client:AsyncHuaweiVoice",
                name="HuaweiVoice",
                base="_sync.BlockingClient[AsyncHuaweiVoice]",
                doc="Blocking Huawei BES client: the same methods and arguments as `AsyncHuaweiVoice`.",
            )
        ],
    ),
    Module(
        path="voicekit/journal/_twins.py",
        doc="""Journal and PostgresJournal, the blocking twins of `AsyncJournal` and `AsyncPostgresJournal`.

A blocking journal runs its async core on voicekit's background event loop, as the blocking
clients do: each method is one call there, and an iteration reads through `_sync.iterate`.""",
        imports=["voicekit.journal._postgres_async:AsyncPostgresJournal"],
        twins=[
            Twin(
                source="voicekit.journal._core:AsyncJournal",
                name="Journal",
                base="_sync.BlockingClient[AsyncJournal]",
                constructor=False,
                doc="""The blocking twin of `AsyncJournal`: the same journal (an SQLite file or a PostgreSQL
URL), for code without an event loop (status, report, scripts; thread-safe).

Its async core runs on voicekit's background event loop, and each method is one call there.
Inside async code, use `AsyncJournal`.""",
                head="""
_async_class: type[AsyncJournal] = AsyncJournal
""",
                # Read here, in the caller's thread: a generator handed over must not run on the loop.
                prepare={"attempts": {"keys": "list(keys)"}, "suppress": {"numbers": "list(numbers)"}},
                extra='''
@property
def loaded(self) -> bool:
    """`is_loaded()`, as a property."""
    return _sync.call(self._async.is_loaded)
''',
            ),
            Twin(
                source="voicekit.journal._postgres_async:AsyncPostgresJournal",
                name="PostgresJournal",
                base="Journal",
                doc="The blocking twin of `AsyncPostgresJournal` (``postgresql://`` URLs only).",
                head="""
_async_class = AsyncPostgresJournal
""",
                generate=False,
            ),
        ],
    ),
]


# -- reading the async classes ----------------------------------------------------------------


def _class_node(cls: type) -> ast.ClassDef:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef), cls
    return node


def _members(cls: type) -> list[tuple[str, type, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """The public members of `cls` (and of its bases), in source order, each with the class that
    defines it and its definition."""
    found: dict[str, tuple[type, ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    for owner in reversed(cls.__mro__):
        if owner is object:
            continue
        for node in _class_node(owner).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if (not node.name.startswith("_") or node.name == "__init__") and node.name in owner.__dict__:
                    found.pop(node.name, None)  # an override takes the place of what it overrides
                    found[node.name] = (owner, node)
    init = found.pop("__init__", None)  # the constructor first, as in a class written by hand
    ordered = ({"__init__": init} if init else {}) | found
    return [(name, owner, node) for name, (owner, node) in ordered.items()]


def _attributes(cls: type) -> list[tuple[str, type, ast.AnnAssign]]:
    """The public attributes annotated in the body of `cls` (and of its bases), not class
    variables: ``path: str``."""
    found: dict[str, tuple[type, ast.AnnAssign]] = {}
    for owner in reversed(cls.__mro__):
        if owner is object:
            continue
        for node in _class_node(owner).body:
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and not node.target.id.startswith("_")
                and node.value is None
                and not ast.unparse(node.annotation).startswith("ClassVar")
            ):
                found[node.target.id] = (owner, node)
    return [(name, owner, node) for name, (owner, node) in found.items()]


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {ast.unparse(d) for d in node.decorator_list}


def _yields(node: ast.AsyncFunctionDef | ast.FunctionDef) -> bool:
    """Whether `node` is a generator (a yield of its own, not of a nested function)."""
    stack: list[ast.AST] = list(node.body)
    while stack:
        child = stack.pop()
        if isinstance(child, ast.Yield | ast.YieldFrom):
            return True
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(child))
    return False


# -- names and imports ------------------------------------------------------------------------


class Imports:
    """Where every name used by the output comes from, resolved through the modules that use it."""

    def __init__(self, out_module: str) -> None:
        self.package = out_module.rsplit(".", 1)[0]
        self.wanted: dict[tuple[str, str | None, str], None] = {}  # (module, name or None, bound as)

    def add(self, module: str, name: str | None, bound: str) -> None:
        self.wanted[(module, name, bound)] = None

    def use(self, expr: ast.AST, module: str) -> None:
        """Import every name of the expression `expr` as `module` binds it."""
        bound = {k[2] for k in self.wanted}
        for node in ast.walk(expr):
            if isinstance(node, ast.Name) and node.id not in bound:
                self.add(*_binding(module, node.id))

    def use_annotations(self, tree: ast.AST, module: str) -> None:
        """Import every name the annotations of the functions in `tree` use."""
        for node in ast.walk(tree):
            if isinstance(node, ast.arg | ast.FunctionDef | ast.AsyncFunctionDef):
                annotation = node.annotation if isinstance(node, ast.arg) else node.returns
                if annotation is not None:
                    self.use(annotation, module)

    def render(self) -> str:
        lines = []
        for module, name, bound in self.wanted:
            if name is None:
                lines.append(f"import {module}" + ("" if bound == module else f" as {bound}"))
                continue
            where = self._relative(module)
            alias = "" if bound == name else f" as {bound}"
            lines.append(f"from {where} import {name}{alias}")
        return "\n".join(lines)

    def _relative(self, module: str) -> str:
        if not module.startswith("voicekit"):
            return module
        here = self.package.split(".")
        there = module.split(".")
        common = 0
        while common < min(len(here), len(there)) and here[common] == there[common]:
            common += 1
        return "." * (len(here) - common + 1) + ".".join(there[common:])


_BUILTINS = frozenset(dir(__import__("builtins")))


@functools.cache
def _binding(module: str, name: str) -> tuple[str, str | None, str]:
    """(where `name` comes from, its name there or None for a module, the name bound) in `module`."""
    if name in _BUILTINS:
        return ("builtins", name, name)
    mod = importlib.import_module(module)
    tree = ast.parse(inspect.getsource(mod))
    package = module if mod.__file__ and mod.__file__.endswith("__init__.py") else module.rsplit(".", 1)[0]
    for node in tree.body:
        if isinstance(node, ast.If):  # TYPE_CHECKING blocks
            nodes = node.body
        else:
            nodes = [node]
        for statement in nodes:
            if isinstance(statement, ast.ImportFrom):
                base = statement.module or ""
                if statement.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - (statement.level - 1)]
                    base = ".".join(parts + ([statement.module] if statement.module else []))
                for alias in statement.names:
                    if (alias.asname or alias.name) == name:
                        return (base, alias.name, name)
            elif isinstance(statement, ast.Import):
                for alias in statement.names:
                    if (alias.asname or alias.name) == name:
                        return (alias.name, None, name)
    if hasattr(importlib.import_module(module), name):
        return (module, name, name)
    raise SystemExit(f"{SCRIPT}: cannot tell where {name!r}, used in {module}, comes from")


# -- writing the twins -------------------------------------------------------------------------

# Async types and their blocking counterparts, in return annotations.
_RETURNS = {
    "AsyncIterator": ("collections.abc", "Iterator"),
    "AsyncGenerator": ("collections.abc", "Iterator"),
    "AsyncPaginator": ("voicekit._pagination", "Paginator"),
}


def _blocking_return(node: ast.expr, imports: Imports) -> ast.expr:
    """The blocking twin of an async return annotation (``AsyncGenerator[T, None]`` -> ``Iterator[T]``)."""
    node = ast.parse(ast.unparse(node), mode="eval").body  # a copy
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in _RETURNS:
        module, name = _RETURNS[node.value.id]
        imports.add(module, name, name)
        if node.value.id == "AsyncGenerator" and isinstance(node.slice, ast.Tuple):
            node.slice = node.slice.elts[0]
        node.value = ast.Name(name)
    return node


def _arguments(args: ast.arguments, prepare: dict[str, str]) -> str:
    """The call that forwards the parameters `args` (self / cls left out) as they were given."""
    positional = [a.arg for a in (*args.posonlyargs, *args.args)][1:]
    parts = [prepare.get(a, a) for a in positional]
    if args.vararg:
        parts.append("*" + args.vararg.arg)
    parts += [f"{a.arg}={prepare.get(a.arg, a.arg)}" for a in args.kwonlyargs]
    if args.kwarg:
        parts.append("**" + args.kwarg.arg)
    return ", ".join(parts)


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, returns: ast.expr | None) -> str:
    copy = ast.FunctionDef(
        name=node.name,
        args=node.args,
        body=[ast.Pass()],
        decorator_list=[],
        returns=returns,
    )
    text = ast.unparse(ast.fix_missing_locations(copy))
    return text.rsplit(":", 1)[0].rstrip() + ":"  # without the body


def _docstring(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The docstring of `node`, unindented, its closing quotes where the source has them."""
    raw = ast.get_docstring(node, clean=False)
    if raw is None:
        return ""
    doc = inspect.cleandoc(raw).replace("\\", "\\\\")
    closing = "\n" if "\n" in raw and not raw.rsplit("\n", 1)[1].strip() else ""
    return '"""' + doc + closing + '"""\n'


def _member(twin: Twin, cls: type, owner: type, node: ast.FunctionDef | ast.AsyncFunctionDef, imports: Imports) -> str:
    module = owner.__module__
    for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs, node.args.vararg, node.args.kwarg):
        if arg is not None and arg.annotation is not None:
            imports.use(arg.annotation, module)
    for default in (*node.args.defaults, *node.args.kw_defaults):
        if default is not None:
            imports.use(default, module)
    decorators = _decorators(node)
    doc = _docstring(node)
    call_args = _arguments(node.args, twin.prepare.get(node.name, {}))
    target = f"self._async.{node.name}"
    fn = f"self._async.{node.name}({call_args})"
    returns = node.returns

    def emit(decorator: str, signature_returns: ast.expr | None, body: str) -> str:
        if signature_returns is not None:
            imports.use(signature_returns, module)
        head = decorator + _signature(node, signature_returns) + "\n"
        return head + textwrap.indent(doc + body, "    ")

    if node.name == "__init__":
        imports.add(cls.__module__, cls.__name__, cls.__name__)
        return emit("", returns, f"super().__init__({cls.__name__}({call_args}))\n")
    if "property" in decorators:
        return emit("@property\n", returns, f"return self._async.{node.name}\n")
    if decorators - {"classmethod"}:
        raise SystemExit(f"{SCRIPT}: {cls.__name__}.{node.name}: no blocking form for {sorted(decorators)}")
    if "classmethod" in decorators:
        if not isinstance(node, ast.AsyncFunctionDef) or returns is None or ast.unparse(returns) != "Self":
            raise SystemExit(f"{SCRIPT}: {cls.__name__}.{node.name}: only async classmethods returning Self")
        # The async class each twin class drives (a subclass of the twin drives a subclass).
        body = f"return cls(_sync.call(lambda: cls._async_class.{node.name}({call_args})))\n"
        return emit("@classmethod\n", returns, body)
    blocking = None if returns is None else _blocking_return(returns, imports)
    names = {a.arg for a in (*node.args.args, *node.args.kwonlyargs)}
    if isinstance(node, ast.AsyncFunctionDef) and not _yields(node):
        positional_only = not node.args.kwonlyargs and not node.args.vararg and not node.args.kwarg
        call = f"_sync.call({target}, {call_args})" if positional_only and call_args else None
        call = call or (f"_sync.call({target})" if not call_args else f"_sync.call(lambda: {fn})")
        none = returns is not None and ast.unparse(returns) == "None"
        return emit("", returns, ("" if none else "return ") + call + "\n")
    kind = None if returns is None else ast.unparse(returns).split("[", 1)[0]
    if {"specs", "concurrency", "before_send"} <= names and kind == "AsyncIterator":
        imports.add("voicekit._bulk", "check_bulk", "check_bulk")
        forward = _arguments(node.args, {"specs": "source"})
        body = (
            "check_bulk(specs, concurrency, before_send)\n"
            f"return _sync.iterate_bulk(lambda source: self._async.{node.name}({forward}), specs, concurrency)\n"
        )
        return emit("", blocking, body)
    if kind in ("AsyncIterator", "AsyncGenerator"):
        return emit("", blocking, f"return _sync.iterate({fn})\n")
    if kind == "AsyncPaginator":
        return emit("", blocking, f"return Paginator({fn})\n")
    raise SystemExit(f"{SCRIPT}: {cls.__name__}.{node.name}: no blocking form for a {kind or 'plain'} method")


def _class(twin: Twin, imports: Imports) -> str:
    module, name = twin.source.split(":")
    cls = getattr(importlib.import_module(module), name)
    imports.add(module, name, name)
    members = []
    if twin.generate:
        for member, owner, node in _members(cls):
            if member in PROVIDED or member in twin.skip or (member == "__init__" and not twin.constructor):
                continue
            members.append(_member(twin, cls, owner, node, imports))
        for attribute, owner, annotation in _attributes(cls):
            imports.use(annotation.annotation, owner.__module__)
            members.append(
                f"@property\ndef {attribute}(self) -> {ast.unparse(annotation.annotation)}:\n"
                f'    """`{cls.__name__}.{attribute}`."""\n'
                f"    return self._async.{attribute}\n"
            )
        imports.use_annotations(ast.parse(textwrap.dedent(twin.extra)), module)
    parts = [f'"""{twin.doc}"""\n', textwrap.dedent(twin.head), *members, textwrap.dedent(twin.extra)]
    body = "\n".join(p.strip("\n") + "\n" for p in parts if p.strip())
    return f"class {twin.name}({twin.base}):\n" + textwrap.indent(body, "    ")


def render(module: Module) -> str:
    out_module = module.path.removesuffix(".py").replace("/", ".")
    imports = Imports(out_module)
    imports.add("__future__", "annotations", "annotations")
    imports.add("voicekit", "_sync", "_sync")
    classes = [_class(twin, imports) for twin in module.twins]
    for spec in module.imports:
        where, name = spec.split(":")
        imports.add(where, name, name)
    names = ", ".join(f'"{twin.name}"' for twin in module.twins)
    imports.wanted = {k: None for k in imports.wanted if k[0] != "builtins"}
    header = f"# Generated by {SCRIPT} from the async classes; do not edit: run it instead."
    text = (
        f'{header}\n"""{module.doc}"""\n\n{imports.render()}\n\n__all__ = [{names}]\n\n\n'
        + "\n\n\n".join(classes)
        + "\n"
    )
    return _ruff(text, module.path)


def _ruff(text: str, path: str) -> str:
    """`text` with its imports sorted (unused ones dropped) and formatted as the project formats."""
    for args in (["check", "--fix", "--select", "I,F401", "--quiet", "--exit-zero"], ["format", "--quiet"]):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "--stdin-filename", path, "-"],
            input=text,
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"{SCRIPT}: ruff {args[0]} failed on {path}:\n{done.stderr}")
        text = done.stdout
    return text


def _stand_in_for_the_output() -> None:
    """Make the generated modules importable without reading them: the async classes are
    imported through packages that import their twins, which may be stale, broken or missing."""
    for module in MODULES:
        name = module.path.removesuffix(".py").replace("/", ".")
        stand_in = types.ModuleType(name)
        for twin in module.twins:
            setattr(stand_in, twin.name, type(twin.name, (), {}))
        sys.modules[name] = stand_in


def main(argv: list[str] | None = None, out: Callable[[str], Any] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is stale")
    options = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    _stand_in_for_the_output()
    stale = []
    for module in MODULES:
        path = ROOT / module.path
        text = render(module)
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current == text:
            continue
        if options.check:
            stale.append(module.path)
            diff = difflib.unified_diff(
                current.splitlines(keepends=True), text.splitlines(keepends=True), module.path, "generated"
            )
            out("".join(list(diff)[:40]).rstrip())
        else:
            path.write_text(text, encoding="utf-8")
            out(f"wrote {module.path}")
    for path in stale:
        out(f"{path} is stale: run python {SCRIPT}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
