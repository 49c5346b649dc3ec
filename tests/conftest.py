"""Shared fixtures: clients wired for fast, deterministic tests."""

from __future__ import annotations

import inspect
import itertools

import pytest

from tests._servers import postgres, redis_server  # noqa: F401 - real servers, as fixtures for every test module
from voicekit import RetryPolicy

_appids = itertools.count(3_000_001)

REST = "http://rest.test"
PIOPIY = "http://piopiy.test"
HUAWEI = "http://bes.test"

# Retries without sleeps: backoff delays are all zero.
FAST_RETRY = RetryPolicy(attempts=4, initial=0.0, max_delay=0.0)


#: How a test asks for the PostgreSQL server while it runs (rather than as a fixture argument).
_ASKS_FOR_POSTGRES = ('journal_target("postgres"', 'getfixturevalue("postgres")')


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that need a real server by what they use: the `postgres` / `redis_server`
    fixtures, a journal parametrized to "postgres" (see tests/_journal.py), or a body that asks
    for the server itself."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        function = getattr(item, "function", None)
        try:
            body = inspect.getsource(function) if function is not None else ""
        except (OSError, TypeError):
            body = ""
        if "postgres" in names or "postgres" in params.values() or any(a in body for a in _ASKS_FOR_POSTGRES):
            item.add_marker(pytest.mark.postgres)
        if "redis_server" in names:
            item.add_marker(pytest.mark.redis)


def fresh_appid() -> int:
    """An app id no other test uses, so limiter state never leaks between tests."""
    return next(_appids)


@pytest.fixture
def appid() -> int:
    return fresh_appid()


def _aioresponses_compat() -> None:
    """Let aioresponses 0.7.9 build responses on aiohttp >= 3.14.

    aiohttp 3.14 added a required ``stream_writer`` argument to ``ClientResponse``; aioresponses
    has not released the fix yet (upstream pull request #288). aiohttp only reads
    ``stream_writer.output_size``, so a stand-in carrying that attribute is enough.
    """
    import inspect
    from unittest.mock import Mock

    import aioresponses.core as core
    from aiohttp import ClientResponse

    if "stream_writer" not in inspect.signature(ClientResponse.__init__).parameters:
        return

    class CompatResponse(ClientResponse):
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("stream_writer", Mock(output_size=0))
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    core.ClientResponse = CompatResponse  # type: ignore[misc]


_aioresponses_compat()
