"""Corporate proxies that say no, over real loopback HTTP.

An https vendor URL goes through an HTTP proxy as a tunnel (``CONNECT``); a proxy that refuses
it (407, 403, 502) let no byte reach the vendor: a connect failure, never "the call may have
been placed". A plain-http request answered 407 is a configuration error, never the vendor's
answer. The proxy's credentials (the password, its Basic base64, the whole header) show
nowhere: not in errors (along their whole chain), not in DEBUG logs, not in the message about
a malformed ``proxy=``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from tests._secrets import leaks
from tests.conftest import FAST_RETRY, fresh_appid
from voicekit import AsyncTeleCMI
from voicekit.errors import (
    APIStatusError,
    CallOutcomeUnknownError,
    ConfigurationError,
    ConnectError,
    OutcomeUnknownError,
    ProxyAuthenticationError,
    ProxyConnectError,
    ValidationError,
)
from voicekit.telecmi import Dial

SECRET = "tc-secret-0b7e44"
USER = "corp-user"
PASSWORD = "proxy-pw-6f2a9d"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
NEEDLES = (SECRET, PASSWORD, BASIC)
#: No handler waits longer than this for a client.
MAX_WAIT = 10.0
REASONS = {403: "Forbidden", 407: "Proxy Authentication Required", 502: "Bad Gateway"}


class RefusingProxy:
    """An HTTP proxy on 127.0.0.1 that answers every request (a CONNECT, or a plain request)
    with `status`, echoing the request it got (request line, headers, body) in its answer, as
    some proxies' error pages do. It forwards nothing."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    def methods(self) -> list[str]:
        return [line.split(" ", 1)[0] for line, _ in self.requests]

    async def __aenter__(self) -> RefusingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(100):  # keep-alive, bounded
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), MAX_WAIT)
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                length = int(headers.get("content-length", "0"))
                body = await asyncio.wait_for(reader.readexactly(length), MAX_WAIT) if length else b""
                self.requests.append((lines[0], headers))
                echo = b"refused: " + head + body
                writer.write(
                    (
                        f"HTTP/1.1 {self.status} {REASONS[self.status]}\r\n"
                        'Proxy-Authenticate: Basic realm="corp"\r\n'
                        f"Content-Type: text/plain\r\nContent-Length: {len(echo)}\r\n\r\n"
                    ).encode()
                    + echo
                )
                await writer.drain()
                if lines[0].startswith("CONNECT"):
                    return  # a refused tunnel ends the connection
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            return
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def vendor_listener() -> AsyncIterator[tuple[int, list[int]]]:
    """A port on 127.0.0.1 standing for the vendor: it counts the connections it gets."""
    accepted: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        server.close()


def client(base_url: str, proxy: str | None, **kw: object) -> AsyncTeleCMI:
    return AsyncTeleCMI(
        appid=fresh_appid(),
        secret=SECRET,
        base_url=base_url,
        piopiy_url=base_url,
        rate_limit=None,
        retry=FAST_RETRY,
        proxy=proxy,
        **kw,  # type: ignore[arg-type]
    )


def with_credentials(proxy_url: str) -> str:
    return proxy_url.replace("http://", f"http://{USER}:{PASSWORD}@", 1)


def dials(n: int) -> list[Dial]:
    return [Dial(key=f"k{i}", from_=19170000000, to=9100000000 + i, file_name="a.wav") for i in range(n)]


@pytest.mark.parametrize("status", [407, 403, 502])
async def test_a_refused_tunnel_is_a_connect_error_and_nothing_reaches_the_vendor(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="voicekit")
    async with vendor_listener() as (port, accepted), RefusingProxy(status) as proxy:
        async with client(f"https://127.0.0.1:{port}", with_credentials(proxy.url)) as tc:
            with pytest.raises(ConnectError) as caught:
                await tc.play_music(from_=19170000000, to=9100000001, file_name="a.wav")
            outcomes = [outcome async for outcome in tc.dial_many(dials(10), concurrency=4)]
    error = caught.value
    assert isinstance(error, ProxyConnectError) and not isinstance(error, OutcomeUnknownError)
    assert error.status == status and f"HTTP {status}" in str(error) and "proxy" in str(error)
    assert "check the proxy settings" in str(error)
    # The proxy was asked for a tunnel, with the credentials; a refused connection is retried.
    assert proxy.methods() == ["CONNECT"] * (FAST_RETRY.attempts * 11)
    assert all(headers["proxy-authorization"] == f"Basic {BASIC}" for _, headers in proxy.requests)
    assert accepted == [], "no byte went to the vendor"
    # A campaign through that proxy: every row failed to connect, none "may have been placed".
    assert [o.unknown for o in outcomes] == [False] * 10
    assert all(isinstance(o.error, ProxyConnectError) for o in outcomes)
    assert leaks([error, *(o.error for o in outcomes)], NEEDLES) == []
    assert leaks([r.getMessage() for r in caplog.records], NEEDLES) == []


@pytest.mark.parametrize("credentials", [True, False])
async def test_a_407_to_a_plain_http_request_is_a_configuration_error(
    credentials: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="voicekit")
    async with vendor_listener() as (port, accepted), RefusingProxy(407) as proxy:
        proxy_url = with_credentials(proxy.url) if credentials else proxy.url
        async with client(f"http://127.0.0.1:{port}", proxy_url) as tc:
            with pytest.raises(ProxyAuthenticationError) as caught:
                await tc.play_music(from_=19170000000, to=9100000001, file_name="a.wav")
            outcomes = [outcome async for outcome in tc.dial_many(dials(5))]
            records = tc.outgoing_answered(page_size=5)
            with pytest.raises(ProxyAuthenticationError):
                await records.first_page()
    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert not isinstance(error, APIStatusError | OutcomeUnknownError), "a 407 is never the vendor's answer"
    assert error.status == 407 and error.endpoint == "make_call"
    assert error.proxy == proxy.url, "the proxy, without its credentials"
    assert "407" in str(error) and "proxy" in str(error) and "password" in str(error)
    assert isinstance(error.body, str) and "refused: POST" in error.body, "the proxy's answer, kept"
    assert [o.unknown for o in outcomes] == [False] * 5
    assert all(isinstance(o.error, ProxyAuthenticationError) for o in outcomes)
    assert len(proxy.requests) == 1 + 5 + 1, "a 407 is never retried: nothing changes by asking again"
    assert accepted == []
    if credentials:
        # The proxy echoed the header it got: the scrubbing did the work.
        assert all(headers["proxy-authorization"] == f"Basic {BASIC}" for _, headers in proxy.requests)
        assert "Proxy-Authorization: ***" in error.body
    assert leaks([error, *(o.error for o in outcomes)], NEEDLES) == []
    assert leaks([r.getMessage() for r in caplog.records], NEEDLES) == []


async def test_the_environments_proxy_credentials_are_scrubbed_too(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    async with vendor_listener() as (port, accepted), RefusingProxy(407) as proxy:
        monkeypatch.setenv("HTTP_PROXY", with_credentials(proxy.url))
        async with AsyncTeleCMI(
            appid=fresh_appid(), secret=SECRET, base_url=f"http://127.0.0.1:{port}", rate_limit=None
        ) as tc:
            with pytest.raises(ProxyAuthenticationError) as caught:
                await tc.play_music(from_=19170000000, to=9100000001, file_name="a.wav")
    assert proxy.requests[0][1]["proxy-authorization"] == f"Basic {BASIC}"
    assert accepted == []
    assert leaks(caught.value, NEEDLES) == []


async def test_a_proxys_5xx_to_a_plain_request_still_may_have_placed_the_call() -> None:
    """Only a refused tunnel proves that nothing left: a plain request the proxy answered 502
    may have been passed on before it failed, so that call's outcome stays unknown."""
    async with RefusingProxy(502) as proxy, client("http://127.0.0.1:9", with_credentials(proxy.url)) as tc:
        # Plain http: the proxy's 502 is an answer on the way, after which the call may exist.
        with pytest.raises(CallOutcomeUnknownError) as caught:
            await tc.play_music(from_=19170000000, to=9100000001, file_name="a.wav")
    assert len(proxy.requests) == 1, "never retried"
    assert leaks(caught.value, NEEDLES) == []


@pytest.mark.parametrize(
    "value",
    [
        f"http://{USER}:{PASSWORD[:6]} {PASSWORD[6:]}@proxy:3128",  # a space
        f"http://{USER}:{PASSWORD}@proxy:99999",  # a port out of range
        f"http://{USER}:{PASSWORD}@proxy:port",  # not a port
        f"ftp://{USER}:{PASSWORD}@proxy:21",  # not an http(s) proxy
        f"http://{USER}:{PASSWORD}@[::1:3128",  # an unclosed bracket
    ],
)
def test_a_malformed_proxy_is_refused_without_showing_its_password(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    needles = (PASSWORD, PASSWORD[:6], PASSWORD[6:])
    with pytest.raises(ValidationError) as caught:
        AsyncTeleCMI(appid=1, secret=SECRET, proxy=value)
    assert caught.value.field == "proxy" and "proxy URL" in str(caught.value)
    assert leaks(caught.value, needles) == []
    # The same value in the environment: a ConfigurationError naming the variable, as redacted.
    for name in ("http_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", value)
    tc = AsyncTeleCMI(appid=1, secret=SECRET, base_url="http://127.0.0.1:9", rate_limit=None)

    async def call() -> None:
        async with tc:
            await tc.play_music(from_=19170000000, to=9100000001, file_name="a.wav")

    with pytest.raises(ConfigurationError, match="HTTP_PROXY") as from_env:
        asyncio.run(call())
    assert leaks(from_env.value, needles) == []
