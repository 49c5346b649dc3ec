"""Place calls and page call records with the async client, against a local sandbox.

Run: python examples/async_calls.py
"""

from __future__ import annotations

import asyncio

import voicekit
from voicekit.errors import CallOutcomeUnknownError
from voicekit.sandbox import Sandbox
from voicekit.telecmi import Bridge, Dial, Pstn


async def main() -> None:
    async with (
        Sandbox() as sb,
        voicekit.AsyncTeleCMI(
            appid=sb.telecmi_appid,
            secret=sb.telecmi_secret,
            base_url=sb.url,
            piopiy_url=sb.url,
            rate_limit=50,
        ) as tc,
    ):
        call = await tc.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav")
        print("play a music:", call.status, call.request_id)

        call = await tc.make_call(
            from_=19170000000,
            to=19170000001,
            pcmo=[Bridge(from_=19170000000, duration=300, connect=[Pstn(number=19170000002)])],
        )
        print("bridge:", call.status, call.request_id)

        # The vendor fails after placing the call: voicekit reports it instead of ringing twice.
        sb.faults.add("/v2/global_pcmo_make_call", status=503)
        try:
            await tc.play_music(from_=19170000000, to=19170000003, file_name="welcome.wav")
        except CallOutcomeUnknownError as exc:
            print("outcome unknown, not retried:", exc.request["to"])

        specs = (
            Dial(key=str(n), from_=19170000000, to=n, file_name="welcome.wav") for n in range(9100000000, 9100000100)
        )
        placed = sum([outcome.ok async for outcome in tc.dial_many(specs, concurrency=16)])
        print("bulk:", placed, "placed")

        page = await tc.outgoing_answered(page_size=10)
        print("records:", page.total, "in", page.pages, "pages")
        async for record in tc.outgoing_answered(page_size=25, limit=3):
            print("  ", record.started_at.isoformat(), record.to, record.billedsec, "s")


if __name__ == "__main__":
    asyncio.run(main())
