"""PIOPIY call records: the document's sample, paging, seeded records and placed calls."""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
from typing import Any

import pytest

from tests import _samples
from voicekit.sandbox import Sandbox

# --- the vendor document's own sample (only the token is substituted) ------------------------

OUTANSWERED_SAMPLE: dict[str, Any] = json.loads(_samples.OUTANSWERED_REQUEST)
OUTANSWERED_SAMPLE_RESPONSE: dict[str, Any] = json.loads(_samples.OUTANSWERED_RESPONSE)

RECORD_KEYS = set(OUTANSWERED_SAMPLE_RESPONSE["cdr"][0])
OUT = "/v1/outanswered"
DAY_MS = 86_400_000


def body_for(sb: Sandbox, **fields: Any) -> dict[str, Any]:
    return {"appid": sb.telecmi_appid, "token": sb.telecmi_secret, **fields}


def check_record_shape(record: dict[str, Any]) -> None:
    assert set(record) == RECORD_KEYS
    sample = OUTANSWERED_SAMPLE_RESPONSE["cdr"][0]
    for key, value in sample.items():
        assert type(record[key]) is type(value), key
    assert len(record["_id"]) == 24 and int(record["_id"], 16) >= 0


async def test_outanswered_doc_sample_round_trip(post: Any) -> None:
    async with Sandbox(telecmi_appid=1111113) as sb:
        for rec in reversed(OUTANSWERED_SAMPLE_RESPONSE["cdr"]):
            sb.add_record(
                "outanswered",
                to=rec["to"],
                from_=rec["from"],
                time_ms=rec["time"],
                billedsec=rec["billedsec"],
                record_id=rec["_id"],
                filename=rec["filename"],
            )
        # outside the sample's window: must not be counted
        sb.add_record("outanswered", to=9400000000, from_="201_1111113", time_ms=1570642200001)
        sb.add_record("outanswered", to=9500000000, from_="202_1111113", time_ms=1570559399999)
        body = dict(OUTANSWERED_SAMPLE, token=sb.telecmi_secret)
        answer = await post(sb.url + OUT, json=body)
    assert answer.status == 200
    assert answer.body == OUTANSWERED_SAMPLE_RESPONSE


@pytest.mark.parametrize("changes", [{"appid": 1111114}, {"token": "wrong"}], ids=["appid", "token"])
async def test_records_404_on_bad_credentials(sb: Sandbox, post: Any, changes: dict[str, Any]) -> None:
    answer = await post(sb.url + OUT, json={**body_for(sb), **changes})
    assert answer.status == 404
    assert answer.body["code"] == 404 and answer.body["status"] == "error"


@pytest.mark.parametrize(
    "changes",
    [
        {"page": 0},
        {"page": -1},
        {"page": "1"},
        {"limit": 0},
        {"limit": 101},
        {"limit": 2.5},
        {"start_date": "yesterday"},
        {"end_date": True},
        {"appid": None},
        {"token": 5},
    ],
    ids=repr,
)
async def test_records_422_on_bad_paging(sb: Sandbox, post: Any, changes: dict[str, Any]) -> None:
    answer = await post(sb.url + OUT, json={**body_for(sb), **changes})
    assert answer.status == 422
    assert answer.body["code"] == 422


async def test_limit_max_is_accepted(sb: Sandbox, post: Any) -> None:
    answer = await post(sb.url + OUT, json=body_for(sb, limit=100))
    assert answer.status == 200 and answer.body == {"total": 0, "cdr": [], "code": 200}


@pytest.mark.parametrize("kind", ["answered", "missed", "outmissed", "outanswered"])
async def test_each_kind_serves_its_own_records(sb: Sandbox, post: Any, kind: str) -> None:
    sb.add_record(kind, to=9100000001, from_="209_2222226")
    answers = {
        k: await post(sb.url + f"/v1/{k}", json=body_for(sb))
        for k in ["answered", "missed", "outmissed", "outanswered"]
    }
    for other, answer in answers.items():
        assert answer.status == 200
        assert answer.body["total"] == (1 if other == kind else 0)
    [record] = answers[kind].body["cdr"]
    check_record_shape(record)
    assert record["to"] == 9100000001


async def test_placed_calls_become_outanswered_records(sb: Sandbox, post: Any) -> None:
    make = {
        "appid": sb.telecmi_appid,
        "secret": sb.telecmi_secret,
        "from": 19170000000,
        "to": 19170000001,
        "pcmo": [{"action": "play", "file_name": "welcome.wav"}],
    }
    assert (await post(sb.url + "/v2/global_pcmo_make_call", json=make)).status == 200
    c2c = {"user_id": sb.telecmi_user_id, "secret": sb.telecmi_secret, "to": 9100000000}
    assert (await post(sb.url + "/v2/webrtc/click2call", json=c2c)).status == 200

    answer = await post(sb.url + OUT, json=body_for(sb))
    assert answer.body["total"] == 2
    newest, oldest = answer.body["cdr"]
    for record in (newest, oldest):
        check_record_shape(record)
    assert (oldest["to"], oldest["from"]) == (19170000001, "19170000000")
    assert (newest["to"], newest["from"]) == (9100000000, sb.telecmi_user_id)
    assert newest["time"] >= oldest["time"]
    assert abs(oldest["time"] - sb.calls[0].time * 1000) < 1
    assert oldest["billedsec"] == sb.billedsec
    # nothing shows up in the other families
    missed = await post(sb.url + "/v1/missed", json=body_for(sb))
    assert missed.body["total"] == 0


async def test_record_delay(post: Any) -> None:
    async with Sandbox(record_delay=0.2) as sb:
        make = {
            "appid": sb.telecmi_appid,
            "secret": sb.telecmi_secret,
            "from": 19170000000,
            "to": 19170000001,
            "pcmo": [{"action": "hangup"}],
        }
        assert (await post(sb.url + "/v2/ind_pcmo_make_call", json=make)).status == 200
        assert len(sb.calls) == 1
        assert (await post(sb.url + OUT, json=body_for(sb))).body["total"] == 0
        deadline = time.monotonic() + 5
        total = 0
        while total == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            total = (await post(sb.url + OUT, json=body_for(sb))).body["total"]
        assert total == 1


async def test_million_seeded_records_page_quickly(post: Any) -> None:
    started = time.perf_counter()
    async with Sandbox(seed_records=1_000_000) as sb:
        end = sb.seed_end_ms
        step = DAY_MS // 1_000_000
        first = await post(sb.url + OUT, json=body_for(sb, page=1, limit=100))
        middle = await post(sb.url + OUT, json=body_for(sb, page=5000, limit=100))
        last = await post(sb.url + OUT, json=body_for(sb, page=10_000, limit=100))
        beyond = await post(sb.url + OUT, json=body_for(sb, page=10_001, limit=100))
        default_page = await post(sb.url + OUT, json=body_for(sb))
    assert time.perf_counter() - started < 5

    for answer in (first, middle, last, beyond, default_page):
        assert answer.status == 200
        assert answer.body["total"] == 1_000_000
    assert len(default_page.body["cdr"]) == 10
    assert beyond.body["cdr"] == []
    for answer, first_index in ((first, 0), (middle, 499_900), (last, 999_900)):
        records = answer.body["cdr"]
        assert len(records) == 100
        for record in records:
            check_record_shape(record)
        times = [r["time"] for r in records]
        assert times == sorted(times, reverse=True)
        assert len(set(times)) == 100
        assert times[0] == end - first_index * step
        assert records[0]["from"].endswith(f"_{sb.telecmi_appid}")
    assert last.body["cdr"][-1]["time"] == end - 999_999 * step
    assert middle.body["cdr"][0]["_id"] != first.body["cdr"][0]["_id"]
    # the same records whatever the page size (records are generated deterministically)
    assert first.body["cdr"][:10] == default_page.body["cdr"]


def test_seeded_records_cost_no_memory() -> None:
    tracemalloc.start()
    try:
        sb = Sandbox(seed_records=1_000_000)
        total, page = sb.records.query(
            sb.telecmi_appid, "outanswered", 0, sb.seed_end_ms, 7_000, 100, sb.seeded(sb.telecmi_appid, "outanswered")
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 1_000_000 and len(page) == 100
    assert peak < 2_000_000


async def test_window_filter_and_merge_match_brute_force(post: Any) -> None:
    """Page through seeded + added records and compare with a materialised, sorted list."""
    async with Sandbox(seed_records=500) as sb:
        end = sb.seed_end_ms
        step = DAY_MS // 500
        seeded = sb.seeded(sb.telecmi_appid, "outanswered")
        assert seeded is not None
        everything = [seeded.record(i) for i in range(500)]
        added = [
            sb.add_record("outanswered", to=9100000000 + n, from_="209_x", time_ms=t)
            for n, t in enumerate(
                [end - 10 * step, end - 10 * step + 1, end - 3 * step - 7, end + 5, end - 499 * step, end - 600 * step]
            )
        ]
        # an added record ties with a seeded one: the added one comes first
        expected_all = sorted(everything + added, key=lambda r: (-r["time"], 0 if r in added else 1))
        start_ms, end_ms = end - 400 * step, end - 2 * step
        expected = [r for r in expected_all if start_ms <= r["time"] <= end_ms]

        got: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = await post(
                sb.url + OUT, json=body_for(sb, start_date=start_ms, end_date=end_ms, page=page, limit=7)
            )
            assert answer.body["total"] == len(expected)
            if not answer.body["cdr"]:
                break
            got.extend(answer.body["cdr"])
            page += 1
    assert got == expected
    assert len({r["_id"] for r in got}) == len(got)


async def test_seeded_records_belong_to_the_default_account_only(post: Any) -> None:
    async with Sandbox(seed_records=1000) as sb:
        sb.add_telecmi_account(4444444, "four")
        other = await post(sb.url + OUT, json={"appid": 4444444, "token": "four"})
        own = await post(sb.url + OUT, json=body_for(sb))
        missed = await post(sb.url + "/v1/missed", json=body_for(sb))
    assert (other.body["total"], own.body["total"], missed.body["total"]) == (0, 1000, 0)


async def test_default_window_is_the_last_24_hours(post: Any) -> None:
    now = [1_800_000_000.0]
    async with Sandbox(clock=lambda: now[0]) as sb:
        sb.add_record("outanswered", to=9100000001, from_="a", time_ms=int(now[0] * 1000) - DAY_MS - 1)
        sb.add_record("outanswered", to=9100000002, from_="b", time_ms=int(now[0] * 1000) - 1000)
        answer = await post(sb.url + OUT, json=body_for(sb))
        assert [r["to"] for r in answer.body["cdr"]] == [9100000002]
        now[0] += 2 * 86_400
        assert (await post(sb.url + OUT, json=body_for(sb))).body["total"] == 0
