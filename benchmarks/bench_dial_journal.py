"""Journaled bulk dialing vs the same dialing without a journal.

Both sides dial the same number of calls through ``AsyncTeleCMI.dial_many`` (limiter off, same
concurrency) against one sandbox served from a separate process; the journaled side wraps it in
``voicekit.journal.journaled`` with a fresh journal per round: each key is claimed (durably,
``synchronous=FULL``) as its request leaves, the claims of calls leaving together sharing one
commit, and outcomes written in batches. Rounds are interleaved in rotating order; the ratio is the median over
rounds of unjournaled time / journaled time (1.0 = the journal costs nothing).

Usage: ``python -m benchmarks.bench_dial_journal [--quick]``
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import voicekit
from voicekit.journal import AsyncJournal, Campaign, CampaignRow, journaled
from voicekit.sandbox import DEFAULT_TELECMI_APPID, DEFAULT_TELECMI_SECRET
from voicekit.telecmi import Dial

from . import Row, Target

CONCURRENCY = 32
FULL = {"n": 3_000, "rounds": 7}
QUICK = {"n": 300, "rounds": 1}
TARGET = 0.80
# A vendor across a network: every claim's commit then overlaps other calls' round trips.
LATENCY = 0.020
FULL_LATENCY = {"n": 2_000, "rounds": 3}


@contextlib.contextmanager
def sandbox_process(**config: Any) -> Iterator[str]:
    """A sandbox in its own interpreter (so it does not share the client's GIL); yields its URL."""
    code = (
        "import sys; from voicekit.sandbox import serve; "
        f"serve(port=0, on_ready=lambda url: print(url, flush=True), **{config!r})"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the sandbox did not start (got {url!r})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _specs(n: int, offset: int) -> Iterator[Dial]:
    for i in range(n):
        yield Dial(key=str(i), from_=19170000000, to=9100000000 + offset + i, file_name="welcome.wav")


async def _measure(url: str, n: int, rounds: int, workdir: str) -> dict[str, Any]:
    campaign = Campaign(path="bench.csv", size=0, sha256="0" * 64, vendor="telecmi", columns=("to",))
    transactions: list[int] = []
    async with voicekit.AsyncTeleCMI(
        appid=DEFAULT_TELECMI_APPID,
        secret=DEFAULT_TELECMI_SECRET,
        base_url=url,
        piopiy_url=url,
        rate_limit=None,
    ) as tc:

        async def plain(offset: int) -> None:
            placed = 0
            async for outcome in tc.dial_many(_specs(n, offset), concurrency=CONCURRENCY):
                placed += outcome.ok
            assert placed == n

        async def journal_side(offset: int) -> None:
            path = os.path.join(workdir, f"j{offset}.db")
            async with await AsyncJournal.open(path, campaign) as journal:
                # Loaded first, as `voicekit dial` does before it dials (timed with the dialing).
                await journal.load(
                    CampaignRow(number=i + 2, key=spec.key, spec=spec) for i, spec in enumerate(_specs(n, offset))
                )
                placed = 0
                outcomes = journaled(
                    journal,
                    _specs(n, offset),
                    lambda specs, before_send: tc.dial_many(specs, concurrency=CONCURRENCY, before_send=before_send),
                )
                async with contextlib.aclosing(outcomes):
                    async for outcome in outcomes:
                        placed += outcome.ok
                assert placed == n
                assert (await journal.counts())["placed"] == n  # type: ignore[index]
                transactions.append(journal.transactions)

        await plain(0)  # warm-up: connections, limiter, caches
        times: dict[str, list[float]] = {"plain": [], "journaled": []}
        sides = {"plain": plain, "journaled": journal_side}
        for r in range(rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for name in order:
                t0 = time.perf_counter()
                await sides[name]((r + 1) * 10 * n)
                times[name].append(time.perf_counter() - t0)
    ratios = [p / j for p, j in zip(times["plain"], times["journaled"], strict=True)]
    return {
        "n": n,
        "plain_rps": n / statistics.median(times["plain"]),
        "journaled_rps": n / statistics.median(times["journaled"]),
        "ratio": statistics.median(ratios),
        "transactions": statistics.median(transactions),
    }


def run(server: object, quick: bool) -> list[Row]:
    """Measure the rows: journaled / unjournaled calls per second (on its own sandbox process),
    against a sandbox answering at once and one answering after `LATENCY`."""
    rows = []
    for latency, size, label in (
        (0.0, QUICK if quick else FULL, "8"),
        (LATENCY, QUICK if quick else FULL_LATENCY, "8b"),
    ):
        with sandbox_process(latency=latency) as url, tempfile.TemporaryDirectory() as workdir:
            d = asyncio.run(_measure(url, size["n"], size["rounds"], workdir))
        rows.append(
            Row(
                f"{label} dial: journaled / unjournaled, sandbox {latency * 1000:.0f} ms, no limit (calls/s)",
                f"{d['journaled_rps']:,.0f}/s vs {d['plain_rps']:,.0f}/s, {d['n']} calls, c={CONCURRENCY}, "
                f"{d['transactions']:.0f} commits",
                d["ratio"],
                Target(">=", TARGET),
                d,
            )
        )
    return rows


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    for row in run(None, quick):
        print(
            f"{row.row}: {row.measured}; ratio {row.ratio:.3f} (target {row.target}, {'met' if row.met else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
