"""Parsing webhook payloads, the signature helpers, and the in-memory seen-store."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

import voicekit.webhooks as webhooks
from tests._webhook_payloads import huawei_payload, telecmi_payload
from voicekit.errors import ValidationError
from voicekit.webhooks import (
    HuaweiReleaseEvent,
    InMemorySeenStore,
    ReleaseReason,
    TeleCMICdr,
    TeleCMIEvent,
    TeleCMIHangupReason,
    TeleCMIStatus,
    canonical_string,
    constant_time_equals,
    parse_huawei_release_event,
    parse_telecmi_webhook,
    telecmi_dedup_key,
)

UTC = dt.UTC


def test_public_names_are_sorted_and_importable() -> None:
    assert webhooks.__all__ == sorted(webhooks.__all__)
    for name in webhooks.__all__:
        assert getattr(webhooks, name) is not None


# Huawei ---------------------------------------------------------------------------------------


def test_huawei_documented_payload_becomes_a_typed_event() -> None:
    event = parse_huawei_release_event(huawei_payload())

    assert event.call_serial_no == "1200_366_0_20220217131006@callenabler.home1.com"
    assert event.called == "8613800000001"
    assert event.caller_present == "4001234567"
    assert event.create_call_time == dt.datetime(2022, 2, 17, 13, 10, 6, 836_000, tzinfo=UTC)
    assert event.alerting_time == dt.datetime(2022, 2, 17, 13, 10, 8, 120_000, tzinfo=UTC)
    assert event.talking_time == dt.datetime(2022, 2, 17, 13, 10, 11, 5_000, tzinfo=UTC)
    assert event.release_time == dt.datetime(2022, 2, 17, 13, 10, 41, 999_000, tzinfo=UTC)
    assert event.talk_duration == 30
    assert event.record_file == "rec_20220217.wav"
    assert event.location_id == "3"
    assert event.release_reason is ReleaseReason.CALLED_PARTY_HUNG_UP
    assert event.release_reason_code == 0
    assert (event.timestamp, event.nonce, event.signature) == ("1645103406836", "a1b2c3d4", "c2lnbmF0dXJl")


def test_huawei_accepts_json_bytes_and_text() -> None:
    as_bytes = parse_huawei_release_event(json.dumps(huawei_payload()).encode())
    as_text = parse_huawei_release_event(json.dumps(huawei_payload()))
    assert as_bytes == as_text == parse_huawei_release_event(huawei_payload())


def test_huawei_times_use_the_given_zone() -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    event = parse_huawei_release_event(huawei_payload(), tz=beijing)
    assert event.create_call_time == dt.datetime(2022, 2, 17, 13, 10, 6, 836_000, tzinfo=beijing)
    assert event.create_call_time is not None
    assert event.create_call_time.utcoffset() == dt.timedelta(hours=8)


def test_huawei_empty_or_missing_optional_fields_are_none() -> None:
    event = parse_huawei_release_event(
        huawei_payload(alertingTime="", talkingTime=None, releaseTime=..., talkDuration="", recordfile="")
    )
    assert event.alerting_time is None
    assert event.talking_time is None
    assert event.release_time is None
    assert event.talk_duration is None
    assert event.record_file is None

    minimal = parse_huawei_release_event({"callSerialNo": "77"})
    assert minimal.call_serial_no == "77"
    assert minimal.release_reason is None and minimal.release_reason_code is None
    assert minimal.signature is None


def test_huawei_undocumented_release_reason_is_kept_not_rejected() -> None:
    event = parse_huawei_release_event(huawei_payload(releaseReason=17))
    assert event.release_reason is ReleaseReason.UNKNOWN
    assert event.release_reason_code == 17


def test_huawei_numbers_are_normalised() -> None:
    event = parse_huawei_release_event(huawei_payload(called=8613800000001, talkDuration=45))
    assert event.called == "8613800000001"
    assert event.talk_duration == 45


def test_huawei_raw_keeps_unknown_keys_and_is_read_only() -> None:
    event = parse_huawei_release_event(huawei_payload(newVendorField={"x": 1}))
    assert event.raw["newVendorField"] == {"x": 1}
    assert event.raw["callSerialNo"] == event.call_serial_no
    with pytest.raises(TypeError):
        event.raw["callSerialNo"] = "forged"  # type: ignore[index]


def test_huawei_repr_hides_the_signature() -> None:
    event = parse_huawei_release_event(huawei_payload())
    assert "c2lnbmF0dXJl" not in repr(event)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"{not json", "payload"),
        (b"\xff\xfe\x00", "payload"),
        ("[1, 2]", "payload"),
        ('"just a string"', "payload"),
        (huawei_payload(callSerialNo=...), "callSerialNo"),
        (huawei_payload(callSerialNo=""), "callSerialNo"),
        (huawei_payload(callSerialNo=None), "callSerialNo"),
        (huawei_payload(createCallTime="2022-02-17T13:10:06Z"), "createCallTime"),
        (huawei_payload(releaseTime="2022/13/17,13:10:06:836"), "releaseTime"),
        (huawei_payload(talkingTime=1645103406), "talkingTime"),
        (huawei_payload(talkDuration="thirty"), "talkDuration"),
        (huawei_payload(talkDuration=30.5), "talkDuration"),
        (huawei_payload(called=["8613800000001"]), "called"),
        (huawei_payload(releaseReason="hangup"), "releaseReason"),
    ],
)
def test_huawei_malformed_payload_is_a_validation_error(data: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_huawei_release_event(data)
    assert info.value.field == field


def test_huawei_validation_error_is_a_value_error_with_a_rule() -> None:
    with pytest.raises(ValueError, match=r"createCallTime: must be a time like 2022/02/17,13:10:06:836"):
        parse_huawei_release_event(huawei_payload(createCallTime="yesterday"))


def test_huawei_event_is_frozen() -> None:
    event = parse_huawei_release_event(huawei_payload())
    assert isinstance(event, HuaweiReleaseEvent)
    with pytest.raises(AttributeError):
        event.called = "other"  # type: ignore[misc]


# TeleCMI --------------------------------------------------------------------------------------


def test_telecmi_documented_cdr_becomes_a_typed_record() -> None:
    cdr = parse_telecmi_webhook(json.dumps(telecmi_payload()).encode())

    assert isinstance(cdr, TeleCMICdr)
    assert cdr.appid == "2222224"
    assert cdr.direction == "outbound"
    assert cdr.cmiuuid == "2d3a9f0e-1c4b-4b8e-9a57-5d1f9c0e7b21"
    assert cdr.conversation_uuid == "8f1c2e3d-4b5a-6978-8a9b-0c1d2e3f4a5b"
    assert cdr.leg == "a"
    assert cdr.request_id == "req-42"
    assert cdr.extra_params == {"order_id": 991, "crm": "acme"}
    assert cdr.time == dt.datetime(2022, 2, 17, 13, 10, 41, 999_000, tzinfo=UTC)
    assert cdr.time_ms == 1645103441999
    assert cdr.duration == 30
    assert cdr.start_time == dt.datetime(2022, 2, 17, 13, 10, 6, tzinfo=UTC)
    assert cdr.answer_time == dt.datetime(2022, 2, 17, 13, 10, 11, tzinfo=UTC)
    assert cdr.end_time == dt.datetime(2022, 2, 17, 13, 10, 41, tzinfo=UTC)
    assert cdr.call_rate == Decimal("0.6")
    assert cdr.balance == Decimal("102.45")
    assert cdr.status is TeleCMIStatus.ANSWERED
    assert cdr.hangup_reason is TeleCMIHangupReason.RECV_BYE
    assert cdr.from_number == "919876543210"
    assert cdr.to_number == "919123456789"


def test_telecmi_event_type_gives_an_event() -> None:
    event = parse_telecmi_webhook(telecmi_payload(type="event", status="started", hangup_reason=...))
    assert isinstance(event, TeleCMIEvent)
    assert event.status is TeleCMIStatus.STARTED
    assert event.hangup_reason is None


@pytest.mark.parametrize("status", ["started", "answered", "out_answered", "out_bridged", "hangup", "missed"])
def test_telecmi_documented_statuses_are_enum_members(status: str) -> None:
    webhook = parse_telecmi_webhook(telecmi_payload(status=status))
    assert webhook.status is TeleCMIStatus(status)


def test_telecmi_unknown_status_and_hangup_reason_are_kept_as_text() -> None:
    webhook = parse_telecmi_webhook(telecmi_payload(status="ringing", hangup_reason="sent_timeout"))
    assert webhook.status == "ringing"
    assert not isinstance(webhook.status, TeleCMIStatus)
    assert webhook.hangup_reason == "sent_timeout"
    assert not isinstance(webhook.hangup_reason, TeleCMIHangupReason)


def test_telecmi_unanswered_call_has_no_answer_time() -> None:
    webhook = parse_telecmi_webhook(telecmi_payload(status="missed", answer_time=0, duration=0))
    assert webhook.answer_time is None
    assert webhook.duration == 0


def test_telecmi_extra_params_absent_or_already_decoded() -> None:
    assert parse_telecmi_webhook(telecmi_payload(extra_params=...)).extra_params == {}
    assert parse_telecmi_webhook(telecmi_payload(extra_params="")).extra_params == {}
    assert parse_telecmi_webhook(telecmi_payload(extra_params={"a": 1})).extra_params == {"a": 1}


def test_telecmi_unknown_keys_are_kept_in_raw() -> None:
    webhook = parse_telecmi_webhook(telecmi_payload(agent="alice", notes=["vip"]))
    assert webhook.raw["agent"] == "alice"
    assert webhook.raw["notes"] == ["vip"]
    assert webhook.raw["type"] == "cdr"


def test_telecmi_request_id_alone_identifies_the_call() -> None:
    webhook = parse_telecmi_webhook(telecmi_payload(cmiuuid=...))
    assert webhook.cmiuuid is None
    assert webhook.request_id == "req-42"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"<xml/>", "payload"),
        (b"[]", "payload"),
        (telecmi_payload(type=...), "type"),
        (telecmi_payload(type="call"), "type"),
        (telecmi_payload(type=1), "type"),
        (telecmi_payload(cmiuuid=..., request_id=...), "cmiuuid"),
        (telecmi_payload(extra_params="{order_id: 991"), "extra_params"),
        (telecmi_payload(extra_params='["not", "an", "object"]'), "extra_params"),
        (telecmi_payload(extra_params=991), "extra_params"),
        (telecmi_payload(leg="c"), "leg"),
        (telecmi_payload(duration=[30]), "duration"),
        (telecmi_payload(duration="thirty"), "duration"),
        (telecmi_payload(time="noon"), "time"),
        (telecmi_payload(start_time=True), "start_time"),
        (telecmi_payload(call_rate="cheap"), "call_rate"),
        (telecmi_payload(cmiuuid={"id": 1}), "cmiuuid"),
        (telecmi_payload(status=3), "status"),
        (telecmi_payload(**{"from": 9.5}), "from"),
    ],
)
def test_telecmi_malformed_payload_is_a_validation_error(data: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_telecmi_webhook(data)
    assert info.value.field == field


def test_telecmi_dedup_key_identifies_record_by_call_and_leg() -> None:
    cdr = parse_telecmi_webhook(telecmi_payload())
    assert telecmi_dedup_key(cdr) == "telecmi:cdr:cmiuuid=2d3a9f0e-1c4b-4b8e-9a57-5d1f9c0e7b21:leg=a"
    other_leg = parse_telecmi_webhook(telecmi_payload(leg="b"))
    assert telecmi_dedup_key(other_leg) != telecmi_dedup_key(cdr)
    by_request = parse_telecmi_webhook(telecmi_payload(cmiuuid=...))
    assert telecmi_dedup_key(by_request) == "telecmi:cdr:request_id=req-42:leg=a"


def test_telecmi_dedup_key_of_an_event_includes_status() -> None:
    started = parse_telecmi_webhook(telecmi_payload(type="event", status="started"))
    answered = parse_telecmi_webhook(telecmi_payload(type="event", status="answered"))
    assert telecmi_dedup_key(started).endswith(":status=started")
    assert telecmi_dedup_key(started) != telecmi_dedup_key(answered)
    cdr = parse_telecmi_webhook(telecmi_payload(status="answered"))
    assert telecmi_dedup_key(cdr) != telecmi_dedup_key(answered)


# Signature helpers ----------------------------------------------------------------------------


def test_canonical_string_sorts_and_leaves_out_unsigned_params() -> None:
    payload = {"called": "8613", "callSerialNo": "77", "nonce": "n", "timestamp": "1", "signature": "s"}
    assert canonical_string(payload) == "callSerialNo=77&called=8613"


def test_canonical_string_renders_values_and_takes_separators() -> None:
    payload = {"b": 12, "a": None, "c": True, "d": "x y"}
    assert canonical_string(payload) == "a=&b=12&c=true&d=x y"
    assert canonical_string(payload, pair_sep="", kv_sep="") == "ab12ctruedx y"


def test_constant_time_equals() -> None:
    assert constant_time_equals("abc123", "abc123")
    assert constant_time_equals("abc123", b"abc123")
    assert not constant_time_equals("abc123", "abc124")
    assert not constant_time_equals("abc", "abc123")


# In-memory seen-store -------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_seen_store_reports_new_and_seen_keys() -> None:
    store = InMemorySeenStore()
    assert await store.add("k") is True
    assert await store.add("k") is False
    assert await store.add("other") is True


async def test_seen_store_discard_lets_a_key_in_again() -> None:
    store = InMemorySeenStore()
    await store.add("k")
    await store.discard("k")
    await store.discard("never-added")
    assert await store.add("k") is True


async def test_seen_store_forgets_keys_after_ttl() -> None:
    clock = FakeClock()
    store = InMemorySeenStore(ttl=60, clock=clock)
    await store.add("k")
    clock.now += 59.9
    assert await store.add("k") is False
    clock.now += 0.2
    assert await store.add("k") is True


async def test_seen_store_expired_keys_free_memory() -> None:
    clock = FakeClock()
    store = InMemorySeenStore(ttl=10, clock=clock)
    for i in range(5):
        await store.add(f"k{i}")
    clock.now += 11
    await store.add("fresh")
    assert len(store) == 1


async def test_seen_store_evicts_oldest_beyond_max_entries() -> None:
    store = InMemorySeenStore(max_entries=2)
    for key in ("a", "b", "c"):
        await store.add(key)
    assert len(store) == 2
    assert await store.add("c") is False
    assert await store.add("b") is False
    assert await store.add("a") is True


@pytest.mark.parametrize(("kwargs", "field"), [({"ttl": 0}, "ttl"), ({"max_entries": 0}, "max_entries")])
def test_seen_store_rejects_unusable_limits(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        InMemorySeenStore(**kwargs)
    assert info.value.field == field
