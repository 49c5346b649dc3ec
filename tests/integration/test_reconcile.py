"""A campaign's outcomes and its reconciliation, end to end on the sandbox.

The sandbox is the vendor: its outcome plan decides each call, it POSTs the webhooks (some of
which the receiver here "loses"), writes the call records, and its fault plan leaves rows
unknown both ways (placed, then 503 or a dropped connection; 500 before anything was placed).
Its ledger says what was really dialed.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from voicekit import AsyncHuaweiVoice, AsyncTeleCMI, Outcome, RetryPolicy
from voicekit.errors import CallOutcomeUnknownError, ServerError, VoiceKitError
from voicekit.journal import (
    CLOCK_SKEW,
    AsyncPostgresJournal,
    AsyncStore,
    CallOutcome,
    Campaign,
    Journal,
    OutcomeReceiver,
    OutcomeWriter,
    PostgresJournal,
    State,
    Store,
    as_async,
    journaled,
    outcome_app,
    read_campaign,
    reconcile,
)
from voicekit.sandbox import OutcomePlan, Sandbox

MAKE_CALL = "/v2/global_pcmo_make_call"
NOTIFY = "/apiaccess/rest/voiceNotification/v2/createVoiceNotification"
FAST = (0.0, 0.01, 0.02, 0.03)  # the documented cdr resend schedule, compressed
ROWS = 300
_names = itertools.count()
#: Keeps a journal to close at the test's end.
Opener = Callable[[Any], Any]


def number(i: int) -> str:
    return str(9100000000 + i)


def write_campaign(path: Path, rows: int = ROWS, *, repeat: dict[int, int] | None = None) -> Path:
    """`rows` rows k0.. to distinct numbers (row i dials number(repeat[i]) instead, if given)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "to", "from", "file_name", "extra_params"])
        for i in range(rows):
            extra = json.dumps({"crm": i}) if i % 2 else ""
            writer.writerow([f"k{i}", number((repeat or {}).get(i, i)), "19170000000", "welcome.wav", extra])
    return path


def write_notify_campaign(path: Path, callback_url: str, rows: int = 30) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "called", "voice_id", "callback_url"])
        for i in range(rows):
            writer.writerow([f"h{i}", number(i), "100001", callback_url])
    return path


@pytest.fixture
def opened() -> Iterator[Callable[[Any], Any]]:
    """Closes the journals a test opened, also when it fails."""
    journals: list[Any] = []

    def keep(journal: Any) -> Any:
        journals.append(journal)
        return journal

    yield keep
    for journal in journals:
        journal.close()


@asynccontextmanager
async def serve(app: web.Application, port: int = 0) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def lossy_app(receiver: OutcomeReceiver, lost: Callable[[dict[str, Any]], bool]) -> web.Application:
    """The campaign's receiver behind a network that loses the webhooks `lost` picks (503)."""
    app = web.Application()

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if lost(json.loads(body)):
            return web.json_response({}, status=503)
        reply = await receiver.telecmi(body)
        return web.Response(text=reply.body, status=reply.status, content_type="application/json")

    app.router.add_post("/telecmi", handle)
    return app


async def dial(
    journal: Journal | PostgresJournal, campaign_csv: Path, tc: AsyncTeleCMI, *, url: str | None = None
) -> Counter[str]:
    """One run of the campaign, as `voicekit dial` runs it; the count of each kind of outcome.
    On PostgreSQL (`url`), as a worker of its own on this loop, with its async store."""
    if url is not None:
        async with await AsyncPostgresJournal.open(url, journal.campaign) as worker:
            return await _dial(worker, worker.specs(16), campaign_csv, tc)
    specs = (row.spec for row in read_campaign(campaign_csv) if row.spec is not None)
    return await _dial(journal, specs, campaign_csv, tc)


async def _dial(journal: Store | AsyncStore, specs: Any, campaign_csv: Path, tc: AsyncTeleCMI) -> Counter[str]:
    store = as_async(journal)
    await store.recover()
    await store.requeue(retryable=True)
    if not await store.is_loaded():
        await store.load(read_campaign(campaign_csv))
    kinds: Counter[str] = Counter()
    outcomes = journaled(journal, specs, lambda s, before: tc.dial_many(s, concurrency=16, before_send=before))
    async with aclosing(outcomes) as stream:
        async for outcome in stream:
            kinds["placed" if outcome.ok else "unknown" if outcome.unknown else "failed"] += 1
    return kinds


async def settled(predicate: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait (polling every 20 ms, for at most `seconds`) until `predicate` holds."""
    for _ in range(int(seconds * 50)):
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not settled in time")


def quiet(sb: Sandbox) -> Callable[[], Awaitable[bool]]:
    """True once no webhook delivery is left: every ended call's cdr was delivered or given up."""
    last = [-1]

    async def check() -> bool:
        n = len(sb.telecmi_webhooks)
        done = n == last[0]
        last[0] = n
        await asyncio.sleep(0.1)
        return done and len(sb.telecmi_webhooks) == n

    return check


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
@pytest.mark.slow
async def test_a_faulted_campaign_reconciles_to_zero_unknown_and_every_number_is_dialed_once(
    tmp_path: Path,
    opened: Opener,
    store: str,
    request: pytest.FixtureRequest,
) -> None:
    csv_path = write_campaign(tmp_path / "calls.csv")
    # Half the numbers' webhooks are lost: among the 24 rows placed-then-faulted, some (all but
    # with odds of 2**-24) have theirs lost and are found in the records.
    lost_numbers = {number(i) for i in range(ROWS) if i % 2 == 0}
    plan = OutcomePlan(answer_rate=0.6, seed=7)
    campaign = Campaign.from_file(csv_path)
    pg_url = None
    if store == "postgres":
        pg_url = request.getfixturevalue("postgres").fresh_database(f"rec{next(_names)}")
        journal: Any = opened(PostgresJournal.open(pg_url, campaign))
    else:
        journal = opened(Journal.open(tmp_path / "calls.db", campaign))
    async with (
        OutcomeWriter(journal) as writer,
        serve(lossy_app(OutcomeReceiver(writer), lambda p: str(p.get("to")) in lost_numbers)) as url,
        Sandbox(outcomes=plan, telecmi_webhook_url=url + "/telecmi", cdr_resend_schedule=FAST) as sb,
        AsyncTeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, rate_limit=None
        ) as tc,
    ):
        sb.faults.add(MAKE_CALL, status=503, count=12)  # placed, then 503
        sb.faults.add(MAKE_CALL, drop=True, count=12)  # placed, then no answer
        sb.faults.add(MAKE_CALL, status=500, placed=False, count=12)  # 500, nothing placed
        first = await dial(journal, csv_path, tc, url=pg_url)
        assert first["unknown"] == 36
        assert first["placed"] == ROWS - 36
        await settled(quiet(sb))

        report = await reconcile(journal, tc, settle=0, skew=0)
        counts = journal.counts()
        assert counts[State.UNKNOWN] == 0, report
        # The webhooks that arrived placed their rows already (or left them to reconcile's
        # first step when they came while the row was being sent).
        assert report.requeued == 12  # the 500s: the vendor has no record of them
        assert report.unknown == 12 + report.from_outcomes + report.from_records
        assert report.from_records >= 1  # their webhooks were lost
        assert report.filled >= 1  # placed rows whose webhook was lost
        assert counts[State.PENDING] == 12
        not_placed = {e.key for e in journal.entries([State.PENDING])}

        before = Counter(call.to for call in sb.calls if call.endpoint == MAKE_CALL)
        second = await dial(journal, csv_path, tc, url=pg_url)
        assert second == Counter(placed=12)
        redialed = Counter(call.to for call in sb.calls if call.endpoint == MAKE_CALL) - before
        assert set(redialed) == {number(int(key[1:])) for key in not_placed}
        await settled(quiet(sb))
        await reconcile(journal, tc, settle=0, skew=0)  # the lost webhooks of the second run

        ledger = Counter(call.to for call in sb.calls if call.endpoint == MAKE_CALL)
        assert ledger == Counter({number(i): 1 for i in range(ROWS)})
        assert all(
            json.loads(call.extra_params)["voicekit_key"] == f"k{int(call.to) - 9100000000}"
            if isinstance(call.extra_params, str)
            else call.extra_params["voicekit_key"] == f"k{int(call.to) - 9100000000}"
            for call in sb.calls
        )
        decided = {live.call.to: live for live in sb.ended_calls.values()}
        outcomes = journal.outcomes([f"k{i}" for i in range(ROWS)])
        assert len(outcomes) == ROWS
        for i in range(ROWS):
            got, live = outcomes[f"k{i}"], decided[number(i)]
            assert got.answered == live.decision.answered, i
            assert got.billed_seconds == (round(live.decision.talk) if live.decision.answered else 0), i
        assert journal.counts()[State.PLACED] == ROWS
        assert journal.numbers(["k1", "k299", "nope"]) == {"k1": number(1), "k299": number(299)}
        assert journal.outcome_counts() == {
            "answered": sum(live.decision.answered for live in decided.values()),
            "missed": sum(not live.decision.answered for live in decided.values()),
            "awaiting": 0,
        }


async def test_a_number_dialed_twice_stays_unknown_with_the_reason(tmp_path: Path, opened: Opener) -> None:
    csv_path = write_campaign(tmp_path / "calls.csv", rows=4, repeat={3: 0})  # k3 dials k0's number
    journal = opened(Journal.open(tmp_path / "calls.db", Campaign.from_file(csv_path)))
    async with (
        Sandbox() as sb,
        AsyncTeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, rate_limit=None
        ) as tc,
    ):
        journal.load(read_campaign(csv_path))
        specs = [row.spec for row in read_campaign(csv_path) if row.spec is not None]
        sb.faults.add(MAKE_CALL, status=503, count=1)
        # k3 alone first (placed, then 503), then the others.
        outcomes = journaled(
            journal, [specs[3], *specs[:3]], lambda s, before: tc.dial_many(s, concurrency=1, before_send=before)
        )
        async with aclosing(outcomes) as stream:
            async for _ in stream:
                pass
        assert journal.get("k3").state is State.UNKNOWN  # type: ignore[union-attr]
        # The default clock-skew allowance: both calls to the number fall in k3's window.
        report = await reconcile(journal, tc, settle=0, now=time.time() + CLOCK_SKEW + 1)
        entry = journal.get("k3")
        assert entry is not None and entry.state is State.UNKNOWN
        assert report.ambiguous and report.ambiguous[0][0] == "k3"
        # Both calls to the number are in k3's window, and k0 dials it too: either way, ambiguous.
        assert report.ambiguous[0][1].startswith("ambiguous")
        assert entry.error_type == "Unreconciled" and (entry.error or "").startswith("ambiguous")
        assert journal.get("k0").state is State.PLACED  # type: ignore[union-attr]


async def test_no_record_yet_keeps_the_row_unknown_until_it_settles(tmp_path: Path, opened: Opener) -> None:
    csv_path = write_campaign(tmp_path / "calls.csv", rows=3)
    journal = opened(Journal.open(tmp_path / "calls.db", Campaign.from_file(csv_path)))
    async with (
        Sandbox() as sb,
        AsyncTeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, rate_limit=None
        ) as tc,
    ):
        sb.faults.add(MAKE_CALL, status=500, placed=False, count=1)
        assert (await dial(journal, csv_path, tc))["unknown"] == 1
        report = await reconcile(journal, tc, settle=3600)
        assert report.requeued == 0 and len(report.waiting) == 1
        assert journal.counts()[State.UNKNOWN] == 1
        report = await reconcile(journal, tc, settle=0, skew=0)
        assert report.requeued == 1
        assert journal.counts()[State.PENDING] == 1


async def test_a_vendor_failing_mid_paging_leaves_every_row_untouched(tmp_path: Path, opened: Opener) -> None:
    csv_path = write_campaign(tmp_path / "calls.csv", rows=40)
    journal = opened(Journal.open(tmp_path / "calls.db", Campaign.from_file(csv_path)))
    async with (
        Sandbox() as sb,
        AsyncTeleCMI(
            appid=sb.telecmi_appid,
            secret=sb.telecmi_secret,
            base_url=sb.url,
            piopiy_url=sb.url,
            rate_limit=None,
            retry=RetryPolicy(attempts=2, initial=0, max_delay=0),
        ) as tc,
    ):
        sb.faults.add(MAKE_CALL, status=503, count=5)
        sb.faults.add(MAKE_CALL, status=500, placed=False, count=5)
        assert (await dial(journal, csv_path, tc))["unknown"] == 10
        before = [(e.key, e.state, e.error) for e in journal.entries()]
        # The first page answers (late by a millisecond); every later page fails, beyond
        # the client's retries.
        for path in ("/v1/outanswered", "/v1/outmissed"):
            sb.faults.add(path, stall=0.001, count=1)
            sb.faults.add(path, status=500, count=1000)
        with pytest.raises(VoiceKitError):
            await reconcile(journal, tc, settle=0, page_size=5)
        assert [(e.key, e.state, e.error) for e in journal.entries()] == before
        assert journal.outcome_counts()["answered"] == 0


async def test_webhook_outcomes_are_written_once_and_bad_ones_change_nothing(tmp_path: Path, opened: Opener) -> None:
    csv_path = write_campaign(tmp_path / "calls.csv", rows=3)
    journal = opened(Journal.open(tmp_path / "calls.db", Campaign.from_file(csv_path)))
    journal.load(read_campaign(csv_path))
    # k1's call may have been placed (a read timeout): its webhook tells.
    assert journal.claim(["k1"]) == {"k1"}
    journal.record([Outcome(key="k1", error=CallOutcomeUnknownError("timeout", endpoint="e", request={}))])
    async with OutcomeWriter(journal) as writer:
        receiver = OutcomeReceiver(writer)
        cdr = {
            "type": "cdr",
            "appid": 2222226,
            "direction": "outbound",
            "cmiuuid": "u-1",
            "leg": "a",
            "request_id": "r-1",
            "extra_params": json.dumps({"voicekit_key": "k1", "voicekit_campaign": journal.campaign_id}),
            "time": 1700000030000,
            "start_time": 1700000000,
            "answer_time": 1700000003,
            "end_time": 1700000030,
            "duration": 27,
            "billedsec": 27,
            "call_rate": "0.6",
            "status": "answered",
            "hangup_reason": "recv_bye",
            "from": "19170000000",
            "to": number(1),
        }
        for _ in range(3):  # the vendor resends
            assert (await receiver.telecmi(json.dumps(cdr).encode())).status == 200
        assert writer.written == 1 and writer.duplicates == 2
        entry = journal.get("k1")
        assert entry is not None and entry.state is State.PLACED and entry.request_id == "r-1"
        got = journal.outcomes(["k1"])["k1"]
        assert (got.answered, got.billed_seconds, got.rate, got.hangup_reason) == (True, 27, "0.6", "recv_bye")

        snapshot = [(e.key, e.state) for e in journal.entries()]
        hostile = [
            b"not json",
            b"[]",
            json.dumps({**cdr, "extra_params": "{not json"}).encode(),
            json.dumps({**cdr, "extra_params": json.dumps({"voicekit_key": 7})}).encode(),
            json.dumps({**cdr, "extra_params": json.dumps({"voicekit_key": "x" * 300})}).encode(),
            json.dumps({**cdr, "cmiuuid": None, "request_id": None}).encode(),
            json.dumps({**cdr, "time": "yesterday"}).encode(),
        ]
        for body in hostile:
            assert (await receiver.telecmi(body)).status == 400, body
        foreign = {
            **cdr,
            "cmiuuid": "u-9",
            "extra_params": json.dumps({"voicekit_key": "nope", "voicekit_campaign": journal.campaign_id}),
        }
        assert (await receiver.telecmi(json.dumps(foreign).encode())).status == 200
        assert writer.foreign == 1
        assert [(e.key, e.state) for e in journal.entries()] == snapshot
        assert set(journal.outcomes([e.key for e in journal.entries()])) == {"k1"}

        # Served over HTTP too: the aiohttp app answers the same.
        async with serve(outcome_app(receiver, "telecmi")) as url:
            import aiohttp

            async with aiohttp.ClientSession() as session:
                async with session.post(url + "/", data=b"{") as resp:
                    assert resp.status == 400
                async with session.post(url + "/telecmi", data=json.dumps(cdr).encode()) as resp:
                    assert resp.status == 200


def test_the_server_error_is_a_voicekit_error() -> None:
    # reconcile's failure test relies on it: a paging failure is raised as the tree's own error.
    assert issubclass(ServerError, VoiceKitError)


async def test_huawei_rows_reconcile_from_release_events_by_number_and_time(
    tmp_path: Path,
    opened: Opener,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    csv_path = write_notify_campaign(tmp_path / "notify.csv", f"http://127.0.0.1:{port}/huawei")
    journal = opened(Journal.open(tmp_path / "notify.db", Campaign.from_file(csv_path)))
    journal.load(read_campaign(csv_path))
    specs = [row.spec for row in read_campaign(csv_path) if row.spec is not None]
    async with (
        OutcomeWriter(journal) as outcomes,
        serve(outcome_app(OutcomeReceiver(outcomes), "huawei"), port=port),
        Sandbox(outcomes=OutcomePlan(answer_rate=0.5, seed=5), callback_delay=0.01) as sb,
        AsyncHuaweiVoice(
            base_url=sb.url, app_key=sb.huawei_app_key, app_secret=sb.huawei_app_secret, rate_limit=None
        ) as hw,
    ):
        sb.faults.add(NOTIFY, status=503, count=3)  # placed, then 503
        sb.faults.add(NOTIFY, status=500, placed=False, count=2)  # nothing placed
        stream = journaled(journal, specs, lambda s, before: hw.notify_many(s, concurrency=4, before_send=before))
        async with aclosing(stream) as results:
            kinds = Counter(["placed" if r.ok else "unknown" if r.unknown else "failed" async for r in results])
        assert kinds == Counter(placed=25, unknown=5)
        placed = [call for call in sb.calls if call.endpoint == NOTIFY]
        assert len(placed) == 28

        async def all_delivered() -> bool:
            return sum(1 for c in sb.callbacks if c.status == 200) == 28

        await settled(all_delivered)
        report = await reconcile(journal, hw, settle=0)
        assert report.unknown == 5 and report.from_records == 3 and report.requeued == 0
        left = {key for key, _ in report.ambiguous}
        assert len(left) == 2 and all("Huawei lists no call records" in why for _, why in report.ambiguous)
        dialed = {call.to for call in placed}
        assert {number(int(key[1:])) for key in left}.isdisjoint(dialed)  # exactly the two never placed
        assert journal.counts()[State.PLACED] == 28
        decided = {call.to: call for call in placed}
        got = journal.outcomes([f"h{i}" for i in range(30)])
        assert len(got) == 28 and journal.outcome_counts()["awaiting"] == 0
        for key, outcome in got.items():
            assert outcome.request_id == decided[number(int(key[1:]))].request_id


async def test_a_second_connection_writing_outcomes_while_a_run_dials_loses_nothing(
    tmp_path: Path,
    opened: Opener,
) -> None:
    csv_path = write_campaign(tmp_path / "calls.csv")
    journal = opened(Journal.open(tmp_path / "calls.db", Campaign.from_file(csv_path)))
    listener = opened(Journal.read(tmp_path / "calls.db"))  # as `voicekit dial listen` opens it
    events = [
        CallOutcome(vendor_id=f"huawei:s{i}", answered=i % 2 == 0, request_id=f"s{i}", number=number(i), time=1.0e9 + i)
        for i in range(2000)
    ]

    def listen() -> None:
        for start in range(0, len(events), 50):
            assert listener.add_outcomes(events[start : start + 50]).unmatched == 50

    async with (
        Sandbox() as sb,
        AsyncTeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, rate_limit=None
        ) as tc,
    ):
        results = await asyncio.gather(dial(journal, csv_path, tc), asyncio.to_thread(listen))
    assert results[0] == Counter(placed=ROWS)
    assert journal.counts()[State.PLACED] == ROWS
    assert all(entry.request_id for entry in journal.entries())
    assert len(list(journal.unmatched_outcomes())) == len(events)
