"""Webhook delivery, loopback only: what counts as this machine, and one POST per attempt."""

from __future__ import annotations

import pytest
from aiohttp import web

from voicekit.sandbox._delivery import is_loopback_host, is_loopback_url, post_loopback
from voicekit.sandbox._runtime import Runtime


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("192.0.2.1", False),
        ("::", False),
        ("localhost.example.com", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_what_counts_as_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080/cb", True),
        ("https://localhost/cb", True),
        ("http://[::1]:9/cb", True),
        ("http://user@127.0.0.1/cb", True),
        ("http://127.0.0.1.example.com/cb", False),
        ("http://192.0.2.1/cb", False),
        ("/cb", False),
    ],
)
def test_which_urls_are_on_this_machine(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


async def test_one_post_per_attempt_and_no_redirect_followed() -> None:
    hits: list[str] = []

    async def moved(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPTemporaryRedirect("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response()

    app = web.Application()
    app.router.add_post("/cb", moved)
    app.router.add_post("/elsewhere", elsewhere)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    runtime = Runtime()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/cb"
        delivery = await post_loopback(runtime, url, {"a": 1}, clock=lambda: 42.0, what="test")
    finally:
        await runtime.close()
        await runner.cleanup()
    assert (delivery.url, delivery.payload, delivery.status, delivery.error, delivery.time) == (
        url,
        {"a": 1},
        307,
        None,
        42.0,
    )
    assert hits == ["/cb"]
