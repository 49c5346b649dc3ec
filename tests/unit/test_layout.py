"""The package's shape: its modules import each other without a cycle (at import time; an
import inside a function, or under ``TYPE_CHECKING``, is not one)."""

from __future__ import annotations

import ast
from pathlib import Path

import voicekit

ROOT = Path(voicekit.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = ("voicekit", *path.relative_to(ROOT).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path], *, type_checking: bool = False) -> set[str]:
    """The voicekit modules `name` imports when it is imported (top-level statements only);
    with `type_checking`, those it imports for type checkers too."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) and not type_checking:
            continue
        for statement in ast.walk(node):
            if isinstance(statement, ast.ImportFrom):
                if statement.level:
                    base = package[: len(package) - (statement.level - 1)]
                    target = ".".join(base + ([statement.module] if statement.module else []))
                elif (statement.module or "").startswith("voicekit"):
                    target = str(statement.module)
                else:
                    continue
                subs = [f"{target}.{a.name}" for a in statement.names if f"{target}.{a.name}" in modules]
                found.update(subs if len(subs) == len(statement.names) else [target, *subs])
            elif isinstance(statement, ast.Import):
                found.update(a.name for a in statement.names if a.name in modules)
    return {m for m in found if m in modules and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_two_modules_of_voicekit_import_each_other() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert len(graph) > 50 and graph["voicekit.journal._core"], "the graph was read"
    assert _cycles(graph) == []


SANDBOX = "voicekit.sandbox"


def _sandbox_modules() -> dict[str, Path]:
    return {name: path for name, path in _modules().items() if name == SANDBOX or name.startswith(SANDBOX + ".")}


def test_the_sandbox_modules_import_no_cycle_even_for_type_checkers() -> None:
    modules = _sandbox_modules()
    graph = {name: _imports(name, path, modules, type_checking=True) for name, path in modules.items()}
    # the graph covers every vendor's package, and the app is built from their route tables
    assert {f"{SANDBOX}.telecmi._routes", f"{SANDBOX}.huawei._routes"} <= graph[f"{SANDBOX}._app"]
    assert graph[f"{SANDBOX}.telecmi._calls"] and graph[f"{SANDBOX}.huawei._release"]
    assert _cycles(graph) == []


def test_the_sandbox_imports_nothing_of_voicekit_but_itself() -> None:
    """It implements the vendor documents, not voicekit's client: no client model, anywhere."""
    outside: list[str] = []
    for name, path in _sandbox_modules().items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)]
                    targets = [".".join(base + ([node.module] if node.module else []))]
                else:
                    targets = [node.module or ""]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            outside += [
                f"{name}: {t}"
                for t in targets
                if (t == "voicekit" or t.startswith("voicekit.")) and not (t == SANDBOX or t.startswith(SANDBOX + "."))
            ]
    assert outside == []


TESTS = Path(__file__).resolve().parent.parent


def _imported_by(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in tests/_*.py; a test module is never imported by another."""
    test_modules = {path.stem for path in TESTS.rglob("test_*.py")}
    offenders = sorted(
        f"{path.relative_to(TESTS)}: {name}"
        for path in TESTS.rglob("*.py")
        for name in _imported_by(path)
        if name.split(".")[0] == "tests" and set(name.split(".")) & test_modules
    )
    assert offenders == []


def test_the_tests_are_laid_out_by_what_they_exercise() -> None:
    """Every test module lives in tests/unit, tests/integration or tests/e2e."""
    misplaced = sorted(
        str(path.relative_to(TESTS))
        for path in TESTS.rglob("test_*.py")
        if path.relative_to(TESTS).parts[0] not in ("unit", "integration", "e2e")
    )
    assert misplaced == []
