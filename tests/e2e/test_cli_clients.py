"""The command line's one client factory: blocking or async, on a sandbox or from the environment."""

from __future__ import annotations

import pytest

from voicekit import AsyncHuaweiVoice, AsyncTeleCMI, HuaweiVoice, RateLimit, TeleCMI
from voicekit import _constants as C
from voicekit._config import NOT_GIVEN
from voicekit.cli._common import async_client, blocking_client, rate_limit
from voicekit.huawei import Prompt
from voicekit.sandbox import Sandbox, SyncSandbox


def test_the_rate_option_maps_to_the_client_default_no_limit_or_the_rate() -> None:
    assert rate_limit(None) is NOT_GIVEN
    assert rate_limit(0) is None
    assert rate_limit(7.5) == 7.5


@pytest.mark.parametrize(
    ("rate", "limit"),
    [
        (None, RateLimit(rate=C.DEFAULT_TELECMI_RATE)),
        (0, None),
        (7.5, RateLimit(rate=7.5)),
    ],
)
def test_a_blocking_client_on_a_sandbox_of_its_own(rate: float | None, limit: RateLimit | None) -> None:
    with blocking_client(TeleCMI, sandbox=True, rate=rate, page_concurrency=3) as tc:
        assert isinstance(tc, TeleCMI)
        assert tc._async._limiter.limit == limit
        assert tc._async.page_concurrency == 3
        call = tc.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav")
        assert call.request_id


def test_a_blocking_huawei_client_on_a_running_sandbox() -> None:
    with SyncSandbox() as sb, blocking_client(HuaweiVoice, sandbox=sb) as hw:
        result = hw.create_voice_notification(called="8899", play_list=[Prompt(voice_id="100001")])
        assert [call.request_id for call in sb.calls] == [result.call_serial_no]
        assert hw._async._limiter.limit == RateLimit(rate=C.DEFAULT_HUAWEI_RATE)


@pytest.mark.slow
async def test_async_clients_of_both_vendors_share_a_running_sandbox() -> None:
    async with Sandbox() as sb:
        async with (
            async_client(AsyncTeleCMI, sandbox=sb, rate=0) as tc,
            async_client(AsyncHuaweiVoice, sandbox=sb, rate=2) as hw,
        ):
            assert tc._limiter.limit is None and hw._limiter.limit == RateLimit(rate=2)
            await tc.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav")
            await hw.create_voice_notification(called="8899", play_list=[Prompt(voice_id="100001")])
        assert len(sb.calls) == 2
    assert tc._closed and hw._closed


@pytest.mark.slow
async def test_an_async_client_on_a_sandbox_of_its_own() -> None:
    async with async_client(AsyncHuaweiVoice, sandbox=True) as hw:
        await hw.create_voice_notification(called="8899", play_list=[Prompt(voice_id="100001")])


def test_without_a_sandbox_the_account_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEKIT_TELECMI_APPID", "4242")
    monkeypatch.setenv("VOICEKIT_TELECMI_SECRET", "from-env")
    with blocking_client(TeleCMI) as tc:
        assert tc.appid == 4242 and tc._async.base_url == C.TELECMI_REST_URL


def test_a_class_the_sandbox_has_no_account_for_is_refused() -> None:
    with pytest.raises(TypeError, match="no account"), blocking_client(dict, sandbox=True):  # type: ignore[type-var]
        pass
