"""One webhook, one verdict: `call_end`'s decision table, and the tracker and the journal agreeing on it.

The table below is `voicekit.webhooks.call_end`'s docstring, row by row, as webhook bodies. Each
body also goes through the two consumers of the verdict, the call tracker (`CallTracker.feed`,
then its events) and the campaign journal (`telecmi_outcome` / `huawei_outcome`), and their
answers must be the same verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._webhook_payloads import SERIAL, huawei_payload, telecmi_payload
from voicekit.errors import ValidationError
from voicekit.journal import CallOutcome as JournalOutcome
from voicekit.journal import huawei_outcome, telecmi_outcome
from voicekit.tracking import CallEnd, CallTracker
from voicekit.webhooks import (
    CallOutcome,
    CallVerdict,
    HuaweiReleaseEvent,
    TeleCMICdr,
    TeleCMIWebhook,
    call_end,
    parse_huawei_release_event,
    parse_telecmi_webhook,
)

ANSWERED, MISSED, FAILED = CallOutcome.ANSWERED, CallOutcome.MISSED, CallOutcome.FAILED
CMIUUID = "2d3a9f0e-1c4b-4b8e-9a57-5d1f9c0e7b21"
NOT_ANSWERED = {"answer_time": 0, "billedsec": 0}


def cdr(**changes: Any) -> dict[str, Any]:
    """A call record of leg a: answered 30 s (times 1645103406..441), billed 30 s, recv_bye."""
    return telecmi_payload(**{"billedsec": 30, **changes})


# (row name, body, expected outcome (None: not a call's end), expected billed seconds)
TELECMI_TABLE: list[tuple[str, dict[str, Any], CallOutcome | None, int | None]] = [
    ("event started", cdr(type="event", status="started"), None, None),
    ("event answered", cdr(type="event", status="answered"), None, None),
    ("event hangup", cdr(type="event", status="hangup"), None, None),
    ("event missed", cdr(type="event", status="missed", **NOT_ANSWERED), None, None),
    ("cdr leg b answered", cdr(leg="b"), None, None),
    ("cdr leg b missed", cdr(leg="b", status="missed", **NOT_ANSWERED), None, None),
    ("cdr answered", cdr(), ANSWERED, 30),
    ("cdr out_answered", cdr(status="out_answered"), ANSWERED, 30),
    ("cdr out_bridged", cdr(status="out_bridged"), ANSWERED, 30),
    ("cdr answered without a leg", cdr(leg=...), ANSWERED, 30),
    ("cdr answered, no answer_time", cdr(answer_time=0), ANSWERED, 30),
    ("cdr missed with an answer_time", cdr(status="missed", billedsec=0), ANSWERED, 0),
    ("cdr missed with billedsec", cdr(status="missed", answer_time=0, billedsec=12), ANSWERED, 12),
    ("cdr hangup with an answer_time", cdr(status="hangup", billedsec=...), ANSWERED, 30),
    ("cdr missed", cdr(status="missed", **NOT_ANSWERED), MISSED, 0),
    ("cdr missed, rang 20 s", cdr(status="missed", duration=20, **NOT_ANSWERED), MISSED, 0),
    ("cdr hangup", cdr(status="hangup", **NOT_ANSWERED), MISSED, 0),
    ("cdr started", cdr(status="started", **NOT_ANSWERED), FAILED, 0),
    ("cdr no status", cdr(status=..., **NOT_ANSWERED), FAILED, 0),
    ("cdr undocumented status", cdr(status="busy", **NOT_ANSWERED), FAILED, 0),
    ("cdr started with an answer_time", cdr(status="started"), ANSWERED, 30),
    ("cdr undocumented status, billed", cdr(status="busy", answer_time=0), ANSWERED, 30),
    ("cdr answered, duration only", cdr(billedsec=..., duration=25), ANSWERED, 25),
    ("cdr answered, times only", cdr(billedsec=..., duration=...), ANSWERED, 30),
    ("cdr answered, no seconds", cdr(billedsec=..., duration=..., end_time=0), ANSWERED, None),
]

HUAWEI_TABLE: list[tuple[str, dict[str, Any], CallOutcome, int | None]] = [
    ("talked", huawei_payload(), ANSWERED, 30),
    ("talkingTime only", huawei_payload(talkDuration=...), ANSWERED, 30),
    ("talkDuration only", huawei_payload(talkingTime="", talkDuration="7"), ANSWERED, 7),
    ("talkingTime, no seconds", huawei_payload(talkDuration="", releaseTime=""), ANSWERED, None),
    ("never talked", huawei_payload(talkingTime="", talkDuration="0", releaseReason="1"), MISSED, 0),
    ("never talked, no duration", huawei_payload(talkingTime=..., talkDuration=...), MISSED, 0),
]


@pytest.mark.parametrize(
    ("body", "outcome", "billed"), [row[1:] for row in TELECMI_TABLE], ids=[r[0] for r in TELECMI_TABLE]
)
def test_the_telecmi_decision_table(body: dict[str, Any], outcome: CallOutcome | None, billed: int | None) -> None:
    verdict = call_end(parse_telecmi_webhook(body))
    if outcome is None:
        assert verdict is None
        return
    assert verdict is not None
    assert (verdict.outcome, verdict.billed_seconds) == (outcome, billed)
    assert verdict.answered is (outcome is ANSWERED)
    assert (verdict.vendor, verdict.call_id, verdict.cmiuuid, verdict.request_id) == (
        "telecmi",
        CMIUUID,
        CMIUUID,
        "req-42",
    )
    assert (verdict.number, verdict.hangup_reason) == ("919123456789", "recv_bye")
    assert verdict.started_at == dt.datetime(2022, 2, 17, 13, 10, 6, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("body", "outcome", "billed"), [row[1:] for row in HUAWEI_TABLE], ids=[r[0] for r in HUAWEI_TABLE]
)
def test_the_huawei_decision_table(body: dict[str, Any], outcome: CallOutcome, billed: int | None) -> None:
    verdict = call_end(parse_huawei_release_event(body))
    assert (verdict.outcome, verdict.billed_seconds) == (outcome, billed)
    assert (verdict.vendor, verdict.call_id, verdict.request_id, verdict.cmiuuid) == ("huawei", SERIAL, SERIAL, None)
    assert verdict.number == "8613800000001"
    assert verdict.hangup_reason == body["releaseReason"]


def test_the_ids_and_times_when_some_are_missing() -> None:
    by_request = call_end(parse_telecmi_webhook(cdr(cmiuuid=..., start_time=0, end_time=0)))
    assert by_request is not None
    assert (by_request.call_id, by_request.cmiuuid, by_request.request_id) == ("req-42", None, "req-42")
    # No start_time: the record's own `time` (when the vendor wrote it) stands in for the end.
    assert by_request.started_at is None
    assert by_request.ended_at == dt.datetime(2022, 2, 17, 13, 10, 41, 999_000, tzinfo=dt.UTC)
    alerting = call_end(parse_huawei_release_event(huawei_payload(createCallTime="")))
    assert alerting.started_at == dt.datetime(2022, 2, 17, 13, 10, 8, 120_000, tzinfo=dt.UTC)


# -- the tracker and the journal give the same verdict -----------------------------------------


async def tracked(webhook: TeleCMIWebhook | HuaweiReleaseEvent) -> CallEnd | None:
    """What the call tracker makes of one webhook: its `CallEnd`, or None if the call goes on."""
    tracker = CallTracker()
    await tracker.feed(webhook)
    key = webhook.call_serial_no if isinstance(webhook, HuaweiReleaseEvent) else webhook.request_id or webhook.cmiuuid
    assert key is not None
    async with contextlib.aclosing(tracker.events(key, timeout=5)) as items:
        first = await anext(items)  # fed already: no waiting
    return first if isinstance(first, CallEnd) else None


def journaled(webhook: TeleCMIWebhook | HuaweiReleaseEvent) -> JournalOutcome | None:
    if isinstance(webhook, HuaweiReleaseEvent):
        return huawei_outcome(webhook)
    return telecmi_outcome(webhook)


def assert_agree(webhook: TeleCMIWebhook | HuaweiReleaseEvent) -> None:
    verdict = call_end(webhook)
    end = asyncio.run(tracked(webhook))
    written = journaled(webhook)
    if verdict is None:
        assert end is None and written is None, "not a call's end, yet one of them ended it"
        return
    assert end is not None, "the tracker did not end the call"
    assert (end.outcome, end.duration, end.hangup_reason) == (
        verdict.outcome,
        verdict.billed_seconds,
        verdict.hangup_reason,
    )
    assert (end.request_id, end.cmiuuid, end.vendor) == (verdict.request_id, verdict.cmiuuid, verdict.vendor)
    if verdict.outcome is FAILED:
        # The journal keeps answered or missed only; a failed ending is left for reconcile.
        assert written is None
        return
    assert written is not None, "the journal wrote nothing for an ended call"
    assert written.answered is end.answered
    assert (written.billed_seconds, written.hangup_reason) == (end.duration, end.hangup_reason)
    assert (written.request_id, written.number) == (end.request_id, verdict.number)
    assert written.vendor_id == f"{verdict.vendor}:{verdict.call_id}"
    moment = end.started_at or end.ended_at
    assert written.time == (None if moment is None else moment.timestamp())


@pytest.mark.parametrize("body", [row[1] for row in TELECMI_TABLE], ids=[row[0] for row in TELECMI_TABLE])
def test_the_tracker_and_the_journal_agree_on_every_telecmi_row(body: dict[str, Any]) -> None:
    assert_agree(parse_telecmi_webhook(body))


@pytest.mark.parametrize("body", [row[1] for row in HUAWEI_TABLE], ids=[row[0] for row in HUAWEI_TABLE])
def test_the_tracker_and_the_journal_agree_on_every_huawei_row(body: dict[str, Any]) -> None:
    assert_agree(parse_huawei_release_event(body))


def test_a_hand_built_record_without_ids_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        call_end(TeleCMICdr())
    assert caught.value.field == "cmiuuid"
    assert isinstance(call_end(TeleCMICdr(request_id="r")), CallVerdict)


SECONDS = st.one_of(st.just(...), st.none(), st.integers(0, 7200), st.sampled_from(["", "0", "15"]))
TIMES = st.one_of(st.just(...), st.just(0), st.integers(1_600_000_000, 1_800_000_000))

TELECMI_WEBHOOKS = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["cdr", "cdr", "event"]),
        "leg": st.sampled_from(["a", "b", ...]),
        "status": st.sampled_from(
            ["started", "answered", "out_answered", "out_bridged", "hangup", "missed", "busy", ...]
        ),
        "answer_time": TIMES,
        "start_time": TIMES,
        "end_time": TIMES,
        "time": st.one_of(st.just(...), st.integers(1_600_000_000_000, 1_800_000_000_000)),
        "duration": SECONDS,
        "billedsec": SECONDS,
        "hangup_reason": st.sampled_from(["recv_bye", "sent_reject", "odd", "", ...]),
        "cmiuuid": st.sampled_from(["c-1", ...]),
        "extra_params": st.sampled_from(['{"voicekit_key": "row-1"}', "", ...]),
    }
).map(lambda changes: telecmi_payload(**changes))

HUAWEI_TIME = st.one_of(
    st.just(...),
    st.just(""),
    st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2030, 1, 1)).map(
        lambda t: t.strftime("%Y/%m/%d,%H:%M:%S:") + f"{t.microsecond // 1000:03d}"
    ),
)
HUAWEI_WEBHOOKS = st.fixed_dictionaries(
    {
        "createCallTime": HUAWEI_TIME,
        "alertingTime": HUAWEI_TIME,
        "talkingTime": HUAWEI_TIME,
        "releaseTime": HUAWEI_TIME,
        "talkDuration": SECONDS,
        "releaseReason": st.sampled_from(["0", "17", "", ...]),
        "called": st.sampled_from(["8613800000001", ...]),
    }
).map(lambda changes: huawei_payload(**changes))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=TELECMI_WEBHOOKS)
def test_property_the_tracker_and_the_journal_agree_on_telecmi_webhooks(body: dict[str, Any]) -> None:
    assert_agree(parse_telecmi_webhook(body))


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=HUAWEI_WEBHOOKS)
def test_property_the_tracker_and_the_journal_agree_on_huawei_release_events(body: dict[str, Any]) -> None:
    assert_agree(parse_huawei_release_event(body))
