"""The fault matrix: every transport and answer fault × every call-creating API, over real loopback.

A raw HTTP/1.1 server on 127.0.0.1 (tests/_faultserver.py) plays the fault, counts what reached
it per path and per called number, and each case asserts both what the "vendor" received and what
the caller got. The rule under test is the README's "it never rings a person twice":
a call-creating request is retried only when it provably never arrived (connect faults) or the
vendor said it did not process it (429, Huawei 401); after anything else the caller gets
`CallOutcomeUnknownError` after exactly one request.

Set VOICEKIT_FAULT_MATRIX=<file> to have the observed matrix written there as a markdown table.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

import voicekit
from tests._faultserver import (
    CLICK2CALL,
    MAKE_GLOBAL,
    MAKE_IND,
    NOTIFY,
    TOKEN,
    Action,
    Close,
    CutBody,
    FaultServer,
    Hang,
    Reply,
    Request,
    Reset,
    Truncated,
    backlog_full_listener,
    healthy,
    ok_body,
    unused_port,
)
from tests.conftest import fresh_appid
from voicekit import RetryPolicy, Timeout
from voicekit.errors import (
    CallOutcomeUnknownError,
    ConnectError,
    RateLimitedError,
    UnexpectedResponseError,
    ValidationError,
)
from voicekit.huawei import Notify, Prompt
from voicekit.telecmi import Bridge, Dial, Pstn

SECRET = "fault-matrix-secret-42"
APP_SECRET = "fault-matrix-app-secret-42"
ATTEMPTS = 4
RETRY = RetryPolicy(attempts=ATTEMPTS, initial=0.0, max_delay=0.0)
DEAD_HOST = "vendor-down.invalid"
MISSING: Any = object()

_app_keys = itertools.count(1)


def fresh_app_key() -> str:
    """A Huawei app key no other test uses (the limiter's account key)."""
    return f"fault-matrix-key-{os.getpid()}-{next(_app_keys)}"


# -- the rows: faults ---------------------------------------------------------------------------


def always(action: Action) -> Callable[[Request, int], Action]:
    return lambda request, nth: action


def first_then_ok(action: Action) -> Callable[[Request, int], Action]:
    def plan(request: Request, nth: int) -> Action:
        return action if nth == 1 else Reply.json(200, ok_body(request.path))

    return plan


def ok_bytes(request: Request) -> bytes:
    return Reply.json(200, ok_body(request.path)).body


def wrong_shape(request: Request, nth: int) -> Action:
    """Valid JSON lacking a documented field of the path's success answer."""
    body = {
        MAKE_GLOBAL: {"request_id": "x"},
        MAKE_IND: {"request_id": "x"},
        CLICK2CALL: {"code": 200, "msg": "Call initiated"},
        NOTIFY: {"retCode": "0"},
    }[request.path]
    return Reply.json(200, body)


def redirect(status: int) -> Callable[[Request, int], Action]:
    def plan(request: Request, nth: int) -> Action:
        location = f"http://{request.headers['host']}{moved_path(request.number)}"
        return Reply(status, b"", "text/plain", {"Location": location})

    return plan


def moved_path(number: str | None) -> str:
    return f"/moved/{number}"


def too_many(retry_after: str | None) -> Reply:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return Reply.json(429, {"code": 429, "msg": "slow down"}, **headers)


HTML = b"<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>"


@dataclass(frozen=True)
class Row:
    id: str
    #: what the server does with the call-creating request (the token path stays healthy)
    plan: Callable[[Request, int], Action] | None
    #: "unknown" | "ok" | "rate_limited" | "connect"
    expect: str
    #: requests the call-creating path received
    requests: int
    status: int | None = None
    body: Any = MISSING
    cause: type[BaseException] | None = None
    retry_after: Any = MISSING
    #: where the client points: "server", or a place that never answers
    target: str = "server"
    timeout: Timeout = Timeout(connect=2.0, total=5.0)
    rate_limit: float | None = None
    #: call again right after on the same account (the paused account)
    again: bool = False
    vendors: frozenset[str] = frozenset({"telecmi", "huawei"})
    #: Huawei token requests (the token endpoint is always healthy)
    tokens: int = 1
    #: part of the mixed bulk runs (a per-request fault)
    bulk: bool = True


def http_error(status: int, body: bytes, content_type: str, expected_body: Any) -> Row:
    return Row(
        f"http-{status}", always(Reply(status, body, content_type)), "unknown", 1, status=status, body=expected_body
    )


ROWS: list[Row] = [
    http_error(500, b'{"code": 500, "msg": "boom"}', "application/json", {"code": 500, "msg": "boom"}),
    http_error(
        502, b"<html><body>502 Bad Gateway</body></html>", "text/html", "<html><body>502 Bad Gateway</body></html>"
    ),
    http_error(503, b"service unavailable", "text/plain", "service unavailable"),
    http_error(504, b'{"message": "upstream timed out"}', "application/json", {"message": "upstream timed out"}),
    Row("read-timeout", always(Hang()), "unknown", 1, timeout=Timeout(connect=2.0, total=0.5)),
    Row("closed-after-request", always(Close()), "unknown", 1),
    Row("reset-after-request", always(Reset()), "unknown", 1),
    Row("closed-mid-body", lambda r, n: CutBody(ok_bytes(r)), "unknown", 1),
    Row("reset-mid-body", lambda r, n: CutBody(ok_bytes(r), reset=True), "unknown", 1),
    Row("truncated-body", lambda r, n: Truncated(ok_bytes(r)), "unknown", 1),
    Row(
        "html-200",
        always(Reply(200, HTML, "text/html")),
        "unknown",
        1,
        status=200,
        body=HTML.decode(),
        cause=UnexpectedResponseError,
    ),
    Row("wrong-shape-200", wrong_shape, "unknown", 1, status=200, cause=UnexpectedResponseError),
    Row("redirect-307", redirect(307), "unknown", 1, status=307, cause=UnexpectedResponseError),
    Row("redirect-308", redirect(308), "unknown", 1, status=308, cause=UnexpectedResponseError),
    Row("429-retry-after-0-then-200", first_then_ok(too_many("0")), "ok", 2),
    Row("429-no-retry-after", always(too_many(None)), "rate_limited", ATTEMPTS, retry_after=None),
    Row(
        "429-retry-after-3600",
        always(too_many("3600")),
        "rate_limited",
        1,
        retry_after=3600,
        rate_limit=1000,
        again=True,
    ),
    Row("429-retry-after-1e999", always(too_many("1e999")), "rate_limited", ATTEMPTS, retry_after=None),
    Row("429-retry-after-nan", always(too_many("nan")), "rate_limited", ATTEMPTS, retry_after=None),
    Row("429-retry-after-inf", always(too_many("inf")), "rate_limited", ATTEMPTS, retry_after=None),
    Row(
        "huawei-401-then-200",
        first_then_ok(Reply.json(401, {"retCode": "401", "retMsg": "token expired"})),
        "ok",
        2,
        vendors=frozenset({"huawei"}),
        tokens=2,
    ),
    Row(
        "huawei-401-text-then-200",
        first_then_ok(Reply(401, b"Unauthorized", "text/plain")),
        "ok",
        2,
        vendors=frozenset({"huawei"}),
        tokens=2,
    ),
    Row("connection-refused", None, "connect", 0, target="refused", bulk=False, cause=aiohttp.ClientConnectorError),
    Row("dns-failure", None, "connect", 0, target="dns", bulk=False, cause=aiohttp.ClientConnectorDNSError),
    Row(
        "connect-timeout",
        None,
        "connect",
        0,
        target="connect-timeout",
        bulk=False,
        timeout=Timeout(connect=0.2, total=5.0),
        cause=aiohttp.ConnectionTimeoutError,
    ),
    # The attempt's whole budget runs out while it still connects: nothing was sent, so it is a
    # failure to connect (retried), never an outcome unknown.
    Row(
        "connect-outlasts-the-total",
        None,
        "connect",
        0,
        target="connect-timeout",
        bulk=False,
        timeout=Timeout(connect=5.0, total=0.2),
        cause=TimeoutError,
    ),
]


# -- the columns: APIs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Api:
    id: str
    vendor: str
    sync: bool
    path: str
    #: the number called, as the request carries it
    number: Any
    call: Callable[[Any], Any]


def _make_call(c: Any) -> Any:
    return c.make_call(
        from_=19170000000,
        to=19170000001,
        region="ind",
        pcmo=[Bridge(from_=19170000000, connect=[Pstn(number=19170000002)])],
    )


def _play_music(c: Any) -> Any:
    return c.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav")


def _click_to_call(c: Any) -> Any:
    return c.click_to_call(user_id="101_1111112", to=9100000000)


def _notify(c: Any) -> Any:
    return c.create_voice_notification(called="8899", play_list=[Prompt(voice_id="100001")])


APIS: list[Api] = [
    Api("make_call", "telecmi", False, MAKE_IND, 19170000001, _make_call),
    Api("play_music", "telecmi", False, MAKE_GLOBAL, 19170000001, _play_music),
    Api("click_to_call", "telecmi", False, CLICK2CALL, 9100000000, _click_to_call),
    Api("create_voice_notification", "huawei", False, NOTIFY, "8899", _notify),
    Api("TeleCMI.play_music", "telecmi", True, MAKE_GLOBAL, 19170000001, _play_music),
    Api("HuaweiVoice.create_voice_notification", "huawei", True, NOTIFY, "8899", _notify),
]

BULK_APIS = ["dial_many", "notify_many", "TeleCMI.dial_many", "HuaweiVoice.notify_many"]
COLUMN_TITLES = {
    "make_call": "make_call (ind)",
    "TeleCMI.play_music": "play_music (blocking)",
    "HuaweiVoice.create_voice_notification": "create_voice_notification (blocking)",
    "TeleCMI.dial_many": "dial_many (blocking)",
    "HuaweiVoice.notify_many": "notify_many (blocking)",
}
NOT_A_DIAL = "not-a-Dial item"


def make_client(vendor: str, sync: bool, url: str, row: Row, timeout: Timeout | None = None) -> Any:
    common: dict[str, Any] = {"rate_limit": row.rate_limit, "retry": RETRY, "timeout": timeout or row.timeout}
    if vendor == "telecmi":
        telecmi = voicekit.TeleCMI if sync else voicekit.AsyncTeleCMI
        return telecmi(appid=fresh_appid(), secret=SECRET, base_url=url, piopiy_url=url, **common)
    huawei = voicekit.HuaweiVoice if sync else voicekit.AsyncHuaweiVoice
    return huawei(base_url=url, app_key=fresh_app_key(), app_secret=APP_SECRET, **common)


async def run(sync: bool, fn: Callable[[], Any], bound: float = 15.0) -> Any:
    """Run one client operation within `bound` seconds: awaited for an async client, on a plain
    thread for a blocking one (a daemon thread, so a hung blocking call cannot hang the run)."""
    if not sync:
        return await asyncio.wait_for(fn(), bound)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if not done.done():
            if error is None:
                done.set_result(result)
            else:
                done.set_exception(error)

    def work() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting test
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: the test gave up already
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="blocking-caller", daemon=True).start()
    return await asyncio.wait_for(done, bound)


async def capture(sync: bool, fn: Callable[[], Any], bound: float = 15.0) -> Any:
    """What the caller got within `bound` seconds: the result, or the exception raised (a
    TimeoutError if nothing came back in time)."""
    try:
        return await run(sync, fn, bound)
    except Exception as exc:  # noqa: BLE001 - the matrix asserts on whatever it is
        return exc


# -- where the client points ---------------------------------------------------------------------


@dataclass
class Target:
    url: str
    lookups: list[str] = field(default_factory=list)


@contextlib.contextmanager
def fault_target(row: Row, server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    if row.target == "server":
        yield Target(server.url)
    elif row.target == "refused":
        yield Target(f"http://127.0.0.1:{unused_port()}")
    elif row.target == "dns":
        # Offline and immediate whatever this machine's resolver does: lookups of *.invalid
        # fail as NXDOMAIN would (and are counted); every other lookup is the real one.
        target = Target(f"http://{DEAD_HOST}")
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else str(host)
            if name.endswith(".invalid"):
                target.lookups.append(name)
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield target
    elif row.target == "connect-timeout":
        with backlog_full_listener() as (port, hangs):
            assert hangs(), "precondition: a connect to the full listener must hang"
            yield Target(f"http://127.0.0.1:{port}")
    else:
        raise AssertionError(row.target)


# -- what was observed, and what it must be ------------------------------------------------------


@dataclass
class Observed:
    got: Any
    sent: int
    tokens: int | None = None
    again: Any = None
    again_sent: int | None = None
    again_seconds: float | None = None


MATRIX: dict[tuple[str, str], str] = {}


def cell(obs: Observed) -> str:
    def describe(got: Any, sent: int | None) -> str:
        name = "ok" if not isinstance(got, BaseException) else type(got).__name__
        return f"{sent} req → {name}"

    text = describe(obs.got, obs.sent)
    if obs.tokens not in (None, 1):
        text = text.replace(" req", f" req ({obs.tokens} tokens)", 1)
    if obs.again is not None:
        text += f"; again: {describe(obs.again, obs.again_sent)}"
    return text


def check(row: Row, api_vendor: str, number: Any, obs: Observed) -> None:
    """Assert that what the caller got, and what the server received, is the row's expectation."""
    got = obs.got
    where = f"[{row.id}] got {got!r}"
    assert obs.sent == row.requests, f"{where}: the call path received {obs.sent} requests, expected {row.requests}"
    if row.expect == "ok":
        assert not isinstance(got, BaseException), where
        if api_vendor == "huawei":
            assert got.call_serial_no == "sn-1", where
        elif isinstance(got, voicekit.telecmi.ClickToCallResult):
            assert got.request_id == "c2c-ok", where
        else:
            assert (got.request_id, got.status) == ("req-ok", "progress"), where
    elif row.expect == "unknown":
        assert type(got) is CallOutcomeUnknownError, where
        assert got.status == row.status, f"{where}: .status {got.status!r}, expected {row.status!r}"
        if row.body is not MISSING:
            assert got.body == row.body, f"{where}: .body {got.body!r}"
        key = "called" if api_vendor == "huawei" else "to"
        assert str(got.request.get(key)) == str(number), f"{where}: carries request {got.request!r}"
        for secret in (SECRET, APP_SECRET, "tok-123"):
            assert secret not in str(got) and secret not in repr(got.request), where
    elif row.expect == "rate_limited":
        assert type(got) is RateLimitedError, where
        assert got.status == 429, where
        if row.retry_after is not MISSING:
            assert got.retry_after == row.retry_after, f"{where}: .retry_after {got.retry_after!r}"
    elif row.expect == "connect":
        assert type(got) is ConnectError, where
    else:
        raise AssertionError(row.expect)
    if row.cause is not None:
        assert isinstance(got.__cause__, row.cause), f"{where}: __cause__ {got.__cause__!r}"
    if api_vendor == "huawei" and obs.tokens is not None:
        assert obs.tokens == row.tokens, f"{where}: {obs.tokens} token requests, expected {row.tokens}"


# -- single calls: rows × columns -------------------------------------------------------------------


def _cases() -> list[Any]:
    return [
        pytest.param(row, api, id=f"{row.id}-{api.id}") for row in ROWS for api in APIS if api.vendor in row.vendors
    ]


@pytest.mark.parametrize(("row", "api"), _cases())
@pytest.mark.slow
async def test_call_creating_api_under_fault(
    row: Row, api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="voicekit")
    with FaultServer(row.plan or healthy) as server, fault_target(row, server, monkeypatch) as target:
        huawei_elsewhere = api.vendor == "huawei" and row.target != "server"
        client = make_client(api.vendor, api.sync, server.url if huawei_elsewhere else target.url, row)
        warm = 0
        again = again_sent = again_seconds = None
        try:
            if huawei_elsewhere:
                # The token comes from the same host: fetch it (and place one call) first, then
                # point the client at the dead address, so the fault meets the notification.
                assert not isinstance(await capture(api.sync, lambda: api.call(client)), BaseException)
                warm = 1
                (client._async if api.sync else client).base_url = target.url
            caplog.clear()
            got = await capture(api.sync, lambda: api.call(client))
            sent = server.count(api.path) - warm
            if row.again:
                started = time.monotonic()
                again = await capture(api.sync, lambda: api.call(client), bound=5.0)
                again_seconds = time.monotonic() - started
                again_sent = server.count(api.path) - warm - sent
        finally:
            await run(api.sync, client.close if api.sync else client.aclose)
        obs = Observed(
            got, sent, server.count(TOKEN) if api.vendor == "huawei" else None, again, again_sent, again_seconds
        )
        MATRIX[(row.id, api.id)] = cell(obs)
        check(row, api.vendor, api.number, obs)
        assert not any(path.startswith("/moved/") for path in server.paths()), "a redirect was followed"
    if row.again:
        assert type(again) is RateLimitedError, f"the second call got {again!r}"
        assert again_sent == 0, f"the second call sent {again_sent} requests to a paused account"
        assert "paused" in str(again), str(again)
        assert again_seconds is not None and again_seconds < 5
    if row.target != "server":
        retries = [r for r in caplog.records if r.getMessage().startswith("retrying")]
        assert len(retries) == ATTEMPTS - 1, f"{len(retries)} retries of a request that never left"
    if row.target == "dns":
        assert target.lookups == [DEAD_HOST] * ATTEMPTS, target.lookups


# -- bulk: one run mixing every per-request fault ------------------------------------------------------


BULK_TIMEOUT = Timeout(connect=2.0, total=1.0)


def bulk_rows(vendor: str) -> list[Row]:
    healthy = [Row(f"healthy-{i}", None, "ok", 1) for i in (1, 2, 3)]
    faults = [row for row in ROWS if row.bulk and vendor in row.vendors]
    # healthy ones first, in the middle and last
    return [healthy[0], *faults[:8], healthy[1], *faults[8:], healthy[2]]


@pytest.mark.parametrize("api_id", BULK_APIS)
@pytest.mark.slow
async def test_bulk_run_mixing_every_fault(api_id: str) -> None:
    vendor = "huawei" if "notify" in api_id else "telecmi"
    sync = "." in api_id
    rows = bulk_rows(vendor)
    path = NOTIFY if vendor == "huawei" else MAKE_GLOBAL
    numbers: dict[str, Any] = {
        row.id: (f"880{i:03d}" if vendor == "huawei" else 9100000100 + i) for i, row in enumerate(rows)
    }
    by_number = {str(number): row for row, number in zip(rows, numbers.values(), strict=True)}

    def plan(request: Request, nth: int) -> Action:
        row = by_number[str(request.number)]
        if row.plan is None:
            return Reply.json(200, ok_body(request.path))
        return row.plan(request, nth)

    specs: list[Any] = []
    for row in rows:
        if vendor == "huawei":
            specs.append(Notify(key=row.id, called=numbers[row.id], play_list=[Prompt(voice_id="100001")]))
        else:
            specs.append(Dial(key=row.id, from_=19170000000, to=numbers[row.id], file_name="welcome.wav"))
    position = len(specs) // 2
    specs.insert(position, {"key": "a dict, not a spec"})
    bad_key = f"#{position + 1}"

    with FaultServer(plan) as server:
        client = make_client(vendor, sync, server.url, Row("bulk", None, "ok", 0), BULK_TIMEOUT)
        method = "notify_many" if vendor == "huawei" else "dial_many"
        try:
            if sync:
                outcomes = await run(True, lambda: list(getattr(client, method)(specs)), 30)
            else:

                async def collect() -> list[Any]:
                    return [outcome async for outcome in getattr(client, method)(specs)]

                outcomes = await run(False, collect, 30)
        finally:
            await run(sync, client.close if sync else client.aclose)

        keys = Counter(outcome.key for outcome in outcomes)
        assert keys == Counter([*numbers, bad_key]), f"not one outcome per key: {keys}"
        by_key = {outcome.key: outcome for outcome in outcomes}
        bad = by_key.pop(bad_key)
        assert isinstance(bad.error, ValidationError) and not bad.ok and not bad.unknown, bad
        assert server.count(path, None) == sum(row.requests for row in rows), "a stray request"
        MATRIX[(NOT_A_DIAL, api_id)] = f"0 req → {type(bad.error).__name__} (key {bad_key})"
        failures = []
        for row in rows:
            outcome = by_key[row.id]
            got = outcome.result if outcome.ok else outcome.error
            obs = Observed(got, server.count(path, numbers[row.id]))
            MATRIX[(row.id, api_id)] = cell(obs)
            try:
                check(row, vendor, numbers[row.id], obs)
                assert outcome.unknown == (row.expect == "unknown"), f"[{row.id}] outcome.unknown"
                assert outcome.ok == (row.expect == "ok"), f"[{row.id}] outcome.ok"
                assert server.count(moved_path(str(numbers[row.id]))) == 0, f"[{row.id}] redirect followed"
            except AssertionError as exc:
                failures.append(str(exc).splitlines()[0])
        if vendor == "huawei":
            # One token for the run, one more after the 401.
            tokens = server.count(TOKEN)
            MATRIX[("huawei-401-then-200", api_id)] += f" ({tokens} tokens in the run)"
            if tokens != 2:
                failures.append(f"{tokens} token requests in the run, expected 2")
        assert not failures, "\n".join(failures)


# -- the observed matrix as markdown -----------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _write_matrix() -> Iterator[None]:
    yield
    out = os.environ.get("VOICEKIT_FAULT_MATRIX")
    if not out or not MATRIX:
        return
    columns = [api.id for api in APIS] + BULK_APIS
    row_ids = [row.id for row in ROWS] + [NOT_A_DIAL]
    titles = [COLUMN_TITLES.get(c, c) for c in columns]
    lines = ["| fault | " + " | ".join(titles) + " |", "|---" * (len(columns) + 1) + "|"]
    for row_id in row_ids:
        cells = [MATRIX.get((row_id, c), "—") for c in columns]
        lines.append(f"| {row_id} | " + " | ".join(cells) + " |")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
