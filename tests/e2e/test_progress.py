"""Progress across workers: each worker of a shared (PostgreSQL) journal shows the whole
campaign's rows, rate and time left, read from the journal, beside its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests._cli import MAKE_CALL, env_for, voicekit_process, write_campaign
from tests._journal import journal_target
from voicekit.sandbox import SyncSandbox

# "campaign 40/200 placed=40 failed=0 unknown=0 31/s, about 0:04 left; this worker 20 done, 15/s"
LINE = re.compile(
    r"campaign (\d+)/(\d+) placed=(\d+) failed=\d+ unknown=\d+ ([\d,]+)/s(?:, about [\d:]+ left)?; "
    r"this worker (\d+) done, ([\d,]+)/s"
)


@pytest.mark.postgres
@pytest.mark.e2e
def test_each_worker_shows_the_whole_campaign(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    rows = 200
    csv_path = write_campaign(tmp_path / "c.csv", [9100000000 + i for i in range(rows)])
    target = journal_target("postgres", tmp_path, request)
    args = ("dial", str(csv_path), "--journal", target, "--concurrency", "2", "--rate", "0")
    with SyncSandbox(latency=0.05) as sb:
        env = {**env_for(sb), "VOICEKIT_PROGRESS_EVERY": "0.5"}
        with voicekit_process(*args, env=env) as one, voicekit_process(*args, env=env) as two:
            codes = one.wait(90), two.wait(90)
        placed = sum(1 for c in sb.calls if c.endpoint == MAKE_CALL)
    assert codes == (0, 0), (one.out, one.err, two.out, two.err)
    assert placed == rows
    lines = [m for m in (LINE.search(line) for line in (one.out + two.out).splitlines()) if m]
    assert lines, one.out + two.out
    for m in lines:  # the campaign as last read from the journal (as often as a line is printed)
        assert int(m[2]) == rows and int(m[1]) <= rows and int(m[5]) <= rows
    # while both dialed, a worker saw more of the campaign done than it did itself, at a rate
    # above its own: the other worker's calls, read from the journal
    both = [m for m in lines if int(m[1]) > int(m[5]) and int(m[4].replace(",", "")) > int(m[6].replace(",", ""))]
    assert both, "\n".join(m[0] for m in lines)
