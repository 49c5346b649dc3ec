"""`with_options`: a client with other timeouts, another retry policy or a retry hook, sharing
its parent's connection pool and rate limiter; against the sandbox over loopback HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests._cli import MAKE_CALL
from tests._clients import sandbox_client
from tests.conftest import FAST_RETRY
from voicekit import RetryEvent, RetryPolicy, TeleCMI
from voicekit.errors import OutcomeUnknownError, RateLimitedError, ReadError, UsageError, ValidationError
from voicekit.sandbox import Sandbox, SyncSandbox

CALL: dict[str, Any] = {"from_": 19170000000, "to": 19170000001, "file_name": "welcome.wav"}


async def test_a_derived_client_has_its_own_timeout_and_shares_the_pool() -> None:
    async with Sandbox() as sb, sandbox_client(sb, timeout=10) as tc:
        assert (await tc.play_music(**CALL)).request_id  # opens the pool
        quick = tc.with_options(timeout=0.2)
        sb.faults.add(MAKE_CALL, stall=1.5, placed=False)
        started = time.monotonic()
        with pytest.raises((OutcomeUnknownError, ReadError)):
            await quick.play_music(**CALL)
        assert time.monotonic() - started < 1.2  # its own timeout, not the parent's 10 s
        await quick.aclose()  # leaves the shared pool open
        assert (await tc.play_music(**CALL)).request_id
    with pytest.raises(UsageError, match="closed"):
        await quick.play_music(**CALL)  # closing the parent closed the pool for both


@pytest.mark.slow
async def test_the_retry_hook_is_told_each_retry_and_a_derived_policy_applies() -> None:
    events: list[RetryEvent] = []
    async with Sandbox() as sb, sandbox_client(sb, retry=RetryPolicy(attempts=1)) as tc:
        sb.faults.add(MAKE_CALL, status=429, retry_after=1)
        with pytest.raises(RateLimitedError):
            await tc.play_music(**CALL)  # the parent does not retry
        patient = tc.with_options(retry=FAST_RETRY, on_retry=events.append)
        sb.faults.add(MAKE_CALL, status=429, retry_after=1)
        result = await patient.play_music(**CALL)
    assert result.request_id
    (event,) = events
    assert event.reason == "rate-limited" and event.attempt == 1 and isinstance(event.error, RateLimitedError)
    assert event.endpoint and event.delay >= 0


@pytest.mark.slow
async def test_a_hook_that_raises_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: RetryEvent) -> None:
        raise RuntimeError("the hook broke")

    async with Sandbox() as sb, sandbox_client(sb, retry=FAST_RETRY) as tc:
        sb.faults.add(MAKE_CALL, status=429, retry_after=1)
        result = await tc.with_options(on_retry=broken).play_music(**CALL)
    assert result.request_id
    assert any("on_retry hook raised" in r.getMessage() for r in caplog.records)


def test_the_blocking_client_derives_one_too() -> None:
    with SyncSandbox() as sb:
        tc = TeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, rate_limit=None
        )
        with tc:
            derived = tc.with_options(timeout=5)
            assert isinstance(derived, TeleCMI) and derived.play_music(**CALL).request_id
            derived.close()
            assert tc.play_music(**CALL).request_id


@pytest.mark.parametrize(
    ("options", "field"),
    [({"timeout": "soon"}, "timeout"), ({"retry": 3}, "retry"), ({"on_retry": 42}, "on_retry")],
)
async def test_bad_options_are_refused(options: dict[str, object], field: str) -> None:
    async with Sandbox() as sb, sandbox_client(sb) as tc:
        with pytest.raises(ValidationError) as info:
            tc.with_options(**options)  # type: ignore[arg-type]
    assert info.value.field == field
