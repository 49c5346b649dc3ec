"""What the command-line tests share: the sandbox's account as environment, running a command,
reading a run's summary, the vendor's ledger, and a listener process."""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner

from voicekit.cli import main
from voicekit.sandbox import SyncSandbox

MAKE_CALL = "/v2/global_pcmo_make_call"
SUMMARY = re.compile(r"placed=(\d+) failed=(\d+) unknown=(\d+) pending=(\d+)")


def env_for(sb: SyncSandbox) -> dict[str, str]:
    """The environment that aims the commands at `sb` with its default accounts."""
    return {
        "VOICEKIT_TELECMI_BASE_URL": sb.url,
        "VOICEKIT_TELECMI_PIOPIY_URL": sb.url,
        "VOICEKIT_TELECMI_APPID": str(sb.telecmi_appid),
        "VOICEKIT_TELECMI_SECRET": sb.telecmi_secret,
        "VOICEKIT_HUAWEI_BASE_URL": sb.url,
        "VOICEKIT_HUAWEI_APP_KEY": sb.huawei_app_key,
        "VOICEKIT_HUAWEI_APP_SECRET": sb.huawei_app_secret,
    }


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `voicekit ARGS` in this process; its exit status and its output (both streams)."""
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def summary(out: str) -> tuple[int, int, int, int]:
    """(placed, failed, unknown, pending) of a run's last summary line."""
    found = SUMMARY.findall(out)
    assert found, out
    placed, failed, unknown, pending = (int(x) for x in found[-1])
    return placed, failed, unknown, pending


def ledger(sb: SyncSandbox, path: str = MAKE_CALL) -> Counter[str]:
    """How many times the vendor saw each number called."""
    return Counter(call.to for call in list(sb.calls) if call.endpoint == path)


def write_campaign(path: Path, numbers: list[int], *, keys: bool = True, file_name: str = "welcome.wav") -> Path:
    """A TeleCMI campaign dialing `numbers` (keys k0.., or the default row numbers)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "to", "from", "file_name"] if keys else ["to", "from", "file_name"])
        for i, number in enumerate(numbers):
            row = [str(number), "19170000000", file_name]
            writer.writerow([f"k{i}", *row] if keys else row)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A `voicekit` command running in a process of its own; `out` and `err` once it ended."""

    def __init__(self, args: tuple[str, ...], env: dict[str, str] | None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicekit", *args],
            env={**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out = self.err = ""

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def wait(self, timeout: float = 60.0) -> int:
        """Wait for it to end by itself (bounded); its exit status."""
        self.out, self.err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode

    def stop(self) -> None:
        """Interrupt it (SIGINT, as Ctrl-C) if it still runs, and reap it."""
        if self.proc.returncode is not None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.out, self.err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.out, self.err = self.proc.communicate(timeout=30)


@contextmanager
def voicekit_process(*args: str, env: dict[str, str] | None = None) -> Iterator[Process]:
    """`voicekit ARGS` as a process of its own; interrupted and reaped at the end of the block."""
    process = Process(args, env)
    try:
        yield process
    finally:
        process.stop()


def wait_listening(port: int, seconds: float = 20.0) -> None:
    """Return once something accepts connections on 127.0.0.1:`port` (bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def wait_for(predicate: object, what: str, seconds: float = 20.0) -> None:
    """Poll `predicate()` every 20 ms until it holds (bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError(f"never: {what}")
