"""Answers that are not the vendor's, over real loopback HTTP.

A base URL with a wrong path (or a proxy, or a gateway) answers an error status in a body that
is not the vendor's error shape: aiohttp's ``404: Not Found``, an HTML page, an empty body,
JSON of another shape. A 4xx like that placed nothing: `NonVendorResponseError`, a
configuration error, never the vendor's "invalid music file name", never retried, and a
campaign dials those rows again on its next run. A 5xx or a 2xx in another shape may follow
a request passed on to the vendor: a call-creating request stays "outcome unknown".
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from tests._cli import SUMMARY, env_for, write_campaign
from tests._faultserver import NOTIFY, TOKEN, FaultServer, Reply, Request
from tests._server import ThreadedServer
from tests.conftest import FAST_RETRY, fresh_appid
from voicekit import AsyncHuaweiVoice, AsyncTeleCMI
from voicekit.cli import main
from voicekit.errors import (
    APIStatusError,
    AuthenticationError,
    CallOutcomeUnknownError,
    ConfigurationError,
    InvalidRequestError,
    NonVendorResponseError,
    NotFoundError,
    ServerError,
    VoiceKitError,
)
from voicekit.huawei import Prompt
from voicekit.sandbox import SyncSandbox
from voicekit.telecmi import Dial

SECRET = "tc-secret-2c9d70"
APP_SECRET = "hw-secret-90ae1b"


@pytest.fixture
async def no_routes() -> AsyncIterator[str]:
    """An aiohttp server with nothing at any path: every request gets its ``404: Not Found``."""
    runner = web.AppRunner(web.Application())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/wrong-prefix"
    await runner.cleanup()


@contextlib.asynccontextmanager
async def answering_everywhere(reply: Reply) -> AsyncIterator[tuple[str, Counter[str]]]:
    """A server on 127.0.0.1 that answers `reply` at every path; counts the requests per path."""
    seen: Counter[str] = Counter()

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        seen[request.path] += 1
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


def telecmi(url: str) -> AsyncTeleCMI:
    return AsyncTeleCMI(
        appid=fresh_appid(), secret=SECRET, base_url=url, piopiy_url=url, rate_limit=None, retry=FAST_RETRY
    )


def huawei(url: str) -> AsyncHuaweiVoice:
    return AsyncHuaweiVoice(base_url=url, app_key="app-key-1", app_secret=APP_SECRET, rate_limit=None, retry=FAST_RETRY)


Call = Callable[[AsyncTeleCMI], Awaitable[object]]


async def play(tc: AsyncTeleCMI) -> object:
    return await tc.play_music(from_=19170000000, to=9100000001, file_name="welcome.wav")


async def click(tc: AsyncTeleCMI) -> object:
    return await tc.click_to_call(user_id="101_1111112", to=9100000001)


async def records(tc: AsyncTeleCMI) -> object:
    return await tc.outgoing_answered(page_size=5)


async def lookup(tc: AsyncTeleCMI) -> object:
    return await tc.lookup_call("req-1")


def assert_not_the_vendors(error: BaseException, status: int) -> None:
    assert isinstance(error, NonVendorResponseError), repr(error)
    assert isinstance(error, ConfigurationError) and isinstance(error, APIStatusError)
    assert not isinstance(error, NotFoundError | AuthenticationError | InvalidRequestError)
    assert error.status == status and error.code is None
    assert "not the vendor's" in str(error) and "base_url" in str(error)
    assert error.response is not None and error.response.status == status


@pytest.mark.parametrize("call", [play, click, records, lookup])
async def test_a_wrong_base_url_is_not_an_invalid_music_file(no_routes: str, call: Call) -> None:
    async with telecmi(no_routes) as tc:
        with pytest.raises(VoiceKitError) as caught:
            await call(tc)
    assert_not_the_vendors(caught.value, 404)
    assert caught.value.body == "404: Not Found"  # type: ignore[attr-defined]


async def test_a_wrong_base_url_for_huawei_fails_at_the_token(no_routes: str) -> None:
    async with huawei(no_routes) as hw:
        with pytest.raises(VoiceKitError) as caught:
            await hw.create_voice_notification(called="8899", play_list=[Prompt(voice_id="100001")])
    assert_not_the_vendors(caught.value, 404)
    assert caught.value.endpoint == "token"  # type: ignore[attr-defined]


FOREIGN_4XX = [
    Reply(404, b"<html><body><h1>404 Not Found</h1><hr>nginx</body></html>", "text/html"),
    Reply(404, b"", "text/plain"),
    Reply.json(404, {"detail": "Not Found"}),  # JSON, not the vendor's shape
    Reply.json(404, ["not", "an", "object"]),
    Reply.json(400, {"error": "bad request", "path": "/v2/global_pcmo_make_call"}),
    Reply(403, b"Forbidden by policy", "text/plain"),
    Reply.json(401, {"message": "Missing Authentication Token"}),
]


@pytest.mark.parametrize("reply", FOREIGN_4XX, ids=lambda r: f"{r.status}-{r.body[:12]!r}")
async def test_a_4xx_in_another_shape_placed_nothing_and_is_not_retried(reply: Reply) -> None:
    with FaultServer(lambda request, nth: reply) as srv:
        async with telecmi(srv.url) as tc:
            with pytest.raises(VoiceKitError) as play_error:
                await play(tc)
            with pytest.raises(VoiceKitError) as click_error:
                await click(tc)
            outcomes = [o async for o in tc.dial_many(campaign_dials(4))]
        async with huawei(srv.url) as hw:
            with pytest.raises(VoiceKitError) as notify_error:
                await hw.create_voice_notification(called="8899", play_list=[Prompt(voice_id="100001")])
        for caught in (play_error, click_error, notify_error):
            assert_not_the_vendors(caught.value, reply.status)
        assert [o.unknown for o in outcomes] == [False] * 4, "placed nothing: not unknown"
        assert all(isinstance(o.error, NonVendorResponseError) for o in outcomes)
        paths = srv.paths()
        assert paths.count("/v2/global_pcmo_make_call") == 1 + 4 and paths.count("/v2/webrtc/click2call") == 1
        # Never retried, but a 401 once with a renewed token (a gateway may answer an expired
        # token in its own shape; nothing was processed either time).
        assert paths.count(NOTIFY) == (2 if reply.status == 401 else 1)
        assert paths.count(TOKEN) == (2 if reply.status == 401 else 1)


def campaign_dials(n: int) -> list[Dial]:
    return [Dial(key=f"k{i}", from_=19170000000, to=9100000100 + i, file_name="a.wav") for i in range(n)]


async def test_the_vendors_own_error_shapes_keep_their_meaning() -> None:
    def plan(request: Request, nth: int) -> Reply:
        if request.path == NOTIFY:
            return Reply.json(400, {"retCode": "400", "retMsg": "bad called number"})
        return Reply.json(404, {"code": 404, "msg": "Invalid music filename", "status": "error"})

    with FaultServer(plan) as srv:
        async with telecmi(srv.url) as tc:
            with pytest.raises(NotFoundError, match="Invalid music filename") as music:
                await play(tc)
        async with huawei(srv.url) as hw:
            with pytest.raises(InvalidRequestError, match="bad called number"):
                await hw.create_voice_notification(called="8899", play_list=[Prompt(voice_id="100001")])
    assert not isinstance(music.value, ConfigurationError)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(502, b"<html>502 Bad Gateway</html>", "text/html"),
        Reply(504, b"", "text/plain"),
        Reply(200, b"<html>a single-page app answers every path</html>", "text/html"),
    ],
    ids=["502-html", "504-empty", "200-html"],
)
async def test_a_5xx_or_2xx_in_another_shape_may_have_placed_the_call(reply: Reply) -> None:
    async with answering_everywhere(reply) as (url, seen), telecmi(url) as tc:
        with pytest.raises(CallOutcomeUnknownError) as caught:
            await play(tc)
        # A read is retried as before, and fails with the last error, not as "not the vendor".
        with pytest.raises(VoiceKitError) as read:
            await records(tc)
    assert seen["/v2/global_pcmo_make_call"] == 1, "never retried: it may have rung"
    assert seen["/v1/outanswered"] == FAST_RETRY.attempts
    assert caught.value.status == reply.status
    assert not isinstance(read.value, NonVendorResponseError)
    if reply.status >= 500:
        assert isinstance(read.value, ServerError)
        assert "not in the vendor's shape" in str(caught.value)


@pytest.mark.slow
def test_a_campaign_dials_those_rows_again_once_the_base_url_is_fixed(tmp_path: Path) -> None:
    csv_path = write_campaign(tmp_path / "c.csv", [9100000000 + i for i in range(5)])
    journal = str(tmp_path / "c.db")
    # No route at all: aiohttp's own "404: Not Found" for every path.
    with ThreadedServer({}) as wrong, SyncSandbox() as sb:
        env = {**env_for(sb), "VOICEKIT_TELECMI_BASE_URL": wrong.url + "/v9"}
        first = CliRunner().invoke(main, ["dial", str(csv_path), "--journal", journal], env=env)
        # A configuration problem: the run stops at the first such answer, rows stay dialable.
        assert first.exit_code == 6, first.output
        placed, failed, unknown, pending = SUMMARY.findall(first.output)[-1]
        assert (placed, unknown) == ("0", "0") and int(failed) + int(pending) == 5, first.output
        assert "NonVendorResponseError" in first.output and "check base_url" in first.output
        second = CliRunner().invoke(main, ["dial", str(csv_path), "--journal", journal], env=env_for(sb))
        assert second.exit_code == 0, second.output
        assert SUMMARY.findall(second.output)[-1] == ("5", "0", "0", "0"), second.output
        assert len(sb.calls) == 5, "each row placed once, on the run that reached the vendor"
    status = CliRunner().invoke(main, ["dial", "status", journal, "--json"])
    assert json.loads(status.output)["counts"]["placed"] == 5
