"""The `voicekit` command line: the demo, single calls, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from voicekit.cli import main


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.slow
def test_the_demo_runs_every_step_to_completion() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "voicekit", "demo", "--calls", "60", "--rate", "200"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "120"},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in (
        "1. play a music",
        "2. bridge a call",
        "3. click-to-call",
        "4. Huawei voice notification",
        "release event via voicekit.webhooks",
        "5. a burst of 60 calls",
        "placed=60 failed=0 unknown=0",
        "6. call records",
        "paged all 63 records",
        "demo complete",
    ):
        assert line in out, line
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_the_demo_fits_80_columns_without_breaking_or_cropping_a_line() -> None:
    from voicekit.cli._demo import CODE

    proc = subprocess.run(
        [sys.executable, "-m", "voicekit", "demo", "--calls", "20", "--rate", "200"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "80"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for code_line in CODE.splitlines():  # each line of the code panel is there whole
        if code_line.strip():
            assert any(code_line in line for line in lines), code_line
    for whole in (
        "sandbox on http://127.0.0.1:",
        "release event via voicekit.webhooks: 12 s, ",
        "placed=20 failed=0 unknown=0",
    ):
        assert any(whole in line for line in lines), whole


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["call", "play", "--from", "19170000000", "--to", "19170000001", "--file", "welcome.wav"], "call placed"),
        (
            [
                "call",
                "bridge",
                "--from",
                "19170000000",
                "--to",
                "19170000001",
                "--connect",
                "19170000002",
                "--duration",
                "300",
            ],
            "call placed",
        ),
        (["click2call", "--user-id", "101_1111112", "--to", "9100000000"], "click-to-call initiated"),
        (["notify", "--called", "8899", "--voice-id", "100001", "--param", "100"], "notification created"),
    ],
)
def test_single_calls_on_the_sandbox(args: list[str], expect: str) -> None:
    code, out = run(*args, "--sandbox")
    assert code == 0, out
    assert expect in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["call", "play", "--from", "19170000000", "--to", "12ab", "--file", "welcome.wav", "--sandbox"],
            "ValidationError: to:",
        ),
        (
            ["call", "play", "--from", "19170000000", "--to", "19170000001", "--file", "nope.wav", "--sandbox"],
            "NotFoundError (HTTP 404",
        ),
        (["notify", "--called", "8899", "--sandbox"], "ValidationError: voice_id"),
    ],
)
def test_a_voicekit_error_is_one_line_and_a_non_zero_exit(args: list[str], message: str) -> None:
    code, out = run(*args)
    assert code == 1
    assert message in out
    assert "Traceback" not in out


def test_missing_credentials_name_the_variable() -> None:
    code, out = run(
        "call",
        "play",
        "--from",
        "19170000000",
        "--to",
        "19170000001",
        "--file",
        "a.wav",
        env={"VOICEKIT_TELECMI_APPID": "", "VOICEKIT_TELECMI_SECRET": ""},
    )
    assert code == 1
    assert "VOICEKIT_TELECMI_APPID" in out


def test_the_sandbox_command_serves_until_interrupted() -> None:
    import re
    import signal

    import voicekit

    proc = subprocess.Popen(
        [sys.executable, "-m", "voicekit", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "200"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"serving on (http://127\.0\.0\.1:\d+)", first)
        assert match, first
        url = match.group(1)
        printed = "".join(proc.stdout.readline() for _ in range(8))
        appid = re.search(r"VOICEKIT_TELECMI_APPID=(\d+)", printed)
        secret = re.search(r"VOICEKIT_TELECMI_SECRET=(\S+)", printed)
        assert appid and secret, printed
        with voicekit.TeleCMI(appid=appid.group(1), secret=secret.group(1), base_url=url, rate_limit=None) as tc:
            assert tc.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav").status == "progress"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "sandbox stopped" in out
    assert "Traceback" not in err
    assert "warning" not in err  # loopback is the default, and says nothing


def test_the_sandbox_banner_prints_one_export_per_line_at_80_columns() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicekit", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "80"},
    )
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(9)]
    finally:
        import signal

        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    exports = [line.strip() for line in banner if line.strip().startswith("export ")]
    names = [line.split()[1].split("=", 1)[0] for line in exports]
    assert names == [
        "VOICEKIT_TELECMI_APPID",
        "VOICEKIT_TELECMI_SECRET",
        "VOICEKIT_TELECMI_BASE_URL",
        "VOICEKIT_TELECMI_PIOPIY_URL",
        "VOICEKIT_HUAWEI_BASE_URL",
        "VOICEKIT_HUAWEI_APP_KEY",
        "VOICEKIT_HUAWEI_APP_SECRET",
    ]
    for line in exports:  # one variable per line, its value whole (a URL is never broken)
        assert line.count("=") == 1 and len(line.split()) == 2, line
    assert all(line.split("=", 1)[1].startswith("http://127.0.0.1:") for line in exports if "_URL=" in line)


def test_the_sandbox_command_takes_a_non_loopback_host_with_a_warning() -> None:
    # 192.0.2.1 (a documentation address) is on no interface here: the bind fails, so nothing
    # ever listens beyond loopback, but it shows the host got past the loopback rule.
    result = CliRunner().invoke(main, ["sandbox", "--host", "192.0.2.1", "--port", "0"])
    assert result.exit_code == 1
    assert "warning: listening on 192.0.2.1, not loopback" in result.output
    assert "cannot serve on 192.0.2.1:0" in result.output
    assert "Traceback" not in result.output


def test_the_library_sandbox_stays_on_loopback_unless_told() -> None:
    from voicekit.sandbox import serve

    with pytest.raises(ValueError, match="loopback"):
        serve(host="192.0.2.1", port=0)
