"""Fixtures for the sandbox tests: a running sandbox and a client session over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from voicekit.sandbox import Sandbox


class Answer:
    """A received HTTP answer: status, headers and the decoded JSON body."""

    def __init__(self, status: int, headers: Any, body: Any) -> None:
        self.status = status
        self.headers = headers
        self.body = body


@pytest.fixture
async def sb() -> AsyncIterator[Sandbox]:
    async with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    *,
    json: Any = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
    client_timeout: float | None = None,
) -> Answer:
    """POST and decode the JSON answer."""
    kwargs: dict[str, Any] = {"headers": headers}
    if data is not None:
        kwargs["data"] = data
    else:
        kwargs["json"] = json
    if client_timeout is not None:
        kwargs["timeout"] = aiohttp.ClientTimeout(total=client_timeout)
    async with session.post(url, **kwargs) as response:
        body = await response.json(content_type=None)
        return Answer(response.status, response.headers, body)


PostFn = Callable[..., Awaitable[Answer]]


@pytest.fixture
def post(http: aiohttp.ClientSession) -> PostFn:
    """``await post(url, json=..., data=..., headers=..., client_timeout=...)`` -> :class:`Answer`."""

    async def bound(url: str, **kwargs: Any) -> Answer:
        return await _post(http, url, **kwargs)

    return bound
