"""Secrets never reach logs, exception text or attributes, reprs, journals or command output,
whatever a vendor echoes back, and including a token that was rotated while a request flew."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

import pytest

from tests._secrets import Echo, leaks
from tests._server import ThreadedServer
from tests.conftest import FAST_RETRY, fresh_appid
from voicekit import AsyncHuaweiVoice, AsyncTeleCMI, HuaweiVoice, TeleCMI
from voicekit._base_client import Answer, Endpoint, RedactedCause, classify
from voicekit.errors import CallOutcomeUnknownError, UnexpectedResponseError, VoiceKitError
from voicekit.huawei import Prompt
from voicekit.telecmi import Dial

SECRET = "tc-secret-8f3a1c"
APP_SECRET = "hw-secret-51d0e2"


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
