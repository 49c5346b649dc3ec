"""Row 1: bulk call-create through ``AsyncTeleCMI.play_music`` vs raw aiohttp, concurrency 50.

Both sides post the same JSON to the same zero-latency loopback server from a pool of 50 worker
tasks. The raw side is what a careful hand-written client does: ``session.post(json=...)``, a
status check, ``await resp.json()``. The SDK runs its whole request path, limiter included (the
limit is set far above the load so it never waits). Warm-up first, then rounds of 500 requests
alternating between the sides; the ratio is the median of the per-round ratios, the rates are
over all rounds. The client's and the server's CPU shares (CPU seconds / wall seconds) show who
the bottleneck was: the client should be near 1.0.

Row 1o: the same SDK side with an OpenTelemetry SDK configured (a tracer provider whose batch
processor hands every span to an exporter that drops it, a meter provider with an in-memory
reader) vs with none, in alternating rounds: what voicekit's spans and metrics cost a call.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

import voicekit

from . import APPID, NO_LIMIT, SECRET, Row, Target, arounds, fmt_rate, median_ratio, pool
from ._servers import ServerHandle, make_call_body

CONCURRENCY = 50
# 5,000 requests per side, in rounds of 500 alternating between the sides.
FULL = {"chunk": 500, "rounds": 10, "warmup": 1_000}
QUICK = {"chunk": 100, "rounds": 2, "warmup": 50}
BUDGET_S = 90.0


async def _measure(url: str, chunk: int, rounds: int, warmup: int) -> dict[str, float]:
    make_call_url = url + "/v2/global_pcmo_make_call"
    async with (
        voicekit.AsyncTeleCMI(appid=APPID, secret=SECRET, base_url=url, piopiy_url=url, rate_limit=NO_LIMIT) as tc,
        aiohttp.ClientSession() as session,
    ):

        async def sdk(i: int) -> None:
            result = await tc.play_music(from_=19170000000, to=19170000001 + i % 1000, file_name="welcome.wav")
            assert result.request_id

        async def raw(i: int) -> None:
            async with session.post(make_call_url, json=make_call_body(APPID, SECRET, i)) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
                data = await resp.json()
            assert data["request_id"]

        for job in (sdk, raw):
            await pool(warmup, CONCURRENCY, job)
        c0 = time.process_time()
        t0 = time.perf_counter()
        times = await arounds(
            rounds, sdk=lambda: pool(chunk, CONCURRENCY, sdk), raw=lambda: pool(chunk, CONCURRENCY, raw)
        )
        cpu_share = (time.process_time() - c0) / (time.perf_counter() - t0)
        return {
            "requests_per_side": chunk * rounds,
            "ratio": median_ratio(times["raw"], times["sdk"]),
            "sdk_rps": chunk * rounds / sum(times["sdk"]),
            "raw_rps": chunk * rounds / sum(times["raw"]),
            "client_cpu_share": cpu_share,
        }


async def _measure_otel(url: str, chunk: int, rounds: int, warmup: int) -> dict[str, float]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from voicekit import telemetry

    class Dropped(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Dropped()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    async with voicekit.AsyncTeleCMI(
        appid=APPID, secret=SECRET, base_url=url, piopiy_url=url, rate_limit=NO_LIMIT
    ) as tc:

        async def call(i: int) -> None:
            result = await tc.play_music(from_=19170000000, to=19170000001 + i % 1000, file_name="welcome.wav")
            assert result.request_id

        async def on() -> None:
            telemetry.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
            await pool(chunk, CONCURRENCY, call)

        async def off() -> None:
            telemetry.configure()
            await pool(chunk, CONCURRENCY, call)

        bare_tracer = tracer_provider.get_tracer("bench")

        async def bare_call(i: int) -> None:
            span = bare_tracer.start_span("call")  # the least any instrumentation pays a call
            try:
                await call(i)
            finally:
                span.end()

        async def bare() -> None:
            telemetry.configure()
            await pool(chunk, CONCURRENCY, bare_call)

        try:
            telemetry.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
            await pool(warmup, CONCURRENCY, call)
            telemetry.configure()
            await pool(warmup, CONCURRENCY, call)
            times = await arounds(rounds, on=on, off=off, bare=bare)
        finally:
            telemetry.configure()
            tracer_provider.shutdown()
            meter_provider.shutdown()
    return {
        "requests_per_side": chunk * rounds,
        "ratio": median_ratio(times["off"], times["on"]),
        "on_rps": chunk * rounds / sum(times["on"]),
        "off_rps": chunk * rounds / sum(times["off"]),
        "bare_span_ratio": median_ratio(times["off"], times["bare"]),
        "bare_span_rps": chunk * rounds / sum(times["bare"]),
    }


def run(server: ServerHandle, quick: bool) -> list[Row]:
    """Measure row 1."""
    size = QUICK if quick else FULL
    url = server.url()
    s0 = server.cpu_seconds()
    t0 = time.perf_counter()
    d = asyncio.run(asyncio.wait_for(_measure(url, **size), BUDGET_S))
    d["server_cpu_share"] = (server.cpu_seconds() - s0) / (time.perf_counter() - t0)
    return [
        Row(
            "1 create: play_music / raw aiohttp, c=50 (req/s)",
            f"sdk {fmt_rate(d['sdk_rps'])}, raw {fmt_rate(d['raw_rps'])}",
            d["ratio"],
            Target(">=", 0.90),
            d,
        ),
        *_otel_rows(url, size),
    ]


def _otel_rows(url: str, size: dict[str, int]) -> list[Row]:
    d = asyncio.run(asyncio.wait_for(_measure_otel(url, **size), BUDGET_S))
    return [
        Row(
            "1o create: OpenTelemetry SDK on / off, c=50 (req/s)",
            f"on {fmt_rate(d['on_rps'])}, off {fmt_rate(d['off_rps'])}",
            d["ratio"],
            Target(">=", 0.95),
            d,
        ),
        Row(
            "1o' create: one bare SDK span a call / off (the floor)",
            f"bare span {fmt_rate(d['bare_span_rps'])}, off {fmt_rate(d['off_rps'])}",
            d["bare_span_ratio"],
            None,
            d,
        ),
    ]
