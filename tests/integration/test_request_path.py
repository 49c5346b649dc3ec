"""The request path's pieces on their own: the classifier, the delay, Retry-After, and the limiter
rules a hostile vendor tests (a pause past the budget, two limits for one account)."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from tests.conftest import FAST_RETRY, fresh_appid
from voicekit import AsyncTeleCMI, LocalBackend, RateLimit, RetryPolicy
from voicekit._base_client import Answer, Endpoint, classify
from voicekit._retry import backoff_delay, parse_retry_after, retry_delay
from voicekit.errors import (
    APIStatusError,
    CallOutcomeUnknownError,
    ConnectError,
    NotFoundError,
    RateLimitedError,
    ReadError,
    ServerError,
    UnexpectedResponseError,
    VendorError,
)

CREATE = Endpoint("make_call", "/make", creates_call=True, errors={404: (NotFoundError, "no such file")})
READ = Endpoint("records", "/records", creates_call=False)
REQUEST = {"appid": 1, "secret": "s3cret-value", "to": 9100000001}


def verdict(endpoint: Endpoint, status: int, raw: bytes, **kw: object):
    return classify(
        endpoint,
        Answer(status, raw, **kw),
        url="http://v.test/x",
        request=REQUEST,  # type: ignore[arg-type]
        secrets=("s3cret-value",),
    )


# -- classify ---------------------------------------------------------------------------------


def test_a_readable_2xx_is_the_result_parsed() -> None:
    v = classify(CREATE, Answer(200, b'{"a": 1}'), url="u", request=REQUEST, parse=lambda d: d["a"])
    assert (v.value, v.error) == (1, None)


@pytest.mark.parametrize("raw", [b"<html>oops</html>", b'{"a": 1', b"", b'{"b": 2}', b"[1, 2]"])
def test_an_unreadable_2xx_on_a_call_is_unknown_and_on_a_read_is_retried(raw: bytes) -> None:
    parse = lambda d: d["a"]  # noqa: E731
    v = classify(CREATE, Answer(200, raw), url="u", request=REQUEST, parse=parse)
    assert isinstance(v.error, CallOutcomeUnknownError) and not v.retryable
    assert v.error.status == 200 and isinstance(v.error.__cause__, UnexpectedResponseError)
    v = classify(READ, Answer(200, raw), url="u", request=REQUEST, parse=parse)
    assert isinstance(v.error, UnexpectedResponseError) and v.retryable


def test_an_answer_too_large_to_read_is_unreadable() -> None:
    v = classify(CREATE, Answer(200, None), url="u", request=REQUEST)
    assert isinstance(v.error, CallOutcomeUnknownError)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed(status: int) -> None:
    v = verdict(CREATE, status, b"", location="http://elsewhere.test/x")
    assert isinstance(v.error, CallOutcomeUnknownError) and v.error.status == status and not v.retryable
    v = verdict(READ, status, b"", location="http://elsewhere.test/x")
    assert isinstance(v.error, UnexpectedResponseError) and not v.retryable
    assert "elsewhere.test" in str(v.error)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599])
def test_a_5xx_is_unknown_on_a_call_and_retried_on_a_read(status: int) -> None:
    v = verdict(CREATE, status, b'{"msg": "boom"}')
    assert isinstance(v.error, CallOutcomeUnknownError) and not v.retryable and v.error.status == status
    v = verdict(READ, status, b'{"msg": "boom"}')
    assert isinstance(v.error, ServerError) and v.retryable


def test_a_429_is_retried_and_slows_the_account() -> None:
    v = verdict(CREATE, 429, b"", retry_after=2.0)
    assert isinstance(v.error, RateLimitedError) and v.retryable and v.throttled and v.retry_after == 2.0


def test_a_documented_4xx_is_raised_with_status_code_and_body() -> None:
    v = verdict(CREATE, 404, b'{"code": 404, "msg": "Invalid music file"}')
    assert isinstance(v.error, NotFoundError) and not v.retryable
    assert (v.error.status, v.error.code, v.error.body["msg"]) == (404, 404, "Invalid music file")


def test_transport_failures_split_into_never_sent_and_maybe_sent() -> None:
    import aiohttp

    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),  # type: ignore[arg-type]
        OSError(111, "refused"),
    )
    v = classify(CREATE, refused, url="u", request=REQUEST)
    assert isinstance(v.error, ConnectError) and v.retryable
    for exc in (
        TimeoutError(),
        aiohttp.ServerDisconnectedError(),
        ConnectionResetError(),
        aiohttp.ClientPayloadError("truncated"),
    ):
        v = classify(CREATE, exc, url="u", request=REQUEST)
        assert isinstance(v.error, CallOutcomeUnknownError) and not v.retryable, exc
        v = classify(READ, exc, url="u", request=REQUEST)
        assert isinstance(v.error, ReadError) and v.retryable, exc


def test_error_material_is_scrubbed_but_a_result_is_not() -> None:
    echo = b'{"msg": "bad secret s3cret-value", "secret": "s3cret-value", "echo": {"token": "x"}}'
    v = verdict(CREATE, 404, echo)
    assert v.error is not None
    assert "s3cret-value" not in repr(vars(v.error)) and "s3cret-value" not in str(v.error)
    v = verdict(CREATE, 500, echo)
    assert isinstance(v.error, CallOutcomeUnknownError)
    assert "s3cret-value" not in repr(vars(v.error)) and "s3cret-value" not in str(v.error)
    # A short secret inside real data is left alone on success: only errors are scrubbed.
    v = classify(
        CREATE, Answer(200, b'{"sn": "sn-1"}'), url="u", request=REQUEST, secrets=("s",), parse=lambda d: d["sn"]
    )
    assert v.value == "sn-1"


def test_a_vendor_refusal_raised_by_the_parser_is_scrubbed_and_not_retried() -> None:
    def parse(data: dict) -> None:
        raise VendorError(f"refused: {data['why']}", status=200, code="1", body=data, endpoint="x")

    v = classify(
        READ,
        Answer(200, b'{"why": "token s3cret-value"}'),
        url="u",
        request=REQUEST,
        parse=parse,
        secrets=("s3cret-value",),
    )
    assert isinstance(v.error, VendorError) and not v.retryable
    assert "s3cret-value" not in str(v.error) and "s3cret-value" not in repr(v.error.body)


# -- the delay --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e999", "inf", "-inf", "nan", "soon", "", "Wed, 99 Foo 2026"])
def test_a_retry_after_that_says_nothing_usable_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("-3") == 0.0
    later = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now=now) == 90.0


def test_backoff_never_overflows_and_stays_under_its_cap() -> None:
    policy = RetryPolicy(attempts=5000, initial=0.5, max_delay=8.0)
    for n in (1, 2, 10, 1100, 4999):
        assert 0.0 <= backoff_delay(policy, n, None) <= 8.0


def test_retry_delay_gives_up_on_attempts_budget_and_long_retry_after() -> None:
    policy = RetryPolicy(attempts=3, initial=0.0, max_delay=0.0, max_retry_after=60)
    assert retry_delay(policy, 1, None, time_left=10) == 0.0
    assert retry_delay(policy, 3, None, time_left=10) is None
    assert retry_delay(policy, 1, 61.0, time_left=1000) is None
    assert retry_delay(policy, 1, 5.0, time_left=4.0) is None
    assert retry_delay(policy, 1, 5.0, time_left=6.0) == 5.0


# -- the limiter, as a hostile vendor and careless callers try it -------------------------------


class VirtualClock:
    """Time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.ns = 10**12

    def clock(self) -> int:
        return self.ns

    async def sleep(self, seconds: float) -> None:
        self.ns += max(1, math.ceil(seconds * 1e9))
        await asyncio.sleep(0)


async def test_two_limits_for_one_account_hold_the_stricter() -> None:
    vc = VirtualClock()
    backend = LocalBackend(clock=vc.clock, sleep=vc.sleep)
    loose, strict = RateLimit(rate=10, burst=10), RateLimit(rate=10, burst=9)
    starts: list[int] = []

    async def one(limit: RateLimit) -> None:
        await backend.acquire("telecmi:1", limit)
        starts.append(vc.ns)

    await asyncio.gather(*(one(loose if i % 2 else strict) for i in range(60)))
    starts.sort()
    worst = max(sum(1 for t in starts if s <= t < s + 10**9) for s in starts)
    assert worst <= 10, f"{worst} requests started within one second"
    # The stricter burst holds from the first moment: no more than 9 start together.
    assert sum(1 for t in starts if t == starts[0]) <= 9


async def test_a_vendor_pause_past_the_budget_fails_fast_without_a_request() -> None:
    hits = 0

    async def throttled(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.json_response({}, status=429, headers={"Retry-After": "3600"})

    app = web.Application()
    app.router.add_post("/v2/global_pcmo_make_call", throttled)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with AsyncTeleCMI(
            appid=fresh_appid(), secret="s3cret-value", base_url=url, rate_limit=1000, retry=FAST_RETRY
        ) as tc:
            with pytest.raises(RateLimitedError) as first:
                await tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav")
            assert first.value.retry_after == 3600 and hits == 1
            with pytest.raises(RateLimitedError, match="paused this account") as second:
                await asyncio.wait_for(tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav"), 5)
            assert hits == 1, "nothing is sent while the account is paused"
            assert second.value.retry_after is not None and 3500 < second.value.retry_after <= 3600
    finally:
        await runner.cleanup()


async def test_the_paused_account_error_is_an_api_status_error_with_429() -> None:
    vc = VirtualClock()
    backend = LocalBackend(clock=vc.clock, sleep=vc.sleep)
    limit = RateLimit(rate=5)
    await backend.penalize("k", limit, 120.0)
    from voicekit._ratelimit import AccountPaused

    with pytest.raises(AccountPaused) as paused:
        await backend.acquire("k", limit, max_pause=60)
    assert 119 < paused.value.remaining <= 120
    await backend.acquire("k", limit, max_pause=None)  # a caller without a budget waits it out
    assert vc.ns >= 10**12 + 120 * 10**9
    assert issubclass(RateLimitedError, APIStatusError)
