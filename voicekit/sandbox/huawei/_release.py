"""The release event a Huawei voice notification POSTs to its ``callBackUrl`` when it ends."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets

from .._delivery import post_loopback
from .._http import logger
from .._ledger import PlacedCall
from .._outcomes import Decision
from .._runtime import Runtime
from ._state import HuaweiState

__all__ = ["NOT_ANSWERED_RELEASE_REASON", "release_callback", "release_payload"]

#: ``releaseReason`` of a notification nobody answered. Only code 0 is publicly documented, so
#: this is a guess kept in one place; voicekit's parser reports it as ReleaseReason.UNKNOWN.
NOT_ANSWERED_RELEASE_REASON = "1"
#: Simulated seconds between creating the call and the callee's phone ringing.
ALERTING_AFTER = 1.0


def _huawei_time(epoch: float) -> str:
    """Format like ``2022/02/17,13:10:06:836`` (UTC)."""
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.strftime("%Y/%m/%d,%H:%M:%S:") + f"{moment.microsecond // 1000:03d}"


def release_payload(state: HuaweiState, call: PlacedCall, decision: Decision | None = None) -> dict[str, str]:
    """The release-event body for ``call``, on a simulated timeline starting at placement.

    Ringing starts 1 s after creation and lasts the outcome plan's ``ring`` seconds; an answered
    call then talks ``talk`` seconds (default ``huawei_talk_duration``) and reports
    ``huawei_release_reason``; a missed one has no ``talkingTime``, a ``talkDuration`` of 0 and
    `NOT_ANSWERED_RELEASE_REASON`. Every value is a string, as the vendor documents.
    """
    if decision is None:
        decision = Decision(answered=True, ring=4.0, talk=float(state.huawei_talk_duration), hangup_reason="")
    created = call.time
    alerting = created + ALERTING_AFTER
    talking = alerting + decision.ring
    released = talking + decision.talk if decision.answered else talking
    payload = {
        "callSerialNo": call.request_id,
        "called": call.to,
        "signature": "",
        "timestamp": str(int(state.clock() * 1000)),
        "nonce": secrets.token_hex(16),
        "callerPresent": call.from_ or "",
        "createCallTime": _huawei_time(created),
        "alertingTime": _huawei_time(alerting),
        "talkingTime": _huawei_time(talking) if decision.answered else "",
        "releaseTime": _huawei_time(released),
        "talkDuration": str(int(round(decision.talk))) if decision.answered else "0",
        "recordfile": "",
        "locationId": "",
        "releaseReason": state.huawei_release_reason if decision.answered else NOT_ANSWERED_RELEASE_REASON,
    }
    if state.huawei_callback_signer is not None:
        payload["signature"] = state.huawei_callback_signer(dict(payload))
    return payload


async def release_callback(
    state: HuaweiState, runtime: Runtime, url: str, call: PlacedCall, decision: Decision
) -> None:
    """POST the release event to ``url`` once the call is over; never raises.

    The call lasts its simulated ringing and talk times ``time_scale`` (0: no time at all);
    ``callback_delay`` is added after that.
    """
    try:
        simulated = ALERTING_AFTER + decision.ring + decision.talk
        await asyncio.sleep(state.callback_delay + simulated * state.time_scale)
        payload = release_payload(state, call, decision)
        delivery = await post_loopback(runtime, url, payload, clock=state.clock, what=f"callback for {call.request_id}")
        state.callbacks.append(delivery)
    except asyncio.CancelledError:
        raise
    except Exception:  # a callback must never take the sandbox down
        logger.exception("callback for %s crashed", call.request_id)
