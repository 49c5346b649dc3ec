"""`voicekit cdr export` and `voicekit cdr stats` against the sandbox."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from voicekit.cli import main
from voicekit.sandbox import SyncSandbox

DAY_MS = 86_400_000
SEEDED = 2345  # not a multiple of the page size: the last page is short


@pytest.fixture(scope="module")
def sb() -> Iterator[SyncSandbox]:
    with SyncSandbox(seed_records=SEEDED) as sandbox:
        yield sandbox


def env_for(sb: SyncSandbox) -> dict[str, str]:
    return {
        "VOICEKIT_TELECMI_BASE_URL": sb.url,
        "VOICEKIT_TELECMI_PIOPIY_URL": sb.url,
        "VOICEKIT_TELECMI_APPID": str(sb.telecmi_appid),
        "VOICEKIT_TELECMI_SECRET": sb.telecmi_secret,
    }


def window(sb: SyncSandbox) -> list[str]:
    return ["--since", str(sb.seed_end_ms - DAY_MS), "--until", str(sb.seed_end_ms)]


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.slow
def test_export_csv_streams_every_record_in_order(tmp_path: Path, sb: SyncSandbox) -> None:
    out = tmp_path / "cdr.csv"
    code, text = invoke(
        "cdr", "export", *window(sb), "--page-size", "50", "--concurrency", "6", "-o", str(out), env=env_for(sb)
    )
    assert code == 0, text
    assert f"exported {SEEDED} records" in text
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == SEEDED
    assert len({r["id"] for r in rows}) == SEEDED
    times = [int(r["time"]) for r in rows]
    assert times == sorted(times, reverse=True)  # the vendor's order (newest first), page after page
    assert rows[0]["started_at"] == dt.datetime.fromtimestamp(times[0] / 1000, tz=dt.UTC).isoformat()
    assert rows[0]["to"] == "9100000000" and rows[0]["billedsec"] == "1" and rows[0]["rate"] == "0.6"


def test_export_jsonl(tmp_path: Path, sb: SyncSandbox) -> None:
    out = tmp_path / "cdr.jsonl"
    code, text = invoke("cdr", "export", *window(sb), "--format", "jsonl", "-o", str(out), env=env_for(sb))
    assert code == 0, text
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == SEEDED
    records = [json.loads(line) for line in lines]
    assert [r["time"] for r in records] == sorted((r["time"] for r in records), reverse=True)
    assert len({r["id"] for r in records}) == SEEDED
    assert set(records[0]) >= {"id", "time", "from", "to", "billedsec"}


def test_export_a_sub_window_given_as_iso_datetimes(tmp_path: Path, sb: SyncSandbox) -> None:
    end = dt.datetime.fromtimestamp(sb.seed_end_ms / 1000, tz=dt.UTC)
    since = (end - dt.timedelta(hours=6)).isoformat()
    out = tmp_path / "six-hours.jsonl"
    code, text = invoke(
        "cdr",
        "export",
        "--since",
        since,
        "--until",
        end.isoformat(),
        "--format",
        "jsonl",
        "-o",
        str(out),
        env=env_for(sb),
    )
    assert code == 0, text
    times = [json.loads(line)["time"] for line in out.read_text().splitlines()]
    assert abs(len(times) - SEEDED / 4) <= 2
    assert min(times) >= int((end - dt.timedelta(hours=6)).timestamp() * 1000)


def test_export_to_standard_output_with_the_in_process_sandbox() -> None:
    code, text = invoke("cdr", "export", "--sandbox", "--seed-records", "120", "--format", "jsonl")
    assert code == 0, text
    assert sum(1 for line in text.splitlines() if line.startswith("{")) == 120


def test_stats_charts_calls_per_hour_and_billed_seconds(sb: SyncSandbox) -> None:
    code, text = invoke("cdr", "stats", *window(sb), env=env_for(sb))
    assert code == 0, text
    assert "calls per hour" in text and "billed seconds" in text and "█" in text
    assert f"records={SEEDED}" in text


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["cdr", "export", "--since", "1700000000", "--until", "1700000001000"],
            1,
            "ValidationError: start: must be epoch milliseconds",
        ),
        (["cdr", "export", "--since", "yesterday"], 2, "neither an ISO 8601 date-time"),
        (["cdr", "export", "--seed-records", "10"], 2, "--seed-records only applies with --sandbox"),
    ],
)
def test_bad_input_is_one_clear_message(args: list[str], code: int, message: str, sb: SyncSandbox) -> None:
    got, text = invoke(*args, env=env_for(sb))
    assert got == code, text
    assert message in text and "Traceback" not in text


def test_a_vendor_error_is_one_line(sb: SyncSandbox) -> None:
    env = {**env_for(sb), "VOICEKIT_TELECMI_SECRET": "s3cr3t-Zq9"}
    code, text = invoke("cdr", "export", *window(sb), env=env)
    assert code == 1
    assert "AuthenticationError (HTTP 404" in text and "Traceback" not in text
    assert "s3cr3t-Zq9" not in text
