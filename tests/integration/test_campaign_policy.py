"""Campaign policy through the run API and the command line, on both stores and the sandbox:
calling windows in the callee's time, do-not-call lists (at the start and while running),
pause, resume, cancel and a deadline. The sandbox's own log of the calls it placed judges.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import zoneinfo
from collections import Counter
from pathlib import Path

import pytest

from tests._cli import MAKE_CALL, invoke, write_campaign
from tests._clients import sandbox_client
from tests._journal import DIALECTS, journal_target
from voicekit import ExitStatus
from voicekit.journal import (
    AsyncJournal,
    Campaign,
    CampaignMismatchError,
    CampaignRow,
    Journal,
    JournalError,
    Policy,
    State,
    Waiting,
    Window,
    run_campaign,
)
from voicekit.sandbox import Sandbox

INDIA = [919100000000 + i for i in range(6)]  # Asia/Kolkata
NEW_YORK = [12125550100 + i for i in range(4)]  # America/New_York


@pytest.fixture(params=DIALECTS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return journal_target(request.param, tmp_path, request)


def dialed(sb: Sandbox) -> Counter[str]:
    return Counter(call.to for call in sb.calls if call.endpoint == MAKE_CALL)


async def calls_placed(sb: Sandbox, n: int) -> None:
    """Wait (at most 10 s) until the sandbox has placed `n` calls."""
    for _ in range(500):
        if sum(dialed(sb).values()) >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the sandbox placed {sum(dialed(sb).values())} calls in 10 s, not {n}")


def window_open_in(zone: str, now: float) -> Window:
    """A two-hour window around `now` in `zone` (so it is open there, and closed in a zone
    nine or more hours away)."""
    local = dt.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(zone))
    start, end = local - dt.timedelta(hours=1), local + dt.timedelta(hours=1)
    return Window.parse(f"{start:%H:%M}-{end:%H:%M}")


async def test_rows_are_called_only_inside_their_window_and_the_rest_wait(target: str, tmp_path: Path) -> None:
    now = time.time()
    policy = Policy(window=window_open_in("Asia/Kolkata", now))
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", INDIA + NEW_YORK), policy=policy)
    waits: list[Waiting] = []
    stop = asyncio.Event()
    async with Sandbox() as sb, sandbox_client(sb) as tc, await AsyncJournal.open(target, campaign) as journal:
        # No deadline: the run waits for the New York window, and says until when.
        run = asyncio.create_task(run_campaign(journal, tc, concurrency=4, stop=stop, on_wait=waits.append))
        for _ in range(200):
            if waits:
                break
            await asyncio.sleep(0.025)
        await asyncio.sleep(0.3)
        assert not run.done()
        stop.set()
        result = await asyncio.wait_for(run, 5)
        summary = await journal.summary()
        # With a deadline before that opening, a run ends at once.
        started = time.monotonic()
        ended = await run_campaign(journal, tc, concurrency=4, until=time.time() + 60)
        assert time.monotonic() - started < 30
        calls = [c for c in sb.calls if c.endpoint == MAKE_CALL]
    assert dialed(sb) == Counter({str(n): 1 for n in INDIA})
    for call in calls:  # by the sandbox's clock, in the callee's zone
        assert policy.is_open(("Asia/Kolkata",), call.time), call
    assert result.interrupted and result.exit_status is ExitStatus.INTERRUPTED
    assert ended.ended == "deadline" and ended.exit_status is ExitStatus.WAITING
    assert ended.counts[State.PENDING] == len(NEW_YORK) and ended.waiting == len(NEW_YORK)
    # The New York rows wait for their window's opening there, and say so.
    opens = policy.next_open(("America/New_York",), now)
    assert opens is not None and summary.waiting is not None
    assert summary.waiting.rows == len(NEW_YORK) and summary.waiting.next_at == pytest.approx(opens, abs=5)
    assert waits and waits[0].next_at == pytest.approx(opens, abs=5) and waits[0].rows == len(NEW_YORK)


async def test_a_row_without_a_zone_is_not_called_unless_a_default_is_given(target: str, tmp_path: Path) -> None:
    nowhere = 15555550100  # +1 555: no zone is known
    policy = Policy(window=Window.parse("00:00-23:59"))
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", [INDIA[0], nowhere]), policy=policy)
    problems: list[CampaignRow] = []
    async with Sandbox() as sb, sandbox_client(sb) as tc, await AsyncJournal.open(target, campaign) as journal:
        result = await run_campaign(journal, tc, concurrency=2, on_problem=problems.append)
        failed = [e async for e in journal.entries([State.FAILED])]
    assert dialed(sb) == Counter({str(INDIA[0]): 1})
    assert [p.key for p in problems] == ["k1"] and "--tz-default" in (problems[0].problem or "")
    assert [e.key for e in failed] == ["k1"] and result.exit_status is ExitStatus.FAILED_ROWS


async def test_a_default_zone_and_a_zone_column(tmp_path: Path) -> None:
    now = time.time()
    # A number with no zone of its own, judged in the default zone (open now); and the tz column
    # naming a zone where the window is closed for the other row.
    path = tmp_path / "c.csv"
    path.write_text(
        "key,to,from,file_name,tz\n"
        "a,15555550100,19170000000,welcome.wav,Asia/Kolkata\n"
        "b,919100000001,19170000000,welcome.wav,America/New_York\n",
        encoding="utf-8",
    )
    window = window_open_in("Asia/Kolkata", now)
    for tz, expected in (("column", {"15555550100"}), ("auto", {"919100000001"})):
        policy = Policy(window=window, tz=tz, tz_default="Asia/Kolkata" if tz == "auto" else None)
        campaign = Campaign.from_file(path, policy=policy, name=f"c-{tz}")
        async with (
            Sandbox() as sb,
            sandbox_client(sb) as tc,
            await AsyncJournal.open(tmp_path / f"{tz}.db", campaign) as j,
        ):
            await run_campaign(j, tc, concurrency=2, until=time.time() + 0.5)
        # auto: a's number has no zone -> the default (open); b's is India's (open).
        want = expected if tz == "column" else {"15555550100", "919100000001"}
        assert set(dialed(sb)) == want, tz


async def test_a_worker_with_another_policy_is_refused(target: str, tmp_path: Path) -> None:
    path = write_campaign(tmp_path / "c.csv", INDIA)
    first = Campaign.from_file(path, policy=Policy(window=Window.parse("09:00-21:00")))
    async with await AsyncJournal.open(target, first):
        pass
    others = (None, Policy(window=Window.parse("10:00-21:00")), Policy(window=Window.parse("09:00-21:00"), tz="UTC"))
    for other in others:
        with pytest.raises(CampaignMismatchError, match="same --window"):
            await AsyncJournal.open(target, Campaign.from_file(path, policy=other))
    async with await AsyncJournal.open(target, Campaign.from_file(path, policy=first.policy)) as journal:
        assert journal.campaign.policy == first.policy


async def test_suppressed_numbers_are_never_called(target: str, tmp_path: Path) -> None:
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", INDIA))
    async with Sandbox() as sb, sandbox_client(sb) as tc, await AsyncJournal.open(target, campaign) as journal:
        result = await run_campaign(journal, tc, concurrency=2, suppress=[f"+{INDIA[1]}", f"{INDIA[3]}"])
        # A later run that unknown/failed rows would redial never takes a suppressed one either.
        again = await run_campaign(journal, tc, concurrency=2, redial_unknown=True, redial_failed=True)
    assert dialed(sb) == Counter({str(n): 1 for n in INDIA if n not in (INDIA[1], INDIA[3])})
    assert result.counts[State.SUPPRESSED] == 2 and result.exit_status is ExitStatus.OK
    assert again.counts[State.SUPPRESSED] == 2


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.slow
async def test_numbers_suppressed_while_running_are_not_called_after(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    numbers = [919100000000 + i for i in range(40)]
    target = journal_target(dialect, tmp_path, request)
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", numbers))
    late = numbers[20:]
    async with (
        Sandbox(latency=0.1) as sb,
        sandbox_client(sb) as tc,
        await AsyncJournal.open(target, campaign) as journal,
    ):
        run = asyncio.create_task(run_campaign(journal, tc, concurrency=2))
        await calls_placed(sb, 5)
        async with await AsyncJournal.read(target) as reader:
            added, rows = await reader.suppress(late)
            done_at = time.time()
        result = await run
    assert added == len(late) and rows >= len(late) - 4
    after = [c for c in sb.calls if c.endpoint == MAKE_CALL and c.time > done_at + 1.0]
    assert not [c for c in after if int(c.to) in late]
    assert max(dialed(sb).values()) == 1
    assert result.counts[State.SUPPRESSED] == rows
    assert result.counts[State.PLACED] + result.counts[State.SUPPRESSED] == len(numbers)


@pytest.mark.slow
@pytest.mark.postgres
async def test_pause_stops_every_worker_and_resume_goes_on(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    numbers = [919100000000 + i for i in range(90)]
    target = journal_target("postgres", tmp_path, request)
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", numbers))

    async def worker(sb: Sandbox) -> ExitStatus:
        async with sandbox_client(sb) as tc, await AsyncJournal.open(target, campaign, lease=5) as journal:
            return (await run_campaign(journal, tc, concurrency=2)).exit_status

    async with Sandbox(latency=0.2) as sb:
        workers = [asyncio.create_task(worker(sb)) for _ in range(3)]
        await calls_placed(sb, 10)
        async with await AsyncJournal.read(target) as reader:
            await reader.control("pause")
            paused_at = time.time()
            await asyncio.sleep(3.0)
            during = [c for c in sb.calls if c.endpoint == MAKE_CALL and c.time > paused_at + 2.0]
            assert during == []  # every worker idle within 2 s
            assert all(not w.done() for w in workers)  # they wait, they do not end
            assert (await reader.waiting()).state == "paused"
            await reader.control("resume")
        statuses = await asyncio.gather(*workers)
    assert statuses == [ExitStatus.OK] * 3
    assert dialed(sb) == Counter({str(n): 1 for n in numbers})


async def test_cancel_ends_the_run_and_leaves_nothing_to_dial(target: str, tmp_path: Path) -> None:
    numbers = [919100000000 + i for i in range(40)]
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", numbers))
    async with (
        Sandbox(latency=0.1) as sb,
        sandbox_client(sb) as tc,
        await AsyncJournal.open(target, campaign) as journal,
    ):
        run = asyncio.create_task(run_campaign(journal, tc, concurrency=2))
        await calls_placed(sb, 5)
        async with await AsyncJournal.read(target) as reader:
            _, cancelled = await reader.control("cancel")
        result = await asyncio.wait_for(run, 10)
        again = await run_campaign(journal, tc, concurrency=2)
        with pytest.raises(JournalError, match="cancelled"):
            async with await AsyncJournal.read(target) as reader:
                await reader.control("resume")
    assert cancelled > 0 and result.ended == "cancelled" and result.exit_status is ExitStatus.WAITING
    assert result.counts[State.CANCELLED] == cancelled
    assert result.counts[State.PLACED] + cancelled == len(numbers)
    assert sum(dialed(sb).values()) == result.counts[State.PLACED] and max(dialed(sb).values()) == 1
    assert again.exit_status is ExitStatus.WAITING and again.counts == result.counts


@pytest.mark.slow
async def test_no_call_starts_after_the_deadline(target: str, tmp_path: Path) -> None:
    numbers = [919100000000 + i for i in range(40)]
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", numbers))
    async with (
        Sandbox(latency=0.1) as sb,
        sandbox_client(sb) as tc,
        await AsyncJournal.open(target, campaign) as journal,
    ):
        until = time.time() + 0.8
        first = await run_campaign(journal, tc, concurrency=2, until=until)
        late = [
            c for c in sb.calls if c.endpoint == MAKE_CALL and c.time > until + 0.5
        ]  # a request sent before it, answered after the latency
        second = await run_campaign(journal, tc, concurrency=2)
    assert late == []
    assert first.ended == "deadline" and first.exit_status is ExitStatus.WAITING and first.undialed > 0
    assert second.exit_status is ExitStatus.OK
    assert dialed(sb) == Counter({str(n): 1 for n in numbers})


# -- the command line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "9-21"], "--window"),
        (["--window", "25:00-21:00"], "--window"),
        (["--window", "09:00-09:00"], "--window"),
        (["--window", "09:00-21:00", "--tz", "Mars/Olympus"], "--tz"),
        (["--window", "09:00-21:00", "--tz-default", "Nowhere"], "--tz-default"),
        (["--tz", "UTC"], "--window"),
        (["--until", "soon"], "--until"),
        (["--until", "2001-01-01T00:00"], "--until"),
        (["--suppress", "missing.txt"], "--suppress"),
    ],
)
def test_bad_policy_options_are_usage_errors_before_anything_is_dialed(
    tmp_path: Path, args: list[str], message: str
) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", INDIA)
    code, out = invoke("dial", str(csv_path), "--journal", str(tmp_path / "c.db"), "--sandbox", *args)
    assert code == ExitStatus.USAGE, out
    assert message in out
    assert not (tmp_path / "c.db").exists()


def test_the_command_line_runs_a_campaign_with_a_window_a_suppression_list_and_a_pause(tmp_path: Path) -> None:
    now = time.time()
    window = window_open_in("Asia/Kolkata", now)
    csv_path = write_campaign(tmp_path / "c.csv", INDIA + NEW_YORK)
    db = tmp_path / "c.db"
    dnc = tmp_path / "dnc.csv"
    dnc.write_text(f"name,Called\nsomeone,+{INDIA[0]}\n", encoding="utf-8")
    code, out = invoke(
        "dial", str(csv_path), "--journal", str(db), "--sandbox", "--rate", "0",
        "--window", str(window), "--suppress", str(dnc), "--until", "2s",
    )  # fmt: skip
    assert code == ExitStatus.WAITING, out
    assert "wait for their calling window" in out and "suppressed=1" in out
    code, out = invoke("dial", "status", str(db))
    assert code == 0 and f"{len(NEW_YORK)} pending row(s) wait for their calling window" in out, out
    code, out = invoke("dial", "suppress", str(db), str(NEW_YORK[0]))
    assert code == 0 and "1 pending row(s) suppressed" in out, out
    assert invoke("dial", "pause", str(db))[0] == 0
    code, out = invoke("dial", "status", str(db), "--json")
    assert code == 0 and '"state": "paused"' in out and '"suppressed_numbers": 2' in out, out
    assert invoke("dial", "resume", str(db))[0] == 0
    code, out = invoke("dial", "cancel", str(db))
    assert code == 0 and f"{len(NEW_YORK) - 1} pending row(s)" in out, out
    # The same campaign without its window is another policy: refused.
    code, out = invoke("dial", str(csv_path), "--journal", str(db), "--sandbox")
    assert code == ExitStatus.ERROR and "same --window" in out, out


@pytest.mark.parametrize("command", ["pause", "resume", "cancel"])
def test_controlling_a_journal_that_does_not_exist_is_a_clear_error(tmp_path: Path, command: str) -> None:
    code, out = invoke("dial", command, str(tmp_path / "none.db"))
    assert code == ExitStatus.ERROR and "no journal" in out, out
    assert not (tmp_path / "none.db").exists()


def test_zones_from_a_column_the_file_does_not_have_are_refused_before_anything(tmp_path: Path) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", INDIA)
    code, out = invoke(
        "dial", str(csv_path), "--journal", str(tmp_path / "c.db"), "--sandbox", "--window", "09:00-21:00",
        "--tz", "column",
    )  # fmt: skip
    assert code == ExitStatus.ERROR and "tz column" in out, out
    assert not (tmp_path / "c.db").exists()


async def test_the_blocking_journal_applies_the_same_policy(tmp_path: Path) -> None:
    # run_campaign on a blocking twin crosses to voicekit's loop for every journal call: the
    # window, the do-not-call list and the deadline hold there too.
    policy = Policy(window=window_open_in("Asia/Kolkata", time.time()))
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", INDIA + NEW_YORK), policy=policy)
    with Journal.open(tmp_path / "c.db", campaign) as journal:
        async with Sandbox() as sb, sandbox_client(sb) as tc:
            result = await run_campaign(journal, tc, concurrency=2, until=time.time() + 1, suppress=[INDIA[0]])
        waiting = journal.waiting()
    assert dialed(sb) == Counter({str(n): 1 for n in INDIA[1:]})
    assert result.counts[State.SUPPRESSED] == 1 and result.exit_status is ExitStatus.WAITING
    assert waiting.rows == len(NEW_YORK) and waiting.next_at is not None
