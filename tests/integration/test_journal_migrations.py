"""The journal's numbered migrations, replayed from the first on an empty database, give exactly
the schema a new journal gets from ``schema.sql``, on SQLite and on a real PostgreSQL; and a new
journal's ledger lists every migration.

Each database's schema is read from its catalog and written as sorted lines of text (tables;
columns with their position, type, nullability, default and primary key; indexes with their
definition; constraints), so that a difference fails with a readable diff.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests._journal import numbers, write_csv
from tests._servers import PostgresServer
from voicekit.journal import SCHEMA_VERSION, AsyncJournal, Campaign
from voicekit.journal._db import Database, Tx
from voicekit.journal._postgres import PostgresDatabase
from voicekit.journal._sql import migrations
from voicekit.journal._sqlite import SQLiteDatabase

# What `_migrate` gives the migrations after the first (the 0.1.0 campaign's new id and name).
MIGRATION_PARAMS = {"campaign_id": "0123456789abcdef", "campaign_name": "campaign"}


async def replay(db: Database) -> None:
    """Every migration from the first, as a journal of voicekit 0.1.0 is upgraded: the ledger,
    then each file's statements in order, each step recorded, in one transaction."""

    async def run(tx: Tx) -> None:
        await tx.run("ledger_create")
        for step in migrations(db.dialect):
            await tx.script(step.statements, {} if step.version == 1 else MIGRATION_PARAMS)
            await tx.run("ledger_add", version=step.version, name=step.name)

    await db.transaction(run, what="replay the migrations")


async def new_journal(target: str, tmp_path: Path) -> None:
    """A journal made the way every new one is (from ``schema.sql``), by opening it."""
    campaign = Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(2)))
    async with await AsyncJournal.open(target, campaign):
        pass


def _sql(text: str) -> str:
    """A statement's text with its whitespace normalised (SQLite keeps it as it was written)."""
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\( | \)", lambda m: m.group(0).strip(), text)


def sqlite_catalog(path: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"
            )
        ]
        lines = [f"table {t}" for t in tables]
        for t in tables:
            for cid, name, kind, notnull, default, pk in conn.execute("SELECT * FROM pragma_table_info(?)", (t,)):
                lines.append(
                    f"column {t}.{name}: #{cid} {kind.upper()} {'NOT NULL' if notnull else 'NULL'} "
                    f"default={default} pk={pk}"
                )
            for _, index, unique, origin, partial in conn.execute("SELECT * FROM pragma_index_list(?)", (t,)):
                columns = [
                    "(expression)" if cid == -2 else str(name)
                    for _, cid, name, _, _, key in conn.execute("SELECT * FROM pragma_index_xinfo(?)", (index,))
                    if key
                ]
                if origin == "c":  # CREATE INDEX: its name and definition are the schema's
                    (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()
                    lines.append(f"index {t}.{index}: {_sql(sql)} columns={columns}")
                else:  # a PRIMARY KEY or UNIQUE constraint's automatic index
                    kind = "primary key" if origin == "pk" else "unique"
                    lines.append(f"{kind} {t} {columns} unique={unique} partial={partial}")
    return sorted(lines)


def postgres_catalog(url: str) -> list[str]:
    import psycopg

    lines: list[str] = []
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        ).fetchall()
        lines += [f"table {t}" for (t,) in tables]
        # The position among the table's columns, not `ordinal_position`, which keeps the gaps
        # a dropped column leaves.
        columns: list[Any] = conn.execute(
            "SELECT table_name, column_name, "
            "       row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position) - 1, "
            "       data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = current_schema()"
        ).fetchall()
        for t, name, position, kind, nullable, default in columns:
            lines.append(
                f"column {t}.{name}: #{position} {kind} {'NULL' if nullable == 'YES' else 'NOT NULL'} default={default}"
            )
        for t, index, definition in conn.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
        ).fetchall():
            lines.append(f"index {t}.{index}: {definition}")
        for t, name, kind, definition in conn.execute(
            "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
        ).fetchall():
            lines.append(f"constraint {t}.{name} ({kind}): {definition}")
    return sorted(lines)


def ledger(target: str, dialect: str) -> list[tuple[int, str]]:
    query = "SELECT version, name FROM voicekit_migrations ORDER BY version"
    if dialect == "sqlite":
        with contextlib.closing(sqlite3.connect(target)) as conn:
            return [(int(v), str(n)) for v, n in conn.execute(query)]
    import psycopg

    with psycopg.connect(target) as conn:
        return [(int(v), str(n)) for v, n in conn.execute(query).fetchall()]


def assert_same_schema(replayed: list[str], fresh: list[str], dialect: str) -> None:
    if replayed != fresh:
        diff = "\n".join(
            difflib.unified_diff(
                replayed, fresh, f"{dialect}: every migration replayed", f"{dialect}: schema.sql", lineterm=""
            )
        )
        pytest.fail(
            f"the {dialect} migrations do not give the schema a new journal gets from schema.sql "
            f"(change the migrations or schema.sql until they agree):\n{diff}",
            pytrace=False,
        )


@pytest.fixture
def targets(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    """(dialect, an empty database to replay the migrations on, another for a new journal)."""
    dialect: str = request.param
    if dialect == "sqlite":
        return dialect, str(tmp_path / "replayed.db"), str(tmp_path / "fresh.db")
    server: PostgresServer = request.getfixturevalue("postgres")
    return dialect, server.fresh_database("replayed"), server.fresh_database("fresh")


async def open_database(dialect: str, target: str) -> Database:
    if dialect == "sqlite":
        return SQLiteDatabase(target, lock=True)
    return await PostgresDatabase.connect(target)


@pytest.mark.parametrize("targets", ["sqlite", "postgres"], indirect=True)
async def test_replayed_migrations_give_exactly_the_schema_of_a_new_journal(
    targets: tuple[str, str, str], tmp_path: Path
) -> None:
    dialect, replayed, fresh = targets
    db = await open_database(dialect, replayed)
    try:
        await replay(db)
    finally:
        await db.aclose()
    await new_journal(fresh, tmp_path)

    catalog = sqlite_catalog if dialect == "sqlite" else postgres_catalog
    replayed_schema, fresh_schema = catalog(replayed), catalog(fresh)
    assert any(line.startswith("index voicekit_rows.voicekit_rows_free:") for line in fresh_schema)
    assert_same_schema(replayed_schema, fresh_schema, dialect)
    # Both record every step: an upgraded journal is at the version a new one starts at.
    assert ledger(replayed, dialect) == ledger(fresh, dialect)


@pytest.mark.parametrize("targets", ["sqlite", "postgres"], indirect=True)
async def test_a_new_journal_lists_every_migration_in_its_ledger(targets: tuple[str, str, str], tmp_path: Path) -> None:
    dialect, _, fresh = targets
    await new_journal(fresh, tmp_path)
    assert SCHEMA_VERSION >= 2  # 0.1.0's schema, then at least one step from it
    assert [version for version, _ in ledger(fresh, dialect)] == list(range(1, SCHEMA_VERSION + 1))
    assert ledger(fresh, dialect) == [(step.version, step.name) for step in migrations(dialect)]
