"""An aiohttp web app that places a call and answers its HTTP caller once the call has ended.

``POST /calls {"to": 9100000001}`` places a call, waits for the vendor's webhook to say how it
ended, and returns the outcome. ``POST /webhooks/telecmi`` receives the vendor's webhooks (set that
URL in TeleCMI's dashboard) and feeds them to the tracker that the waiting request listens to.

Here everything runs locally: a sandbox plays the vendor (calls ring 3 s and talk 20 s, in
compressed time), the app serves on a free loopback port, and the script plays the HTTP caller.

Run: python examples/async_web_app.py
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

import voicekit
from voicekit.sandbox import OutcomePlan, Sandbox
from voicekit.tracking import CallTracker, CallTrackingTimeout
from voicekit.webhooks import TeleCMICdr, telecmi_webhook_handler

TRACKER = web.AppKey("tracker", CallTracker)
TELECMI = web.AppKey("telecmi", voicekit.AsyncTeleCMI)
CALLER_ID = 19170000000


async def place_and_await(request: web.Request) -> web.Response:
    """Place a call to the JSON body's ``to`` and answer with how it ended."""
    body = await request.json()
    tc, tracker = request.app[TELECMI], request.app[TRACKER]
    try:
        call = await tc.play_music(
            from_=CALLER_ID, to=body["to"], file_name="welcome.wav", extra_params={"order": body.get("order")}
        )
    except voicekit.errors.ValidationError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    try:
        end = await tracker.wait(call.request_id, timeout=30)
    except CallTrackingTimeout:
        # Still going, or the webhook is late: the caller can look it up later by request_id.
        return web.json_response({"request_id": call.request_id, "outcome": "pending"}, status=202)
    return web.json_response(
        {
            "request_id": call.request_id,
            "outcome": end.outcome,
            "talked_seconds": end.duration,
            "hangup_reason": end.hangup_reason,
            # extra_params come back in the vendor's record: tie the call to your own data with them.
            "order": end.record.extra_params.get("order") if isinstance(end.record, TeleCMICdr) else None,
        }
    )


def make_app(tc: voicekit.AsyncTeleCMI, tracker: CallTracker) -> web.Application:
    app = web.Application()
    app[TELECMI], app[TRACKER] = tc, tracker
    app.router.add_post("/calls", place_and_await)
    app.router.add_post("/webhooks/telecmi", telecmi_webhook_handler(tracker.feed))
    return app


async def main() -> None:
    plan = OutcomePlan(ring=3, talk=20, seed=2024)
    plan.set("9100000002", answer=False)  # this one never picks up
    async with (
        Sandbox(outcomes=plan, time_scale=0.01) as sb,
        voicekit.AsyncTeleCMI(
            appid=sb.telecmi_appid,
            secret=sb.telecmi_secret,
            base_url=sb.url,
            piopiy_url=sb.url,
        ) as tc,
    ):
        runner = web.AppRunner(make_app(tc, CallTracker()), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        app_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        sb.telecmi_webhook_url = app_url + "/webhooks/telecmi"  # what the vendor's dashboard holds
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
                for order, to in enumerate((9100000001, 9100000002), start=1):
                    async with http.post(app_url + "/calls", json={"to": to, "order": order}) as resp:
                        result = await resp.json()
                    print(
                        f"placed a call to {to} (order {result['order']}): {result['outcome']}, "
                        f"talked {result['talked_seconds']} s, hangup reason {result['hangup_reason']}"
                    )
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
