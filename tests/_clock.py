"""What the rate-limit tests share: a virtual nanosecond clock that jumps from sleeper to sleeper."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random

NS = 1_000_000_000


class VirtualClock:
    """A nanosecond clock that jumps to the next sleeper's wake-up, waking it up to `lateness` late."""

    def __init__(self, lateness_ns: int = 0, seed: int = 7) -> None:
        self.now = 0
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._lateness = lateness_ns
        self._random = random.Random(seed)

    def clock(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        late = self._random.randint(0, self._lateness) if self._lateness else 0
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + int(seconds * NS) + late, next(self._seq), fut))
        await fut

    async def drive(self, tasks: list[asyncio.Task[None]]) -> None:
        while not all(t.done() for t in tasks):
            for _ in range(3):
                await asyncio.sleep(0)
            if self._sleepers:
                when, _, fut = heapq.heappop(self._sleepers)
                self.now = max(self.now, when)
                fut.set_result(None)
        for t in tasks:
            t.result()


class VirtualTime:
    """Virtual time for Redis's TIME and for the backends' sleeps.

    The clock jumps to the next sleeper's wake-up (up to `lateness` late) only once every task is
    asleep, so each start is stamped at the very instant Redis decided it.
    """

    def __init__(self, lateness_ns: int, seed: int = 3) -> None:
        self.now = 1_800_000_000 * NS
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._random = random.Random(seed)
        self._lateness = lateness_ns
        self._seq = 0

    def time(self) -> float:
        return self.now / NS

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        late = self._random.randint(0, self._lateness)
        heapq.heappush(self._heap, (self.now + int(seconds * NS) + late, self._seq, fut))
        await fut

    async def drive(self, tasks: list[asyncio.Task[None]]) -> None:
        while not all(t.done() for t in tasks):
            for _ in range(20):
                await asyncio.sleep(0)
            running = sum(not t.done() for t in tasks)
            if self._heap and len(self._heap) >= running:
                when, _, fut = heapq.heappop(self._heap)
                self.now = max(self.now, when)
                fut.set_result(None)
        for t in tasks:
            t.result()
