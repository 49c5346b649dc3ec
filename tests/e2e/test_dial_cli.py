"""`voicekit dial`: campaigns from CSV against the sandbox, resumed after crashes and Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests._cli import MAKE_CALL, env_for, free_port, invoke, ledger, summary
from voicekit.journal import Journal, State
from voicekit.sandbox import SyncSandbox

NOTIFY = "/apiaccess/rest/voiceNotification/v2/createVoiceNotification"


def number(i: int) -> str:
    return str(9100000000 + i)


def write_campaign(path: Path, n: int, extra: Iterable[list[object]] = ()) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "to", "from", "file_name"])
        for i in range(n):
            writer.writerow([f"k{i}", number(i), "19170000000", "welcome.wav"])
        writer.writerows(extra)
    return path


@pytest.fixture
def sb() -> Iterator[SyncSandbox]:
    with SyncSandbox() as sandbox:
        yield sandbox


def states(db: Path) -> dict[str, State]:
    with Journal.read(db) as journal:
        return {entry.key: entry.state for entry in journal.entries()}


# -- in process ----------------------------------------------------------------------------------


def test_a_campaign_is_dialed_once_and_malformed_rows_are_reported(tmp_path: Path, sb: SyncSandbox) -> None:
    csv_path = write_campaign(
        tmp_path / "c.csv",
        40,
        extra=[
            ["bad", "12ab", "19170000000", "welcome.wav"],  # row 42
            ["nofile", number(99), "19170000000", ""],  # row 43
        ],
    )
    with open(csv_path, "ab") as f:
        f.write(b"latin1,91000\xe900098,19170000000,welcome.wav\r\n")  # row 44: not UTF-8
    db = tmp_path / "c.db"
    code, out = invoke("dial", str(csv_path), "--journal", str(db), "--rate", "0", env=env_for(sb))
    assert code == 3, out  # finished, with failed rows
    assert "row 42 (key 'bad'): to: must be 7-16 digits" in out
    assert "row 43 (key 'nofile'): file_name: give exactly one" in out
    assert "row 44 (key 'latin1'): undecodable bytes in to (the file must be UTF-8)" in out
    assert summary(out) == (40, 3, 0, 0)
    assert ledger(sb) == Counter({number(i): 1 for i in range(40)})
    assert states(db)["bad"] is State.FAILED

    code, out = invoke("dial", str(csv_path), "--journal", str(db), "--rate", "0", env=env_for(sb))
    assert code == 3 and "resuming" in out
    assert summary(out) == (40, 3, 0, 0)
    assert ledger(sb) == Counter({number(i): 1 for i in range(40)})  # nothing dialed twice


def test_unknown_outcomes_are_not_redialed_unless_asked(tmp_path: Path, sb: SyncSandbox) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", 30)
    db = tmp_path / "c.db"
    sb.faults.add(MAKE_CALL, drop=True, count=3)  # placed, then the connection drops: unknown
    sb.faults.add(MAKE_CALL, status=500, placed=False, count=2)  # 5xx on call creation: unknown too
    code, out = invoke(
        "dial", str(csv_path), "--journal", str(db), "--rate", "0", "--concurrency", "4", env=env_for(sb)
    )
    assert code == 4, out  # finished, with unknown rows to reconcile
    assert "5 row(s) have an unknown outcome: they may have been placed" in out
    assert summary(out) == (25, 0, 5, 0)
    unknown = {k for k, s in states(db).items() if s is State.UNKNOWN}
    assert len(unknown) == 5

    code, out = invoke("dial", str(csv_path), "--journal", str(db), env=env_for(sb))
    assert code == 4, out
    assert "5 call(s) have an unknown outcome and are not dialed again" in out
    assert summary(out) == (25, 0, 5, 0)
    assert sum(ledger(sb).values()) == 28  # 25 placed + 3 dropped after placing; none re-dialed

    code, out = invoke("dial", str(csv_path), "--journal", str(db), "--redial-unknown", "--rate", "0", env=env_for(sb))
    assert code == 0, out
    # Unknown means they may have been placed: never "provably were not placed".
    assert "5 call(s) whose outcome was unknown (they may have been placed already) are dialed again" in out
    assert "provably" not in out
    assert summary(out) == (30, 0, 0, 0)
    counts = ledger(sb)
    assert sum(counts.values()) == 33 and max(counts.values()) == 2  # the 3 dropped ones, twice


def test_status_and_report(tmp_path: Path, sb: SyncSandbox) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", 12, extra=[["bad", "0", "19170000000", "welcome.wav"]])
    db = tmp_path / "c.db"
    sb.faults.add(MAKE_CALL, drop=True, count=1)
    code, out = invoke(
        "dial", str(csv_path), "--journal", str(db), "--rate", "0", "--concurrency", "1", env=env_for(sb)
    )
    assert code == 4, out  # unknown rows take precedence over failed ones

    code, out = invoke("dial", "status", str(db))
    assert code == 0, out
    assert "c.csv" in out and "telecmi" in out and "none running" in out
    assert re.search(r"placed\s+11\b", out) and re.search(r"unknown\s+1\b", out)
    assert "placed=11 failed=1 unknown=1 pending=0 sending=0" in out
    assert "unknown outcome (`voicekit dial reconcile" in out and "resolves them): k0" in out
    assert "answered=0 missed=0 awaiting=11" in out  # nobody listened to the webhooks

    report = tmp_path / "out.csv"
    code, out = invoke("dial", "report", str(db), "-o", str(report))
    assert code == 0, out
    with open(report, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["key"] for r in rows] == [f"k{i}" for i in range(12)] + ["bad"]
    by_key = {r["key"]: r for r in rows}
    assert by_key["k0"]["state"] == "unknown" and by_key["k0"]["error_type"] == "CallOutcomeUnknownError"
    assert by_key["k5"]["state"] == "placed" and by_key["k5"]["request_id"]
    assert by_key["bad"]["state"] == "failed" and by_key["bad"]["row"] == "14"
    assert {call.request_id for call in sb.calls} >= {r["request_id"] for r in rows if r["state"] == "placed"}
    assert sb.telecmi_secret.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("c.db*"))


@pytest.mark.slow
def test_listen_reconcile_and_report_give_every_row_its_outcome(tmp_path: Path, sb: SyncSandbox) -> None:
    from voicekit.sandbox import OutcomePlan

    rows = 60
    csv_path = write_campaign(tmp_path / "c.csv", rows)
    db = tmp_path / "c.db"
    port = free_port()
    sb.outcomes = OutcomePlan(answer_rate=0.5, seed=3)
    sb.telecmi_webhook_url = f"http://127.0.0.1:{port}/telecmi"
    sb.cdr_resend_schedule = (0.0, 0.01, 0.02, 0.03)
    sb.faults.add(MAKE_CALL, status=503, count=4)  # placed, then 503
    sb.faults.add(MAKE_CALL, status=500, placed=False, count=3)  # nothing placed
    code, out = invoke(
        "dial",
        str(csv_path),
        "--journal",
        str(db),
        "--rate",
        "0",
        "--concurrency",
        "4",
        "--listen",
        f"127.0.0.1:{port}",
        "--listen-after",
        "0.5",
        env=env_for(sb),
    )
    assert code == 4, out
    unknown_before = summary(out)[2]
    assert 3 <= unknown_before <= 7  # the webhooks of the 503s may have placed them already
    with Journal.read(db) as journal:
        heard = journal.outcome_counts()
    assert heard["answered"] + heard["missed"] == rows - 3  # every call placed told its end

    code, out = invoke("dial", "reconcile", str(db), "--settle", "0", "--skew", "0", env=env_for(sb))
    assert code == 0, out
    assert "not placed (pending again)=3" in out and "still unknown=0" in out
    code, out = invoke(
        "dial",
        str(csv_path),
        "--journal",
        str(db),
        "--rate",
        "0",
        "--listen",
        f"127.0.0.1:{port}",
        "--listen-after",
        "0.5",
        env=env_for(sb),
    )
    assert code == 0, out
    assert ledger(sb) == Counter({number(i): 1 for i in range(rows)})

    code, out = invoke("dial", "status", str(db), "--json")
    assert code == 0, out
    decided = {live.call.to: live.decision for live in sb.ended_calls.values()}
    answered = sum(d.answered for d in decided.values())
    assert json.loads(out)["outcomes"] == {"answered": answered, "missed": rows - answered, "awaiting": 0}

    report = tmp_path / "out.csv"
    code, out = invoke("dial", "report", str(db), "-o", str(report))
    assert code == 0, out
    with open(report, newline="", encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == rows
    for line in lines:
        decision = decided[line["number"]]
        assert line["state"] == "placed"
        assert line["outcome"] == ("answered" if decision.answered else "missed"), line
        assert line["billed_seconds"] == str(round(decision.talk) if decision.answered else 0), line
        assert line["vendor_id"]

    # `cdr stats` charts this one campaign, from its journal.
    code, out = invoke("cdr", "stats", "--campaign", str(db), "--json")
    assert code == 0, out
    stats = json.loads(out)
    talks = [round(d.talk) for d in decided.values() if d.answered]
    assert (stats["records"], stats["billed_seconds"]) == (answered, sum(talks))
    code, out = invoke("cdr", "stats", "--campaign", str(db), "--kind", "outgoing-missed", "--json")
    assert code == 0 and json.loads(out)["records"] == rows - answered, out


def test_dial_listen_writes_the_outcomes_of_a_campaign_that_already_ran(tmp_path: Path, sb: SyncSandbox) -> None:
    import urllib.error
    import urllib.request

    csv_path = write_campaign(tmp_path / "c.csv", 3)
    db = tmp_path / "c.db"
    code, out = invoke("dial", str(csv_path), "--journal", str(db), "--rate", "0", env=env_for(sb))
    assert code == 0, out
    with Journal.read(db) as journal:
        request_id = journal.get("k2").request_id  # type: ignore[union-attr]
        campaign_id = journal.campaign_id
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicekit", "dial", "listen", str(db), "--listen", f"127.0.0.1:{port}", "--for", "20"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        cdr = {
            "type": "cdr",
            "cmiuuid": "u-2",
            "request_id": request_id,
            "status": "missed",
            "duration": 0,
            "extra_params": json.dumps({"voicekit_key": "k2", "voicekit_campaign": campaign_id}),
            "to": number(2),
            "hangup_reason": "sent_reject",
        }
        answers = []
        for body in (json.dumps(cdr), "{broken", json.dumps(cdr)):
            for _ in range(200):  # until it listens: at most 10 s
                try:
                    request = urllib.request.Request(
                        f"http://127.0.0.1:{port}/telecmi",
                        data=body.encode(),
                        headers={"Content-Type": "application/json"},
                    )
                    with urllib.request.urlopen(request, timeout=5) as answer:
                        answers.append(answer.status)
                    break
                except urllib.error.HTTPError as exc:
                    answers.append(exc.code)
                    break
                except OSError:
                    time.sleep(0.05)
        assert answers == [200, 400, 200]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert "wrote 1 outcome(s)" in out, out + err
    with Journal.read(db) as journal:
        outcome = journal.outcomes(["k2"])["k2"]
        assert (outcome.answered, outcome.hangup_reason) == (False, "sent_reject")
        assert journal.outcome_counts() == {"answered": 0, "missed": 1, "awaiting": 2}


def test_listen_and_reconcile_refuse_bad_invocations(tmp_path: Path, sb: SyncSandbox) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", 2)
    db = tmp_path / "c.db"
    code, out = invoke("dial", str(csv_path), "--journal", str(db), "--listen", "nowhere", env=env_for(sb))
    assert code == 2 and "HOST:PORT" in out
    code, out = invoke("dial", "reconcile", str(tmp_path / "missing.db"), env=env_for(sb))
    assert code == 1 and "no journal" in out


def test_another_campaign_is_refused_in_one_line(tmp_path: Path, sb: SyncSandbox) -> None:
    db = tmp_path / "c.db"
    code, _ = invoke(
        "dial", str(write_campaign(tmp_path / "a.csv", 3)), "--journal", str(db), "--rate", "0", env=env_for(sb)
    )
    assert code == 0
    code, out = invoke("dial", str(write_campaign(tmp_path / "b.csv", 4)), "--journal", str(db), env=env_for(sb))
    assert code == 1
    assert "CampaignMismatchError" in out and "holds another campaign" in out
    assert "Traceback" not in out
    assert sum(ledger(sb).values()) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dial", "status", "missing.db"], "no journal at"),
        (["dial", "{csv}", "--journal", "{db}", "--shard", "3/2"], "shard: must be"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", 2)
    args = [a.format(csv=csv_path, db=tmp_path / "c.db") for a in args]
    code, out = invoke(*args)
    assert code == 1
    assert message in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1


def test_missing_credentials_name_the_variable(tmp_path: Path) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", 2)
    code, out = invoke(
        "dial",
        str(csv_path),
        "--journal",
        str(tmp_path / "c.db"),
        env={"VOICEKIT_TELECMI_APPID": "", "VOICEKIT_TELECMI_SECRET": ""},
    )
    assert code == 1 and "VOICEKIT_TELECMI_APPID" in out and "Traceback" not in out


def test_shards_split_a_campaign_between_runs(tmp_path: Path, sb: SyncSandbox) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", 60)
    placed = 0
    for shard in ("1/2", "2/2"):
        code, out = invoke(
            "dial",
            str(csv_path),
            "--journal",
            str(tmp_path / f"s{shard[0]}.db"),
            "--shard",
            shard,
            "--rate",
            "0",
            env=env_for(sb),
        )
        assert code == 0, out
        placed += summary(out)[0]
        assert 0 < summary(out)[0] < 60
    assert placed == 60
    assert ledger(sb) == Counter({number(i): 1 for i in range(60)})


def test_a_huawei_campaign(tmp_path: Path, sb: SyncSandbox) -> None:
    path = tmp_path / "h.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "called", "voice_id", "template_params", "play_times"])
        for i in range(5):
            writer.writerow([f"n{i}", f"88{i:02d}", "100001", "1|2", "2"])
        writer.writerow(["n5", "8805", "100001", "", "7"])
    code, out = invoke("dial", str(path), "--journal", str(tmp_path / "h.db"), "--rate", "0", env=env_for(sb))
    assert code == 3, out
    assert "row 7 (key 'n5'): play_times: must be between 1 and 5" in out
    assert summary(out) == (5, 1, 0, 0)
    assert ledger(sb, NOTIFY) == Counter({f"88{i:02d}": 1 for i in range(5)})


def test_a_huawei_row_never_placed_stays_unknown_after_reconcile_with_the_reason(
    tmp_path: Path,
    sb: SyncSandbox,
) -> None:
    path = tmp_path / "h.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "called", "voice_id"])
        writer.writerows([["n0", "8800", "100001"], ["n1", "8801", "100001"]])
    sb.faults.add(NOTIFY, status=500, placed=False, count=1)
    db = tmp_path / "h.db"
    code, out = invoke("dial", str(path), "--journal", str(db), "--rate", "0", "--concurrency", "1", env=env_for(sb))
    assert code == 4, out
    # No Huawei credentials needed: the evidence is the release events in the journal.
    code, out = invoke("dial", "reconcile", str(db), "--settle", "0", "--json", env={})
    assert code == 4, out
    result = json.loads(out)
    assert (result["unknown"], result["requeued"], result["left"]) == (1, 0, 1)
    assert "Huawei lists no call records" in result["ambiguous"][0]["reason"]
    assert states(db) == {"n0": State.UNKNOWN, "n1": State.PLACED}


def test_the_in_process_sandbox(tmp_path: Path) -> None:
    code, out = invoke(
        "dial",
        str(write_campaign(tmp_path / "c.csv", 10)),
        "--journal",
        str(tmp_path / "c.db"),
        "--sandbox",
        "--rate",
        "0",
    )
    assert code == 0, out
    assert "sandbox" in out and summary(out) == (10, 0, 0, 0)


def test_help_documents_the_csv_and_the_subcommands() -> None:
    code, out = invoke("dial", "--help")
    assert code == 0
    for text in (
        "CAMPAIGN.csv --journal CAMPAIGN.db",
        "file_name",
        "extra_params",
        "template_params",
        "--redial-unknown",
        "--shard",
        "status",
        "report",
        "Exit status",
        "0    done: every row placed",
        "3    the run finished, and some rows failed",
        "4    some outcomes are unknown",
        "5    stopped early by a fault that may pass",
        "6    stopped early by a configuration problem",
        "130  interrupted",
    ):
        assert text in out, text


def closed_port() -> int:
    """A loopback port nobody listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_an_unreachable_vendor_stops_the_run_and_the_next_run_dials_those_rows(tmp_path: Path, sb: SyncSandbox) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", 200)
    db = tmp_path / "c.db"
    nowhere = f"http://127.0.0.1:{closed_port()}"
    env = {**env_for(sb), "VOICEKIT_TELECMI_BASE_URL": nowhere, "VOICEKIT_TELECMI_PIOPIY_URL": nowhere}
    code, out = invoke("dial", str(csv_path), "--journal", str(db), "--rate", "0", "--concurrency", "8", env=env)
    assert code == 5, out
    assert "the vendor cannot be reached: 20 calls in a row could not connect" in out
    assert f"voicekit dial {csv_path} --journal {db} --concurrency 8 --rate 0" in out
    with Journal.read(db) as journal:
        counts = journal.counts()
    # It stopped after the first failures instead of marking the whole campaign failed.
    assert 20 <= counts[State.FAILED] < 40 and counts[State.PENDING] == 200 - counts[State.FAILED]
    assert counts[State.SENDING] == 0 and counts[State.UNKNOWN] == 0

    code, out = invoke("dial", str(csv_path), "--journal", str(db), "--rate", "0", env=env_for(sb))
    assert code == 0, out
    assert f"{counts[State.FAILED]} call(s) that provably were not placed last time are dialed again" in out
    assert ledger(sb) == Counter({number(i): 1 for i in range(200)})


def test_refused_credentials_stop_the_run(tmp_path: Path, sb: SyncSandbox) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", 100)
    code, out = invoke(
        "dial",
        str(csv_path),
        "--journal",
        str(tmp_path / "c.db"),
        "--rate",
        "0",
        env={**env_for(sb), "VOICEKIT_TELECMI_SECRET": "wrong"},
    )
    assert code == 6, out  # a configuration problem: restarting as is would fail the same way
    assert "the vendor refused the credentials" in out and "Fix the credentials" in out
    assert "Traceback" not in out and not sb.calls


# -- as a separate process: SIGKILL and Ctrl-C -----------------------------------------------------


def cli(sb: SyncSandbox, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **env_for(sb), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, "-c", "from voicekit.cli import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_calls(sb: SyncSandbox, proc: subprocess.Popen[str], target: int, timeout: float = 30.0) -> bool:
    """Wait until the vendor has placed `target` calls; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while len(sb.calls) < target:
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.002)
    return True


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_prints_how_to_resume(tmp_path: Path) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", 1500)
    db = tmp_path / "c.db"
    args = ("dial", str(csv_path), "--journal", str(db), "--concurrency", "8", "--rate", "0")
    with SyncSandbox(latency=0.004) as sb:
        with cli(sb, *args) as proc:
            assert wait_for_calls(sb, proc, 200)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "Resume with:" in out and f"--journal {db}" in out
        assert "Traceback" not in err
        with Journal.read(db) as journal:
            counts = journal.counts()
        # A clean stop: the calls in flight finished and were recorded; nothing is left "sending".
        assert counts[State.SENDING] == 0 and counts[State.UNKNOWN] == 0
        assert counts[State.PLACED] == len(sb.calls) and counts[State.PENDING] > 0
        with cli(sb, *args) as proc:
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert summary(out) == (1500, 0, 0, 0)
        assert ledger(sb) == Counter({number(i): 1 for i in range(1500)})


def test_a_second_ctrl_c_abandons_the_calls_in_flight_as_unknown(tmp_path: Path) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", 100)
    db = tmp_path / "c.db"
    with SyncSandbox() as sb:
        sb.faults.add(MAKE_CALL, stall=60.0, count=1000)  # placed at once, answered a minute later
        with cli(sb, "dial", str(csv_path), "--journal", str(db), "--concurrency", "4", "--rate", "0") as proc:
            assert wait_for_calls(sb, proc, 4)
            proc.send_signal(signal.SIGINT)
            assert proc.stderr is not None
            while "stopping" not in (line := proc.stderr.readline()):
                assert line, "the run ended without stopping"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "Resume with:" in out and "Traceback" not in err
        with Journal.read(db) as journal:
            counts = journal.counts()
            unknown = {e.key for e in journal.entries([State.UNKNOWN])}
        assert unknown == {f"k{i}" for i in range(4)}  # placed by the vendor, never answered
        assert counts[State.SENDING] == 0 and counts[State.PENDING] == 96
        assert sum(ledger(sb).values()) == 4
