"""The journal's SQL, in files: named statements, the schema and the numbered migrations.

Each dialect (``sqlite``, ``postgres``) has a folder under ``sql/``:

* ``queries.sql``: every statement the journal runs, each after a ``-- name: NAME`` line; both
  dialects have the same names, taking the same parameters and giving the same results;
* ``schema.sql``: the schema as the last migration leaves it, for a new journal;
* ``migrations/NNNN_name.sql``: the steps from voicekit 0.1.0's schema (``0001``) to today's.

The executors encode parameters for their dialect: a list of values becomes an array
(PostgreSQL) or JSON text (SQLite); `Records` (a list of tuples) becomes JSON text in both.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Iterable
from typing import Any, Final, Literal

import attrs

__all__ = ["DIALECTS", "SCHEMA_VERSION", "Dialect", "Migration", "Records", "migrations", "queries", "schema"]

Dialect = Literal["sqlite", "postgres"]
DIALECTS: Final[tuple[Dialect, ...]] = ("sqlite", "postgres")

_NAME: Final = re.compile(r"^-- name: ([a-z_0-9]+)\s*$", re.MULTILINE)
_MIGRATION: Final = re.compile(r"^(\d{4})_([a-z_0-9]+)\.sql$")


class Records(list[tuple[Any, ...]]):
    """A list of records passed as one parameter (JSON text: an array of arrays)."""

    def __init__(self, rows: Iterable[tuple[Any, ...]] = ()) -> None:
        super().__init__(rows)


@attrs.frozen
class Migration:
    """One numbered step of the schema."""

    version: int
    name: str
    statements: tuple[str, ...]


def _read(dialect: Dialect, *parts: str) -> str:
    return importlib.resources.files("voicekit.journal").joinpath("sql", dialect, *parts).read_text("utf-8")


def statements(text: str) -> tuple[str, ...]:
    """The statements of a script: split at each ``;`` that ends a line, comments dropped."""
    code = "\n".join(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("--"))
    return tuple(chunk.strip() for chunk in re.split(r";\s*$", code, flags=re.MULTILINE) if chunk.strip())


@functools.cache
def queries(dialect: Dialect) -> dict[str, str]:
    """The named statements of `dialect`."""
    text = _read(dialect, "queries.sql")
    names = _NAME.findall(text)
    bodies = _NAME.split(text)[2::2]
    found: dict[str, str] = {}
    for name, body in zip(names, bodies, strict=True):
        sql = "\n".join(line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("--"))
        if name in found:
            raise RuntimeError(f"{dialect}/queries.sql names {name!r} twice")
        found[name] = sql.strip()
    return found


@functools.cache
def schema(dialect: Dialect) -> tuple[str, ...]:
    """The statements that make a new journal's schema (as of `SCHEMA_VERSION`)."""
    return statements(_read(dialect, "schema.sql"))


@functools.cache
def migrations(dialect: Dialect) -> tuple[Migration, ...]:
    """Every migration of `dialect`, in order (version 1 is voicekit 0.1.0's schema)."""
    folder = importlib.resources.files("voicekit.journal").joinpath("sql", dialect, "migrations")
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match is not None:
            found.append(Migration(int(match[1]), match[2], statements(entry.read_text("utf-8"))))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"the {dialect} migrations are not numbered 1, 2, 3, ...")
    return tuple(found)


#: The schema version this voicekit writes and reads: the number of its last migration.
SCHEMA_VERSION: Final = len(migrations("sqlite"))
