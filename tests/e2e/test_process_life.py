"""The blocking facade across the life of a process: a fork in the middle of a token fetch,
renewal in the child, and an interpreter exit while daemon threads are inside calls."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiohttp import web

import voicekit
from tests._server import ThreadedServer
from voicekit.huawei import Prompt

pytestmark = pytest.mark.e2e

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


class SlowTokens:
    """A Huawei peer whose token endpoint is slow once, so a fetch can be caught in flight."""

    def __init__(self) -> None:
        self.in_flight = threading.Event()
        self.tokens = 0
        self.notifications = 0

    async def token(self, request: web.Request) -> web.Response:
        await request.read()
        self.tokens += 1
        if self.tokens == 1:
            self.in_flight.set()
            await asyncio.sleep(1.0)
        return web.json_response(
            {"AccessToken": f"tok-{self.tokens}", "Expires": "600", "CreateTime": str(int(time.time()))}
        )

    async def notify(self, request: web.Request) -> web.Response:
        await request.read()
        self.notifications += 1
        return web.json_response(
            {"retCode": "0", "retMsg": "success", "result": {"callSerialNo": f"sn-{self.notifications}"}}
        )


def notify(hw: voicekit.HuaweiVoice) -> str:
    return hw.create_voice_notification(called="8899", play_list=[Prompt(voice_id="100001")]).call_serial_no


def in_child(body: object) -> int:
    """Run `body()` in a forked child with a deadline; its exit code says how it went."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 3
        try:
            done = threading.Event()
            outcome: list[bool] = []

            def run() -> None:
                try:
                    outcome.append(bool(body()))  # type: ignore[operator]
                finally:
                    done.set()

            threading.Thread(target=run, daemon=True).start()
            code = (0 if outcome == [True] else 1) if done.wait(15) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@needs_fork
def test_a_fork_during_a_token_fetch_does_not_deadlock_the_child() -> None:
    peer = SlowTokens()
    routes = {
        "/apigovernance/api/oauth/tokenByAkSk": peer.token,
        "/apiaccess/rest/voiceNotification/v2/createVoiceNotification": peer.notify,
    }
    with ThreadedServer(routes) as srv:
        hw = voicekit.HuaweiVoice(base_url=srv.url, app_key="app-key-1", app_secret="app-secret-1", rate_limit=None)
        parent = ThreadPoolExecutor(1)
        first = parent.submit(notify, hw)
        assert peer.in_flight.wait(10), "the first token fetch is under way"
        # The parent's fetch holds the token lock now; the child inherits it taken.
        code = in_child(lambda: notify(hw).startswith("sn-"))
        assert code == 0, {1: "the child's call failed", 2: "the child deadlocked"}.get(code, code)
        assert first.result(10).startswith("sn-"), "the parent finishes its own call"
        parent.shutdown()
        hw.close()


@needs_fork
def test_concurrent_token_renewal_in_a_child_works() -> None:
    peer = SlowTokens()
    peer.tokens = 1  # no slow fetch here
    routes = {
        "/apigovernance/api/oauth/tokenByAkSk": peer.token,
        "/apiaccess/rest/voiceNotification/v2/createVoiceNotification": peer.notify,
    }
    with ThreadedServer(routes) as srv:
        hw = voicekit.HuaweiVoice(base_url=srv.url, app_key="app-key-2", app_secret="app-secret-2", rate_limit=None)

        def many() -> bool:
            hw._async._tokens._token = None  # every thread wants a new token at once
            with ThreadPoolExecutor(8) as pool:
                return all(s.startswith("sn-") for s in pool.map(lambda _: notify(hw), range(16)))

        # Contended in the parent first, so the token lock is bound to the parent's loop.
        assert many()
        assert in_child(many) == 0
        hw.close()


def run_script(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-X", "dev", "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, env=env
    )


@pytest.mark.parametrize("what", ["call", "records"])
def test_exit_is_silent_and_quick_while_daemon_threads_are_inside_calls(what: str) -> None:
    proc = run_script(f"""
        import socket, threading, time
        import voicekit
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        url = f"http://127.0.0.1:{{srv.getsockname()[1]}}"
        held = []
        def accept():
            while True:
                held.append(srv.accept()[0])   # accepted, never answered
        threading.Thread(target=accept, daemon=True).start()
        tc = voicekit.TeleCMI(appid=2222226, secret="s3cr3t", base_url=url, piopiy_url=url,
                              rate_limit=None)
        def call():
            tc.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav")
        def records():
            for _ in tc.outgoing_answered():
                pass
        for _ in range(3):
            threading.Thread(target={what}, daemon=True).start()
        while len(held) < 3:
            time.sleep(0.01)
        print("exiting", flush=True)
    """)
    assert proc.returncode == 0
    assert proc.stdout.strip() == "exiting"
    assert proc.stderr == "", proc.stderr
