"""What only the SQLite journal has: one process runs it (a file lock anyone may test without
taking), one campaign per file, its own SQLite version check, and kill -9 leftovers."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests._journal import numbers, write_csv
from voicekit.journal import (
    AsyncJournal,
    AsyncPostgresJournal,
    Campaign,
    CampaignMismatchError,
    Journal,
    JournalBusyError,
    JournalError,
    JournalNotFoundError,
    PostgresJournal,
    State,
)


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    return Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(10)))


async def test_the_postgresql_journal_classes_refuse_a_file_before_touching_it(
    tmp_path: Path, campaign: Campaign
) -> None:
    target = tmp_path / "c.db"
    with pytest.raises(JournalError, match="postgresql:// URL"):
        await AsyncPostgresJournal.open(target, campaign)
    with pytest.raises(JournalError, match="postgresql:// URL"):
        await AsyncPostgresJournal.read(target)
    with pytest.raises(JournalError, match="postgresql:// URL"):
        PostgresJournal.open(target, campaign)
    assert not target.exists()
    async with await AsyncJournal.open(target, campaign) as journal:  # the general class takes it
        assert journal.campaign == campaign


def test_an_sqlite_older_than_the_journal_needs_is_refused(
    tmp_path: Path, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 37, 2))
    with pytest.raises(JournalError, match=r"needs SQLite 3\.38\.0 or newer; this Python uses SQLite 3\.37\.2"):
        Journal.open(tmp_path / "c.db", campaign)
    assert not (tmp_path / "c.db").exists()
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 38, 0))
    Journal.open(tmp_path / "c.db", campaign).close()


def test_a_file_holds_one_campaign(tmp_path: Path, campaign: Campaign) -> None:
    Journal.open(tmp_path / "c.db", campaign).close()
    other = Campaign.from_file(write_csv(tmp_path / "other.csv", numbers(10, start=5)))  # another name too
    with pytest.raises(CampaignMismatchError, match="holds another campaign") as info:
        Journal.open(tmp_path / "c.db", other)
    assert "new --journal file" in str(info.value)


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path, campaign: Campaign) -> None:
    with pytest.raises(JournalError, match="not a voicekit journal"):
        Journal.open(campaign.path, campaign)  # the CSV given as the journal by mistake
    with pytest.raises(JournalNotFoundError, match="no journal at"):
        Journal.read(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()  # looking created nothing
    with sqlite3.connect(tmp_path / "app.db") as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(JournalError, match="not a voicekit journal"):
        Journal.open(tmp_path / "app.db", campaign)


CRASHER = textwrap.dedent("""
    import os, signal, sys
    from voicekit import Outcome
    from voicekit.journal import Campaign, Journal, read_campaign
    from voicekit.telecmi import CallResult
    campaign = Campaign.from_file(sys.argv[1])
    journal = Journal.open(sys.argv[2], campaign)
    journal.load(read_campaign(sys.argv[1]))
    journal.claim(["k0", "k1", "k2", "k3"])
    journal.record([Outcome(key="k0", result=CallResult(request_id="r0", status="progress"))])
    if sys.argv[3] == "hold":
        print("holding", flush=True)
        sys.stdin.read()
    os.kill(os.getpid(), signal.SIGKILL)
""")


def _crasher(campaign: Campaign, db: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, "-c", CRASHER, campaign.path, str(db), mode],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_journal_left_by_a_killed_process_is_resumed_not_overwritten(tmp_path: Path, campaign: Campaign) -> None:
    with _crasher(campaign, tmp_path / "c.db", "die") as proc:
        assert proc.wait(30) == -signal.SIGKILL
    with Journal.open(tmp_path / "c.db", campaign) as journal:
        assert journal.loaded
        assert journal.counts() == {
            State.PENDING: 6,
            State.SENDING: 3,
            State.PLACED: 1,
            State.FAILED: 0,
            State.UNKNOWN: 0,
            State.SUPPRESSED: 0,
            State.CANCELLED: 0,
        }
        assert journal.recover() == 3
        assert journal.get("k0").request_id == "r0"  # type: ignore[union-attr]
        assert {e.key for e in journal.entries([State.UNKNOWN])} == {"k1", "k2", "k3"}


def test_only_one_process_runs_a_journal_at_a_time(tmp_path: Path, campaign: Campaign) -> None:
    with _crasher(campaign, tmp_path / "c.db", "hold") as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
            with pytest.raises(JournalBusyError, match="another process is running"):
                Journal.open(tmp_path / "c.db", campaign)
            with Journal.read(tmp_path / "c.db") as reader:  # looking is always allowed
                assert reader.summary().running
        finally:
            proc.kill()
            proc.wait(30)
    with Journal.read(tmp_path / "c.db") as reader:
        assert not reader.summary().running  # the kernel dropped the dead run's lock
    with Journal.open(tmp_path / "c.db", campaign) as journal:
        assert journal.recover() == 3


@pytest.mark.slow
def test_looking_at_a_journal_never_makes_a_run_fail_to_open(tmp_path: Path, campaign: Campaign) -> None:
    # `voicekit dial status` tests whether a run holds the journal while runs open and close it:
    # the test must never take the lock, not even for a moment (once, 116 of 2,000 opens failed).
    Journal.open(tmp_path / "c.db", campaign).close()
    stop = threading.Event()
    looks = [0]

    def look() -> None:
        with Journal.read(tmp_path / "c.db") as reader:
            while not stop.is_set():
                reader.summary()
                looks[0] += 1

    lookers = [threading.Thread(target=look) for _ in range(2)]
    for t in lookers:
        t.start()
    try:

        async def opens() -> None:
            for _ in range(300):
                journal = await AsyncJournal.open(tmp_path / "c.db", campaign)
                await journal.aclose()

        asyncio.run(opens())
    finally:
        stop.set()
        for t in lookers:
            t.join(30)
    assert looks[0] > 0
