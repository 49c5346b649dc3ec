"""Secrets never reach logs, exception text or attributes, reprs, journals or command output,
whatever a vendor echoes back, and including a token that was rotated while a request flew."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import attrs
import pytest
from aiohttp import web

from tests._server import ThreadedServer
from tests.conftest import FAST_RETRY, fresh_appid
from voicekit import AsyncHuaweiVoice, AsyncTeleCMI, HuaweiVoice, TeleCMI
from voicekit._base_client import Answer, Endpoint, RedactedCause, classify
from voicekit.errors import CallOutcomeUnknownError, UnexpectedResponseError, VoiceKitError
from voicekit.huawei import Prompt
from voicekit.telecmi import Dial

SECRET = "tc-secret-8f3a1c"
APP_SECRET = "hw-secret-51d0e2"


def leaks(obj: Any, needles: tuple[str, ...], depth: int = 0, seen: set[int] | None = None) -> list[str]:
    """Where any needle appears in `obj`: its text, its attributes, its causes, recursively.

    Every link of an exception's chain (``__cause__`` and ``__context__``) is searched: its
    text, its arguments and every attribute (a ``JSONDecodeError``'s ``doc``, aiohttp's
    ``request_info`` and its headers, a response's headers), whatever their type.
    """
    seen = set() if seen is None else seen
    if depth > 16 or id(obj) in seen or obj is None or isinstance(obj, bool | int | float):
        return []
    seen.add(id(obj))
    found: list[str] = []
    if isinstance(obj, bytes | bytearray):
        obj = bytes(obj).decode("utf-8", "replace")
    if isinstance(obj, str):
        return [f"{n!r} in {obj[:160]!r}" for n in needles if n in obj]
    if isinstance(obj, Mapping):  # dicts, and multidicts (headers)
        for key, value in obj.items():
            found += leaks(key, needles, depth + 1, seen) + leaks(value, needles, depth + 1, seen)
        return found
    if isinstance(obj, list | tuple | set | frozenset):  # and named tuples (aiohttp's RequestInfo)
        for item in obj:
            found += leaks(item, needles, depth + 1, seen)
        return found
    if isinstance(obj, BaseException):
        found += leaks(str(obj), needles, depth + 1, seen) + leaks(repr(obj), needles, depth + 1, seen)
        found += leaks(obj.args, needles, depth + 1, seen)
        found += leaks(obj.__cause__, needles, depth + 1, seen) + leaks(obj.__context__, needles, depth + 1, seen)
    elif not isinstance(obj, type):
        found += leaks(repr(obj), needles, depth + 1, seen)
    if attrs.has(type(obj)):
        found += leaks({f.name: getattr(obj, f.name, None) for f in attrs.fields(type(obj))}, needles, depth + 1, seen)
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        found += leaks(vars(obj), needles, depth + 1, seen)
    return found


class Echo:
    """A vendor that echoes each request (body and headers) back inside its errors."""

    def __init__(self) -> None:
        self.notify_calls = 0
        self.slow_started = asyncio.Event()
        self.release_slow = asyncio.Event()
        self.tokens = 0

    @staticmethod
    async def _echo(request: web.Request) -> dict[str, Any]:
        return {
            "msg": f"rejected {await request.text()}",
            "echo": {"body": await request.text(), "headers": dict(request.headers)},
        }

    async def make_call(self, request: web.Request) -> web.Response:
        echo = await self._echo(request)
        if "9100000003" in echo["echo"]["body"]:
            # A 200 that is not JSON, echoing the request: the parser's JSONDecodeError holds
            # the whole document (`doc`) at the end of the error's chain.
            return web.Response(text=f"<html>{echo}</html>", content_type="text/html")
        if "9100000004" in echo["echo"]["body"]:
            # A 404 that is not the vendor's (a wrong path), echoing the request as text.
            return web.Response(status=404, text=f"no route for {echo}", content_type="text/plain")
        status = 422 if "9100000001" in echo["echo"]["body"] else 500
        return web.json_response(echo, status=status)

    async def records(self, request: web.Request) -> web.Response:
        # A 200 page shaped like an error, echoing the request: unreadable, retried, raised.
        return web.json_response({"code": 500, "status": "error", **await self._echo(request)})

    async def token(self, request: web.Request) -> web.Response:
        await request.read()
        self.tokens += 1
        return web.json_response({"AccessToken": f"tok-{self.tokens}-7e9d2b", "Expires": "600", "CreateTime": "0"})

    async def notify(self, request: web.Request) -> web.Response:
        self.notify_calls += 1
        echo = await self._echo(request)
        if self.notify_calls == 1:
            # The first request waits while the second gets a 401 and the token is rotated.
            self.slow_started.set()
            await asyncio.wait_for(self.release_slow.wait(), 10)
            return web.json_response(echo, status=500)
        if self.notify_calls == 2:
            self.release_slow.set()
            return web.json_response(echo, status=401)
        return web.json_response({"retCode": "1", "retMsg": f"no: {echo['msg']}", "echo": echo})


@pytest.fixture
def echo_server():
    echo = Echo()
    routes = {
        "/v2/global_pcmo_make_call": echo.make_call,
        "/v1/outanswered": echo.records,
        "/apigovernance/api/oauth/tokenByAkSk": echo.token,
        "/apiaccess/rest/voiceNotification/v2/createVoiceNotification": echo.notify,
    }
    with ThreadedServer(routes) as srv:
        yield srv, echo


async def test_no_secret_in_errors_logs_or_reprs_whatever_the_vendor_echoes(
    echo_server: tuple[ThreadedServer, Echo], caplog: pytest.LogCaptureFixture
) -> None:
    srv, _ = echo_server
    caplog.set_level(logging.DEBUG, logger="voicekit")
    errors: list[BaseException] = []
    async with AsyncTeleCMI(
        appid=fresh_appid(), secret=SECRET, base_url=srv.url, piopiy_url=srv.url, rate_limit=None, retry=FAST_RETRY
    ) as tc:
        # 422 (refused), 500 (unknown), a 200 that is not JSON (unknown) and a 404 not the vendor's
        for to in (9100000001, 9100000002, 9100000003, 9100000004):
            try:
                await tc.play_music(from_=19170000000, to=to, file_name="a.wav")
            except VoiceKitError as exc:
                errors.append(exc)
        try:
            await tc.outgoing_answered()
        except VoiceKitError as exc:
            errors.append(exc)
        async for outcome in tc.dial_many([Dial(key="k", from_=19170000000, to=9100000002, file_name="a.wav")]):
            errors.append(outcome.error)  # type: ignore[arg-type]
        reprs = [repr(tc)]
    async with AsyncHuaweiVoice(
        base_url=srv.url, app_key="app-key-9", app_secret=APP_SECRET, rate_limit=None, retry=FAST_RETRY
    ) as hw:
        play = [Prompt(voice_id="100001")]
        slow = asyncio.ensure_future(hw.create_voice_notification(called="8899", play_list=play))
        # Meanwhile a 401 rotates the token; the slow request, sent with the old one, then fails.
        second = hw.create_voice_notification(called="8899", play_list=play)
        results = await asyncio.gather(slow, second, return_exceptions=True)
        errors += [r for r in results if isinstance(r, BaseException)]
        reprs.append(repr(hw))
    tokens = ("tok-1-7e9d2b", "tok-2-7e9d2b")
    assert len(errors) == 8 and all(isinstance(e, VoiceKitError) for e in errors), errors
    needles = (SECRET, APP_SECRET, *tokens)
    assert leaks(errors, needles) == []
    assert leaks(reprs, needles) == []
    assert leaks([r.getMessage() for r in caplog.records], needles) == []
    # The echo really carried the credentials: the scrubbing did the work.
    assert any("***" in repr(getattr(e, "body", "")) for e in errors)


def test_blocking_clients_hide_their_secrets_in_repr() -> None:
    with TeleCMI(appid=2222226, secret=SECRET, base_url="http://127.0.0.1:9") as tc:
        assert SECRET not in repr(tc) and SECRET not in str(vars(tc))
    with HuaweiVoice(base_url="http://127.0.0.1:9", app_key="k-123456789", app_secret=APP_SECRET) as hw:
        assert APP_SECRET not in repr(hw)


@pytest.mark.slow
def test_no_secret_in_command_output_or_journal(echo_server: tuple[ThreadedServer, Echo], tmp_path) -> None:
    srv, _ = echo_server
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "VOICEKIT_TELECMI_APPID": "2222226",
        "VOICEKIT_TELECMI_SECRET": SECRET,
        "VOICEKIT_TELECMI_BASE_URL": srv.url,
        "VOICEKIT_TELECMI_PIOPIY_URL": srv.url,
        "VOICEKIT_LOG": "debug",
    }

    def voicekit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "voicekit", *args], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path
        )

    outputs = [
        voicekit("call", "play", "--from", "19170000000", "--to", to, "--file", "a.wav")
        for to in ("9100000001", "9100000002")
    ]
    campaign = tmp_path / "c.csv"
    campaign.write_text("key,to,from,file_name\na,9100000001,19170000000,a.wav\nb,9100000002,19170000000,a.wav\n")
    outputs.append(voicekit("dial", str(campaign), "--journal", str(tmp_path / "c.db")))
    outputs.append(voicekit("dial", "report", str(tmp_path / "c.db")))
    assert all(p.returncode != 0 for p in outputs[:2]), [p.stderr for p in outputs]
    assert all("Traceback" not in p.stderr for p in outputs), [p.stderr for p in outputs]
    assert leaks([(p.stdout, p.stderr) for p in outputs], (SECRET,)) == []
    assert "a," in outputs[-1].stdout and "b," in outputs[-1].stdout
    journal = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("c.db"))
    assert SECRET.encode() not in journal


def test_a_foreign_exception_that_cannot_be_scrubbed_is_cut_from_the_chain() -> None:
    """A parser's exception keeps the answer (echoing the secret) where voicekit cannot reach
    it (a slot): the chain ends in a `RedactedCause` naming its type instead."""

    class Opaque(Exception):
        __slots__ = ("held",)

        def __init__(self, held: object) -> None:
            super().__init__("the parser gave up")
            self.held = held

        def __repr__(self) -> str:
            return f"Opaque(held={self.held!r})"

    def parse(data: object) -> object:
        raise Opaque(data)

    endpoint = Endpoint("make_call", "/v2/global_pcmo_make_call", creates_call=True)
    answer = Answer(200, b'{"echo": {"secret": "%s"}, "note": "%s"}' % (SECRET.encode(), SECRET.encode()))
    verdict = classify(
        endpoint, answer, url="http://v.test", request={"secret": SECRET}, parse=parse, secrets=(SECRET,)
    )
    error = verdict.error
    assert isinstance(error, CallOutcomeUnknownError) and isinstance(error.__cause__, UnexpectedResponseError)
    cut = error.__cause__.__cause__
    assert isinstance(cut, RedactedCause) and "Opaque" in str(cut), repr(cut)
    assert leaks(error, (SECRET,)) == []
