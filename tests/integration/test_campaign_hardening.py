"""Campaigns at the edges real deployments hit first: two campaigns on one account and one
webhook URL, a vendor whose clock is minutes off (or that queues calls), a vendor that serves
fewer records per page than asked, exit statuses an orchestrator can trust, a listener started
before its journal, and failed rows dialed again on purpose."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._cli import (
    MAKE_CALL,
    env_for,
    free_port,
    invoke,
    ledger,
    summary,
    voicekit_process,
    wait_for,
    wait_listening,
    write_campaign,
)
from tests._journal import FakeVendor, journal_target
from tests._paths import ROOT
from tests._servers import PostgresServer
from voicekit import AsyncTeleCMI, ExitStatus, Outcome
from voicekit.journal import (
    CLOCK_SKEW,
    AsyncJournal,
    Campaign,
    Journal,
    RunResult,
    RunStart,
    State,
    StopReason,
    read_campaign,
    reconcile,
    run_campaign,
)
from voicekit.sandbox import OutcomePlan, Sandbox, SyncSandbox
from voicekit.telecmi import CallResult, Dial

FAST = (0.0, 0.01, 0.02, 0.03)  # the documented cdr resend schedule, compressed


@pytest.fixture
def sb() -> Iterator[SyncSandbox]:
    with SyncSandbox() as sandbox:
        yield sandbox


def post(port: int, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telecmi", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# -- two campaigns, one account, one webhook URL --------------------------------------------------


def test_a_campaigns_webhooks_never_move_another_campaigns_rows(tmp_path: Path, sb: SyncSandbox) -> None:
    # Keys default to row numbers: both campaigns have rows "2" to "21". The account's one
    # webhook URL is campaign B's listener; campaign A dials first, so B hears all of A's cdrs.
    a_csv = write_campaign(tmp_path / "a.csv", [9100000000 + i for i in range(20)], keys=False)
    b_csv = write_campaign(tmp_path / "b.csv", [9100000100 + i for i in range(20)], keys=False)
    with Journal.open(tmp_path / "b.db", Campaign.from_file(b_csv)) as b:
        b.load(read_campaign(b_csv))
    port = free_port()
    sb.outcomes = OutcomePlan(answer_rate=0.5, seed=11)
    sb.telecmi_webhook_url = f"http://127.0.0.1:{port}/telecmi"
    sb.cdr_resend_schedule = FAST
    with voicekit_process("dial", "listen", str(tmp_path / "b.db"), "--listen", f"127.0.0.1:{port}") as listener:
        wait_listening(port)
        code, out = invoke("dial", str(a_csv), "--journal", str(tmp_path / "a.db"), "--rate", "0", env=env_for(sb))
        assert code == 0 and summary(out) == (20, 0, 0, 0), out
        wait_for(lambda: sum(1 for w in sb.telecmi_webhooks if w.payload.get("type") == "cdr") >= 20, "A's cdrs")
    assert "wrote 0 outcome(s)" in listener.out, listener.out + listener.err
    with Journal.read(tmp_path / "b.db") as b:
        assert {e.state for e in b.entries()} == {State.PENDING}  # A's outcomes wrote nothing here
        assert b.outcome_counts() == {"answered": 0, "missed": 0, "awaiting": 0}
    code, out = invoke("dial", str(b_csv), "--journal", str(tmp_path / "b.db"), "--rate", "0", env=env_for(sb))
    assert code == 0 and summary(out) == (20, 0, 0, 0), out
    assert ledger(sb) == Counter(
        {str(9100000000 + i): 1 for i in range(20)} | {str(9100000100 + i): 1 for i in range(20)}
    )


@pytest.mark.slow
async def test_two_campaigns_in_one_database_run_at_once_and_never_cross(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.fresh_database("two_campaigns")
    # The same numbers in both: only the campaign's id tells their calls apart.
    numbers = [9100000000 + i for i in range(60)]
    spring = Campaign.from_file(write_campaign(tmp_path / "spring.csv", numbers))
    autumn = Campaign.from_file(write_campaign(tmp_path / "autumn.csv", numbers[::-1]))
    vendors = {name: FakeVendor(delay=0.002) for name in ("spring", "autumn")}

    async def worker(campaign: Campaign) -> RunResult:
        async with await AsyncJournal.open(url, campaign) as journal:
            return await run_campaign(journal, vendors[campaign.name].many(4), concurrency=4)

    results = await asyncio.gather(*(worker(c) for c in (spring, autumn, spring, autumn)))
    assert [r.exit_status for r in results] == [ExitStatus.OK] * 4
    code, out = await asyncio.to_thread(invoke, "dial", "campaigns", url, "--json")
    listed = {c["name"]: c for c in json.loads(out)["campaigns"]}
    assert code == 0 and set(listed) == {"spring", "autumn"}
    assert all(c["counts"]["placed"] == 60 and c["total"] == 60 for c in listed.values())
    assert listed["spring"]["id"] != listed["autumn"]["id"]
    for name, vendor in vendors.items():
        assert vendor.sent == Counter({f"k{i}": 1 for i in range(60)}), name  # each key once, per campaign
        assert {spec.campaign for spec in vendor.specs} == {listed[name]["id"]}


# -- reconcile: a vendor's clock minutes off, queued calls, pages capped at 20 ----------------------


@pytest.mark.parametrize("offset", [-180.0, 300.0])
async def test_reconcile_finds_calls_minutes_off_and_rings_nobody_twice(tmp_path: Path, offset: float) -> None:
    # The vendor's clock runs `offset` seconds off ours (or it queued every call that long before
    # dialing it): each record's time is that far from the row's send. It serves 20 records a
    # page, whatever is asked. Its webhooks are lost: the records are all reconcile has.
    numbers = [9100000000 + i for i in range(40)]
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", numbers))
    async with (
        Sandbox(clock=lambda: time.time() + offset, page_cap=20) as sb,
        AsyncTeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, rate_limit=None
        ) as tc,
        await AsyncJournal.open(tmp_path / "c.db", campaign) as journal,
    ):
        sb.faults.add(MAKE_CALL, status=503, count=4)  # placed, then 503: unknown
        sb.faults.add(MAKE_CALL, status=500, placed=False, count=3)  # nothing placed: unknown
        first = await run_campaign(journal, tc, concurrency=4)
        assert first.counts[State.UNKNOWN] == 7 and first.exit_status is ExitStatus.UNKNOWN

        early = await reconcile(journal, tc, settle=60)  # the window is still open: nobody is requeued
        assert early.requeued == 0 and early.from_records == 4 and len(early.waiting) == 3
        report = await reconcile(journal, tc, settle=60, now=time.time() + 60 + CLOCK_SKEW + 5)
        assert report.requeued == 3 and report.left == 0, report

        second = await run_campaign(journal, tc, concurrency=4)
        assert second.exit_status is ExitStatus.OK and second.counts[State.PLACED] == 40
        dialed = Counter(call.to for call in sb.calls if call.endpoint == MAKE_CALL)
    assert dialed == Counter({str(n): 1 for n in numbers})


async def test_two_records_in_a_rows_window_leave_it_unknown_with_the_reason(tmp_path: Path) -> None:
    numbers = [9100000000, 9100000001]
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", numbers))
    async with (
        Sandbox() as sb,
        AsyncTeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, rate_limit=None
        ) as tc,
        await AsyncJournal.open(tmp_path / "c.db", campaign) as journal,
    ):
        sb.faults.add(MAKE_CALL, status=503, count=1)
        await run_campaign(journal, tc, concurrency=1)
        unknown = [e.key async for e in journal.entries([State.UNKNOWN])]
        assert len(unknown) == 1
        row = (await journal.numbers(unknown))[unknown[0]]
        # Another call to that number, outside the campaign, within the row's window.
        await tc.play_music(from_=19170000000, to=row, file_name="welcome.wav")
        report = await reconcile(journal, tc, settle=0, now=time.time() + CLOCK_SKEW + 1)
        assert report.left == 1 and "2 vendor records match" in report.ambiguous[0][1]
        assert (await journal.get(unknown[0])).state is State.UNKNOWN  # type: ignore[union-attr]


# -- exit statuses --------------------------------------------------------------------------------


def result(counts: dict[State, int], **kw: Any) -> RunResult:
    full = dict.fromkeys(State, 0) | counts
    start = RunStart(
        fresh=True, recovered=0, requeued=0, redialed_unknown=0, redialed_failed={}, problems=0, counts=full
    )
    return RunResult(start=start, counts=full, **kw)


def stop(transient: bool) -> StopReason:
    return StopReason(kind="x", message="m", advice="a", transient=transient)


@pytest.mark.parametrize(
    ("run", "status"),
    [
        (result({State.PLACED: 5}), ExitStatus.OK),
        # A worker of a shared campaign with nothing left: its peers hold or send the rest.
        (result({State.PLACED: 3, State.PENDING: 1, State.SENDING: 1}, elsewhere=(1, 1)), ExitStatus.OK),
        (result({State.PLACED: 3, State.PENDING: 2}, undialed=2), ExitStatus.STOPPED),  # rows nobody holds
        (result({State.PLACED: 3, State.PENDING: 2}, undialed=1, elsewhere=(1, 0)), ExitStatus.STOPPED),
        (result({State.PLACED: 3, State.UNKNOWN: 1, State.PENDING: 2}, undialed=2), ExitStatus.STOPPED),
        (result({State.PLACED: 3, State.FAILED: 2}), ExitStatus.FAILED_ROWS),
        (result({State.PLACED: 3, State.FAILED: 1, State.UNKNOWN: 1}), ExitStatus.UNKNOWN),
        (result({State.PLACED: 3}, stopped=stop(True)), ExitStatus.STOPPED),
        (result({State.PLACED: 3}, stopped=stop(False)), ExitStatus.CONFIGURATION),
        (result({State.PENDING: 3}, interrupted=True), ExitStatus.INTERRUPTED),
    ],
)
def test_one_exit_status_per_way_a_run_ends(run: RunResult, status: ExitStatus) -> None:
    assert run.exit_status is status


def test_every_exit_status_is_in_the_help_and_the_guide() -> None:
    code, out = invoke("dial", "--help")
    guide = (ROOT / "docs" / "guides" / "operations.md").read_text(encoding="utf-8")
    assert code == 0
    for status in ExitStatus:
        assert f"  {int(status):<4} " in out, status
        assert f"| {int(status)} |" in guide, status


@pytest.mark.postgres
async def test_a_worker_that_finds_nothing_left_while_a_peer_still_sends_is_done(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = journal_target("postgres", tmp_path, request)
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", [9100000000 + i for i in range(30)]))
    busy = await AsyncJournal.open(url, campaign)
    try:
        await busy.load(read_campaign(campaign.path))
        held = [spec.key for spec in await busy.reserve(5)]
        assert await busy.claim(held) == set(held)  # five calls in flight at a peer
        async with await AsyncJournal.open(url, campaign) as journal:
            done = await run_campaign(journal, FakeVendor().many(4), concurrency=4)
        assert done.counts[State.SENDING] == 5 and done.elsewhere == (0, 5)
        assert done.exit_status is ExitStatus.OK  # not "stopped early": nothing is left for it
        await busy.record([Outcome(key=k, result=CallResult(request_id=k, status="progress")) for k in held])
    finally:
        await busy.aclose()


async def test_a_lost_lease_stops_the_run_as_a_fault_that_may_pass(tmp_path: Path, postgres: PostgresServer) -> None:
    url = postgres.fresh_database("lease_lost")
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", [9100000000 + i for i in range(200)]))
    async with await AsyncJournal.open(url, campaign, lease=30) as journal:

        def expire() -> None:
            with postgres.admin("lease_lost") as conn:
                conn.execute(  # type: ignore[attr-defined]
                    "UPDATE voicekit_workers SET expires = extract(epoch FROM now()) - 1 WHERE id = %s",
                    (journal.worker,),
                )

        class Stalled(FakeVendor):
            async def on_sent(self, spec: Dial) -> None:
                if len(self.sent) == 20:  # the worker falls silent past its lease (the database decides)
                    await asyncio.to_thread(expire)  # off the loop: the worker's transactions go on

        vendor = Stalled()
        ended = await run_campaign(journal, vendor.many(4), concurrency=4)
    assert ended.stopped is not None and ended.stopped.kind == "lease"
    assert ended.exit_status is ExitStatus.STOPPED
    assert 20 <= sum(vendor.sent.values()) < 200  # it stopped, and sent nothing after noticing


@pytest.mark.slow
def test_a_database_away_past_the_reconnect_window_stops_with_the_resume_command(
    tmp_path: Path, postgres: PostgresServer, sb: SyncSandbox
) -> None:
    url = postgres.fresh_database("db_away")
    csv_path = write_campaign(tmp_path / "c.csv", [9100000000 + i for i in range(400)])
    sb.latency = 0.02
    args = ("dial", str(csv_path), "--journal", url, "--rate", "0", "--concurrency", "4", "--reconnect", "1")
    with voicekit_process(*args, env=env_for(sb)) as proc:
        wait_for(lambda: len(sb.calls) >= 20, "the run dialing")
        postgres.stop("immediate")
        try:
            proc.wait(60)
        finally:
            postgres.start()
    out, err = proc.out, proc.err
    assert proc.returncode == ExitStatus.STOPPED, out + err
    assert "resume with" in err and "--reconnect 1" in err, err
    assert "error connecting in" not in out + err  # the driver's own log lines stay out of the output
    assert "Traceback" not in out + err


# -- a listener started before its journal ----------------------------------------------------------


@pytest.mark.slow
def test_dial_listen_started_before_the_campaign_waits_for_it(tmp_path: Path, sb: SyncSandbox) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", [9100000000 + i for i in range(10)])
    db = tmp_path / "c.db"
    port = free_port()
    with voicekit_process("dial", "listen", str(db), "--listen", f"127.0.0.1:{port}") as listener:
        wait_listening(port)
        early = {"type": "cdr", "cmiuuid": "u-early", "status": "missed", "to": "9100000000"}
        assert post(port, early) == 503  # not there yet: the vendor sends it again later
        assert not db.exists()
        sb.outcomes = OutcomePlan(answer_rate=1.0, seed=2)
        sb.telecmi_webhook_url = f"http://127.0.0.1:{port}/telecmi"
        sb.cdr_resend_schedule = (0.0, 0.2, 0.5, 1.0, 2.0)
        code, out = invoke("dial", str(csv_path), "--journal", str(db), "--rate", "0", env=env_for(sb))
        assert code == 0, out
        wait_for(lambda: Journal.read(db).outcome_counts()["answered"] == 10, "every call's outcome written", 30)
    heard = listener.out + listener.err
    assert "waiting for the campaign's journal" in heard and "wrote 10 outcome(s)" in heard, heard


# -- failed rows dialed again on purpose --------------------------------------------------------------


def test_redial_failed_says_what_it_redials_and_dials_each_once(tmp_path: Path, sb: SyncSandbox) -> None:
    numbers = [9100000000 + i for i in range(6)]
    csv_path = tmp_path / "c.csv"
    csv_path.write_text(
        "key,to,from,file_name\n"
        + "".join(f"k{i},{n},19170000000,{'jingle.wav' if i < 3 else 'welcome.wav'}\n" for i, n in enumerate(numbers)),
        encoding="utf-8",
    )
    db = str(tmp_path / "c.db")
    code, out = invoke("dial", str(csv_path), "--journal", db, "--rate", "0", env=env_for(sb))
    assert code == ExitStatus.FAILED_ROWS and summary(out) == (3, 3, 0, 0), out  # jingle.wav not uploaded yet
    code, out = invoke("dial", str(csv_path), "--journal", db, "--rate", "0", env=env_for(sb))
    assert code == ExitStatus.FAILED_ROWS and len(sb.calls) == 3, out  # a failure is final unless asked
    sb.music_files.add("jingle.wav")  # uploaded at last
    code, out = invoke(
        "dial", str(csv_path), "--journal", db, "--rate", "0", "--redial-failed", "InvalidRequestError", env=env_for(sb)
    )
    assert "--redial-failed: no failed row matches" in out and len(sb.calls) == 3, out
    code, out = invoke("dial", str(csv_path), "--journal", db, "--rate", "0", "--redial-failed", env=env_for(sb))
    assert code == ExitStatus.OK, out
    assert "3 failed row(s) are dialed again, as --redial-failed asks (NotFoundError: 3)" in out, out
    assert ledger(sb) == Counter({str(n): 1 for n in numbers})
