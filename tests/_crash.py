"""What the crash-campaign tests share: `voicekit dial` as a process against a sandbox, and its ledger."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter

from tests._cli import MAKE_CALL
from voicekit.sandbox import SyncSandbox

LATENCY = 0.01  # seconds the sandbox holds each request: calls are in flight when the kill lands


def number(i: int) -> str:
    return str(9100000000 + i)


def start(sb: SyncSandbox, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "COLUMNS": "400",
        "VOICEKIT_TELECMI_BASE_URL": sb.url,
        "VOICEKIT_TELECMI_PIOPIY_URL": sb.url,
        "VOICEKIT_TELECMI_APPID": str(sb.telecmi_appid),
        "VOICEKIT_TELECMI_SECRET": sb.telecmi_secret,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "voicekit", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def dialed(sb: SyncSandbox) -> Counter[str]:
    return Counter(call.to for call in list(sb.calls) if call.endpoint == MAKE_CALL)


def settle(sb: SyncSandbox) -> None:
    """Wait until the sandbox has handled every request that reached it before the kill."""
    deadline = time.monotonic() + 5.0
    seen = -1
    while len(sb.calls) != seen and time.monotonic() < deadline:
        seen = len(sb.calls)
        time.sleep(LATENCY * 5)
