"""Vendor callback payloads with every documented field, shared by the webhook tests."""

from __future__ import annotations

import json
from typing import Any

SERIAL = "1200_366_0_20220217131006@callenabler.home1.com"
SIGNATURE = "c2lnbmF0dXJl"


def huawei_payload(**changes: Any) -> dict[str, Any]:
    """A release callback with every documented field."""
    payload: dict[str, Any] = {
        "callSerialNo": SERIAL,
        "called": "8613800000001",
        "signature": SIGNATURE,
        "timestamp": "1645103406836",
        "nonce": "a1b2c3d4",
        "callerPresent": "4001234567",
        "createCallTime": "2022/02/17,13:10:06:836",
        "alertingTime": "2022/02/17,13:10:08:120",
        "talkingTime": "2022/02/17,13:10:11:005",
        "releaseTime": "2022/02/17,13:10:41:999",
        "talkDuration": "30",
        "recordfile": "rec_20220217.wav",
        "locationId": "3",
        "releaseReason": "0",
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def telecmi_payload(**changes: Any) -> dict[str, Any]:
    """A TeleCMI call record with every documented field."""
    payload: dict[str, Any] = {
        "type": "cdr",
        "appid": 2222224,
        "direction": "outbound",
        "cmiuuid": "2d3a9f0e-1c4b-4b8e-9a57-5d1f9c0e7b21",
        "conversation_uuid": "8f1c2e3d-4b5a-6978-8a9b-0c1d2e3f4a5b",
        "leg": "a",
        "request_id": "req-42",
        "extra_params": '{"order_id": 991, "crm": "acme"}',
        "time": 1645103441999,
        "duration": 30,
        "start_time": 1645103406,
        "answer_time": 1645103411,
        "end_time": 1645103441,
        "call_rate": "0.6",
        "balance": 102.45,
        "status": "answered",
        "hangup_reason": "recv_bye",
        "from": 919876543210,
        "to": "919123456789",
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def cdr_of(call: Any) -> bytes:
    """The body of the answered-call cdr webhook TeleCMI sends for `call` (a sandbox ledger
    entry), three seconds long, its ``extra_params`` (the campaign's identity) given back."""
    extra = call.extra_params if isinstance(call.extra_params, str) else json.dumps(call.extra_params)
    cdr = {
        "type": "cdr",
        "cmiuuid": f"u-{call.request_id}",
        "request_id": call.request_id,
        "status": "answered",
        "to": call.to,
        "duration": 3,
        "start_time": int(call.time) - 3,
        "extra_params": extra,
    }
    return json.dumps(cdr).encode()
