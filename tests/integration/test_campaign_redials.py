"""Redials of missed calls, on both stores, judged by the sandbox's own log: a missed row is
dialed again after its delay, up to the policy's attempts, never after an answered call; a
resent webhook schedules nothing more; a worker killed while a redial waits leaves it to the
next run, which dials it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests._cli import MAKE_CALL, env_for, free_port, invoke, write_campaign
from tests._clients import sandbox_client
from tests._journal import DIALECTS, journal_target
from voicekit import ExitStatus
from voicekit.journal import (
    CLOCK_SKEW,
    AsyncJournal,
    Campaign,
    Journal,
    OutcomeReceiver,
    OutcomeWriter,
    Policy,
    State,
    Waiting,
    outcome_app,
    read_campaign,
    reconcile,
    run_campaign,
)
from voicekit.sandbox import OutcomePlan, Sandbox, SyncSandbox

MISSED = [919100000000 + i for i in range(4)]  # never answered
ANSWERED = [919100000100 + i for i in range(4)]
FAST_RESENDS = (0.0, 0.01, 0.02, 0.03)  # the documented cdr resend schedule, compressed


@pytest.fixture(params=DIALECTS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return journal_target(request.param, tmp_path, request)


def plan() -> OutcomePlan:
    outcomes = OutcomePlan(answer_rate=1.0, ring=0)
    for n in MISSED:
        outcomes.set(n, answer=False)
    return outcomes


@contextlib.asynccontextmanager
async def listener(journal: AsyncJournal) -> AsyncIterator[str]:
    """The journal's webhook receiver on a loopback port; its TeleCMI URL."""
    async with OutcomeWriter(journal) as writer:
        runner = web.AppRunner(outcome_app(OutcomeReceiver(writer), "telecmi"), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}/telecmi"
        finally:
            await runner.cleanup()


def calls_to(sb: Sandbox | SyncSandbox, number: int) -> list[float]:
    return sorted(c.time for c in list(sb.calls) if c.endpoint == MAKE_CALL and c.to == str(number))


@pytest.mark.slow
async def test_a_missed_row_is_dialed_again_after_its_delay_up_to_its_attempts(target: str, tmp_path: Path) -> None:
    delay = 0.4
    policy = Policy(max_attempts=3, retry={"missed": delay})
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", MISSED + ANSWERED), policy=policy)
    async with await AsyncJournal.open(target, campaign) as journal, listener(journal) as url:
        async with (
            Sandbox(outcomes=plan(), telecmi_webhook_url=url, cdr_resend_schedule=FAST_RESENDS) as sb,
            sandbox_client(sb) as tc,
        ):
            result = await run_campaign(journal, tc, concurrency=4, await_outcomes=10)
            entries = {e.key: e async for e in journal.entries()}
            earlier = await journal.attempts(list(entries))
            for _ in range(100):  # the last attempts' webhooks come after the run: at most 5 s
                outcomes = await journal.outcomes(list(entries))
                if len(outcomes) == len(entries):
                    break
                await asyncio.sleep(0.05)
    assert result.exit_status is ExitStatus.OK, result
    assert result.counts[State.PLACED] == len(MISSED) + len(ANSWERED)
    for i, n in enumerate(MISSED):
        times = calls_to(sb, n)
        assert len(times) == 3, (n, times)  # never more than the attempts, despite the resent cdrs
        assert all(b - a >= delay for a, b in zip(times, times[1:], strict=False)), times  # never before the delay
        key = f"k{i}"
        assert entries[key].attempts == 3
        assert [(a.attempt, a.answered) for a in earlier[key]] == [(1, False), (2, False)]
        request_ids = [a.request_id for a in earlier[key]] + [entries[key].request_id]
        assert len(set(request_ids)) == 3 and None not in request_ids  # each attempt its own call
        assert outcomes[key].answered is False and outcomes[key].request_id == entries[key].request_id
    for i, n in enumerate(ANSWERED, start=len(MISSED)):
        assert len(calls_to(sb, n)) == 1  # never again after an answered call
        assert entries[f"k{i}"].attempts == 1 and f"k{i}" not in earlier


async def test_without_redials_a_missed_row_is_dialed_once(target: str, tmp_path: Path) -> None:
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", MISSED))
    async with await AsyncJournal.open(target, campaign) as journal, listener(journal) as url:
        async with (
            Sandbox(outcomes=plan(), telecmi_webhook_url=url, cdr_resend_schedule=FAST_RESENDS) as sb,
            sandbox_client(sb) as tc,
        ):
            result = await run_campaign(journal, tc, concurrency=4, await_outcomes=2)
    assert result.exit_status is ExitStatus.OK
    assert all(len(calls_to(sb, n)) == 1 for n in MISSED)


def test_bad_redial_options_are_usage_errors(tmp_path: Path) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", MISSED)
    for args, flag in (
        (["--retry", "missed=30m"], "--max-attempts"),
        (["--max-attempts", "3"], "--retry"),
        (["--max-attempts", "3", "--retry", "answered=1m"], "--retry"),
        (["--max-attempts", "3", "--retry", "missed=soon"], "--retry"),
        (["--max-attempts", "3", "--retry", "missed=1m", "--retry", "missed=2m"], "--retry"),
        (["--max-attempts", "99", "--retry", "missed=1m"], "--max-attempts"),
    ):
        code, out = invoke("dial", str(csv_path), "--journal", str(tmp_path / "c.db"), "--sandbox", *args)
        assert code == ExitStatus.USAGE and flag in out, (args, out)
    assert not (tmp_path / "c.db").exists()


@pytest.mark.slow
def test_a_worker_killed_while_a_redial_waits_leaves_it_to_the_next_run_once(tmp_path: Path) -> None:
    port = free_port()
    outcomes = plan()
    csv_path = write_campaign(tmp_path / "c.csv", MISSED[:2] + ANSWERED[:2])
    db = tmp_path / "c.db"
    args = ["--listen", f"127.0.0.1:{port}", "--max-attempts", "2", "--retry", "missed=3s", "--listen-after", "30"]
    with SyncSandbox(
        outcomes=outcomes, telecmi_webhook_url=f"http://127.0.0.1:{port}/telecmi", cdr_resend_schedule=FAST_RESENDS
    ) as sb:
        env = {**os.environ, **env_for(sb), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "voicekit", "dial", str(csv_path), "--journal", str(db), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            waiting = 0
            for _ in range(300):  # at most 15 s: until both missed rows wait for their redial
                time.sleep(0.05)
                if db.exists():
                    with contextlib.suppress(Exception), Journal.read(db) as journal:
                        waiting = journal.waiting().rows
                if waiting == 2:
                    break
            assert waiting == 2
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert all(len(calls_to(sb, n)) == 1 for n in MISSED[:2])  # killed before the redials
        code, out = invoke("dial", str(csv_path), "--journal", str(db), *args[2:6], env=env_for(sb))
        assert code == ExitStatus.OK, out
        for n in MISSED[:2]:
            times = calls_to(sb, n)
            assert len(times) == 2 and times[1] - times[0] >= 3.0, times
        assert all(len(calls_to(sb, n)) == 1 for n in ANSWERED[:2])
        code, out = invoke("dial", "report", str(db), "--json")
        assert code == 0 and out.count('"attempts": 2') == 2 and out.count('"attempts": 1') == 2, out


@pytest.mark.slow
@pytest.mark.postgres
async def test_four_workers_redial_each_missed_row_once_per_attempt(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Four workers on one PostgreSQL campaign, one listener writing the webhooks (as `dial
    # listen` does, from its own connection): every missed number gets exactly its attempts,
    # none twice at once, and every answered number one call.
    missed = [919100000000 + i for i in range(12)]
    answered = [919100000100 + i for i in range(12)]
    outcomes = OutcomePlan(answer_rate=1.0, ring=0)
    for n in missed:
        outcomes.set(n, answer=False)
    target = journal_target("postgres", tmp_path, request)
    policy = Policy(max_attempts=3, retry={"missed": 0.3})
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", missed + answered), policy=policy)
    async with await AsyncJournal.open(target, campaign) as first:
        await first.load(read_campaign(tmp_path / "c.csv"))
    async with await AsyncJournal.read(target) as reader, listener(reader) as url:
        async with Sandbox(outcomes=outcomes, telecmi_webhook_url=url, cdr_resend_schedule=FAST_RESENDS) as sb:

            async def worker() -> ExitStatus:
                async with (
                    sandbox_client(sb) as tc,
                    await AsyncJournal.open(target, campaign, lease=5) as journal,
                ):
                    return (await run_campaign(journal, tc, concurrency=2, await_outcomes=10)).exit_status

            statuses = await asyncio.gather(*(worker() for _ in range(4)))
    assert statuses == [ExitStatus.OK] * 4
    for n in missed:
        times = calls_to(sb, n)
        assert len(times) == 3, (n, times)
        assert all(b - a >= 0.3 for a, b in zip(times, times[1:], strict=False)), times
    for n in answered:
        assert len(calls_to(sb, n)) == 1, n


@pytest.mark.slow
async def test_an_unknown_row_is_never_redialed(target: str, tmp_path: Path) -> None:
    # Its call may or may not have happened, and no outcome says it was missed: no redial.
    policy = Policy(max_attempts=3, retry={"missed": 0.2})
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", MISSED[:1]), policy=policy)
    async with await AsyncJournal.open(target, campaign) as journal:
        async with (
            Sandbox(outcomes=plan()) as sb,  # no webhooks reach the journal
            sandbox_client(sb) as tc,
        ):
            sb.faults.add(MAKE_CALL, status=503, count=1)  # placed, then 503: unknown
            first = await run_campaign(journal, tc, concurrency=1, await_outcomes=1)
            second = await run_campaign(journal, tc, concurrency=1, await_outcomes=1)
    assert first.counts[State.UNKNOWN] == 1 and second.counts[State.UNKNOWN] == 1
    assert len(calls_to(sb, MISSED[0])) == 1


async def test_reconcile_tells_a_redial_from_the_call_before_it(target: str, tmp_path: Path) -> None:
    # The first call was missed and the row dialed again; the second call's answer was lost (a
    # 503 after placing it): unknown. The vendor's records list both calls to the number, in the
    # row's window; the first is the row's earlier attempt (its request id is kept), so the
    # second is the one record that can be this call's.
    policy = Policy(max_attempts=2, retry={"missed": 1.5})  # the vendor tells a call's start to the second
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", MISSED[:1]), policy=policy)
    async with await AsyncJournal.open(target, campaign) as journal, listener(journal) as url:
        async with (
            Sandbox(outcomes=plan(), telecmi_webhook_url=url, cdr_resend_schedule=FAST_RESENDS) as sb,
            sandbox_client(sb) as tc,
        ):
            faulted: list[bool] = []

            def fault_the_redial(waiting: Waiting) -> None:
                # The first call was missed and its redial waits: the second call will be placed,
                # then answered 503, and its webhooks lost: the records are all there is.
                if waiting.rows and not faulted:
                    faulted.append(True)
                    sb.faults.add(MAKE_CALL, status=503, count=1)
                    sb.telecmi_webhook_url = None

            result = await run_campaign(journal, tc, concurrency=1, await_outcomes=5, on_wait=fault_the_redial)
            assert result.counts[State.UNKNOWN] == 1 and len(calls_to(sb, MISSED[0])) == 2
            report = await reconcile(journal, tc, settle=0, now=time.time() + CLOCK_SKEW + 1)
            entry = await journal.get("k0")
    assert report.left == 0 and report.from_records == 1, report
    assert entry is not None and entry.state is State.PLACED and entry.attempts == 2
    assert len(calls_to(sb, MISSED[0])) == 2
