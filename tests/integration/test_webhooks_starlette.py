"""The Starlette / FastAPI endpoints: same answers as the aiohttp handlers, over the same parser."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from tests._webhook_payloads import huawei_payload, telecmi_payload
from voicekit.errors import ConfigurationError
from voicekit.webhooks import (
    HuaweiReleaseEvent,
    TeleCMICdr,
    starlette_huawei_release_endpoint,
    starlette_telecmi_webhook_endpoint,
)


class Recorder:
    def __init__(self, fail: int = 0) -> None:
        self.received: list[Any] = []
        self.fail = fail

    async def __call__(self, event: Any) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database is down")
        self.received.append(event)


def client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


async def test_telecmi_records_are_delivered_once_and_bad_bodies_get_400() -> None:
    seen = Recorder(fail=1)
    app = Starlette(routes=[Route("/telecmi", starlette_telecmi_webhook_endpoint(seen), methods=["POST"])])
    cdr = json.dumps(telecmi_payload())
    async with client(app) as http:
        failed = await http.post("/telecmi", content=cdr)
        first = await http.post("/telecmi", content=cdr)
        resend = await http.post("/telecmi", content=cdr)
        bad = await http.post("/telecmi", content=json.dumps(telecmi_payload(extra_params="[1, 2]")))
        junk = await http.post("/telecmi", content=b"\xff{")
    assert failed.status_code == 500  # the vendor resends it
    assert (first.status_code, first.json()) == (200, {"status": "ok"})
    assert resend.status_code == 200
    assert bad.status_code == 400 and "extra_params" in bad.json()["error"]
    assert junk.status_code == 400
    [webhook] = seen.received
    assert isinstance(webhook, TeleCMICdr) and webhook.extra_params["order_id"] == 991


async def test_huawei_release_gets_the_documented_ack() -> None:
    seen = Recorder()
    app = Starlette(routes=[Route("/hw", starlette_huawei_release_endpoint(seen), methods=["POST"])])
    async with client(app) as http:
        ok = await http.post("/hw", json=huawei_payload())
        bad = await http.post("/hw", json=huawei_payload(talkDuration="forever"))
    assert ok.status_code == 200 and ok.text == '{"retCode":"0","retMsg":"success"}'
    assert bad.status_code == 400
    [event] = seen.received
    assert isinstance(event, HuaweiReleaseEvent) and event.talk_duration == 30


def test_the_module_imports_without_starlette_and_says_what_is_missing() -> None:
    code = (
        "import sys; sys.modules['starlette'] = None; sys.modules['starlette.responses'] = None\n"
        "import voicekit.webhooks as w\n"
        "async def cb(event): pass\n"
        "try:\n    w.starlette_telecmi_webhook_endpoint(cb)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ConfigurationError") and "pip install starlette" in out.stdout


def test_a_missing_starlette_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "starlette.responses", None)

    async def cb(event: Any) -> None:
        return None

    with pytest.raises(ConfigurationError, match="pip install"):
        starlette_huawei_release_endpoint(cb)
