"""Hostile webhook bodies: answered 400 and delivered nowhere, never a 500; a good body beside them
still gets through.

The receivers are driven as a web app drives them: the README's ``telecmi_webhook_handler(tracker
.feed)`` and ``huawei_release_handler(tracker.feed)`` over real loopback HTTP, the framework-free
`TeleCMIReceiver` / `HuaweiReceiver`, and the Starlette endpoints. A 500 tells the vendor to resend
a body that will never parse, and would hide a real failure of the callback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import httpx
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route

from tests._webhook_payloads import huawei_payload, telecmi_payload
from voicekit import Outcome
from voicekit.errors import CallOutcomeUnknownError, ValidationError
from voicekit.journal import Campaign, Journal, OutcomeReceiver, OutcomeWriter, read_campaign
from voicekit.tracking import CallOutcome, CallTracker, CallTrackingTimeout, InMemoryTrackerStore
from voicekit.webhooks import (
    HuaweiReceiver,
    TeleCMICdr,
    TeleCMIReceiver,
    huawei_release_handler,
    parse_huawei_release_event,
    parse_telecmi_webhook,
    starlette_huawei_release_endpoint,
    starlette_telecmi_webhook_endpoint,
    telecmi_webhook_handler,
)

HUGE_DIGITS = "9" * 5000
LONG_ID = "u" * 300


def raw_cdr(fragment: str) -> bytes:
    """A call record whose last member is written as raw JSON text (`fragment`), so that the
    body can hold what no encoder writes: NaN, a 5,000-digit integer, a lone surrogate escape."""
    return ('{"type": "cdr", "request_id": "hostile", "cmiuuid": "c1", ' + fragment + "}").encode()


def raw_release(fragment: str) -> bytes:
    return ('{"callSerialNo": "hostile", ' + fragment + "}").encode()


# Each: a body and the wire field the 400 must name ("payload" for a body that is not JSON at all).
TELECMI_HOSTILE: dict[str, tuple[bytes, str]] = {
    "duration 1e308": (raw_cdr('"duration": 1e308'), "duration"),
    "duration 10**400": (raw_cdr('"duration": 1' + "0" * 400), "duration"),
    "duration of 5,000 digits": (raw_cdr('"duration": ' + HUGE_DIGITS), "payload"),
    "duration 5,000 digits as text": (raw_cdr(f'"duration": "{HUGE_DIGITS}"'), "duration"),
    "duration -1": (raw_cdr('"duration": -1'), "duration"),
    "duration of a month": (raw_cdr('"duration": 2678400'), "duration"),
    "billedsec -5": (raw_cdr('"billedsec": -5'), "billedsec"),
    "billedsec 1e300": (raw_cdr('"billedsec": 1e300'), "billedsec"),
    "duration NaN": (raw_cdr('"duration": NaN'), "duration"),
    "balance Infinity": (raw_cdr('"balance": Infinity'), "balance"),
    "call_rate -Infinity": (raw_cdr('"call_rate": -Infinity'), "call_rate"),
    "call_rate 1e999999 as text": (raw_cdr('"call_rate": "1e999999"'), "call_rate"),
    "an unknown field NaN": (raw_cdr('"agent": NaN'), "agent"),
    "an unknown field 1e400": (raw_cdr('"notes": [1e400]'), "notes"),
    "hangup_reason lone surrogate": (raw_cdr('"hangup_reason": "\\ud800"'), "hangup_reason"),
    "to lone surrogate": (raw_cdr('"to": "\\udfff9170000001"'), "to"),
    "cmiuuid lone surrogate": (b'{"type": "cdr", "cmiuuid": "\\ud800"}', "cmiuuid"),
    "an unknown field lone surrogate": (raw_cdr('"agent": "a\\ud800"'), "agent"),
    "a key lone surrogate": (raw_cdr('"\\ud800": 1'), "payload"),
    "cmiuuid of 300": (json.dumps({"type": "cdr", "cmiuuid": LONG_ID}).encode(), "cmiuuid"),
    "request_id of 300": (json.dumps({"type": "cdr", "request_id": LONG_ID}).encode(), "request_id"),
    "conversation_uuid of 300": (raw_cdr(f'"conversation_uuid": "{LONG_ID}"'), "conversation_uuid"),
    "an extra_params key of 300": (raw_cdr(f'"extra_params": "{{\\"{LONG_ID}\\": 1}}"'), "extra_params"),
    "extra_params NaN inside": (raw_cdr('"extra_params": "{\\"a\\": NaN}"'), "extra_params"),
    "extra_params lone surrogate inside": (raw_cdr('"extra_params": "{\\"a\\": \\"\\\\ud800\\"}"'), "extra_params"),
    "time 10**17 ms": (raw_cdr('"time": 100000000000000000'), "time"),
    "time in 2200": (raw_cdr('"time": 7258118400000'), "time"),
    "time negative": (raw_cdr('"time": -1000'), "time"),
    "start_time 1e18": (raw_cdr('"start_time": 1e18'), "start_time"),
    "answer_time negative": (raw_cdr('"answer_time": -5'), "answer_time"),
    "status of 65": (raw_cdr('"status": "' + "s" * 65 + '"'), "status"),
    "nesting 40 deep": (raw_cdr('"notes": ' + "[" * 40 + "]" * 40), "notes"),
}

HUAWEI_HOSTILE: dict[str, tuple[bytes, str]] = {
    "talkDuration 1e308": (raw_release('"talkDuration": 1e308'), "talkDuration"),
    "talkDuration 10**400": (raw_release('"talkDuration": 1' + "0" * 400), "talkDuration"),
    "talkDuration of 5,000 digits": (raw_release('"talkDuration": ' + HUGE_DIGITS), "payload"),
    "talkDuration -3": (raw_release('"talkDuration": "-3"'), "talkDuration"),
    "talkDuration NaN": (raw_release('"talkDuration": NaN'), "talkDuration"),
    "releaseReason 1e300": (raw_release('"releaseReason": 1e300'), "releaseReason"),
    "called lone surrogate": (raw_release('"called": "\\ud800"'), "called"),
    "callSerialNo lone surrogate": (b'{"callSerialNo": "\\ud800"}', "callSerialNo"),
    "callSerialNo of 300": (json.dumps({"callSerialNo": LONG_ID}).encode(), "callSerialNo"),
    "createCallTime in the year 1": (raw_release('"createCallTime": "0001/01/01,00:00:00:000"'), "createCallTime"),
    "releaseTime in the year 9999": (raw_release('"releaseTime": "9999/12/31,23:59:59:999"'), "releaseTime"),
    "an unknown field Infinity": (raw_release('"extra": Infinity'), "extra"),
}


class Deliveries:
    """The callback: feeds a tracker and remembers what it was handed."""

    def __init__(self) -> None:
        self.store = InMemoryTrackerStore()
        self.tracker = CallTracker(store=self.store, huawei_tz=ZoneInfo("Asia/Shanghai"))
        self.received: list[Any] = []

    async def __call__(self, webhook: Any) -> None:
        self.received.append(webhook)
        await self.tracker.feed(webhook)


@asynccontextmanager
async def serve(deliveries: Deliveries) -> AsyncIterator[str]:
    """The README's app on 127.0.0.1: POST /telecmi and POST /huawei feed the tracker."""
    app = web.Application()
    app.router.add_post("/telecmi", telecmi_webhook_handler(deliveries))
    app.router.add_post("/huawei", huawei_release_handler(deliveries, tz=ZoneInfo("Asia/Shanghai")))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def post(http: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, str]:
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        return resp.status, await resp.text()


# -- each hostile body: 400 naming the field, nothing delivered --------------------------------


@pytest.mark.parametrize("name", sorted(TELECMI_HOSTILE))
def test_the_telecmi_parser_refuses_each_hostile_body_naming_its_field(name: str) -> None:
    body, field = TELECMI_HOSTILE[name]
    with pytest.raises(ValidationError) as caught:
        parse_telecmi_webhook(body)
    assert caught.value.field == field


@pytest.mark.parametrize("name", sorted(HUAWEI_HOSTILE))
def test_the_huawei_parser_refuses_each_hostile_body_naming_its_field(name: str) -> None:
    body, field = HUAWEI_HOSTILE[name]
    with pytest.raises(ValidationError) as caught:
        parse_huawei_release_event(body, tz=ZoneInfo("Asia/Shanghai"))
    assert caught.value.field == field


async def test_over_http_every_hostile_body_gets_400_and_the_good_ones_beside_them_arrive() -> None:
    deliveries = Deliveries()
    good_cdr = json.dumps(telecmi_payload(request_id="good-1")).encode()
    good_release = json.dumps(huawei_payload(callSerialNo="good-2")).encode()
    async with serve(deliveries) as url, aiohttp.ClientSession() as http:
        requests = [post(http, f"{url}/telecmi", body) for body, _ in TELECMI_HOSTILE.values()]
        requests += [post(http, f"{url}/huawei", body) for body, _ in HUAWEI_HOSTILE.values()]
        requests += [post(http, f"{url}/telecmi", good_cdr), post(http, f"{url}/huawei", good_release)]
        answers = await asyncio.gather(*requests)
    *hostile, cdr_answer, release_answer = answers
    names = [*TELECMI_HOSTILE, *HUAWEI_HOSTILE]
    assert [(name, status) for name, (status, _) in zip(names, hostile, strict=True) if status != 400] == []
    for (_, field), (_, text) in zip([*TELECMI_HOSTILE.values(), *HUAWEI_HOSTILE.values()], hostile, strict=True):
        assert json.loads(text)["error"].startswith(f"invalid payload: {field}:")
    assert (cdr_answer[0], release_answer[0]) == (200, 200)
    assert len(deliveries.received) == 2, "a hostile body reached the callback"
    assert (await deliveries.tracker.wait("good-1", timeout=5)).outcome is CallOutcome.ANSWERED
    assert (await deliveries.tracker.wait("good-2", timeout=5)).outcome is CallOutcome.ANSWERED
    assert len(deliveries.store) == 2


async def test_the_framework_free_receivers_answer_400_without_calling_back() -> None:
    deliveries = Deliveries()
    telecmi, huawei = TeleCMIReceiver(deliveries), HuaweiReceiver(deliveries)
    for body, _ in TELECMI_HOSTILE.values():
        assert (await telecmi.receive(body)).status == 400
    for body, _ in HUAWEI_HOSTILE.values():
        assert (await huawei.receive(body)).status == 400
    assert deliveries.received == []


async def test_the_starlette_endpoints_answer_400_too() -> None:
    deliveries = Deliveries()
    app = Starlette(
        routes=[
            Route("/telecmi", starlette_telecmi_webhook_endpoint(deliveries), methods=["POST"]),
            Route("/huawei", starlette_huawei_release_endpoint(deliveries), methods=["POST"]),
        ]
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        statuses = [(await http.post("/telecmi", content=body)).status_code for body, _ in TELECMI_HOSTILE.values()]
        statuses += [(await http.post("/huawei", content=body)).status_code for body, _ in HUAWEI_HOSTILE.values()]
        good = await http.post("/telecmi", content=json.dumps(telecmi_payload()))
    assert set(statuses) == {400}
    assert good.status_code == 200 and len(deliveries.received) == 1


def test_negative_seconds_are_never_accepted_and_zero_still_is() -> None:
    for field in ("duration", "billedsec"):
        with pytest.raises(ValidationError):
            parse_telecmi_webhook(telecmi_payload(**{field: -1}))
        with pytest.raises(ValidationError):
            parse_telecmi_webhook(telecmi_payload(**{field: "-30"}))
    with pytest.raises(ValidationError):
        parse_huawei_release_event(huawei_payload(talkDuration=-1))
    cdr = parse_telecmi_webhook(telecmi_payload(status="missed", answer_time=0, duration=0, billedsec=0))
    assert (cdr.duration, cdr.billed_seconds) == (0, 0)
    assert parse_huawei_release_event(huawei_payload(talkDuration="0")).talk_duration == 0


def test_a_parsed_webhook_always_encodes_back_to_json() -> None:
    # What the tracker stores (and a shared store hands to another worker) is the raw payload.
    webhook = parse_telecmi_webhook(telecmi_payload(notes=[1.5, {"a": None}], agent="ü"))
    assert json.loads(json.dumps(dict(webhook.raw), allow_nan=False)) == dict(webhook.raw)
    mapping_input = parse_telecmi_webhook({**telecmi_payload(), "nested": {"t": (1, 2)}})
    assert mapping_input.raw["nested"] == {"t": [1, 2]}
    with pytest.raises(ValidationError) as caught:
        parse_telecmi_webhook({**telecmi_payload(), "agent": object()})
    assert caught.value.field == "agent"


async def test_the_tracker_refuses_a_hand_built_webhook_it_could_not_store() -> None:
    tracker = CallTracker()
    with pytest.raises(ValidationError) as caught:
        await tracker.feed(TeleCMICdr(request_id="r", raw={"type": "cdr", "duration": math.nan}))
    assert caught.value.field == "webhook"
    with pytest.raises(CallTrackingTimeout):
        await tracker.wait("r", timeout=0.01)  # nothing was stored
    await tracker.feed(parse_telecmi_webhook(telecmi_payload(request_id="r")))
    assert (await tracker.wait("r", timeout=5)).answered


def test_times_near_the_bounds_convert_to_any_zone() -> None:
    zone = dt.timezone(dt.timedelta(hours=-12))
    event = parse_huawei_release_event(
        huawei_payload(createCallTime="1970/01/01,00:00:00:000", releaseTime="2105/12/31,23:59:59:999"), tz=zone
    )
    assert event.create_call_time is not None and event.release_time is not None
    assert event.create_call_time.timestamp() < event.release_time.timestamp()
    assert event.release_time.astimezone(dt.timezone(dt.timedelta(hours=14))).year == 2106


async def test_a_hostile_outcome_never_spoils_the_journal_batch_of_a_good_one(tmp_path: Path) -> None:
    # The journal writes the outcomes that arrive together in one transaction: a value the store
    # cannot hold (an integer past 64 bits, a lone surrogate) failed the whole batch, and every
    # webhook in it, the good one too, got a 500.
    csv_path = tmp_path / "calls.csv"
    csv_path.write_text(
        "key,to,from,file_name\nk0,919123456789,19170000000,welcome.wav\nk1,919123456788,19170000000,welcome.wav\n",
        encoding="utf-8",
    )

    with Journal.open(tmp_path / "calls.db", Campaign.from_file(csv_path)) as journal:
        journal.load(read_campaign(csv_path))
        # Both calls may have been placed (read timeouts): their webhooks tell.
        assert journal.claim(["k0", "k1"]) == {"k0", "k1"}
        timeout = CallOutcomeUnknownError("timeout", endpoint="make_call", request={})
        journal.record([Outcome(key=key, error=timeout) for key in ("k0", "k1")])

        def record(key: str, **changes: Any) -> dict[str, Any]:
            extra = json.dumps({"voicekit_key": key, "voicekit_campaign": journal.campaign_id})
            return telecmi_payload(cmiuuid=f"u-{key}", request_id=f"r-{key}", extra_params=extra, **changes)

        good = json.dumps(record("k0")).encode()
        hostile = [
            raw_cdr_of(record("k1"), '"duration": 1' + "0" * 400),
            raw_cdr_of(record("k1"), '"hangup_reason": "\\ud800"'),
            raw_cdr_of(record("k1"), '"to": "\\udc00"'),
            raw_cdr_of(record("k1", billedsec=...), '"billedsec": -30'),
        ]
        async with OutcomeWriter(journal) as writer:
            receiver = OutcomeReceiver(writer)
            replies = await asyncio.gather(receiver.telecmi(good), *(receiver.telecmi(body) for body in hostile))
        assert [reply.status for reply in replies] == [200] + [400] * len(hostile)
        assert set(journal.outcomes(["k0", "k1"])) == {"k0"}


def raw_cdr_of(payload: dict[str, Any], fragment: str) -> bytes:
    """`payload` as JSON with one more member written as raw JSON text (it wins over the key's
    earlier value)."""
    return (json.dumps(payload)[:-1] + ", " + fragment + "}").encode()


# -- the property: whatever the bodies, 200 or 4xx, and the good one arrives -------------------

TELECMI_KEYS = [
    "type", "cmiuuid", "request_id", "conversation_uuid", "leg", "time", "duration", "billedsec",
    "start_time", "answer_time", "end_time", "call_rate", "balance", "status", "hangup_reason",
    "from", "to", "extra_params", "appid", "direction",
]  # fmt: skip
HUAWEI_KEYS = [
    "callSerialNo", "called", "callerPresent", "createCallTime", "alertingTime", "talkingTime",
    "releaseTime", "talkDuration", "releaseReason", "recordfile", "locationId", "signature",
    "timestamp", "nonce",
]  # fmt: skip


ID_KEYS = {"cmiuuid", "request_id", "conversation_uuid", "callSerialNo"}


class Raw:
    """JSON text written into the body as is (what `json.dumps` cannot or will not write)."""

    def __init__(self, text: str) -> None:
        self.text = text


RAW_NUMBERS = [
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", HUGE_DIGITS, "1" + "0" * 400, "-5", "-0",
    "4294967296000", "100000000000000000000", "5e-324",
]  # fmt: skip
SURROGATE_TEXT = st.text(alphabet=st.characters(codec=None, categories=["Cs", "Ll", "Nd"]), max_size=6)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(RAW_NUMBERS).map(Raw),
    st.text(max_size=10),
    SURROGATE_TEXT,
    st.sampled_from(["", " ", "a", "b", "cdr", "event", "answered", "missed", "hangup", "out_bridged", "0"]),
    st.sampled_from([LONG_ID, "x" * 257, "1645103406", "2022/02/17,13:10:06:836", "9999/12/31,23:59:59:999"]),
    st.sampled_from(['{"voicekit_key": "k"}', '{"a": NaN}', "{" + f'"{LONG_ID}": 1' + "}", "[1]", "{"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6,
)


def encode(value: Any) -> str:
    """JSON text for `value`, writing `Raw` fragments as they are and surrogates as escapes."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(encode(v) for v in value) + "]"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # within the strategy's bounds: never past str()'s digit limit
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value)


# The ids name the call everywhere after parsing (the tracker's key, the journal's vendor id):
# they get hostile values of their own, often.
IDS = st.one_of(
    st.sampled_from([LONG_ID, "x" * 257, " ", "", "ok-id", 7, 2**60, -1]),
    SURROGATE_TEXT,
    st.text(min_size=250, max_size=260),
)


def bodies(keys: list[str], base: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """Mostly objects close to a real webhook with hostile values; sometimes not an object at all."""
    members = st.dictionaries(st.sampled_from(keys), VALUES, max_size=6)
    ids = st.dictionaries(st.sampled_from([k for k in keys if k in ID_KEYS]), IDS, max_size=2)
    extra = st.dictionaries(st.one_of(st.text(max_size=5), SURROGATE_TEXT, st.just(LONG_ID)), VALUES, max_size=2)
    near = st.tuples(members, ids, extra).map(lambda m: {**base, **m[0], **m[1], **m[2]})
    return st.one_of(
        near.map(lambda d: encode(d).encode("utf-8", "surrogatepass")),
        near.map(lambda d: encode(d).encode("utf-8", "surrogatepass")[: len(encode(d)) // 2]),  # truncated
        VALUES.map(lambda v: encode(v).encode("utf-8", "surrogatepass")),
        st.binary(max_size=20),
    )


PROPS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
_ids = itertools.count()


async def _scenario(telecmi_bodies: list[bytes], huawei_bodies: list[bytes]) -> None:
    deliveries = Deliveries()
    n = next(_ids)
    good_cdr = json.dumps(telecmi_payload(request_id=f"good-cdr-{n}", cmiuuid=f"good-{n}")).encode()
    good_release = json.dumps(huawei_payload(callSerialNo=f"good-release-{n}")).encode()
    async with serve(deliveries) as url, aiohttp.ClientSession() as http:
        requests = [post(http, f"{url}/telecmi", good_cdr), post(http, f"{url}/huawei", good_release)]
        requests += [post(http, f"{url}/telecmi", body) for body in telecmi_bodies]
        requests += [post(http, f"{url}/huawei", body) for body in huawei_bodies]
        answers = await asyncio.gather(*requests)
    statuses = [status for status, _ in answers]
    assert all(status == 200 or 400 <= status < 500 for status in statuses), statuses
    assert statuses[:2] == [200, 200]
    # Nothing refused was delivered: at most one delivery per 200.
    assert len(deliveries.received) <= statuses.count(200)
    end = await deliveries.tracker.wait(f"good-cdr-{n}", timeout=5)
    assert end.answered and end.cmiuuid == f"good-{n}"
    assert (await deliveries.tracker.wait(f"good-release-{n}", timeout=5)).answered


@PROPS
@given(
    telecmi_bodies=st.lists(bodies(TELECMI_KEYS, {"type": "cdr", "cmiuuid": "h"}), min_size=1, max_size=4),
    huawei_bodies=st.lists(bodies(HUAWEI_KEYS, {"callSerialNo": "h"}), min_size=1, max_size=4),
)
@pytest.mark.slow
def test_property_over_http_hostile_bodies_get_200_or_4xx_and_the_good_one_arrives(
    telecmi_bodies: list[bytes], huawei_bodies: list[bytes]
) -> None:
    asyncio.run(_scenario(telecmi_bodies, huawei_bodies))


def _receive_all(receive: Callable[[bytes], Any], body: bytes) -> int:
    return int(asyncio.run(receive(body)).status)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(telecmi=bodies(TELECMI_KEYS, {"type": "cdr", "cmiuuid": "h"}), huawei=bodies(HUAWEI_KEYS, {"callSerialNo": "h"}))
@pytest.mark.slow
def test_property_the_receivers_never_answer_5xx(telecmi: bytes, huawei: bytes) -> None:
    deliveries = Deliveries()
    telecmi_status = _receive_all(TeleCMIReceiver(deliveries).receive, telecmi)
    huawei_status = _receive_all(HuaweiReceiver(deliveries, tz=ZoneInfo("Asia/Shanghai")).receive, huawei)
    for status in (telecmi_status, huawei_status):
        assert status == 200 or 400 <= status < 500, status
    assert len(deliveries.received) == [telecmi_status, huawei_status].count(200)
