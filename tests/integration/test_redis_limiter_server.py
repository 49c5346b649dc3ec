"""The Redis limiter backend against a real redis-server: the shared window, the shared pause,
and failing closed when Redis is away (virtual time stays in test_redis_limiter.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._journal import numbers, write_csv
from tests._servers import RedisServer, free_port
from voicekit import RateLimit
from voicekit._ratelimit import AccountPaused
from voicekit.cli import main
from voicekit.redis_limiter import LimiterUnavailableError, RedisBackend

redis_asyncio = pytest.importorskip("redis.asyncio")


@pytest.mark.slow
async def test_processes_sharing_one_redis_never_start_more_than_the_limit(
    redis_server: RedisServer,
) -> None:
    limit = RateLimit(rate=40, burst=5)
    clients = [redis_asyncio.from_url(redis_server.url) for _ in range(3)]  # three "processes"
    backends = [RedisBackend(c, prefix="t-window") for c in clients]
    span_us = RedisBackend._shape(limit)[3]
    worst = 0

    async def caller(backend: RedisBackend) -> None:
        nonlocal worst
        for _ in range(20):
            await backend.acquire("telecmi:1", limit)
            # What Redis itself holds: the starts within the last window, by its own clock.
            seconds, micros = await clients[0].time()
            now = seconds * 1_000_000 + micros
            worst = max(worst, await clients[0].zcount("t-window:telecmi:1:log", now - span_us, "+inf"))

    await asyncio.gather(*(caller(b) for b in backends for _ in range(2)))
    for c in clients:
        await c.aclose()
    assert 0 < worst <= 40


async def test_a_pause_reaches_every_process(redis_server: RedisServer) -> None:
    limit = RateLimit(rate=10, burst=1)
    a, b = redis_asyncio.from_url(redis_server.url), redis_asyncio.from_url(redis_server.url)
    await RedisBackend(a, prefix="t-pause").penalize("telecmi:2", limit, 30.0)
    with pytest.raises(AccountPaused):
        await RedisBackend(b, prefix="t-pause").acquire("telecmi:2", limit, max_pause=1.0)
    await a.aclose()
    await b.aclose()


async def test_redis_away_fails_closed() -> None:
    client = redis_asyncio.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    with pytest.raises(LimiterUnavailableError, match="cannot be reached"):
        await RedisBackend(client).acquire("telecmi:3", RateLimit(rate=10, burst=1))
    await client.aclose()


def test_dial_with_redis_down_is_one_clear_error_before_anything_is_dialed(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "c.csv", numbers(5))
    result = CliRunner().invoke(
        main,
        [
            "dial",
            str(csv_path),
            "--journal",
            str(tmp_path / "c.db"),
            "--sandbox",
            "--limiter",
            f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "cannot reach the rate limiter's Redis" in result.output
    assert "hunter2-secret" not in result.output
    assert "placed=" not in result.output  # nothing dialed


def test_dial_on_the_sandbox_uses_the_redis_limiter_it_is_given(
    tmp_path: Path,
    redis_server: RedisServer,
) -> None:
    """--sandbox used to replace the client options and silently drop --limiter."""
    import redis

    def scripts_run() -> int:
        stats = redis.Redis.from_url(redis_server.url).info("commandstats")
        return sum(int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval"))

    before = scripts_run()
    csv_path = write_csv(tmp_path / "c.csv", numbers(6))
    result = CliRunner().invoke(
        main,
        [
            "dial",
            str(csv_path),
            "--journal",
            str(tmp_path / "c.db"),
            "--sandbox",
            "--rate",
            "100",
            "--limiter",
            redis_server.url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert scripts_run() - before >= 2 * 6, "each call reserves and starts through Redis's scripts"
