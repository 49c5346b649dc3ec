"""One campaign, three workers, one PostgreSQL journal: a worker killed with SIGKILL midway (and,
in the second case, the database restarted too) stops nothing and dials nobody twice.

The workers are `voicekit dial` subprocesses against one sandbox served from this process; the
sandbox's ledger says what was really dialed, and `voicekit dial report --json` what the
journal says of every row.
"""

from __future__ import annotations

import io
import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._crash import dialed, number, settle, start
from tests._journal import write_csv
from tests._servers import PG_PASSWORD, PostgresServer
from voicekit.cli import main
from voicekit.sandbox import SyncSandbox

pytestmark = pytest.mark.e2e

ROWS = 3000
WORKERS = 3
CONCURRENCY = 16
LATENCY = 0.01
LEASE = 2.0


@pytest.mark.parametrize("restart", [False, True], ids=["kill", "kill-and-restart-the-database"])
def test_a_worker_killed_midway_stops_nothing_and_dials_nobody_twice(
    tmp_path: Path,
    postgres: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    restart: bool,
) -> None:
    csv_path = write_csv(tmp_path / "c.csv", [[f"k{i}", number(i), "19170000000", "welcome.wav"] for i in range(ROWS)])
    url = postgres.fresh_database(f"crash_{int(restart)}")
    bare = url.replace(f":{PG_PASSWORD}@", "@")  # the password comes from PGPASSWORD, as the README says
    monkeypatch.setenv("PGPASSWORD", PG_PASSWORD)
    args = (
        "dial",
        str(csv_path),
        "--journal",
        bare,
        "--concurrency",
        str(CONCURRENCY),
        "--rate",
        "0",
        "--lease",
        f"{LEASE:g}",
    )
    with SyncSandbox(latency=LATENCY) as sb:
        procs = [start(sb, *args) for _ in range(WORKERS)]
        try:
            deadline = time.monotonic() + 60
            while len(sb.calls) < ROWS // 3 and all(p.poll() is None for p in procs):
                assert time.monotonic() < deadline, "the workers made no progress"
                time.sleep(0.002)
            victim = procs[0]
            victim.send_signal(signal.SIGKILL)
            victim.communicate(timeout=30)
            assert victim.returncode == -signal.SIGKILL, "the victim finished before its kill"
            if restart:
                postgres.stop("fast")
                postgres.start()
            outputs = [p.communicate(timeout=180) for p in procs[1:]]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(30)
        settle(sb)
        ledger = dialed(sb)

    for p, (out, err) in zip(procs[1:], outputs, strict=True):
        assert "Traceback" not in err, err
        assert p.returncode in (0, 4), out + err  # all placed, or some unknown (the victim's)
        assert PG_PASSWORD not in out + err
    report = CliRunner().invoke(main, ["dial", "report", url, "--json"], catch_exceptions=False)
    assert report.exit_code == 0, report.output
    rows = {r["key"]: r for r in map(json.loads, io.StringIO(report.stdout))}
    unknown = {key: row for key, row in rows.items() if row["state"] == "unknown"}
    per_worker = Counter(row["worker"] for row in rows.values())
    print(  # noqa: T201 - the figures are this test's report (pytest -s shows them)
        f"restart={restart}: {ROWS} rows, {WORKERS} workers x {CONCURRENCY}; per worker {dict(per_worker)}; "
        f"unknown {len(unknown)} (bound {CONCURRENCY}); calls in the ledger {sum(ledger.values())}"
    )

    assert max(ledger.values()) == 1  # nobody dialed twice
    assert set(rows) == {f"k{i}" for i in range(ROWS)}  # every row accounted for
    assert {row["state"] for row in rows.values()} <= {"placed", "unknown"}
    for key, row in rows.items():
        if row["state"] == "placed":
            assert ledger[number(int(key[1:]))] == 1, key
    # Only the killed worker's calls in flight are unknown, at most its concurrency.
    assert len(unknown) <= CONCURRENCY
    assert len({row["worker"] for row in unknown.values()}) <= 1
    assert len(per_worker) == WORKERS  # the rows flowed to every worker
    status = CliRunner().invoke(main, ["dial", "status", url, "--json"], catch_exceptions=False)
    summary = json.loads(status.stdout)
    assert summary["counts"]["pending"] == 0 and summary["counts"]["sending"] == 0
    assert PG_PASSWORD not in status.stdout and len(summary["workers"]) == WORKERS
