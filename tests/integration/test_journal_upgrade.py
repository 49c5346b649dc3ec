"""Journals exactly as voicekit 0.1.0 left them mid-campaign (``tests/data``: an SQLite file, one
of the first 0.1.0 releases, a PostgreSQL dump; its README says how they were made), upgraded
and resumed.

Each test takes its own copy: reading it refuses and changes nothing; ``voicekit dial upgrade``
brings it to this schema once, keeping every row and outcome; a run of its campaign against the
sandbox (after an upgrade, or upgrading it itself) dials every pending row once and the failure
that never reached the vendor once more, and nothing else: the rows 0.1.0 left ``sending`` are
unknown, never dialed. On PostgreSQL, a live 0.1.0 worker stops the upgrade, and two workers
starting together upgrade the journal once and dial nobody twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import itertools
import logging
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._cli import env_for, invoke, ledger, summary
from tests._paths import DATA
from tests._servers import PostgresServer
from voicekit import AsyncTeleCMI
from voicekit.journal import (
    SCHEMA_VERSION,
    AsyncJournal,
    Campaign,
    Journal,
    JournalError,
    RunResult,
    State,
    run_campaign,
)
from voicekit.journal._sql import migrations
from voicekit.sandbox import SyncSandbox

CSV = DATA / "legacy.csv"
KINDS = ("sqlite", "sqlite-early", "postgres")

# What 0.1.0 left in each journal (tests/data/README.md).
LEFT = {
    "k01": State.PLACED,
    "k02": State.PLACED,
    "k03": State.PLACED,
    "k04": State.FAILED,  # ConnectError: nothing reached the vendor
    "k05": State.FAILED,  # NotFoundError: final
    "k06": State.UNKNOWN,
    "k07": State.SENDING,  # in flight when the run died
    "k08": State.SENDING,
    "k09": State.PENDING,
    "k10": State.PENDING,
    "k11": State.PENDING,
    "k12": State.PENDING,
    "k10@row14": State.FAILED,  # the CSV's row 14 repeats the key k10
}
REQUEST_IDS = {
    "k01": "5b1e0c7a-94d2-4b7e-8f03-1c2a9d6e4f01",
    "k02": "5b1e0c7a-94d2-4b7e-8f03-1c2a9d6e4f02",
    "k03": "5b1e0c7a-94d2-4b7e-8f03-1c2a9d6e4f03",
}
ANSWERED = "telecmi:0f6c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e01"  # k01's call-record webhook
STRANGER = "telecmi:0f6c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e99"  # a webhook of no row of the journal
# A resumed run dials the pending rows and the failure that never reached the vendor, once each.
DIALED = ("k04", "k09", "k10", "k11", "k12")
V1_TABLES = {"voicekit_calls", "voicekit_meta", "voicekit_outcomes", "voicekit_workers"}

_databases = itertools.count()


def number(key: str) -> str:
    return str(9100000000 + int(key[1:3]))


def csv_rows() -> int:
    with open(CSV, newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def restore(url: str, dump: Path) -> None:
    """Replay a plain pg_dump into the empty database at `url`, over one connection (closed at
    once: the dump leaves its session's search_path empty). psql's meta-commands are skipped."""
    import psycopg

    script = "\n".join(line for line in dump.read_text("utf-8").splitlines() if not line.startswith("\\"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(script)


def postgres_tables(url: str) -> dict[str, tuple[int, str]]:
    """Every table of the database's schema, with its row count and a digest of its rows."""
    import psycopg

    with psycopg.connect(url) as conn:
        tables = [
            t
            for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            ).fetchall()
        ]
        found = {}
        for t in tables:
            row = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x"
            ).fetchone()
            assert row is not None
            found[t] = (int(row[0]), str(row[1]))
        return found


class Legacy:
    """One test's own copy of a 0.1.0 journal: an SQLite file, or a restored PostgreSQL database."""

    def __init__(self, kind: str, target: str) -> None:
        self.kind = kind
        self.target = target

    @property
    def early(self) -> bool:
        """One of the first 0.1.0 releases: no outcomes table, no `sent` nor `number` column."""
        return self.kind == "sqlite-early"

    @property
    def shared(self) -> bool:
        return self.kind == "postgres"

    def snapshot(self) -> object:
        """Everything the journal holds: the file's bytes (and its WAL's, if any), or every table
        of the database with its rows."""
        if self.shared:
            return postgres_tables(self.target)
        found = {}
        for suffix in ("", "-wal"):
            path = Path(self.target + suffix)
            if path.exists() and path.stat().st_size:
                found[suffix] = hashlib.sha256(path.read_bytes()).hexdigest()
        return found

    def ledger(self) -> list[tuple[int, str]]:
        """The migrations recorded (version, name)."""
        query = "SELECT version, name FROM voicekit_migrations ORDER BY version"
        if self.shared:
            import psycopg

            with psycopg.connect(self.target) as conn:
                return [(int(v), str(n)) for v, n in conn.execute(query).fetchall()]
        with contextlib.closing(sqlite3.connect(self.target)) as conn:
            return [(int(v), str(n)) for v, n in conn.execute(query)]

    @property
    def gone(self) -> str:
        """The error type of the rows 0.1.0 left sending, once resumed: its run died (a file), or
        its worker's lease expired (a shared database)."""
        return "LeaseExpired" if self.shared else "Interrupted"


def legacy_postgres(server: PostgresServer) -> str:
    url = server.fresh_database(f"legacy_{next(_databases)}")
    restore(url, DATA / "legacy-0.1.0-postgres.sql")
    return url


@pytest.fixture(params=KINDS)
def legacy(request: pytest.FixtureRequest, tmp_path: Path) -> Legacy:
    kind: str = request.param
    if kind == "postgres":
        return Legacy(kind, legacy_postgres(request.getfixturevalue("postgres")))
    path = tmp_path / "legacy.sqlite3"
    path.write_bytes(
        (DATA / ("legacy-0.1.0-early.sqlite3" if kind == "sqlite-early" else "legacy-0.1.0.sqlite3")).read_bytes()
    )
    return Legacy(kind, str(path))


@pytest.fixture
def sb() -> Iterator[SyncSandbox]:
    with SyncSandbox() as sandbox:
        yield sandbox


def dial(legacy: Legacy, sb: SyncSandbox) -> tuple[int, str]:
    return invoke("dial", str(CSV), "--journal", legacy.target, "--rate", "0", env=env_for(sb))


def entries(target: str) -> dict[str, tuple[State, str | None, str | None]]:
    """Every row: (state, request id, error type)."""
    with Journal.read(target) as journal:
        return {e.key: (e.state, e.request_id, e.error_type) for e in journal.entries()}


# -- reading ------------------------------------------------------------------------------------


def test_the_data_is_a_0_1_0_journal_of_the_committed_campaign(legacy: Legacy) -> None:
    if legacy.shared:
        assert set(legacy.snapshot()) == V1_TABLES
        import psycopg

        with psycopg.connect(legacy.target) as conn:
            meta = dict(conn.execute("SELECT name, value FROM voicekit_meta").fetchall())
            states = dict(conn.execute("SELECT key, state FROM voicekit_calls").fetchall())
    else:
        with contextlib.closing(sqlite3.connect(legacy.target)) as conn:
            meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
            states = dict(conn.execute("SELECT key, state FROM calls").fetchall())
            columns = {name for (name,) in conn.execute("SELECT name FROM pragma_table_info('calls')")}
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert ({"sent", "number"} <= columns) is not legacy.early
        assert ("outcomes" in tables) is not legacy.early
    assert meta["schema"] == "1" and meta["loaded"] == "1"
    assert states == {key: str(state) for key, state in LEFT.items()}
    # The same campaign as the committed CSV, wherever it was when the journal was written.
    stored = Campaign._from_json(meta["campaign"])
    assert stored.same_as(Campaign.from_file(CSV))
    assert Path(stored.path) != CSV.resolve()


def test_reading_it_refuses_and_changes_nothing(legacy: Legacy, tmp_path: Path) -> None:
    before = legacy.snapshot()
    with pytest.raises(JournalError, match=r"older voicekit; upgrade it first: `voicekit dial upgrade "):
        asyncio.run(AsyncJournal.read(legacy.target))
    code, out = invoke("dial", "status", legacy.target)
    assert code == 1 and "upgrade it first" in out, out
    code, out = invoke("dial", "report", legacy.target, "-o", str(tmp_path / "report.csv"))
    assert code == 1 and "upgrade it first" in out, out
    assert legacy.snapshot() == before
    if legacy.shared:
        assert set(legacy.snapshot()) == V1_TABLES  # no ledger


# -- upgrading ------------------------------------------------------------------------------------


def test_upgrade_brings_it_to_this_schema_once_keeping_every_row_and_outcome(legacy: Legacy) -> None:
    code, out = invoke("dial", "upgrade", legacy.target)
    assert code == 0 and f"from schema 1 to {SCHEMA_VERSION}" in out, out
    upgraded = legacy.snapshot()
    code, out = invoke("dial", "upgrade", legacy.target)
    assert code == 0 and f"is at schema {SCHEMA_VERSION} already" in out, out
    assert legacy.snapshot() == upgraded  # the second upgrade changed nothing
    assert [version for version, _ in legacy.ledger()] == list(range(1, SCHEMA_VERSION + 1))

    with Journal.read(legacy.target) as journal:
        assert journal.campaign.same_as(Campaign.from_file(CSV))
        assert journal.campaign.name == "legacy"
        rows = {e.key: e for e in journal.entries()}
        assert {key: e.state for key, e in rows.items()} == LEFT  # nothing recovered by an upgrade
        assert [e.row for e in rows.values()] == list(range(2, 15))  # in the CSV's order
        assert {key: rows[key].request_id for key in REQUEST_IDS} == REQUEST_IDS
        assert (rows["k04"].error_type, rows["k05"].error_type) == ("ConnectError", "NotFoundError")
        assert rows["k06"].error_type == "CallOutcomeUnknownError"
        outcomes = journal.outcomes(list(LEFT))
        unmatched = [o.vendor_id for o in journal.unmatched_outcomes()]
    if legacy.early:  # the first 0.1.0 releases kept no outcomes
        assert outcomes == {} and unmatched == []
    else:
        assert list(outcomes) == ["k01"] and outcomes["k01"].vendor_id == ANSWERED
        assert outcomes["k01"].answered and outcomes["k01"].billed_seconds == 23
        assert unmatched == [STRANGER]


# -- resuming -------------------------------------------------------------------------------------


@pytest.mark.parametrize("upgrade_first", [True, False], ids=["upgraded", "upgraded-by-the-run"])
def test_a_resumed_run_dials_each_pending_row_once_and_nothing_else(
    legacy: Legacy, sb: SyncSandbox, tmp_path: Path, upgrade_first: bool
) -> None:
    if upgrade_first:
        code, out = invoke("dial", "upgrade", legacy.target)
        assert code == 0, out
    code, out = dial(legacy, sb)
    assert code == 4, out  # finished, with unknown rows (k06, and the two left sending)
    dialed = ledger(sb)
    assert dialed == Counter({number(key): 1 for key in DIALED})
    assert summary(out) == (8, 2, 3, 0)

    rows = entries(legacy.target)
    assert {key: state for key, (state, _, _) in rows.items()} == {
        **LEFT,
        **dict.fromkeys(DIALED, State.PLACED),
        "k07": State.UNKNOWN,
        "k08": State.UNKNOWN,
    }
    assert rows["k07"][2] == rows["k08"][2] == legacy.gone
    placed_now = {rows[key][1] for key in DIALED}
    assert placed_now <= {call.request_id for call in list(sb.calls)}  # the sandbox's ids
    assert {key: rows[key][1] for key in REQUEST_IDS} == REQUEST_IDS  # 0.1.0's kept
    assert len(rows) == csv_rows() == 13  # every row of the CSV, the repeated key too

    with Journal.read(legacy.target) as journal:
        outcomes = journal.outcomes(list(rows))
        unmatched = [o.vendor_id for o in journal.unmatched_outcomes()]
    if legacy.early:
        assert outcomes == {} and unmatched == []
    else:  # the webhook 0.1.0 received is still k01's; the stranger's still unmatched
        assert {key: o.vendor_id for key, o in outcomes.items()} == {"k01": ANSWERED}
        assert unmatched == [STRANGER]

    code, out = invoke("dial", "status", legacy.target)
    assert code == 0, out
    answered = 0 if legacy.early else 1
    assert f"placed=8 failed=2 unknown=3 pending=0 sending=0 answered={answered} missed=0" in out, out
    report = tmp_path / "report.csv"
    code, out = invoke("dial", "report", legacy.target, "-o", str(report))
    assert code == 0, out
    with open(report, newline="", encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    assert [line["key"] for line in lines] == list(LEFT)
    assert {line["key"]: line["state"] for line in lines} == {key: str(state) for key, (state, _, _) in rows.items()}
    assert lines[0]["outcome"] == ("" if legacy.early else "answered")

    # Run again: everything is accounted for; nobody is dialed again.
    code, out = dial(legacy, sb)
    assert code == 4, out
    assert ledger(sb) == dialed
    assert summary(out) == (8, 2, 3, 0)


# -- PostgreSQL: 0.1.0 workers, and workers starting together -------------------------------------


def set_v1_worker_expiry(url: str, seconds_from_now: float) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE voicekit_workers SET expires = clock_timestamp() + make_interval(secs => %s)",
            (seconds_from_now,),
        )


def test_a_live_0_1_0_worker_makes_the_upgrade_refuse(postgres: PostgresServer, sb: SyncSandbox) -> None:
    legacy = Legacy("postgres", legacy_postgres(postgres))
    set_v1_worker_expiry(legacy.target, 3600)  # its lease runs for an hour more
    before = legacy.snapshot()

    code, out = invoke("dial", "upgrade", legacy.target)
    assert code == 1 and "1 worker(s) of an older voicekit are running" in out, out
    code, out = dial(legacy, sb)
    assert code == 1 and "1 worker(s) of an older voicekit are running" in out, out
    assert ledger(sb) == Counter()  # nobody dialed
    assert legacy.snapshot() == before and set(legacy.snapshot()) == V1_TABLES

    set_v1_worker_expiry(legacy.target, -1)  # its lease ran out: it is gone
    code, out = invoke("dial", "upgrade", legacy.target)
    assert code == 0 and f"from schema 1 to {SCHEMA_VERSION}" in out, out


async def wait_for_blocked_sessions(url: str, n: int) -> None:
    """Wait (bounded) until `n` sessions of the database wait for a lock."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for _ in range(1200):
            cur = await conn.execute(
                "SELECT count(*) FROM pg_locks "
                "WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            row = await cur.fetchone()
            if row is not None and row[0] >= n:
                return
            await asyncio.sleep(0.05)
    pytest.fail(f"{n} sessions never waited together")


@pytest.mark.slow
async def test_two_workers_starting_together_upgrade_it_once_and_dial_nobody_twice(
    postgres: PostgresServer, sb: SyncSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    legacy = Legacy("postgres", legacy_postgres(postgres))
    campaign = Campaign.from_file(CSV)

    async def worker() -> RunResult:
        async with (
            await AsyncJournal.open(legacy.target, campaign) as journal,
            AsyncTeleCMI(
                appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, rate_limit=None
            ) as tc,
        ):
            return await run_campaign(journal, tc, concurrency=2)

    # The same instant: both workers' set-ups wait behind a lock on 0.1.0's meta table (the one
    # reading it, or the other waiting for the set-up lock), and go on when it is released.
    async with await psycopg.AsyncConnection.connect(legacy.target) as gate:
        await gate.execute("LOCK TABLE voicekit_meta IN ACCESS EXCLUSIVE MODE")
        workers = [asyncio.create_task(worker()) for _ in range(2)]
        await wait_for_blocked_sessions(legacy.target, 2)
        await gate.rollback()
    with caplog.at_level(logging.INFO, logger="voicekit"):
        results = await asyncio.gather(*workers)

    assert [r.stopped for r in results] == [None, None]
    # Upgraded once: one row per version, and no set-up rolled back and tried again (two upgrades
    # at once deadlock, and the loser is retried as if the database had gone away).
    assert legacy.ledger() == [(step.version, step.name) for step in migrations("postgres")]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert sum("upgrading the journal of voicekit 0.1.0" in r.getMessage() for r in caplog.records) == 1
    assert ledger(sb) == Counter({number(key): 1 for key in DIALED})
    async with await AsyncJournal.read(legacy.target) as journal:
        counts = await journal.counts()
    assert counts == {
        **dict.fromkeys(State, 0),
        State.PLACED: 8,
        State.FAILED: 2,
        State.UNKNOWN: 3,
    }
