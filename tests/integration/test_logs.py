"""voicekit's own log as JSON lines: every line parses, carries time, level, logger and message,
and the campaign, worker, key and request id where they apply; never a secret."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._cli import env_for, write_campaign
from voicekit._logging import CONTEXT_FIELDS, JsonFormatter, configure, log_fields
from voicekit._sending import Ticket, current_ticket
from voicekit.sandbox import SyncSandbox

LOG = logging.getLogger("voicekit")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """voicekit's records at debug, formatted as JSON into a buffer (the logger restored after)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    level = LOG.level
    LOG.setLevel(logging.DEBUG)
    LOG.addHandler(handler)
    try:
        yield buffer
    finally:
        LOG.removeHandler(handler)
        LOG.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_record_carries_the_fields_of_its_block_and_of_its_call(captured: io.StringIO) -> None:
    with log_fields(campaign="spring", campaign_id="c1", worker="host:1:ab"):
        LOG.info("run %s", "started")
        token = current_ticket.set(Ticket("k7", None))
        try:
            LOG.debug("POST ...")
            LOG.warning("failed", extra={"request_id": "R1"})
        finally:
            current_ticket.reset(token)
    LOG.info("outside")
    first, second, third, fourth = lines(captured)
    assert first["message"] == "run started" and first["level"] == "info" and first["logger"] == "voicekit"
    assert {first[k] for k in ("campaign", "campaign_id", "worker")} == {"spring", "c1", "host:1:ab"}
    assert "key" not in first and second["key"] == "k7" and third["request_id"] == "R1"
    assert not set(CONTEXT_FIELDS) & fourth.keys()  # the block's fields end with it
    assert first["time"].endswith("+00:00")


def test_an_error_is_its_type_and_message_never_a_traceback(captured: io.StringIO) -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        LOG.exception("it broke")
    (line,) = lines(captured)
    assert line["error"] == "ValueError: bad" and "Traceback" not in captured.getvalue()


def test_bad_levels_and_formats_are_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        configure("info", "xml")
    with pytest.raises(ValueError, match="level"):
        configure("loud", "json")


@pytest.mark.e2e
def test_a_campaign_run_logs_json_lines_with_its_fields_and_no_secret(tmp_path: Path) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", [9100000000 + i for i in range(3)])
    with SyncSandbox() as sb:
        env = {
            **os.environ,
            **env_for(sb),
            "VOICEKIT_LOG": "debug",
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "voicekit", "--log-format", "json", "dial", str(csv_path), "--journal",
             str(tmp_path / "c.db"), "--rate", "0"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        secret = sb.telecmi_secret
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    run = [r for r in records if r["message"].startswith("run ")]
    assert [r["message"].split(":")[0] for r in run] == ["run started", "run ended"]
    assert all(r["campaign"] == "c" and r["worker"] and r["campaign_id"] for r in run)
    placed = [r for r in records if r["message"] == "placed"]
    assert sorted(r["key"] for r in placed) == ["k0", "k1", "k2"] and all(r["request_id"] for r in placed)
    requests = [r for r in records if r["message"].startswith("POST ") and "->" not in r["message"]]
    assert sorted(r["key"] for r in requests) == ["k0", "k1", "k2"]  # each request's row, from its send
    assert secret not in proc.stderr and secret not in proc.stdout
