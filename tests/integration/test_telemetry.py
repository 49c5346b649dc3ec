"""OpenTelemetry: the documented spans and metrics (voicekit.telemetry), seen by the SDK's
in-memory exporter and reader, for a single call, a faulted one, a 429 retry and a journaled
campaign; no secret and no whole number in any attribute; no second span with the aiohttp client
instrumentation on; and nothing at all (not even an import) when no provider is configured."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests._cli import MAKE_CALL, write_campaign
from tests._clients import sandbox_client
from tests._journal import journal_target
from tests._webhook_payloads import cdr_of
from voicekit import AsyncTeleCMI, RateLimit, TeleCMI, telemetry
from voicekit._logging import JsonFormatter
from voicekit.errors import CallOutcomeUnknownError
from voicekit.journal import (
    CLOCK_SKEW,
    AsyncJournal,
    Campaign,
    OutcomeReceiver,
    OutcomeWriter,
    State,
    reconcile,
    run_campaign,
)
from voicekit.sandbox import Sandbox, SyncSandbox
from voicekit.telecmi import Dial, Play

TO = 919876543210


class Seen:
    """What the SDK received."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]

    def points(self, metric: str) -> list[tuple[dict[str, Any], Any]]:
        """`metric`'s data points: (attributes, the point)."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found += [(dict(p.attributes or {}), p) for p in m.data.data_points]
        return found

    def total(self, metric: str, **attributes: str) -> float:
        """The sum of `metric`'s counter points (or histogram counts) whose attributes include these."""
        total = 0.0
        for attrs, p in self.points(metric):
            if all(attrs.get(f"voicekit.{k}") == v for k, v in attributes.items()):
                total += p.value if hasattr(p, "value") else p.count
        return total

    def everything_said(self) -> str:
        """Every attribute value and event attribute of every span and metric point, as text."""
        said = []
        for span in self.spans():
            said += [str(v) for v in (span.attributes or {}).values()]
            said.append(span.name)
            for event in span.events:
                said += [str(v) for v in (event.attributes or {}).values()]
            if span.status.description:
                said.append(span.status.description)
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    for p in m.data.data_points:
                        said += [str(v) for v in (p.attributes or {}).values()]
        return "\n".join(said)


@pytest.fixture
def seen() -> Iterator[Seen]:
    s = Seen()
    telemetry.configure(tracer_provider=s.tracer_provider, meter_provider=s.meter_provider)
    try:
        yield s
    finally:
        telemetry.configure()


def _clean(seen: Seen, sb: Sandbox) -> None:
    said = seen.everything_said()
    assert sb.telecmi_secret not in said
    assert str(TO) not in said
    for call in sb.calls:
        assert call.to not in said


async def test_a_single_call_is_one_client_span_and_one_counted_call(seen: Seen) -> None:
    async with Sandbox() as sb, sandbox_client(sb) as tc:
        result = await tc.make_call(from_=19170000000, to=TO, pcmo=[Play(file_name="welcome.wav")])
    assert result.request_id
    (span,) = seen.spans()
    assert span.name == "telecmi make_call" and span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes["voicekit.vendor"] == "telecmi"
    assert attributes["voicekit.endpoint"] == "make_call"
    assert attributes["http.response.status_code"] == 200
    assert attributes["voicekit.retry_count"] == 0
    assert attributes["voicekit.outcome"] == "placed"
    assert span.status.status_code is not StatusCode.ERROR
    assert seen.total("voicekit.calls", vendor="telecmi", endpoint="make_call", outcome="placed") == 1
    assert seen.total("voicekit.limiter.wait") == 0  # let through at once: not a wait
    _clean(seen, sb)


async def test_a_wait_the_limiter_imposes_is_recorded(seen: Seen) -> None:
    async with Sandbox() as sb:
        sb.add_telecmi_account(7654321, "telemetry-secret")  # its own limiter, at 2/s
        async with AsyncTeleCMI(
            appid=7654321, secret="telemetry-secret", base_url=sb.url, rate_limit=RateLimit(rate=2)
        ) as tc:
            await asyncio.gather(
                *(tc.make_call(from_=19170000000, to=TO + i, pcmo=[Play(file_name="welcome.wav")]) for i in range(2))
            )
    ((_, point),) = seen.points("voicekit.limiter.wait")
    assert point.count == 1 and 0.3 < point.sum < 1.5  # one of the two waited for its slot, 0.5 s on


async def test_a_faulted_call_is_unknown_on_its_span_and_in_the_count(seen: Seen) -> None:
    async with Sandbox() as sb, sandbox_client(sb) as tc:
        sb.faults.add(MAKE_CALL, status=503)  # placed, then 503: may have been placed
        with pytest.raises(CallOutcomeUnknownError):
            await tc.make_call(from_=19170000000, to=TO, pcmo=[Play(file_name="welcome.wav")])
    (span,) = seen.spans()
    attributes = dict(span.attributes or {})
    assert attributes["voicekit.outcome"] == "unknown"
    assert attributes["error.type"] == "CallOutcomeUnknownError"
    assert attributes["http.response.status_code"] == 503
    assert span.status.status_code is StatusCode.ERROR
    assert span.events == ()  # never retried blind
    assert seen.total("voicekit.calls", outcome="unknown") == 1
    assert seen.total("voicekit.calls", outcome="placed") == 0
    _clean(seen, sb)


async def test_a_429_retry_is_an_event_and_a_retry_count_on_one_span(seen: Seen) -> None:
    async with Sandbox() as sb, sandbox_client(sb) as tc:
        sb.faults.add(MAKE_CALL, status=429, retry_after=0, placed=False)
        await tc.make_call(from_=19170000000, to=TO, pcmo=[Play(file_name="welcome.wav")])
        placed = [c for c in sb.calls if c.endpoint == MAKE_CALL]
    assert len(placed) == 1
    (span,) = seen.spans()
    attributes = dict(span.attributes or {})
    assert attributes["voicekit.retry_count"] == 1
    assert attributes["voicekit.outcome"] == "placed"
    assert attributes["http.response.status_code"] == 200
    (event,) = span.events
    assert event.name == "voicekit.retry"
    assert dict(event.attributes or {})["voicekit.reason"] == "rate-limited"
    assert seen.total("voicekit.calls", outcome="placed") == 1
    _clean(seen, sb)


async def test_a_journaled_campaign_traces_its_run_rows_and_requests(seen: Seen, tmp_path: Path) -> None:
    numbers = [TO + i for i in range(12)]
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", numbers))
    async with Sandbox() as sb, sandbox_client(sb) as tc, await AsyncJournal.open(tmp_path / "c.db", campaign) as j:
        sb.faults.add(MAKE_CALL, status=503, count=2)  # two placed, then unknown
        result = await run_campaign(j, tc, concurrency=3)
        assert result.counts[State.UNKNOWN] == 2
        ledger = [c for c in sb.calls if c.endpoint == MAKE_CALL]  # the first two answered 503
        writer = OutcomeWriter(j)
        receiver = OutcomeReceiver(writer)
        for call in [*ledger[2:5], ledger[2]]:  # three placed calls' cdrs, the first one twice
            await receiver.telecmi(cdr_of(call))
        await receiver.telecmi(b"{broken")
        await writer.aclose()
        report = await reconcile(j, tc, settle=60, now=time.time() + 60 + CLOCK_SKEW + 5)
    assert len(ledger) == 12 and report.from_records == 2

    (run,) = seen.spans("voicekit campaign")
    attributes = dict(run.attributes or {})
    assert attributes["voicekit.campaign"] == campaign.name and attributes["voicekit.vendor"] == "telecmi"
    assert attributes["voicekit.rows.placed"] == 10 and attributes["voicekit.rows.unknown"] == 2
    sends = seen.spans("voicekit send")
    requests = {s.context.span_id: s for s in seen.spans("telecmi make_call")}
    assert len(sends) == len(requests) == 12
    assert all(s.parent is not None and s.parent.span_id == run.context.span_id for s in sends)
    by_parent = {r.parent.span_id: r for r in requests.values() if r.parent is not None}
    for send in sends:
        attributes = dict(send.attributes or {})
        request = dict(by_parent[send.context.span_id].attributes or {})
        assert request["voicekit.key"] == attributes["voicekit.key"]
        assert request["voicekit.campaign"] == campaign.name
        number = str(numbers[int(str(attributes["voicekit.key"])[1:])])
        assert attributes["voicekit.to"] == "*" * (len(number) - 3) + number[-3:]
    assert sorted(str(dict(s.attributes or {})["voicekit.outcome"]) for s in sends) == ["placed"] * 10 + ["unknown"] * 2
    assert seen.total("voicekit.calls", outcome="placed") == 10
    assert seen.total("voicekit.calls", outcome="unknown") == 2
    assert seen.total("voicekit.claim.duration") >= 1
    assert seen.total("voicekit.reconcile.decisions", decision="placed") == 2
    assert seen.total("voicekit.webhooks", result="written") == 3
    assert seen.total("voicekit.webhooks", result="duplicate") == 1
    assert seen.total("voicekit.webhooks", result="refused") == 1
    assert seen.total("voicekit.webhook.lag") == 4  # each arrival, the resend too
    _clean(seen, sb)


async def test_a_bulk_runs_sends_are_spans_with_masked_numbers(seen: Seen) -> None:
    specs = [Dial(key=f"k{i}", from_=19170000000, to=TO + i, file_name="welcome.wav") for i in range(3)]
    async with Sandbox() as sb, sandbox_client(sb) as tc:
        outcomes = [o async for o in tc.dial_many(specs, concurrency=2)]
    assert all(o.ok for o in outcomes)
    sends = {dict(s.attributes or {})["voicekit.key"]: dict(s.attributes or {}) for s in seen.spans("voicekit send")}
    assert sends.keys() == {"k0", "k1", "k2"}
    for i in range(3):
        assert sends[f"k{i}"]["voicekit.to"] == "*" * 9 + str(TO + i)[-3:]  # an int number, masked too
        assert sends[f"k{i}"]["voicekit.outcome"] == "placed"
    _clean(seen, sb)


async def test_keys_that_are_numbers_are_masked_like_numbers(seen: Seen) -> None:
    specs = [
        Dial(key=str(TO), from_=19170000000, to=TO, file_name="welcome.wav"),
        Dial(key="row-7", from_=19170000000, to=TO + 1, file_name="welcome.wav"),
    ]
    async with Sandbox() as sb, sandbox_client(sb) as tc:
        assert all([o.ok async for o in tc.dial_many(specs)])
    keys = sorted(str(dict(s.attributes or {})["voicekit.key"]) for s in seen.spans())
    assert keys == ["*********210", "*********210", "row-7", "row-7"]  # the send's and the request's
    _clean(seen, sb)


async def test_prometheus_and_opentelemetry_both_see_every_call(seen: Seen, tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from voicekit.metrics import PrometheusMetrics

    metrics = PrometheusMetrics(campaign="c")
    metrics.install()
    try:
        campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", [TO + i for i in range(5)]))
        async with Sandbox() as sb, sandbox_client(sb) as tc, await AsyncJournal.open(tmp_path / "c.db", campaign) as j:
            await run_campaign(j, tc)
    finally:
        metrics.uninstall()
    placed = sum(
        sample.value
        for family in text_string_to_metric_families(metrics.text())
        for sample in family.samples
        if sample.name == "voicekit_calls_total" and sample.labels.get("outcome") == "placed"
    )
    assert placed == seen.total("voicekit.calls", outcome="placed") == 5
    telemetry.configure()  # the OpenTelemetry sink leaves too: nothing is reported any more
    from voicekit import _observe

    assert _observe.sink is None


async def test_full_numbers_only_when_asked(seen: Seen, tmp_path: Path) -> None:
    telemetry.configure(tracer_provider=seen.tracer_provider, meter_provider=seen.meter_provider, full_numbers=True)
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", [TO]))
    async with Sandbox() as sb, sandbox_client(sb) as tc, await AsyncJournal.open(tmp_path / "c.db", campaign) as j:
        await run_campaign(j, tc)
    (send,) = seen.spans("voicekit send")
    assert dict(send.attributes or {})["voicekit.to"] == str(TO)


async def test_with_the_aiohttp_instrumentation_a_request_is_traced_once(seen: Seen) -> None:
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=seen.tracer_provider)
    try:
        async with Sandbox() as sb, sandbox_client(sb) as tc:
            await tc.make_call(from_=19170000000, to=TO, pcmo=[Play(file_name="welcome.wav")])
            assert [s.name for s in seen.spans()] == ["telecmi make_call"]
            async with aiohttp.ClientSession() as session, session.get(sb.url + "/") as answer:
                await answer.read()  # any other request is still the instrumentation's
    finally:
        instrumentor.uninstrument()
    kinds = [(s.name, s.kind) for s in seen.spans()]
    assert kinds[0] == ("telecmi make_call", SpanKind.CLIENT)
    assert len(kinds) == 2 and kinds[1] == ("GET", SpanKind.CLIENT)


def test_a_blocking_call_inside_the_caller_s_span_is_its_child(seen: Seen) -> None:
    with SyncSandbox() as sb, TeleCMI(appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url) as tc:
        tracer = seen.tracer_provider.get_tracer("the app")
        with tracer.start_as_current_span("handler") as handler:
            tc.make_call(from_=19170000000, to=TO, pcmo=[Play(file_name="welcome.wav")])
    (request,) = seen.spans("telecmi make_call")
    assert request.parent is not None and request.parent.span_id == handler.get_span_context().span_id


async def test_json_log_lines_carry_the_trace_and_span_they_were_logged_in(seen: Seen, tmp_path: Path) -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("voicekit")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", [TO]))
        async with Sandbox() as sb, sandbox_client(sb) as tc, await AsyncJournal.open(tmp_path / "c.db", campaign) as j:
            await run_campaign(j, tc)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    (run,) = seen.spans("voicekit campaign")
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    started = next(r for r in records if r["message"].startswith("run started"))
    assert started["trace_id"] == format(run.context.trace_id, "032x")
    assert started["span_id"] == format(run.context.span_id, "016x")


def test_without_a_provider_nothing_is_imported_or_traced() -> None:
    script = """
import asyncio, sys
from voicekit import AsyncTeleCMI
from voicekit.telecmi import Dial, Play
from voicekit.sandbox import Sandbox, SyncSandbox

async def main():
    async with Sandbox() as sb, AsyncTeleCMI(appid=sb.telecmi_appid, secret=sb.telecmi_secret,
                                             base_url=sb.url, rate_limit=None) as tc:
        await tc.make_call(from_=19170000000, to=919876543210, pcmo=[Play(file_name="welcome.wav")])

asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.postgres
async def test_a_shared_journals_lease_renewals_are_counted(
    seen: Seen, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", [TO + i for i in range(30)]))
    target = journal_target("postgres", tmp_path, request)
    async with Sandbox(latency=0.05) as sb, sandbox_client(sb) as tc:
        async with await AsyncJournal.open(target, campaign, lease=0.3) as j:
            started = time.monotonic()
            await run_campaign(j, tc, concurrency=1)
            took = time.monotonic() - started
    renewed = seen.total("voicekit.leases", event="renewed")
    assert took > 1.0 and renewed >= 1, (took, renewed)  # one beat every lease / 3 = 0.1 s
    assert seen.total("voicekit.leases", event="lost") == 0
    (run,) = seen.spans("voicekit campaign")
    assert dict(run.attributes or {})["voicekit.worker"]  # a worker of a shared journal names itself
