"""The Redis limiter backend: one account's limit shared by several processes' clients.

Each "process" here has its own Redis client and backend object on one shared (in-memory) Redis
server that runs the real Lua scripts, so the sharing goes through Redis, not through Python.
"""

from __future__ import annotations

import asyncio
import time

import pytest

fakeredis = pytest.importorskip("fakeredis")

from tests import _samples  # noqa: E402
from tests._clock import VirtualTime  # noqa: E402
from tests.conftest import REST, fresh_appid  # noqa: E402
from voicekit import AsyncTeleCMI, RateLimit, RetryPolicy  # noqa: E402
from voicekit.redis_limiter import RedisBackend  # noqa: E402

NS = 1_000_000_000


def max_in_window(starts: list[int], window_ns: int) -> int:
    best, j = 0, 0
    for i, t in enumerate(starts):
        while starts[j] <= t - window_ns:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.fixture
def server() -> object:
    return fakeredis.FakeServer()


@pytest.mark.parametrize("lateness_ms", [0, 40])
@pytest.mark.slow
async def test_processes_sharing_redis_share_one_exact_limit(
    server: object, monkeypatch: pytest.MonkeyPatch, lateness_ms: int
) -> None:
    import fakeredis.commands_mixins.server_mixin as server_mixin

    vt = VirtualTime(lateness_ms * 1_000_000)
    monkeypatch.setattr(server_mixin, "time", vt)  # Redis's TIME now reads the virtual clock
    limit = RateLimit(rate=50)
    clients = [fakeredis.FakeAsyncRedis(server=server) for _ in range(3)]
    backends = [RedisBackend(client, sleep=vt.sleep) for client in clients]
    starts: list[int] = []

    async def worker(backend: RedisBackend) -> None:
        for _ in range(100):
            await backend.acquire("telecmi:1", limit)
            starts.append(vt.now)

    tasks = [asyncio.create_task(worker(b)) for b in backends for _ in range(2)]
    await vt.drive(tasks)
    for client in clients:
        await client.aclose()
    starts.sort()
    assert len(starts) == 600
    assert max_in_window(starts, NS) <= 50
    achieved = (len(starts) - 1) / ((starts[-1] - starts[0]) / NS)
    assert achieved >= 0.97 * 50, achieved


async def test_a_429_in_one_process_pauses_the_others(server: object) -> None:
    limit = RateLimit(rate=50)
    a = RedisBackend(fakeredis.FakeAsyncRedis(server=server))
    b_client = fakeredis.FakeAsyncRedis(server=server)
    b = RedisBackend(b_client)
    await a.acquire("huawei:k", limit)
    await a.penalize("huawei:k", limit, retry_after=0.5)
    t0 = time.monotonic()
    await b.acquire("huawei:k", limit)
    assert time.monotonic() - t0 >= 0.45
    await b_client.aclose()


async def test_keys_expire_when_the_account_is_idle(server: object) -> None:
    client = fakeredis.FakeAsyncRedis(server=server)
    await RedisBackend(client, prefix="t").acquire("telecmi:9", RateLimit(rate=5))
    ttls = [await client.pttl(k) for k in ("t:telecmi:9:tat", "t:telecmi:9:log")]
    assert all(0 < ttl <= 60_000 for ttl in ttls), ttls
    await client.aclose()


async def test_a_client_uses_the_redis_backend_for_its_account(server: object) -> None:
    from aioresponses import aioresponses

    client = fakeredis.FakeAsyncRedis(server=server)
    backend = RedisBackend(client, prefix="c")
    appid = fresh_appid()
    with aioresponses() as m:
        m.post(
            REST + "/v2/global_pcmo_make_call",
            body=_samples.MAKE_CALL_RESPONSE,
            content_type="application/json",
            repeat=True,
        )
        async with AsyncTeleCMI(
            appid=appid,
            secret="s",
            base_url=REST,
            rate_limit=100,
            limiter_backend=backend,
            retry=RetryPolicy(attempts=1),
        ) as tc:
            await tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav")
    assert await client.zcard(f"c:telecmi:{appid}:log") == 1
    await client.aclose()
