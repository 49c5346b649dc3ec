"""The campaign journal: states, group commit, resume semantics, campaign identity, CSV rows."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any

import attrs
import pytest

from voicekit import Outcome
from voicekit._bulk import run_many
from voicekit._sending import current_ticket
from voicekit.errors import (
    CallOutcomeUnknownError,
    ConfigurationError,
    ConnectError,
    NotFoundError,
    ValidationError,
    VoiceKitError,
)
from voicekit.huawei import Notify
from voicekit.journal import (
    AsyncStore,
    Campaign,
    CampaignMismatchError,
    Journal,
    JournalBusyError,
    JournalError,
    State,
    Store,
    as_async,
    in_shard,
    journaled,
    parse_shard,
    read_campaign,
)
from voicekit.telecmi import CallResult, Dial

HEADER = ["key", "to", "from", "file_name"]


def write_csv(path: Path, rows: Iterable[list[object]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def numbers(n: int, start: int = 0) -> list[list[object]]:
    return [[f"k{i}", 9100000000 + i, 19170000000, "welcome.wav"] for i in range(start, start + n)]


def dials(keys: Iterable[str]) -> Iterator[Dial]:
    for key in keys:
        yield Dial(key=key, from_=19170000000, to=9100000000 + int(key[1:]), file_name="welcome.wav")


class FakeVendor:
    """A sender that records every spec whose request "leaves" and answers as told.

    Like the real request path, it punches the send's ticket (running the journal's
    `before_send`) right before the request leaves; `handed` counts the specs it was given.
    """

    def __init__(self, errors: dict[str, Exception] | None = None, delay: float = 0.0) -> None:
        self.handed: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.errors = errors or {}
        self.delay = delay
        self.gate: asyncio.Event | None = None  # when set up, requests wait on it once they left

    async def send(self, spec: Dial) -> CallResult:
        self.handed[spec.key] += 1
        await self.on_handed(spec)
        ticket = current_ticket.get()
        assert ticket is not None
        await ticket.depart()
        self.sent[spec.key] += 1
        await self.on_sent(spec)
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(self.delay)
        if spec.key in self.errors:
            raise self.errors[spec.key]
        return CallResult(request_id=f"req-{spec.key}", status="progress")

    async def on_handed(self, spec: Dial) -> None:
        pass

    async def on_sent(self, spec: Dial) -> None:
        pass

    def many(self, concurrency: int = 8):  # type: ignore[no-untyped-def]
        return lambda specs, before_send: run_many(
            specs, self.send, lambda s: s.key, concurrency=concurrency, before_send=before_send
        )


async def drain(
    journal: Store | AsyncStore, specs: Iterable[Dial], vendor: FakeVendor, **kw: object
) -> list[Outcome[CallResult]]:
    out: list[Outcome[CallResult]] = []
    async with aclosing(journaled(journal, specs, vendor.many(), **kw)) as outcomes:  # type: ignore[arg-type]
        async for outcome in outcomes:
            out.append(outcome)
    return out


@pytest.fixture(params=["thread", "task"])
def face(request: pytest.FixtureRequest) -> Callable[[Journal], Store | AsyncStore]:
    """The runner's two writers: a blocking store's thread, or an async store's task on the loop
    (`as_async` gives the SQLite journal that face)."""
    return (lambda journal: journal) if request.param == "thread" else as_async


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    return Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(10)))


def open_loaded(tmp_path: Path, campaign: Campaign) -> Journal:
    journal = Journal.open(tmp_path / "c.db", campaign)
    journal.load(read_campaign(campaign.path))
    return journal


# -- states ------------------------------------------------------------------------------------


async def test_each_key_goes_pending_sending_then_placed_failed_or_unknown(tmp_path: Path, campaign: Campaign) -> None:
    errors: dict[str, Exception] = {
        "k1": NotFoundError("invalid music file name", status=404, endpoint="make_call"),
        "k2": CallOutcomeUnknownError("read timeout", endpoint="make_call", request={"to": 1}),
    }
    with open_loaded(tmp_path, campaign) as journal:
        assert {e.state for e in journal.entries()} == {State.PENDING}
        assert journal.claim(["k0", "k1", "k2"]) == {"k0", "k1", "k2"}
        assert journal.get("k0").state is State.SENDING  # type: ignore[union-attr]
        assert journal.claim(["k0", "k3"]) == {"k3"}  # already sending: not claimed twice
        journal.release(["k3"])
        vendor = FakeVendor(errors)
        journal.record(
            [
                Outcome(key=k, result=CallResult(request_id="req-k0", status="progress"))
                if k == "k0"
                else Outcome(key=k, error=errors[k])
                for k in ("k0", "k1", "k2")  # type: ignore[arg-type]
            ]
        )
        entries = {e.key: e for e in journal.entries()}
        assert vendor.sent == Counter()
    assert entries["k0"].state is State.PLACED and entries["k0"].request_id == "req-k0"
    assert entries["k1"].state is State.FAILED and entries["k1"].error_type == "NotFoundError"
    assert "invalid music file name" in (entries["k1"].error or "")
    assert entries["k2"].state is State.UNKNOWN and entries["k2"].error_type == "CallOutcomeUnknownError"
    assert entries["k3"].state is State.PENDING
    assert [e.row for e in entries.values()] == list(range(2, 12))  # spreadsheet rows, header = 1


# -- group commit ------------------------------------------------------------------------------


async def test_many_keys_cost_few_transactions(tmp_path: Path) -> None:
    n = 2000
    campaign = Campaign.from_file(write_csv(tmp_path / "big.csv", numbers(n)))
    with open_loaded(tmp_path, campaign) as journal:
        commits: list[str] = []
        # A commit is an explicit COMMIT, or a claim's single statement (its own transaction).
        claim_sql = "UPDATE calls SET state = o."
        journal._conn.set_trace_callback(
            lambda sql: commits.append(sql) if sql == "COMMIT" or sql.startswith(claim_sql) else None
        )
        before = journal.transactions
        vendor = FakeVendor()
        outcomes = []
        async with aclosing(journaled(journal, dials(f"k{i}" for i in range(n)), vendor.many(concurrency=32))) as it:
            async for outcome in it:
                outcomes.append(outcome)
        transactions = journal.transactions - before
        counts = journal.counts()
    assert len(outcomes) == n and counts[State.PLACED] == n
    assert vendor.sent == Counter({f"k{i}": 1 for i in range(n)})
    # Every key is claimed on its own, as it leaves, but the claims of the calls that reach the
    # wire together share a transaction (with the outcomes ready by then): far fewer
    # transactions than calls, and the counter agrees with what SQLite was asked to commit.
    assert len(commits) == transactions
    assert transactions <= n // 4, transactions


class GatedJournal(Journal):
    """A journal whose claims are recorded, and whose claim number `gate_at` waits for `gate`."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.claims: list[list[str]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.gate_at = 1

    def claim(self, keys: Sequence[str], outcomes: Sequence[Outcome[Any]] = ()) -> set[str]:
        self.claims.append(list(keys))
        if len(self.claims) == self.gate_at:
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
        return super().claim(keys, outcomes)


def open_gated(tmp_path: Path, campaign: Campaign, gate_at: int = 1) -> GatedJournal:
    journal = GatedJournal.open(tmp_path / "c.db", campaign)
    assert isinstance(journal, GatedJournal)
    journal.gate_at = gate_at
    journal.load(read_campaign(campaign.path))
    return journal


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Let the loop run until `predicate` holds (bounded in steps and time)."""
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never: {what}")


async def test_claims_asked_for_during_a_commit_are_committed_together(
    tmp_path: Path, campaign: Campaign, face: Callable[[Journal], Store | AsyncStore]
) -> None:
    first_claimed = asyncio.Event()
    departing: list[str] = []

    class Staged(FakeVendor):
        async def on_handed(self, spec: Dial) -> None:
            if spec.key != "k0":  # the others reach the wire once k0's claim is being committed
                await first_claimed.wait()
            departing.append(spec.key)

    with open_gated(tmp_path, campaign) as journal:
        vendor = Staged()
        run = asyncio.create_task(drain(face(journal), dials(f"k{i}" for i in range(8)), vendor))  # concurrency 8
        await asyncio.to_thread(journal.entered.wait, 30)
        first_claimed.set()
        await wait_until(lambda: len(departing) == 8, "all at the wire")
        await asyncio.sleep(0.01)  # room for a wrong extra claim to show up (none must)
        assert len(journal.claims) == 1 and vendor.sent == Counter()  # nothing leaves unclaimed
        journal.gate.set()
        await run
        claims = journal.claims
    assert claims == [["k0"], [f"k{i}" for i in range(1, 8)]]
    assert vendor.sent == Counter({f"k{i}": 1 for i in range(8)})


async def test_a_key_is_sending_only_while_its_request_is_in_flight(
    tmp_path: Path, face: Callable[[Journal], Store | AsyncStore]
) -> None:
    campaign = Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(300)))
    with open_loaded(tmp_path, campaign) as journal:
        vendor = FakeVendor()
        vendor.gate = asyncio.Event()
        run = asyncio.create_task(drain(face(journal), dials(f"k{i}" for i in range(300)), vendor))
        await wait_until(lambda: vendor.sent.total() == 8, "8 calls in flight")
        with Journal.read(tmp_path / "c.db") as other:  # what a crash now would leave behind
            counts = other.counts()
        vendor.gate.set()
        await run
    # Exactly the 8 calls in flight are claimed; nothing is claimed ahead of sending.
    assert counts[State.SENDING] == 8 and counts[State.PENDING] == 292


async def test_an_outcome_is_written_only_after_its_key_was_durably_sending(tmp_path: Path) -> None:
    campaign = Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(50)))
    with open_loaded(tmp_path, campaign) as journal:
        seen: list[State] = []

        class Spy(FakeVendor):
            async def on_sent(self, spec: Dial) -> None:
                # Another connection sees the claim: it was committed before the request left.
                with Journal.read(tmp_path / "c.db") as other:
                    seen.append(other.get(spec.key).state)  # type: ignore[union-attr]

        await drain(journal, dials(f"k{i}" for i in range(50)), Spy())
    assert seen == [State.SENDING] * 50


# -- resume ------------------------------------------------------------------------------------


async def test_a_resumed_run_sends_pending_once_and_never_placed_failed_or_unknown(
    tmp_path: Path, campaign: Campaign
) -> None:
    keys = [f"k{i}" for i in range(10)]
    with open_loaded(tmp_path, campaign) as journal:
        journal.claim(keys[:6])
        journal.record(
            [
                Outcome(key="k0", result=CallResult(request_id="r0", status="progress")),
                Outcome(key="k1", error=ValidationError("to", "bad")),
                Outcome(key="k2", error=CallOutcomeUnknownError("x", endpoint="e", request={})),
            ]
        )
        # k3, k4, k5 stay "sending": the process dies here.
    with Journal.open(tmp_path / "c.db", campaign) as journal:
        assert journal.recover() == 3
        assert journal.requeue() == 0
        vendor = FakeVendor()
        await drain(journal, dials(keys), vendor)
        await drain(journal, dials(keys), vendor)  # a third run finds nothing to send
        states = {e.key: e.state for e in journal.entries()}
    assert vendor.sent == Counter({k: 1 for k in keys[6:]})
    assert states == {
        "k0": State.PLACED,
        "k1": State.FAILED,
        "k2": State.UNKNOWN,
        "k3": State.UNKNOWN,
        "k4": State.UNKNOWN,
        "k5": State.UNKNOWN,
        **{k: State.PLACED for k in keys[6:]},
    }


async def test_unknown_keys_are_sent_again_only_when_asked(tmp_path: Path, campaign: Campaign) -> None:
    with open_loaded(tmp_path, campaign) as journal:
        journal.claim(["k0", "k1"])
    with Journal.open(tmp_path / "c.db", campaign) as journal:
        journal.recover()
        assert journal.requeue(unknown=True) == 2
        vendor = FakeVendor()
        await drain(journal, dials(["k0", "k1"]), vendor)
        assert journal.get("k0").state is State.PLACED  # type: ignore[union-attr]
    assert vendor.sent == Counter({"k0": 1, "k1": 1})


async def test_failures_that_never_reached_the_vendor_are_retried_by_the_next_run(
    tmp_path: Path, campaign: Campaign
) -> None:
    errors: dict[str, Exception] = {"k0": ConnectError("refused"), "k1": ValidationError("to", "bad")}
    with open_loaded(tmp_path, campaign) as journal:
        await drain(journal, dials(["k0", "k1"]), FakeVendor(errors))
        assert journal.counts()[State.FAILED] == 2
    with Journal.open(tmp_path / "c.db", campaign) as journal:
        assert journal.requeue() == 1
        vendor = FakeVendor()
        await drain(journal, dials(["k0", "k1"]), vendor)
        assert journal.get("k1").state is State.FAILED  # type: ignore[union-attr]
    assert vendor.sent == Counter({"k0": 1})


async def test_stop_ends_cleanly_and_leaves_unsent_keys_pending(
    tmp_path: Path, face: Callable[[Journal], Store | AsyncStore]
) -> None:
    campaign = Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(300)))
    stop = asyncio.Event()
    with open_loaded(tmp_path, campaign) as journal:
        vendor = FakeVendor(delay=0.001)
        got = 0
        async with aclosing(
            journaled(face(journal), dials(f"k{i}" for i in range(300)), vendor.many(), stop=stop)
        ) as outcomes:
            async for _ in outcomes:
                got += 1
                if got == 50:
                    stop.set()
        counts = journal.counts()
    sent = sum(vendor.sent.values())
    assert 50 <= sent < 300
    assert got == sent  # every call handed to the sender finished and was recorded
    assert counts[State.PLACED] == sent and counts[State.SENDING] == 0 and counts[State.UNKNOWN] == 0
    assert counts[State.PENDING] == 300 - sent


async def test_closing_early_marks_the_calls_in_flight_unknown(
    tmp_path: Path, face: Callable[[Journal], Store | AsyncStore]
) -> None:
    campaign = Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(100)))
    with open_loaded(tmp_path, campaign) as journal:
        vendor = FakeVendor(delay=0.05)
        async with aclosing(
            journaled(face(journal), dials(f"k{i}" for i in range(100)), vendor.many(concurrency=8))
        ) as outcomes:
            async for _ in outcomes:
                break
        counts = journal.counts()
        states = {e.key: e.state for e in journal.entries()}
    # Every call the vendor saw is placed or unknown (never pending: it must not be sent again);
    # calls cancelled in flight are unknown; handed over but never sent: pending again.
    assert all(states[key] in (State.PLACED, State.UNKNOWN) for key in vendor.sent)
    assert counts[State.PLACED] >= 1 and counts[State.UNKNOWN] >= 1
    assert counts[State.SENDING] == 0
    assert counts[State.PENDING] == 100 - counts[State.PLACED] - counts[State.UNKNOWN] > 0


async def test_repeated_keys_are_sent_once(tmp_path: Path, campaign: Campaign) -> None:
    with Journal.open(tmp_path / "c.db", campaign) as journal:  # not loaded: keys are added as claimed
        vendor = FakeVendor()
        await drain(journal, dials(["k0", "k0", "k1", "k0"]), vendor)
    assert vendor.sent == Counter({"k0": 1, "k1": 1})


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_refused_claim_stops_the_send_and_yields_nothing(
    tmp_path: Path, campaign: Campaign, concurrency: int, face: Callable[[Journal], Store | AsyncStore]
) -> None:
    # One spec per filter batch: the repeats pass the filter (their key is still pending when it
    # is read) and are refused by the claim (or by this run, which holds the key).
    with open_loaded(tmp_path, campaign) as journal:
        vendor = FakeVendor()
        out: list[Outcome[CallResult]] = []
        specs = dials(["k0", "k1", "k0", "k0", "k1", "k2"])
        async with aclosing(journaled(face(journal), specs, vendor.many(concurrency), filter_size=1)) as outcomes:
            async for outcome in outcomes:
                out.append(outcome)
        counts = journal.counts()
    assert vendor.sent == Counter({"k0": 1, "k1": 1, "k2": 1})
    assert sorted(o.key for o in out) == ["k0", "k1", "k2"] and all(o.ok for o in out)
    assert counts[State.PLACED] == 3 and counts[State.PENDING] == 7


async def test_keys_that_are_not_pending_never_reach_the_sender(tmp_path: Path, campaign: Campaign) -> None:
    with open_loaded(tmp_path, campaign) as journal:
        journal.claim(["k0", "k1", "k2"])
        journal.record([Outcome(key="k0", result=CallResult(request_id="r0", status="progress"))])
        vendor = FakeVendor()
        await drain(journal, dials(f"k{i}" for i in range(10)), vendor, filter_size=4)
    # Filtered before the sender: they never wait for a rate-limiter slot.
    assert vendor.handed == Counter({f"k{i}": 1 for i in range(3, 10)})


@pytest.mark.parametrize("how", ["aclose", "cancel"])
async def test_closing_while_a_claim_commits_releases_it_and_never_blocks_the_loop(
    tmp_path: Path, campaign: Campaign, how: str, face: Callable[[Journal], Store | AsyncStore]
) -> None:
    # aclose: the first 8 calls are placed, then the consumer closes the run while the claim of
    # k8 and k9 is in the writer thread. cancel: the run is cancelled during the first claim.
    with open_gated(tmp_path, campaign, gate_at=2 if how == "aclose" else 1) as journal:
        vendor = FakeVendor()
        ticks = 0

        async def ticker() -> None:
            # Opens the gate only after the loop turned 20 times with the claim held: a run's end
            # that blocked the loop on the writer thread would never get here (and time out).
            nonlocal ticks
            await asyncio.to_thread(journal.entered.wait, 30)
            for _ in range(20):
                await asyncio.sleep(0)
                ticks += 1
            journal.gate.set()

        async def consume() -> None:
            got = 0
            async with aclosing(journaled(face(journal), dials(f"k{i}" for i in range(10)), vendor.many())) as outcomes:
                async for _ in outcomes:
                    got += 1
                    if got == 8:
                        await asyncio.to_thread(journal.entered.wait, 30)
                        break

        opener = asyncio.create_task(ticker())
        run = asyncio.create_task(consume())
        if how == "cancel":
            await asyncio.to_thread(journal.entered.wait, 30)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
        else:
            await run  # no InvalidStateError, nothing raised
        await opener
        counts = journal.counts()
        states = {e.key: e.state for e in journal.entries()}
    assert ticks == 20
    # The gated claim committed after the run was closed; its requests never left: pending again.
    placed = {f"k{i}" for i in range(8)} if how == "aclose" else set()
    assert set(vendor.sent) == placed and {k for k, st in states.items() if st is State.PLACED} == placed
    assert counts[State.SENDING] == 0 and counts[State.UNKNOWN] == 0 and counts[State.PENDING] == 10 - len(placed)


async def test_a_cancelled_writer_task_ends_the_run_with_an_error_never_a_hang(
    tmp_path: Path, campaign: Campaign
) -> None:
    # The async store's writer is a task: should the loop cancel it under the run (the first
    # claim committing), every claim waiting and the run's end itself are answered at once.
    with open_gated(tmp_path, campaign) as journal:
        vendor = FakeVendor()
        run = asyncio.create_task(drain(as_async(journal), dials(f"k{i}" for i in range(10)), vendor))
        await asyncio.to_thread(journal.entered.wait, 30)
        writer = next(t for t in asyncio.all_tasks() if t.get_name() == "voicekit-journal")
        writer.cancel()
        try:
            done, _ = await asyncio.wait({run}, timeout=10)
            assert run in done, "the run's end waited for a writer that is gone"
            with pytest.raises(JournalError, match="cancelled"):
                await run
        finally:
            journal.gate.set()
    assert vendor.sent == Counter()  # nothing left unclaimed


def test_an_sqlite_older_than_the_journal_needs_is_refused(
    tmp_path: Path, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 37, 2))
    with pytest.raises(JournalError, match=r"needs SQLite 3\.38\.0 or newer; this Python uses SQLite 3\.37\.2"):
        Journal.open(tmp_path / "c.db", campaign)
    assert not (tmp_path / "c.db").exists()
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 38, 0))
    Journal.open(tmp_path / "c.db", campaign).close()


# -- identity, crash leftovers, one runner at a time ---------------------------------------------


def test_another_campaign_file_is_refused(tmp_path: Path, campaign: Campaign) -> None:
    Journal.open(tmp_path / "c.db", campaign).close()
    other = Campaign.from_file(write_csv(tmp_path / "other.csv", numbers(10, start=5)))
    with pytest.raises(CampaignMismatchError, match="belongs to another campaign") as info:
        Journal.open(tmp_path / "c.db", other)
    assert isinstance(info.value, VoiceKitError)
    assert "c.csv" in str(info.value) and "other.csv" in str(info.value)
    with pytest.raises(CampaignMismatchError, match="shard"):
        Journal.open(tmp_path / "c.db", Campaign.from_file(campaign.path, shard=(1, 2)))
    with pytest.raises(CampaignMismatchError, match="vendor"):
        Journal.open(tmp_path / "c.db", attrs.evolve(campaign, vendor="huawei"))


def test_the_same_content_elsewhere_is_the_same_campaign(tmp_path: Path, campaign: Campaign) -> None:
    Journal.open(tmp_path / "c.db", campaign).close()
    moved = tmp_path / "moved.csv"
    moved.write_bytes(Path(campaign.path).read_bytes())
    with Journal.open(tmp_path / "c.db", Campaign.from_file(moved)) as journal:
        assert journal.campaign.sha256 == campaign.sha256


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path, campaign: Campaign) -> None:
    with pytest.raises(JournalError, match="not a voicekit journal"):
        Journal.open(campaign.path, campaign)  # the CSV given as the journal by mistake
    with pytest.raises(JournalError, match="no journal at"):
        Journal.read(tmp_path / "missing.db")
    assert issubclass(JournalError, ConfigurationError)


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


# -- the campaign CSV --------------------------------------------------------------------------


def test_malformed_rows_carry_their_row_number_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        b"\xef\xbb\xbfKey,To,From,File_Name,Extra_Params\n"  # a BOM and capitalised names
        b"a,9100000001,19170000000,welcome.wav,\n"  # row 2
        b"b,12ab,19170000000,welcome.wav,\n"  # row 3: bad number
        b"\n"  # row 4: blank, skipped
        b"c,9100000003,,welcome.wav,\n"  # row 5: missing value
        b"d,91000\xff0004,19170000000,welcome.wav,\n"  # row 6: not UTF-8
        b"e,9100000005,19170000000,welcome.wav,{nope\n"  # row 7: bad JSON
        b"f,9100000006,19170000000\n"  # row 8: short row, no file
        b',9100000007,19170000000,welcome.mp3,"{""crm"": 1}"\n'  # row 9: default key
    )
    rows = list(read_campaign(path))
    problems = {r.number: (r.key, r.problem) for r in rows if r.problem}
    assert [r.number for r in rows] == [2, 3, 5, 6, 7, 8, 9]
    assert problems[3] == ("b", "to: must be 7-16 digits without a leading zero, got '12ab'")
    assert problems[5] == ("c", "from: missing value")
    assert problems[6][0] == "d" and "undecodable" in problems[6][1]  # type: ignore[operator]
    assert problems[7][0] == "e" and "extra_params" in problems[7][1]  # type: ignore[operator]
    assert problems[8][0] == "f" and "file_name" in problems[8][1]  # type: ignore[operator]
    good = {r.number: r.spec for r in rows if r.spec}
    assert set(good) == {2, 9}
    assert good[9] == Dial(
        key="9", from_="19170000000", to="9100000007", file_name="welcome.mp3", extra_params={"crm": 1}
    )


def test_huawei_rows(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "h.csv",
        [
            ["n1", "8899", "100001", "", "7|8", "3"],
            ["n2", "8898", "", "T1", "a|b", "9"],
            ["n3", "8897", "100001", "", "", "x"],
        ],
        header=["key", "called", "voice_id", "template_id", "template_params", "play_times"],
    )
    rows = list(read_campaign(path))
    assert isinstance(rows[0].spec, Notify)
    assert rows[0].spec.play_list[0].voice_id == "100001"
    assert list(rows[0].spec.play_list[0].template_params or ()) == ["7", "8"]
    assert rows[1].problem == "play_times: must be between 1 and 5, got 9"
    assert rows[2].problem == "play_times: must be an integer, got 'x'"


def test_a_header_without_a_needed_column_is_one_clear_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [["a", "9100000001", "welcome.wav"]], header=["key", "to", "file_name"])
    with pytest.raises(ConfigurationError, match="needs a 'from' column"):
        Campaign.from_file(path)
    with pytest.raises(ConfigurationError, match="cannot tell the campaign's vendor"):
        Campaign.from_file(write_csv(tmp_path / "d.csv", [["1"]], header=["number"]))


def test_shards_split_the_keys_exactly() -> None:
    keys = [f"key-{i}" for i in range(3000)]
    owners = [[i for i in (1, 2, 3) if in_shard(k, (i, 3))] for k in keys]
    assert all(len(o) == 1 for o in owners)
    sizes = Counter(o[0] for o in owners)
    assert all(800 < size < 1200 for size in sizes.values())
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x", "1/0", "1-3"):
        with pytest.raises(ValidationError):
            parse_shard(bad)


async def test_duplicate_keys_are_recorded_as_failed_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [*numbers(3), ["k1", 9100000099, 19170000000, "welcome.wav"]])
    problems: list[str] = []
    with Journal.open(tmp_path / "c.db", Campaign.from_file(path)) as journal:
        assert journal.load(read_campaign(path), on_problem=lambda r: problems.append(f"{r.number}:{r.key}")) == 4
        assert journal.load(read_campaign(path)) == 4  # loading twice changes nothing
        entry = journal.get("k1@row5")
        vendor = FakeVendor()
        await drain(journal, (r.spec for r in read_campaign(path) if r.spec), vendor)  # type: ignore[misc]
    assert problems == ["5:k1@row5"]
    assert entry is not None and entry.state is State.FAILED and "duplicate key 'k1'" in (entry.error or "")
    assert vendor.sent == Counter({"k0": 1, "k1": 1, "k2": 1})


async def _agen(items: Iterable[Dial]) -> AsyncIterator[Dial]:
    for item in items:
        yield item


async def test_an_async_iterable_of_specs(tmp_path: Path, campaign: Campaign) -> None:
    with open_loaded(tmp_path, campaign) as journal:
        vendor = FakeVendor()
        outcomes = await drain(journal, _agen(dials(["k3", "k4"])), vendor)  # type: ignore[arg-type]
    assert sorted(o.key for o in outcomes) == ["k3", "k4"]
