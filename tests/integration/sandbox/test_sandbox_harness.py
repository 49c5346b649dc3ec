"""Running the sandbox: async context manager, blocking SyncSandbox, serve(), create_app()."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests._paths import ROOT
from voicekit.sandbox import Sandbox, SandboxState, SyncSandbox, create_app

REPO_ROOT = ROOT


def blocking_post(url: str, body: Any, timeout: float = 10) -> tuple[int, dict[str, Any], Any]:
    """POST JSON with urllib (plain blocking code); returns (status, headers, body)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), json.loads(exc.read())


def play(sb: SandboxState) -> dict[str, Any]:
    return {
        "appid": sb.telecmi_appid,
        "secret": sb.telecmi_secret,
        "from": 19170000000,
        "to": 19170000001,
        "pcmo": [{"action": "play", "file_name": "welcome.wav"}],
    }


def test_sync_sandbox_from_blocking_code() -> None:
    with SyncSandbox(telecmi_secret="blocking") as sb:
        assert sb.url.startswith("http://127.0.0.1:")
        assert sb.telecmi_url == sb.piopiy_url == sb.huawei_url == sb.url
        status, _, body = blocking_post(sb.url + "/v2/global_pcmo_make_call", play(sb))
        assert status == 200 and body["status"] == "progress"
        assert [c.request_id for c in sb.calls] == [body["request_id"]]

        sb.faults.add("/v2/global_pcmo_make_call", status=503)
        status, _, body = blocking_post(sb.url + "/v2/global_pcmo_make_call", play(sb))
        assert (status, body["code"]) == (503, 503)
        assert len(sb.calls) == 2

        sb.rate_limit, sb.rate_burst = 1, 1
        blocking_post(sb.url + "/v1/outanswered", {"appid": sb.telecmi_appid, "token": "blocking"})
        status, headers, _ = blocking_post(sb.url + "/v1/outanswered", {"appid": sb.telecmi_appid, "token": "blocking"})
        assert status == 429 and headers["Retry-After"] == "1"
        assert sb.call(lambda: threading.current_thread().name) == "voicekit-sandbox"
        thread = sb._thread
    assert thread is not None and not thread.is_alive()
    with pytest.raises(RuntimeError):
        _ = sb.url


def test_sync_sandbox_from_many_threads() -> None:
    results: list[int] = []
    with SyncSandbox() as sb:

        def worker(n: int) -> None:
            body = dict(play(sb), to=19170000100 + n)
            results.append(blocking_post(sb.url + "/v2/ind_pcmo_make_call", body)[0])

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert results == [200] * 8
    assert sorted(c.to for c in sb.calls) == [str(19170000100 + n) for n in range(8)]


async def test_sandbox_lifecycle(post: Any) -> None:
    sb = Sandbox()
    with pytest.raises(RuntimeError):
        _ = sb.url
    await sb.start()
    with pytest.raises(RuntimeError):
        await sb.start()
    first_url = sb.url
    assert (await post(sb.url + "/v2/global_pcmo_make_call", json=play(sb))).status == 200
    await sb.stop()
    await sb.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = sb.url
    # restart on the same port; the vendor's ledger survives
    async with sb:
        assert sb.url == first_url
        assert (await post(sb.url + "/v2/global_pcmo_make_call", json=play(sb))).status == 200
    assert len(sb.calls) == 2


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
async def test_only_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        await Sandbox(host=host).start()


def test_sync_sandbox_refuses_other_hosts_without_leaking_a_thread() -> None:
    before = threading.active_count()
    with pytest.raises(ValueError, match="loopback"):
        SyncSandbox(host="0.0.0.0").start()
    assert threading.active_count() == before


async def test_reset_forgets_everything(sb: Sandbox, post: Any) -> None:
    await post(sb.url + "/v2/global_pcmo_make_call", json=play(sb))
    sb.faults.add(None, status=500)
    sb.reset()
    assert (sb.calls, list(sb.requests), sb.faults.pending()) == ([], [], 0)
    answer = await post(sb.url + "/v1/outanswered", json={"appid": sb.telecmi_appid, "token": sb.telecmi_secret})
    assert answer.body["total"] == 0


async def test_create_app_runs_under_any_runner(http: aiohttp.ClientSession) -> None:
    state = SandboxState(telecmi_appid=42)
    runner = web.AppRunner(create_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        body = dict(play(state), appid=42)
        async with http.post(f"http://127.0.0.1:{port}/v2/global_pcmo_make_call", json=body) as response:
            assert response.status == 200
    finally:
        await runner.cleanup()
    assert state.calls[0].account == "42"


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_blocks_until_interrupted(stop_signal: signal.Signals) -> None:
    script = (
        "import sys\n"
        "from voicekit.sandbox import serve\n"
        "def ready(url):\n"
        "    sys.stdout.write(url + '\\n')\n"
        "    sys.stdout.flush()\n"
        "serve(port=0, telecmi_secret='served', on_ready=ready)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        status, _, body = blocking_post(
            url + "/v2/webrtc/click2call", {"user_id": "101_1111112", "secret": "served", "to": 9100000000}
        )
        assert status == 200 and body["msg"] == "Call initiated"
        proc.send_signal(stop_signal)
        _, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
