"""The journal's conformance suite: every test runs on SQLite and on a real PostgreSQL.

One logic (`AsyncJournal`) serves both dialects; these tests hold each to the same contract:
the states a row moves through, group commit, resume semantics, claims that are never given
twice, the runner's end under stop, close and cancel, the campaign's identity.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests._journal import (
    DIALECTS,
    FakeVendor,
    agen,
    dials,
    drain,
    journal_target,
    numbers,
    open_loaded,
    write_csv,
)
from voicekit import Outcome
from voicekit.errors import (
    CallOutcomeUnknownError,
    ConfigurationError,
    ConnectError,
    NotFoundError,
    ValidationError,
    VoiceKitError,
)
from voicekit.journal import (
    AsyncJournal,
    AsyncStore,
    CallOutcome,
    Campaign,
    CampaignMismatchError,
    Journal,
    JournalError,
    JournalNotFoundError,
    State,
    as_async,
    journaled,
    read_campaign,
)
from voicekit.telecmi import CallResult, Dial


@pytest.fixture(params=DIALECTS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return journal_target(request.param, tmp_path, request)


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    return Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(10)))


@pytest.fixture(params=["async", "blocking"])
def face(request: pytest.FixtureRequest) -> str:
    """The journal as a run gets it: its async core on the run's loop, or its blocking twin
    (whose core runs on voicekit's background loop, awaited across)."""
    return str(request.param)


async def opened(face: str, target: str, campaign: Campaign) -> AsyncStore | Journal:
    if face == "async":
        return await open_loaded(target, campaign)
    journal = await asyncio.to_thread(Journal.open, target, campaign)
    await asyncio.to_thread(journal.load, read_campaign(campaign.path))
    return journal


async def closed(journal: AsyncStore | Journal) -> None:
    if isinstance(journal, Journal):
        await asyncio.to_thread(journal.close)
    else:
        await journal.aclose()


async def counts_of(journal: AsyncStore | Journal) -> dict[State, int]:
    return (
        await as_async(journal).counts()
        if not isinstance(journal, Journal)
        else await asyncio.to_thread(journal.counts)
    )


# -- states ------------------------------------------------------------------------------------


async def test_each_key_goes_pending_sending_then_placed_failed_or_unknown(target: str, campaign: Campaign) -> None:
    errors: dict[str, Exception] = {
        "k1": NotFoundError("invalid music file name", status=404, endpoint="make_call"),
        "k2": CallOutcomeUnknownError("read timeout", endpoint="make_call", request={"to": 1}),
    }
    async with await open_loaded(target, campaign) as journal:
        assert {e.state async for e in journal.entries()} == {State.PENDING}
        assert await journal.claim(["k0", "k1", "k2"]) == {"k0", "k1", "k2"}
        assert (await journal.get("k0")).state is State.SENDING  # type: ignore[union-attr]
        assert await journal.claim(["k0", "k3"]) == {"k3"}  # already sending: not claimed twice
        await journal.finish([], ["k3"], [])  # k3's request never left
        await journal.record(
            [
                Outcome(key=k, result=CallResult(request_id="req-k0", status="progress"))
                if k == "k0"
                else Outcome(key=k, error=errors[k])
                for k in ("k0", "k1", "k2")  # type: ignore[arg-type]
            ]
        )
        entries = {e.key: e async for e in journal.entries()}
    assert entries["k0"].state is State.PLACED and entries["k0"].request_id == "req-k0"
    assert entries["k1"].state is State.FAILED and entries["k1"].error_type == "NotFoundError"
    assert "invalid music file name" in (entries["k1"].error or "")
    assert entries["k2"].state is State.UNKNOWN and entries["k2"].error_type == "CallOutcomeUnknownError"
    assert entries["k3"].state is State.PENDING
    assert [e.row for e in entries.values()] == list(range(2, 12))  # spreadsheet rows, header = 1


async def test_a_key_is_claimed_by_one_worker_only(
    tmp_path: Path, campaign: Campaign, request: pytest.FixtureRequest
) -> None:
    # Workers share a PostgreSQL journal (one process runs an SQLite journal: its lock).
    target = journal_target("postgres", tmp_path, request)
    first = await open_loaded(target, campaign)
    second = await AsyncJournal.open(target, campaign)
    try:
        mine = {spec.key for spec in await first.reserve(4)}
        assert await second.claim(sorted(mine)) == set()  # held by the first
        assert await second.pending(sorted(mine)) == set()
        results = await asyncio.gather(first.claim(["k5", "k6"]), second.claim(["k5", "k6"]))
        assert sorted(results[0] | results[1]) == ["k5", "k6"] and not results[0] & results[1]
    finally:
        await first.aclose()
        await second.aclose()


# -- group commit ------------------------------------------------------------------------------


async def test_many_keys_cost_few_transactions(target: str, tmp_path: Path) -> None:
    n = 2000
    campaign = Campaign.from_file(write_csv(tmp_path / "big.csv", numbers(n)))
    async with await open_loaded(target, campaign) as journal:
        before = journal.transactions
        vendor = FakeVendor()
        outcomes = await drain(journal, dials(f"k{i}" for i in range(n)), vendor)
        transactions = journal.transactions - before
        counts = await journal.counts()
    assert len(outcomes) == n and counts[State.PLACED] == n
    assert vendor.sent == Counter({f"k{i}": 1 for i in range(n)})
    # Every key is claimed on its own, as it leaves, but the claims of the calls that reach the
    # wire together share a transaction (with the outcomes ready by then): far fewer
    # transactions than calls.
    assert transactions <= n // 4, transactions


class GatedJournal(AsyncJournal):
    """A journal whose claims are recorded, and whose claim number `gate_at` waits for `gate`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.claims: list[list[str]] = []
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.gate_at = 1

    async def claim(self, keys: Sequence[str], outcomes: Sequence[Outcome[Any]] = ()) -> set[str]:
        self.claims.append(list(keys))
        if len(self.claims) == self.gate_at:
            self.entered.set()
            await asyncio.wait_for(self.gate.wait(), 30)
        return await super().claim(keys, outcomes)


async def open_gated(target: str, campaign: Campaign, gate_at: int = 1) -> GatedJournal:
    journal = await open_loaded(target, campaign, GatedJournal)
    assert isinstance(journal, GatedJournal)
    journal.gate_at = gate_at
    return journal


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    """Let the loop run until `predicate` holds (bounded in steps and time)."""
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never: {what}")


async def test_claims_asked_for_during_a_commit_are_committed_together(target: str, campaign: Campaign) -> None:
    first_claimed = asyncio.Event()
    departing: list[str] = []

    class Staged(FakeVendor):
        async def on_handed(self, spec: Dial) -> None:
            if spec.key != "k0":  # the others reach the wire once k0's claim is being committed
                await first_claimed.wait()
            departing.append(spec.key)

    async with await open_gated(target, campaign) as journal:
        vendor = Staged()
        run = asyncio.create_task(drain(journal, dials(f"k{i}" for i in range(8)), vendor))  # concurrency 8
        await asyncio.wait_for(journal.entered.wait(), 30)
        first_claimed.set()
        await wait_until(lambda: len(departing) == 8, "all at the wire")
        await asyncio.sleep(0.01)  # room for a wrong extra claim to show up (none must)
        assert len(journal.claims) == 1 and vendor.sent == Counter()  # nothing leaves unclaimed
        journal.gate.set()
        await run
        claims = journal.claims
    assert claims == [["k0"], [f"k{i}" for i in range(1, 8)]]
    assert vendor.sent == Counter({f"k{i}": 1 for i in range(8)})


async def test_a_key_is_sending_only_while_its_request_is_in_flight(target: str, tmp_path: Path, face: str) -> None:
    campaign = Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(300)))
    journal = await opened(face, target, campaign)
    try:
        vendor = FakeVendor()
        vendor.gate = asyncio.Event()
        run = asyncio.create_task(drain(journal, dials(f"k{i}" for i in range(300)), vendor))
        await wait_until(lambda: vendor.sent.total() == 8, "8 calls in flight")
        async with await AsyncJournal.read(target) as other:  # what a crash now would leave behind
            counts = await other.counts()
        vendor.gate.set()
        await run
    finally:
        await closed(journal)
    # Exactly the 8 calls in flight are claimed; nothing is claimed ahead of sending.
    assert counts[State.SENDING] == 8 and counts[State.PENDING] == 292


async def test_an_outcome_is_written_only_after_its_key_was_durably_sending(target: str, tmp_path: Path) -> None:
    campaign = Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(50)))
    seen: list[State] = []
    async with await open_loaded(target, campaign) as journal, await AsyncJournal.read(target) as other:

        class Spy(FakeVendor):
            async def on_sent(self, spec: Dial) -> None:
                # Another connection sees the claim: it was committed before the request left.
                seen.append((await other.get(spec.key)).state)  # type: ignore[union-attr]

        await drain(journal, dials(f"k{i}" for i in range(50)), Spy())
    assert seen == [State.SENDING] * 50


async def test_every_call_carries_its_campaign_and_key(target: str, campaign: Campaign) -> None:
    async with await open_loaded(target, campaign) as journal:
        vendor = FakeVendor()
        await drain(journal, journal.specs(4), vendor)
        campaign_id = journal.campaign_id
    assert len(vendor.specs) == 10 and len(campaign_id) >= 16
    for spec in vendor.specs:
        extra = spec.body()["extra_params"]
        assert extra == {"voicekit_key": spec.key, "voicekit_campaign": campaign_id}


# -- resume ------------------------------------------------------------------------------------


async def test_a_resumed_run_sends_pending_once_and_never_placed_failed_or_unknown(
    target: str, campaign: Campaign
) -> None:
    keys = [f"k{i}" for i in range(10)]
    async with await open_loaded(target, campaign) as journal:
        await journal.claim(keys[:6])
        await journal.record(
            [
                Outcome(key="k0", result=CallResult(request_id="r0", status="progress")),
                Outcome(key="k1", error=ValidationError("to", "bad")),
                Outcome(key="k2", error=CallOutcomeUnknownError("x", endpoint="e", request={})),
            ]
        )
        # k3, k4, k5 stay "sending": the process dies here (its worker is gone).
    async with await AsyncJournal.open(target, campaign) as journal:
        assert await journal.recover() == 3
        assert await journal.requeue() == 0
        vendor = FakeVendor()
        await drain(journal, dials(keys), vendor)
        await drain(journal, dials(keys), vendor)  # a third run finds nothing to send
        states = {e.key: e.state async for e in journal.entries()}
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


async def test_unknown_keys_are_sent_again_only_when_asked(target: str, campaign: Campaign) -> None:
    async with await open_loaded(target, campaign) as journal:
        await journal.claim(["k0", "k1"])
    async with await AsyncJournal.open(target, campaign) as journal:
        await journal.recover()
        assert await journal.requeue(unknown=True) == 2
        vendor = FakeVendor()
        await drain(journal, dials(["k0", "k1"]), vendor)
        assert (await journal.get("k0")).state is State.PLACED  # type: ignore[union-attr]
    assert vendor.sent == Counter({"k0": 1, "k1": 1})


async def test_failures_that_never_reached_the_vendor_are_retried_by_the_next_run(
    target: str, campaign: Campaign
) -> None:
    errors: dict[str, Exception] = {"k0": ConnectError("refused"), "k1": ValidationError("to", "bad")}
    async with await open_loaded(target, campaign) as journal:
        await drain(journal, dials(["k0", "k1"]), FakeVendor(errors))
        assert (await journal.counts())[State.FAILED] == 2
    async with await AsyncJournal.open(target, campaign) as journal:
        assert await journal.requeue() == 1
        vendor = FakeVendor()
        await drain(journal, dials(["k0", "k1"]), vendor)
        assert (await journal.get("k1")).state is State.FAILED  # type: ignore[union-attr]
    assert vendor.sent == Counter({"k0": 1})


async def test_failed_rows_are_dialed_again_by_class_only_when_asked(target: str, campaign: Campaign) -> None:
    errors: dict[str, Exception] = {
        "k0": NotFoundError("invalid music file name", status=404, endpoint="make_call"),
        "k1": NotFoundError("invalid music file name", status=404, endpoint="make_call"),
        "k2": ValidationError("to", "bad"),
    }
    async with await open_loaded(target, campaign) as journal:
        await drain(journal, dials(["k0", "k1", "k2"]), FakeVendor(errors))
        assert await journal.failed_classes() == {"NotFoundError": 2, "ValidationError": 1}
        assert await journal.requeue() == 0  # not provably unplaced on their own: not by default
        assert await journal.requeue(retryable=False, failed=["NotFoundError"]) == 2
        vendor = FakeVendor()
        await drain(journal, dials(["k0", "k1", "k2"]), vendor)
        assert await journal.failed_classes() == {"ValidationError": 1}
        assert await journal.requeue(retryable=False, failed=True) == 1
    assert vendor.sent == Counter({"k0": 1, "k1": 1})


async def test_stop_ends_cleanly_and_leaves_unsent_keys_pending(target: str, tmp_path: Path, face: str) -> None:
    campaign = Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(300)))
    stop = asyncio.Event()
    journal = await opened(face, target, campaign)
    try:
        vendor = FakeVendor(delay=0.001)
        got = 0
        specs = dials(f"k{i}" for i in range(300))
        async with aclosing(journaled(journal, specs, vendor.many(), stop=stop)) as outcomes:
            async for _ in outcomes:
                got += 1
                if got == 50:
                    stop.set()
        counts = await counts_of(journal)
    finally:
        await closed(journal)
    sent = sum(vendor.sent.values())
    assert 50 <= sent < 300
    assert got == sent  # every call handed to the sender finished and was recorded
    assert counts[State.PLACED] == sent and counts[State.SENDING] == 0 and counts[State.UNKNOWN] == 0
    assert counts[State.PENDING] == 300 - sent


async def test_closing_early_marks_the_calls_in_flight_unknown(target: str, tmp_path: Path, face: str) -> None:
    campaign = Campaign.from_file(write_csv(tmp_path / "c.csv", numbers(100)))
    journal = await opened(face, target, campaign)
    try:
        vendor = FakeVendor(delay=0.05)
        specs = dials(f"k{i}" for i in range(100))
        async with aclosing(journaled(journal, specs, vendor.many(concurrency=8))) as outcomes:
            async for _ in outcomes:
                break
        counts = await counts_of(journal)
        async with await AsyncJournal.read(target) as reader:
            states = {e.key: e.state async for e in reader.entries()}
    finally:
        await closed(journal)
    # Every call the vendor saw is placed or unknown (never pending: it must not be sent again);
    # calls cancelled in flight are unknown; handed over but never sent: pending again.
    assert all(states[key] in (State.PLACED, State.UNKNOWN) for key in vendor.sent)
    assert counts[State.PLACED] >= 1 and counts[State.UNKNOWN] >= 1
    assert counts[State.SENDING] == 0
    assert counts[State.PENDING] == 100 - counts[State.PLACED] - counts[State.UNKNOWN] > 0


async def test_repeated_keys_are_sent_once(target: str, campaign: Campaign) -> None:
    async with await open_loaded(target, campaign) as journal:
        vendor = FakeVendor()
        await drain(journal, dials(["k0", "k0", "k1", "k0"]), vendor)
    assert vendor.sent == Counter({"k0": 1, "k1": 1})


async def test_keys_the_journal_does_not_hold_are_never_sent(target: str, campaign: Campaign) -> None:
    vendor = FakeVendor()
    async with await AsyncJournal.open(target, campaign) as journal:  # not loaded
        assert await drain(journal, dials(["k0", "k1"]), vendor) == []
    async with await open_loaded(target, campaign) as loaded:
        assert await loaded.pending(["k0", "nope"]) == {"k0"}
    assert vendor.handed == Counter()


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_refused_claim_stops_the_send_and_yields_nothing(
    target: str, campaign: Campaign, concurrency: int
) -> None:
    # One spec per filter batch: the repeats pass the filter (their key is still pending when it
    # is read) and are refused by the claim (or by this run, which holds the key).
    async with await open_loaded(target, campaign) as journal:
        vendor = FakeVendor()
        out: list[Outcome[CallResult]] = []
        specs = dials(["k0", "k1", "k0", "k0", "k1", "k2"])
        async with aclosing(journaled(journal, specs, vendor.many(concurrency), filter_size=1)) as outcomes:
            async for outcome in outcomes:
                out.append(outcome)
        counts = await journal.counts()
    assert vendor.sent == Counter({"k0": 1, "k1": 1, "k2": 1})
    assert sorted(o.key for o in out) == ["k0", "k1", "k2"] and all(o.ok for o in out)
    assert counts[State.PLACED] == 3 and counts[State.PENDING] == 7


async def test_keys_that_are_not_pending_never_reach_the_sender(target: str, campaign: Campaign) -> None:
    async with await open_loaded(target, campaign) as journal:
        await journal.claim(["k0", "k1", "k2"])
        await journal.record([Outcome(key="k0", result=CallResult(request_id="r0", status="progress"))])
        vendor = FakeVendor()
        await drain(journal, dials(f"k{i}" for i in range(10)), vendor, filter_size=4)
    # Filtered before the sender: they never wait for a rate-limiter slot.
    assert vendor.handed == Counter({f"k{i}": 1 for i in range(3, 10)})


@pytest.mark.parametrize("how", ["aclose", "cancel"])
async def test_closing_while_a_claim_commits_releases_it(target: str, campaign: Campaign, how: str) -> None:
    # aclose: the first 8 calls are placed, then the consumer closes the run while the claim of
    # k8 and k9 is in the writer. cancel: the run is cancelled during the first claim.
    async with await open_gated(target, campaign, gate_at=2 if how == "aclose" else 1) as journal:
        vendor = FakeVendor()

        async def opener() -> None:
            await asyncio.wait_for(journal.entered.wait(), 30)
            for _ in range(20):
                await asyncio.sleep(0)
            journal.gate.set()

        async def consume() -> None:
            got = 0
            async with aclosing(journaled(journal, dials(f"k{i}" for i in range(10)), vendor.many())) as outcomes:
                async for _ in outcomes:
                    got += 1
                    if got == 8:
                        await asyncio.wait_for(journal.entered.wait(), 30)
                        break

        gate = asyncio.create_task(opener())
        run = asyncio.create_task(consume())
        if how == "cancel":
            await asyncio.wait_for(journal.entered.wait(), 30)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
        else:
            await run  # no InvalidStateError, nothing raised
        await gate
        counts = await journal.counts()
        states = {e.key: e.state async for e in journal.entries()}
    # The gated claim committed after the run was closed; its requests never left: pending again.
    placed = {f"k{i}" for i in range(8)} if how == "aclose" else set()
    assert set(vendor.sent) == placed and {k for k, st in states.items() if st is State.PLACED} == placed
    assert counts[State.SENDING] == 0 and counts[State.UNKNOWN] == 0 and counts[State.PENDING] == 10 - len(placed)


async def test_a_cancelled_writer_task_ends_the_run_with_an_error_never_a_hang(target: str, campaign: Campaign) -> None:
    # The writer is a task: should the loop cancel it under the run (the first claim
    # committing), every claim waiting and the run's end itself are answered at once.
    async with await open_gated(target, campaign) as journal:
        vendor = FakeVendor()
        run = asyncio.create_task(drain(journal, dials(f"k{i}" for i in range(10)), vendor))
        await asyncio.wait_for(journal.entered.wait(), 30)
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


async def test_an_async_iterable_of_specs(target: str, campaign: Campaign) -> None:
    async with await open_loaded(target, campaign) as journal:
        vendor = FakeVendor()
        outcomes = await drain(journal, agen(dials(["k3", "k4"])), vendor)
    assert sorted(o.key for o in outcomes) == ["k3", "k4"]


# -- loading -----------------------------------------------------------------------------------


async def test_duplicate_keys_are_recorded_as_failed_rows(target: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [*numbers(3), ["k1", 9100000099, 19170000000, "welcome.wav"]])
    problems: list[str] = []
    async with await AsyncJournal.open(target, Campaign.from_file(path)) as journal:
        loaded = await journal.load(read_campaign(path), on_problem=lambda r: problems.append(f"{r.number}:{r.key}"))
        assert loaded == 4
        assert await journal.load(read_campaign(path)) == 4  # loading twice changes nothing
        entry = await journal.get("k1@row5")
        vendor = FakeVendor()
        await drain(journal, journal.specs(), vendor)
        numbers_known = await journal.numbers(["k0", "k1", "k1@row5"])
    assert problems == ["5:k1@row5"]
    assert entry is not None and entry.state is State.FAILED and "duplicate key 'k1'" in (entry.error or "")
    assert vendor.sent == Counter({"k0": 1, "k1": 1, "k2": 1})
    assert numbers_known == {"k0": "9100000000", "k1": "9100000001"}  # the first row of a repeated key


async def test_workers_starting_together_load_once(target: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", numbers(500))
    campaign = Campaign.from_file(path)
    if "postgresql" not in target:
        async with await AsyncJournal.open(target, campaign) as journal:
            totals = await asyncio.gather(*(journal.load(read_campaign(path)) for _ in range(3)))
    else:
        journals = await asyncio.gather(*(AsyncJournal.open(target, campaign) for _ in range(3)))
        try:
            totals = await asyncio.gather(*(j.load(read_campaign(path)) for j in journals))
        finally:
            for j in journals:
                await j.aclose()
    assert totals == [500, 500, 500]


# -- identity ----------------------------------------------------------------------------------


async def test_the_same_content_elsewhere_is_the_same_campaign(target: str, campaign: Campaign, tmp_path: Path) -> None:
    await (await AsyncJournal.open(target, campaign)).aclose()
    (tmp_path / "moved").mkdir()
    moved = tmp_path / "moved" / "c.csv"
    shutil.copyfile(campaign.path, moved)
    async with await AsyncJournal.open(target, Campaign.from_file(moved)) as journal:
        assert journal.campaign.sha256 == campaign.sha256 and journal.campaign.path == str(moved)


async def test_another_campaign_under_the_journals_name_is_refused(
    target: str, campaign: Campaign, tmp_path: Path
) -> None:
    await (await AsyncJournal.open(target, campaign)).aclose()
    other = Campaign.from_file(write_csv(tmp_path / "other.csv", numbers(10, start=5)), name="c")
    with pytest.raises(CampaignMismatchError, match="holds another campaign") as info:
        await AsyncJournal.open(target, other)
    assert isinstance(info.value, VoiceKitError) and isinstance(info.value, ConfigurationError)
    assert "c.csv" in str(info.value) and "other.csv" in str(info.value)
    with pytest.raises(CampaignMismatchError, match="shard"):
        await AsyncJournal.open(target, Campaign.from_file(campaign.path, shard=(1, 2)))
    with pytest.raises(CampaignMismatchError, match="vendor"):
        await AsyncJournal.open(target, attrs.evolve(campaign, vendor="huawei"))


async def test_reading_what_is_not_there_says_so(target: str) -> None:
    with pytest.raises(JournalNotFoundError):
        await AsyncJournal.read(target)


# -- how calls ended ----------------------------------------------------------------------------


async def test_an_outcome_is_a_rows_only_when_campaign_key_and_number_agree(target: str, campaign: Campaign) -> None:
    async with await open_loaded(target, campaign) as journal:
        cid = journal.campaign_id
        await journal.claim(["k0", "k1", "k2", "k3"])
        unknown = CallOutcomeUnknownError("timeout", endpoint="e", request={})
        await journal.record([Outcome(key=k, error=unknown) for k in ("k0", "k1", "k2", "k3")])

        def told(vid: str, key: str | None, campaign_id: str | None, number: str | None) -> CallOutcome:
            return CallOutcome(vendor_id=vid, answered=True, key=key, campaign=campaign_id, number=number)

        counts = await journal.add_outcomes(
            [
                told("v0", "k0", cid, "9100000000"),  # this row's: placed
                told("v1", "k1", "another-campaign", "9100000001"),  # another campaign's key k1
                told("v2", "k2", cid, "9199999999"),  # the key, but not the number: not this row's
                told("v3", "k3", cid, "+91 9100000003"),  # the number with a country prefix
                told("v5", "k5", cid, "9100000005"),  # a pending row is never moved
                told("v9", "nope", cid, "9100000009"),  # a key the campaign does not have
                told("v0", "k0", cid, "9100000000"),  # a resend
            ]
        )
        states = {e.key: e.state async for e in journal.entries()}
        kept = await journal.outcomes(["k0", "k1", "k2", "k3", "k5"])
    assert (counts.written, counts.unmatched, counts.foreign, counts.duplicate) == (2, 2, 2, 1)
    assert states["k0"] is State.PLACED and states["k3"] is State.PLACED
    assert states["k1"] is State.UNKNOWN and states["k2"] is State.UNKNOWN and states["k5"] is State.PENDING
    assert set(kept) == {"k0", "k3"}
