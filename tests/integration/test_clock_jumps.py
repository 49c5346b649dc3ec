"""A worker whose wall clock jumps (an NTP step, a VM resumed, a clock set by hand) mid-campaign:
every row is still dialed once and ends known. Claims are atomic in the database and leases run
on the database's clock, so a jump of this machine's clock moves neither."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests._cli import MAKE_CALL, write_campaign
from tests._clients import sandbox_client
from tests._journal import journal_target
from voicekit import ExitStatus
from voicekit.journal import AsyncJournal, Campaign, Progress, State, run_campaign
from voicekit.sandbox import Sandbox

ROWS = 40


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
async def test_a_clock_that_jumps_forward_then_back_dials_every_row_once(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = [9100000000 + i for i in range(ROWS)]
    campaign = Campaign.from_file(write_campaign(tmp_path / "c.csv", numbers))
    target = journal_target(dialect, tmp_path, request)
    real = time.time
    offset = 0.0
    monkeypatch.setattr(time, "time", lambda: real() + offset)
    jumps = {10: 3600.0, 20: -7200.0, 30: 86400.0}  # after that many outcomes: the clock steps

    def step(outcome: Any, progress: Progress) -> None:
        nonlocal offset
        offset += jumps.get(progress.done, 0.0)

    async with Sandbox(latency=0.01) as sb, sandbox_client(sb) as tc:
        async with await AsyncJournal.open(target, campaign, lease=1.0) as journal:
            result = await run_campaign(journal, tc, concurrency=4, on_outcome=step)
            counts = await journal.counts()
        dialed = Counter(call.to for call in sb.calls if call.endpoint == MAKE_CALL)
    assert offset == 3600.0 - 7200.0 + 86400.0  # every jump happened
    assert dialed == Counter({str(n): 1 for n in numbers})
    assert counts[State.PLACED] == ROWS and result.exit_status is ExitStatus.OK
