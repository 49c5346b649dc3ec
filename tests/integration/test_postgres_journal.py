"""The PostgreSQL journal against a real server: workers sharing one campaign, leases, faults."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import pytest

from tests._journal import FakeVendor, numbers, write_csv
from tests._servers import PG_PASSWORD, PostgresServer
from voicekit import Outcome
from voicekit.journal import (
    AsyncPostgresJournal,
    Campaign,
    CampaignMismatchError,
    CampaignRow,
    JournalError,
    LeaseLostError,
    PostgresJournal,
    State,
    journaled,
    read_campaign,
)
from voicekit.telecmi import CallResult

_names = itertools.count()


@pytest.fixture
def url(postgres: PostgresServer) -> str:
    return postgres.fresh_database(f"t{next(_names)}")


async def run_worker(
    journal: AsyncPostgresJournal, vendor: FakeVendor, concurrency: int = 8
) -> list[Outcome[CallResult]]:
    out: list[Outcome[CallResult]] = []
    async with aclosing(
        journaled(
            journal,
            journal.specs(concurrency),
            vendor.many(concurrency),  # type: ignore[arg-type]
            filter_size=concurrency,
        )
    ) as outcomes:
        async for outcome in outcomes:
            out.append(outcome)
    return out


@pytest.mark.slow
def test_workers_starting_together_load_once_and_share_the_rows(tmp_path: Path, url: str) -> None:
    csv_path = write_csv(tmp_path / "c.csv", [*numbers(400), ["k7", 9100000007, 19170000000, "welcome.wav"]])
    campaign = Campaign.from_file(csv_path)
    problems: list[list[str]] = [[] for _ in range(3)]
    vendors = [FakeVendor(delay=0.002) for _ in range(3)]

    async def worker(i: int) -> tuple[str | None, int, list[Outcome[CallResult]]]:
        # Each worker on its own event loop and thread, as on its own machine.
        async with await AsyncPostgresJournal.open(url, campaign, lease=30) as journal:
            total = await journal.load(read_campaign(csv_path), on_problem=lambda row: problems[i].append(row.key))
            started.wait(30)  # every worker loaded before any dials: rows must flow to all three
            return journal.worker, total, await run_worker(journal, vendors[i])

    started = threading.Barrier(3)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda i: asyncio.run(worker(i)), range(3)))
    assert [total for _, total, _ in results] == [401] * 3
    assert sorted(itertools.chain(*problems)) == ["k7@row402"]  # reported once, by the one that loaded
    sent = sum((v.sent for v in vendors), Counter())
    assert sent == Counter({f"k{i}": 1 for i in range(400)})  # every row once, by exactly one worker
    assert all(len(out) > 0 for _, _, out in results), [len(out) for _, _, out in results]  # rows flowed to all
    with PostgresJournal.read(url) as reader:
        summary = reader.summary()
        assert summary.counts[State.PLACED] == 400 and summary.counts[State.FAILED] == 1
        per_worker = {w.worker: w.counts[State.PLACED] for w in summary.workers}
        assert per_worker == {worker: len(out) for worker, _, out in results}
        assert not summary.running
        assert [e.key for e in itertools.islice(reader.entries(), 3)] == ["k0", "k1", "k2"]


def test_another_file_under_a_campaign_name_already_taken_is_refused(tmp_path: Path, url: str) -> None:
    first = Campaign.from_file(write_csv(tmp_path / "a.csv", numbers(5)))
    other = Campaign.from_file(write_csv(tmp_path / "b.csv", numbers(6)), name="a")
    with PostgresJournal.open(url, first):
        pass
    with pytest.raises(CampaignMismatchError, match="holds another campaign named 'a'") as info:
        PostgresJournal.open(url, other)
    assert PG_PASSWORD not in str(info.value)
    # The same file under another name would dial everybody twice: refused too.
    renamed = Campaign.from_file(tmp_path / "a.csv", name="a-again")
    with pytest.raises(CampaignMismatchError, match="already holds this campaign file as 'a'"):
        PostgresJournal.open(url, renamed)


def test_an_expired_lease_makes_sending_rows_unknown_and_stops_the_slow_worker(
    tmp_path: Path, url: str, postgres: PostgresServer
) -> None:
    csv_path = write_csv(tmp_path / "c.csv", numbers(20))
    campaign = Campaign.from_file(csv_path)
    slow = PostgresJournal.open(url, campaign, lease=30)
    live = PostgresJournal.open(url, campaign, lease=30)
    slow.load(read_campaign(csv_path))
    held = [spec.key for spec in slow.reserve(6)]
    assert slow.claim(held[:3]) == set(held[:3])  # three calls "in flight"
    # The slow worker falls silent past its lease (the database's clock decides).
    with postgres.admin(url.rsplit("/", 1)[1]) as conn:
        conn.execute(
            "UPDATE voicekit_workers SET expires = extract(epoch FROM now()) - 1 "  # type: ignore[attr-defined]
            "WHERE id = %s",
            (slow.worker,),
        )
    assert live.reap() == 3
    states = {e.key: e for e in live.entries()}
    assert {k for k, e in states.items() if e.state is State.UNKNOWN} == set(held[:3])  # never pending
    assert all(states[k].state is State.PENDING and states[k].worker is None for k in held[3:])  # free again
    with pytest.raises(LeaseLostError, match="lease"):
        slow.claim(held[3:])  # it notices before it dials a row it no longer owns
    assert {e.key for e in live.entries([State.SENDING])} == set()
    taken = {spec.key for spec in live.reserve(100)}
    assert set(held[3:]) <= taken and not taken & set(held[:3])
    # Its late outcome is still what the vendor said: it corrects "unknown".
    slow.record([Outcome(key=held[0], result=CallResult(request_id="r0", status="progress"))])
    assert live.get(held[0]).state is State.PLACED  # type: ignore[union-attr]
    slow.close()
    live.close()


def test_bad_urls_are_one_clear_error_without_the_password(tmp_path: Path, postgres: PostgresServer) -> None:
    campaign = Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(3)))
    dead = f"postgresql://voicekit:{PG_PASSWORD}@127.0.0.1:1/campaign"
    with pytest.raises(JournalError, match="cannot be reached") as info:
        PostgresJournal.open(dead, campaign)
    assert PG_PASSWORD not in str(info.value) and "***" in str(info.value)
    with pytest.raises(JournalError, match="refused the user name or password") as info:
        PostgresJournal.open(postgres.url(password="wrong-" + PG_PASSWORD), campaign)
    assert PG_PASSWORD not in str(info.value)
    with postgres.admin() as conn:
        conn.execute("DROP ROLE IF EXISTS outsider")  # type: ignore[attr-defined]
        conn.execute(f"CREATE ROLE outsider LOGIN PASSWORD '{PG_PASSWORD}'")  # type: ignore[attr-defined]
        conn.execute("DROP DATABASE IF EXISTS locked WITH (FORCE)")  # type: ignore[attr-defined]
        conn.execute("CREATE DATABASE locked")  # type: ignore[attr-defined]
        conn.execute("REVOKE CONNECT ON DATABASE locked FROM PUBLIC")  # type: ignore[attr-defined]
    with pytest.raises(JournalError, match="may not use this database"):
        PostgresJournal.open(postgres.url("locked", user="outsider"), campaign)
    # Allowed in, but not to create the journal's tables (PostgreSQL 15: public is not writable).
    with pytest.raises(JournalError, match="permission denied"):
        PostgresJournal.open(postgres.url("campaign", user="outsider"), campaign)


@pytest.mark.slow
def test_the_database_restarting_mid_run_dials_nobody_twice(tmp_path: Path, url: str, postgres: PostgresServer) -> None:
    n = 600
    csv_path = write_csv(tmp_path / "c.csv", numbers(n))
    campaign = Campaign.from_file(csv_path)
    vendor = FakeVendor(delay=0.005)
    restarted = threading.Event()

    async def restart_midway() -> None:
        for _ in range(20_000):  # bounded: about a minute
            if vendor.sent.total() >= n // 3:
                break
            await asyncio.sleep(0.003)
        await asyncio.to_thread(postgres.stop, "fast")
        await asyncio.to_thread(postgres.start)
        restarted.set()

    async def main() -> dict[State, int]:
        async with await AsyncPostgresJournal.open(url, campaign, lease=60) as journal:
            await journal.load(read_campaign(csv_path))
            restart = asyncio.create_task(restart_midway())
            await run_worker(journal, vendor)
            await restart
            return await journal.counts()

    counts = asyncio.run(main())
    assert restarted.is_set()
    assert max(vendor.sent.values()) == 1  # nobody dialed twice
    assert counts[State.SENDING] == 0 and counts[State.PENDING] == 0
    assert counts[State.PLACED] + counts[State.UNKNOWN] == n
    with PostgresJournal.read(url) as reader:
        assert {e.key for e in reader.entries([State.PLACED])} <= set(vendor.sent)


def test_a_load_the_database_cut_short_loads_nothing_and_says_so(tmp_path: Path, url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    csv_path = write_csv(tmp_path / "c.csv", numbers(50))
    campaign = Campaign.from_file(csv_path)

    def rows() -> Iterator[CampaignRow]:  # read once, as from a file: a retry cannot replay it
        for i, row in enumerate(read_campaign(csv_path)):
            if i == 20:
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            yield row

    with PostgresJournal.open(url, campaign) as journal:
        with pytest.raises(JournalError, match="nothing was loaded"):
            journal.load(rows())
        # Never "loaded" with the rows read before the cut (the next run would skip the rest).
        assert not journal.loaded and journal.total() == 0
        assert journal.load(read_campaign(csv_path)) == 50


async def test_the_blocking_twin_runs_under_journaled_too(tmp_path: Path, url: str) -> None:
    csv_path = write_csv(tmp_path / "c.csv", numbers(60))
    campaign = Campaign.from_file(csv_path)
    journal = await asyncio.to_thread(PostgresJournal.open, url, campaign)
    try:
        await asyncio.to_thread(journal.load, read_campaign(csv_path))
        vendor = FakeVendor()
        specs = (row.spec for row in read_campaign(csv_path) if row.spec is not None)
        async with aclosing(journaled(journal, specs, vendor.many(8))) as outcomes:  # type: ignore[arg-type]
            got = [outcome async for outcome in outcomes]
        counts = await asyncio.to_thread(journal.counts)
    finally:
        await asyncio.to_thread(journal.close)
    assert vendor.sent == Counter({f"k{i}": 1 for i in range(60)})
    assert len(got) == 60 and counts[State.PLACED] == 60 and counts[State.SENDING] == 0
