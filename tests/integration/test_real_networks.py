"""The client on real networks: a forward proxy (explicit, or from HTTP_PROXY / NO_PROXY),
per-call timeouts, the raw status and headers on results and errors, and debug logging."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import FAST_RETRY, fresh_appid
from voicekit import AsyncTeleCMI, TeleCMI, Timeout
from voicekit.errors import (
    CallOutcomeUnknownError,
    ConfigurationError,
    NotFoundError,
    ProxyAuthenticationError,
    ReadError,
    ValidationError,
)

SECRET = "tc-secret-5a71"
PROXY_PASSWORD = "proxy-pass-93c1"
CALL_OK = {"request_id": "R1", "status": "progress", "code": 200}


class ForwardProxy:
    """A plain HTTP forward proxy on 127.0.0.1 that counts what it forwards (and can require
    Basic credentials, as corporate proxies do)."""

    def __init__(self, password: str | None = None) -> None:
        self.password = password
        self.forwarded: list[str] = []
        self.refused = 0
        self.url = ""
        self._server: asyncio.Server | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ForwardProxy:
        self._session = aiohttp.ClientSession()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None and self._session is not None
        self._server.close()
        await self._session.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                method, target, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                expected = base64.b64encode(f"user:{self.password}".encode()).decode()
                if self.password is not None and headers.get("proxy-authorization") != f"Basic {expected}":
                    self.refused += 1
                    writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                self.forwarded.append(target)
                forward = {k: v for k, v in headers.items() if not k.startswith("proxy-") and k != "host"}
                assert self._session is not None
                async with self._session.request(method, target, data=body, headers=forward) as resp:
                    content = await resp.read()
                    head = [f"HTTP/1.1 {resp.status} {resp.reason}", f"Content-Length: {len(content)}"]
                    head += [
                        f"{k}: {v}"
                        for k, v in resp.headers.items()
                        if k.lower() not in ("content-length", "transfer-encoding", "connection")
                    ]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + content)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def vendor() -> AsyncIterator[str]:
    async def make_call(request: web.Request) -> web.Response:
        body = await request.json()
        if body["to"] == 9100000404:
            return web.json_response(
                {"code": 404, "msg": "Invalid music file"}, status=404, headers={"X-Request-Id": "req-404"}
            )
        if body["to"] == 9100000999:
            await asyncio.sleep(5)
        return web.json_response(CALL_OK, headers={"X-Request-Id": "req-1", "X-RateLimit-Remaining": "41"})

    async def records(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({"total": 0, "cdr": []})

    app = web.Application()
    app.router.add_post("/v2/global_pcmo_make_call", make_call)
    app.router.add_post("/v1/outanswered", records)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def client(url: str, **kw: object) -> AsyncTeleCMI:
    return AsyncTeleCMI(
        appid=fresh_appid(), secret=SECRET, base_url=url, piopiy_url=url, rate_limit=None, retry=FAST_RETRY, **kw
    )  # type: ignore[arg-type]


async def play(tc: AsyncTeleCMI, to: int = 9100000001, **kw: object) -> object:
    return await tc.play_music(from_=19170000000, to=to, file_name="a.wav", **kw)  # type: ignore[arg-type]


async def test_an_explicit_proxy_carries_every_request(vendor: str) -> None:
    async with ForwardProxy() as proxy, client(vendor, proxy=proxy.url) as tc:
        await play(tc)
        await play(tc)
    assert proxy.forwarded == [vendor + "/v2/global_pcmo_make_call"] * 2


async def test_the_environment_proxy_is_honoured_and_no_proxy_too(vendor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with ForwardProxy() as proxy:
        for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with client(vendor) as tc:
            await play(tc)
        assert len(proxy.forwarded) == 1, "HTTP_PROXY routes the call through the proxy"
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with client(vendor) as tc:
            await play(tc)
        assert len(proxy.forwarded) == 1, "NO_PROXY names the vendor's host: straight there"
        monkeypatch.delenv("NO_PROXY")
        async with client(vendor, proxy=None) as tc:
            await play(tc)
        assert len(proxy.forwarded) == 1, "proxy=None ignores the environment"


async def test_proxy_credentials_are_sent_and_never_shown(vendor: str) -> None:
    async with ForwardProxy(password=PROXY_PASSWORD) as proxy:
        async with client(vendor, proxy=f"http://user:{PROXY_PASSWORD}@{proxy.url[7:]}") as tc:
            result = await play(tc)
            assert PROXY_PASSWORD not in repr(tc) and PROXY_PASSWORD not in repr(result)
        assert len(proxy.forwarded) == 1 and proxy.refused == 0
        async with client(vendor, proxy=f"http://user:wrong-{PROXY_PASSWORD}@{proxy.url[7:]}") as tc:
            with pytest.raises(ProxyAuthenticationError) as refused:
                await play(tc)
        assert proxy.refused == 1
        text = f"{refused.value!r} {refused.value} {vars(refused.value)}"
        assert PROXY_PASSWORD not in text


@pytest.mark.parametrize("value", ["ftp://proxy:21", "proxy host:1", "", 12, "http://:3128", "http://p:99999"])
def test_a_bad_proxy_is_refused_before_anything(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        AsyncTeleCMI(appid=1, secret="s", proxy=value)  # type: ignore[arg-type]
    assert caught.value.field == "proxy"


async def test_a_bad_environment_proxy_names_the_variable(vendor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "ftp://nowhere:21")
    monkeypatch.delenv("http_proxy", raising=False)
    async with client(vendor) as tc:
        with pytest.raises(ConfigurationError, match="HTTP_PROXY"):
            await play(tc)


@pytest.mark.slow
async def test_a_per_call_timeout_overrides_the_clients(vendor: str) -> None:
    async with client(vendor, timeout=Timeout(total=30)) as tc:
        with pytest.raises(CallOutcomeUnknownError, match="no answer within 0.2 s"):
            await asyncio.wait_for(play(tc, to=9100000999, timeout=0.2), 4)
        paginator = tc.outgoing_answered(timeout=Timeout(total=0.2, connect=0.2))
        with pytest.raises(ReadError):
            await asyncio.wait_for(paginator.first_page(), 4)
        assert await play(tc)  # the client's own timeout is untouched


def test_per_call_timeouts_are_validated() -> None:
    tc = TeleCMI(appid=1, secret="s", base_url="http://127.0.0.1:9")
    for bad in (0, -1, float("nan"), "5", True):
        with pytest.raises(ValidationError):
            tc.play_music(from_=19170000000, to=9100000001, file_name="a.wav", timeout=bad)  # type: ignore[arg-type]
    tc.close()


async def test_results_and_errors_carry_the_raw_status_and_headers(vendor: str) -> None:
    async with client(vendor) as tc:
        result = await play(tc)
        with pytest.raises(NotFoundError) as refused:
            await play(tc, to=9100000404)
    assert result.response.status == 200  # type: ignore[attr-defined]
    assert result.response.headers["x-request-id"] == "req-1"  # type: ignore[attr-defined]
    assert result.response.headers["X-RateLimit-Remaining"] == "41"  # type: ignore[attr-defined]
    assert result == type(result)(request_id="R1", status="progress"), "the response is not data"
    assert refused.value.headers["X-Request-Id"] == "req-404"
    assert refused.value.response is not None and refused.value.response.status == 404


@pytest.mark.slow
def test_voicekit_log_debug_shows_each_exchange_without_the_secret() -> None:
    code = f"""
import asyncio, voicekit
from aiohttp import web
async def main():
    app = web.Application()
    async def ok(request):
        await request.read()
        return web.json_response({CALL_OK!r})
    app.router.add_post("/v2/global_pcmo_make_call", ok)
    runner = web.AppRunner(app); await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0); await site.start()
    url = f"http://127.0.0.1:{{runner.addresses[0][1]}}"
    async with voicekit.AsyncTeleCMI(appid=1, secret={SECRET!r}, base_url=url, rate_limit=None) as tc:
        await tc.play_music(from_=19170000000, to=9100000001, file_name="a.wav")
    await runner.cleanup()
asyncio.run(main())
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "VOICEKIT_LOG": "debug"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "POST http://127.0.0.1" in proc.stderr and "-> 200 in" in proc.stderr
    assert '"secret":"***"' in proc.stderr, "the request is logged, redacted"
    assert SECRET not in proc.stderr
    quiet = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**env, "VOICEKIT_LOG": ""}, timeout=60
    )
    assert quiet.returncode == 0 and quiet.stderr == ""
