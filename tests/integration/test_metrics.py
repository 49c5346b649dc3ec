"""Prometheus metrics of a worker: every documented name is served, parsed by prometheus_client's
own parser, and the counts agree with the sandbox's ledger of the calls it placed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests._cli import MAKE_CALL, env_for, free_port, invoke, write_campaign
from tests._clients import sandbox_client
from tests._webhook_payloads import cdr_of
from voicekit import _observe
from voicekit.journal import (
    CLOCK_SKEW,
    AsyncJournal,
    Campaign,
    OutcomeReceiver,
    OutcomeWriter,
    reconcile,
    run_campaign,
)
from voicekit.metrics import PrometheusMetrics
from voicekit.sandbox import Sandbox, SyncSandbox

#: The names the docs promise (voicekit.metrics), as the parser reports them.
NAMES = {
    "voicekit_calls",
    "voicekit_campaign_rows",
    "voicekit_limiter_wait_seconds",
    "voicekit_claim_seconds",
    "voicekit_claimed_keys",
    "voicekit_lease_events",
    "voicekit_webhooks",
    "voicekit_webhook_lag_seconds",
    "voicekit_reconcile_decisions",
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


async def test_a_campaign_reports_every_metric_and_the_counts_match_the_ledger(tmp_path: Path) -> None:
    numbers = [9100000000 + i for i in range(20)]
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", numbers))
    metrics = PrometheusMetrics(campaign="c")
    metrics.install()
    try:
        async with await AsyncJournal.open(tmp_path / "c.db", campaign) as journal:
            writer = OutcomeWriter(journal)
            receiver = OutcomeReceiver(writer)
            async with Sandbox() as sb, sandbox_client(sb) as tc:
                await run_campaign(journal, tc, concurrency=4)
                calls = [c for c in sb.calls if c.endpoint == MAKE_CALL][:5]
                for call in [*calls, calls[0]]:  # five calls' cdrs, the first one twice
                    await receiver.telecmi(cdr_of(call))
                await receiver.telecmi(b"{broken")
                await writer.aclose()
                metrics.rows(await journal.counts())
                ledger = sum(1 for c in sb.calls if c.endpoint == MAKE_CALL)
    finally:
        metrics.uninstall()
    assert _observe.sink is None
    text = metrics.text()
    assert NAMES <= families(text)
    found = samples(text)
    assert value(found, "voicekit_calls_total", outcome="placed", vendor="telecmi") == ledger == 20
    assert value(found, "voicekit_campaign_rows", state="placed") == 20
    assert value(found, "voicekit_limiter_wait_seconds_count") == 20  # one wait per request
    assert value(found, "voicekit_claimed_keys_total") == 20
    assert value(found, "voicekit_claim_seconds_count") >= 1
    assert value(found, "voicekit_webhooks_total", result="refused") == 1
    assert value(found, "voicekit_webhooks_total", result="written") == 5
    assert value(found, "voicekit_webhooks_total", result="duplicate") == 1
    assert value(found, "voicekit_webhook_lag_seconds_count") >= 5
    assert "9100000000" not in text  # no phone number in a label


async def test_reconcile_decisions_are_counted(tmp_path: Path) -> None:
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", [9100000000 + i for i in range(6)]))
    metrics = PrometheusMetrics(campaign="c")
    metrics.install()
    try:
        async with Sandbox() as sb, sandbox_client(sb) as tc, await AsyncJournal.open(tmp_path / "c.db", campaign) as j:
            sb.faults.add(MAKE_CALL, status=503, count=2)  # placed, then 503: unknown
            sb.faults.add(MAKE_CALL, status=500, placed=False)  # not placed: unknown
            await run_campaign(j, tc, concurrency=1)
            report = await reconcile(j, tc, settle=60, now=time.time() + 60 + CLOCK_SKEW + 5)
    finally:
        metrics.uninstall()
    assert report.from_records == 2 and report.requeued == 1
    found = samples(metrics.text())
    assert value(found, "voicekit_reconcile_decisions_total", decision="placed") == 2
    assert value(found, "voicekit_reconcile_decisions_total", decision="not_placed") == 1
    assert value(found, "voicekit_reconcile_decisions_total", decision="ambiguous") == 0


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            return str(answer.read().decode("utf-8"))
    except OSError:
        return None


@pytest.mark.e2e
def test_dial_metrics_are_scraped_while_it_runs_and_agree_with_the_ledger(tmp_path: Path) -> None:
    numbers = [9100000000 + i for i in range(60)]
    csv_path = write_campaign(tmp_path / "c.csv", numbers)
    listen, port = free_port(), free_port()
    with SyncSandbox(latency=0.02, telecmi_webhook_url=f"http://127.0.0.1:{listen}/telecmi") as sb:
        env = {**os.environ, **env_for(sb), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "voicekit", "dial", str(csv_path), "--journal", str(tmp_path / "c.db"),
             "--concurrency", "2", "--rate", "0", "--metrics", f"127.0.0.1:{port}",
             "--listen", f"127.0.0.1:{listen}", "--listen-after", "5"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            during = None
            for _ in range(200):  # at most 10 s: a scrape while it dials
                during = scrape(port)
                if during is not None:
                    break
                time.sleep(0.05)
            assert during is not None and NAMES <= families(during)
            final = None
            for _ in range(100):  # the run ends, its webhooks arrive while it listens after
                time.sleep(0.1)
                text = scrape(port)
                if text is None:
                    break
                final = samples(text)
                if value(final, "voicekit_webhooks_total", result="written") >= len(numbers) and value(
                    final, "voicekit_campaign_rows", state="placed"
                ) == len(numbers):
                    break
            output, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        ledger = sum(1 for c in sb.calls if c.endpoint == MAKE_CALL)
    assert proc.returncode == 0, output
    assert final is not None, output
    assert value(final, "voicekit_calls_total", outcome="placed") == ledger == len(numbers)
    assert value(final, "voicekit_campaign_rows", state="placed") == len(numbers)
    assert value(final, "voicekit_webhooks_total", result="written") >= len(numbers)
    assert value(final, "voicekit_limiter_wait_seconds_count") == len(numbers)
    assert scrape(port) is None  # the server ends with the command


def test_reconcile_serves_metrics_too_and_a_taken_port_is_a_usage_error(tmp_path: Path) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", [9100000000 + i for i in range(3)])
    db = str(tmp_path / "c.db")
    with SyncSandbox() as sb, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        assert invoke("dial", csv_path.as_posix(), "--journal", db, "--rate", "0", env=env_for(sb))[0] == 0
        code, out = invoke("dial", "reconcile", db, "--metrics", f"127.0.0.1:{free_port()}", env=env_for(sb))
        assert code == 0, out
        code, out = invoke("dial", "reconcile", db, "--metrics", f"127.0.0.1:{busy}", env=env_for(sb))
    assert code == 2 and "cannot serve metrics" in out, out
