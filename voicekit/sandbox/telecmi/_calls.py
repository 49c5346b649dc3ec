"""A placed TeleCMI call played out to its end: ringing, answer or miss, talk, record and webhooks.

Time is simulated: a call's timeline (placed at ``t0`` on the sandbox clock, rings ``ring`` s,
talks ``talk`` s) is what its records and webhooks report, while the wall time it takes is that
timeline multiplied by ``time_scale`` (0, the default, plays it out at once; 1.0 in real time).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import Any

from .._delivery import post_loopback
from .._http import logger
from .._ledger import PlacedCall
from .._runtime import Runtime
from ._state import LiveCall, TelecmiState

__all__ = ["cdr_payload", "event_payload", "lookup_entry", "place_telecmi_call"]

_ids = random.Random()

#: Rate and balance reported in webhooks and lookups (the vendor's sample values; no billing here).
CALL_RATE = "0.6"
BALANCE = "1000.00"


def _extra_text(extra: Any) -> str:
    """``extra_params`` the way the webhooks carry it: a JSON string ("" when absent)."""
    if extra is None:
        return ""
    if isinstance(extra, str):
        return extra
    return json.dumps(extra, separators=(",", ":"))


def _number(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def _base_payload(live: LiveCall, kind: str, status: str, moment: float) -> dict[str, Any]:
    call = live.call
    talk = int(round(live.end_at - live.answer_at)) if live.end_at is not None and live.answer_at is not None else 0
    return {
        "type": kind,
        "appid": live.appid,
        "direction": "outbound",
        "cmiuuid": live.cmiuuid,
        "conversation_uuid": live.conversation_uuid,
        "leg": "a",
        "request_id": call.request_id,
        "extra_params": _extra_text(call.extra_params),
        "time": int(moment * 1000),
        "from": _number(live.from_field),
        "to": _number(call.to),
        "status": status,
        "start_time": int(call.time),
        "answer_time": int(live.answer_at) if live.answer_at is not None else 0,
        "end_time": int(live.end_at) if live.end_at is not None else 0,
        "duration": talk,
        "billedsec": talk,
        "call_rate": CALL_RATE,
        "balance": BALANCE,
    }


def event_payload(live: LiveCall, status: str, moment: float) -> dict[str, Any]:
    """A ``type: "event"`` webhook body (``started``, ``answered`` or ``hangup``) at `moment`."""
    payload = _base_payload(live, "event", status, moment)
    if status == "hangup" and live.hangup_reason is not None:
        payload["hangup_reason"] = live.hangup_reason
    return payload


def cdr_payload(live: LiveCall) -> dict[str, Any]:
    """The ``type: "cdr"`` webhook body of an ended call (status ``answered`` or ``missed``)."""
    assert live.end_at is not None
    payload = _base_payload(live, "cdr", "answered" if live.answer_at is not None else "missed", live.end_at)
    payload["hangup_reason"] = live.hangup_reason or ""
    return payload


def lookup_entry(live: LiveCall) -> dict[str, Any]:
    """One entry of ``/v1/piopiy/requestid_cdr``: the documented fields plus the call's ids and times."""
    payload = cdr_payload(live)
    return {
        "request_id": payload["request_id"],
        "cmiuuid": payload["cmiuuid"],
        "leg": "a",
        "direction": "outbound",
        "status": payload["status"],
        "duration": payload["duration"],
        "billedsec": payload["billedsec"],
        "rate": CALL_RATE,
        "balance": BALANCE,
        "from": payload["from"],
        "to": payload["to"],
        "start_time": payload["start_time"],
        "answer_time": payload["answer_time"],
        "end_time": payload["end_time"],
        "hangup_reason": payload["hangup_reason"],
    }


def _new_uuid() -> str:
    # Unique, not unguessable (like the sandbox's request ids): cheaper than uuid4's urandom.
    return str(uuid.UUID(int=_ids.getrandbits(128), version=4))


def place_telecmi_call(state: TelecmiState, runtime: Runtime, call: PlacedCall, appid: int, from_field: str) -> None:
    """Add `call` to the ledger and play it out per the outcome plan.

    With ``time_scale == 0`` the call ends before this returns (its record is stored, after
    ``record_delay``); otherwise it stays in ``state.live_calls`` until its timeline has passed
    or call control hangs it up. Webhooks are POSTed in the background when
    ``telecmi_webhook_url`` is set.
    """
    decision = state.outcomes.decide(call.to, default_talk=float(state.billedsec))
    live = LiveCall(
        call=call,
        appid=appid,
        from_field=from_field,
        decision=decision,
        cmiuuid=_new_uuid(),
        conversation_uuid=_new_uuid(),
    )
    state.calls.append(call)
    state.cmiuuids[call.request_id] = live.cmiuuid
    if state.time_scale <= 0:
        if decision.answered:
            live.answer_at = call.time + decision.ring
            live.end_at = live.answer_at + decision.talk
        else:
            live.end_at = call.time + decision.ring
        live.hangup_reason = decision.hangup_reason
        live.phase = "ended"
        _settle(state, runtime, live)
        if state.telecmi_webhook_url is not None:
            runtime.spawn(_deliver_ended(state, runtime, live))
        return
    state.live_calls[live.cmiuuid] = live
    runtime.spawn(_play(state, runtime, live))


def _settle(state: TelecmiState, runtime: Runtime, live: LiveCall) -> None:
    """The call has ended: store its record and make it findable by the per-call lookup."""
    state.live_calls.pop(live.cmiuuid, None)
    state.ended_calls[live.cmiuuid] = live
    answered = live.answer_at is not None
    talk = int(round(live.end_at - live.answer_at)) if live.end_at is not None and live.answer_at is not None else 0
    record = state.make_record(
        appid=live.appid,
        to=int(live.call.to),
        from_=live.from_field,
        time_ms=int(live.call.time * 1000),
        billedsec=talk,
    )
    kind = "outanswered" if answered else "outmissed"
    if state.record_delay > 0:
        runtime.call_later(state.record_delay, state.records.add, live.appid, kind, record)
    else:
        state.records.add(live.appid, kind, record)


async def _play(state: TelecmiState, runtime: Runtime, live: LiveCall) -> None:
    """Ring, answer or miss, talk, end: in scaled wall time, cut short by a hangup."""
    try:
        scale = state.time_scale
        decision = live.decision
        await _post_event(state, runtime, live, "started", live.call.time)
        rang_out = await live.wait(decision.ring, scale)
        if rang_out and decision.answered:
            live.answer_at = live.call.time + decision.ring
            live.phase = "answered"
            await _post_event(state, runtime, live, "answered", live.answer_at)
            talked_out = await live.wait(decision.talk, scale)
            live.end_at = live.answer_at + decision.talk if talked_out else max(live.answer_at, live.sim_now(scale))
        else:
            live.end_at = live.call.time + decision.ring if rang_out else live.sim_now(scale)
        if live.hangup_reason is None:
            live.hangup_reason = decision.hangup_reason
        live.phase = "ended"
        _settle(state, runtime, live)
        await _post_event(state, runtime, live, "hangup", live.end_at)
        await _post_cdr(state, runtime, live)
    except asyncio.CancelledError:
        raise
    except Exception:  # a call must never take the sandbox down
        logger.exception("the sandbox call %s crashed", live.call.request_id)


async def _deliver_ended(state: TelecmiState, runtime: Runtime, live: LiveCall) -> None:
    """The webhooks of a call that played out at once: started, answered, hangup, then the cdr."""
    try:
        await _post_event(state, runtime, live, "started", live.call.time)
        if live.answer_at is not None:
            await _post_event(state, runtime, live, "answered", live.answer_at)
        assert live.end_at is not None
        await _post_event(state, runtime, live, "hangup", live.end_at)
        await _post_cdr(state, runtime, live)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("the webhooks of sandbox call %s crashed", live.call.request_id)


async def _post_event(state: TelecmiState, runtime: Runtime, live: LiveCall, status: str, moment: float) -> None:
    url = state.telecmi_webhook_url
    if url is not None:
        # Events are sent once: the vendor documents resends for call records only.
        await _post(state, runtime, url, event_payload(live, status, moment))


async def _post_cdr(state: TelecmiState, runtime: Runtime, live: LiveCall) -> None:
    """POST the cdr at each offset of ``cdr_resend_schedule`` until the receiver answers 200."""
    url = state.telecmi_webhook_url
    if url is None:
        return
    payload = cdr_payload(live)
    started = time.monotonic()
    for offset in state.cdr_resend_schedule:
        await runtime.sleep(offset - (time.monotonic() - started))
        if runtime.closing:
            return
        if await _post(state, runtime, url, payload) == 200:
            return


async def _post(state: TelecmiState, runtime: Runtime, url: str, payload: dict[str, Any]) -> int | None:
    """POST one webhook to a loopback `url`, log the attempt, return the receiver's status."""
    delivery = await post_loopback(
        runtime, url, payload, clock=state.clock, what=f"webhook for {payload.get('request_id')}"
    )
    state.telecmi_webhooks.append(delivery)
    return delivery.status
