"""Every command answers a user's mistake with a message and its documented exit status, never a
traceback: 1 for an error the command found, 2 for a usage error (click's own)."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from voicekit.cli import main

#: Unreachable on purpose: none of these invocations may get as far as dialing.
NOWHERE_ENV = {
    "VOICEKIT_TELECMI_APPID": "2222226",
    "VOICEKIT_TELECMI_SECRET": "x",
    "VOICEKIT_TELECMI_BASE_URL": "http://127.0.0.1:9",
    "VOICEKIT_TELECMI_PIOPIY_URL": "http://127.0.0.1:9",
}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder of good and bad inputs, and a journal of the campaign c.csv."""

    def campaign(name: str, to: str) -> None:
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["key", "to", "from", "file_name"])
            writer.writerow(["k1", to, "19170000000", "welcome.wav"])

    campaign("c.csv", "9100000001")
    campaign("other.csv", "9100000002")
    (tmp_path / "latin1.csv").write_bytes(b"k\xe9y,to,from,file_name\nk1,9100000001,19170000000,welcome.wav\n")
    (tmp_path / "binary.csv").write_bytes(bytes(range(128, 256)) + bytes(range(256)) * 4)
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "novendor.csv").write_text("number,name\n1,a\n", encoding="utf-8")
    (tmp_path / "corrupt.db").write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
    (tmp_path / "text.db").write_text("not a database\n", encoding="utf-8")
    (tmp_path / "adir").mkdir()
    code = (
        CliRunner()
        .invoke(
            main,
            ["dial", str(tmp_path / "c.csv"), "--journal", str(tmp_path / "c.db"), "--sandbox", "--rate", "0"],
            catch_exceptions=False,
        )
        .exit_code
    )
    assert code == 0
    return tmp_path


def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


CASES = [
    # (arguments, exit status, what the message must say); {d} is the folder of inputs
    (["dial", "{d}/missing.csv", "--journal", "{d}/j.db"], 1, "cannot read the campaign file"),
    (["dial", "{d}/adir", "--journal", "{d}/j.db"], 2, "is a directory"),
    (["dial", "{d}/c.csv", "--journal", "{d}/adir"], 2, "is a directory"),
    (["dial", "{d}/c.csv", "--journal", "{d}/missing/j.db"], 1, "does not exist"),
    (["dial", "{d}/latin1.csv", "--journal", "{d}/j.db"], 1, "not UTF-8"),
    (["dial", "{d}/binary.csv", "--journal", "{d}/j.db"], 1, "UTF-8"),
    (["dial", "{d}/empty.csv", "--journal", "{d}/j.db"], 1, "the file is empty"),
    (["dial", "{d}/novendor.csv", "--journal", "{d}/j.db"], 1, "cannot tell the campaign's vendor"),
    (["dial", "{d}/c.csv", "--journal", "{d}/j.db", "--vendor", "huawei"], 1, "needs a 'called' column"),
    (["dial", "{d}/c.csv", "--journal", "{d}/j.db", "--shard", "3/2"], 1, "shard: must be"),
    (["dial", "{d}/c.csv", "--journal", "{d}/j.db", "--shard", "x"], 1, "shard: must be"),
    (["dial", "{d}/c.csv", "--journal", "{d}/j.db", "--concurrency", "0"], 2, "--concurrency"),
    (["dial", "{d}/c.csv", "--journal", "{d}/j.db", "--rate", "-1"], 2, "--rate"),
    (["dial", "{d}/c.csv"], 2, "--journal"),
    (["dial", "{d}/other.csv", "--journal", "{d}/c.db"], 1, "holds another campaign"),
    (["dial", "{d}/c.csv", "--journal", "{d}/corrupt.db"], 1, "not a voicekit journal"),
    (["dial", "{d}/c.csv", "--journal", "{d}/text.db"], 1, "not a voicekit journal"),
    (["dial", "{d}/c.csv", "--journal", "{d}/c.csv"], 1, "not a voicekit journal"),
    (["dial", "status", "{d}/c.csv"], 1, "not a voicekit journal"),
    (["dial", "status", "{d}/corrupt.db"], 1, "not a voicekit journal"),
    (["dial", "status", "{d}/missing.db"], 1, "no journal at"),
    (["dial", "status", "{d}/adir"], 2, "is a directory"),
    (["dial", "report", "{d}/text.db"], 1, "not a voicekit journal"),
    (["dial", "report", "{d}/c.db", "-o", "{d}/missing/out.csv"], 1, "Could not open file"),
    (["dial", "report", "{d}/c.db", "-o", "{d}/adir"], 2, "is a directory"),
    (["dial", "--no-such-option"], 2, "No such option"),
    (["call", "play", "--from", "19170000000", "--to", "12ab", "--file", "a.wav"], 1, "ValidationError"),
    (["call", "play", "--to", "19170000001"], 2, "Missing option"),
    (["notify", "--called", "8899"], 1, "ValidationError"),
    (["cdr", "export", "--no-such-option"], 2, "No such option"),
    (["sandbox", "--port", "{busy}"], 1, "the port is in use"),
]


@pytest.mark.parametrize(("args", "status", "message"), CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_a_bad_invocation_is_a_message_and_its_exit_status(
    files: Path, args: list[str], status: int, message: str
) -> None:
    for port in busy_port():
        argv = [a.format(d=files, busy=port) for a in args]
        # catch_exceptions=False: an exception escaping the command fails the test outright.
        result = CliRunner().invoke(main, argv, env=NOWHERE_ENV, catch_exceptions=False)
    out = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == status, out
    assert message in out, out
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sandbox", "--port", "{busy}"], "hint: choose another --port, or --port 0 for a free one"),
        (["dial", "{d}/other.csv", "--journal", "{d}/c.db"], "holds another campaign"),
        (["dial", "status", "{d}/corrupt.db"], "not a voicekit journal"),
    ],
)
@pytest.mark.slow
def test_as_a_process_the_error_is_one_line_on_stderr(files: Path, args: list[str], message: str) -> None:
    for port in busy_port():
        argv = [a.format(d=files, busy=port) for a in args]
        proc = subprocess.run(
            [sys.executable, "-m", "voicekit", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **os.environ,
                **NOWHERE_ENV,
                "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
                "COLUMNS": "400",
            },
        )
    assert proc.returncode == 1, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # the error, and at most a hint


def test_a_dial_usage_error_names_the_command_the_user_typed(files: Path) -> None:
    result = CliRunner().invoke(main, ["dial", str(files / "c.csv")], prog_name="voicekit")
    assert result.exit_code == 2
    assert "voicekit dial [OPTIONS]" in result.output and "--journal" in result.output
    assert "dial run" not in result.output, "the hidden run subcommand is an implementation detail"


def test_control_characters_in_a_header_are_escaped_not_echoed(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.csv"
    hostile.write_text("\x1b[2Jnumber\x07,name\n1,a\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["dial", str(hostile), "--journal", str(tmp_path / "h.db")])
    assert result.exit_code == 1
    assert "cannot tell the campaign's vendor" in result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
