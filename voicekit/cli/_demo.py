"""`voicekit demo`: the whole tour against an in-process sandbox, no account needed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.table import Table

from .. import AsyncHuaweiVoice, AsyncTeleCMI
from ..huawei import Prompt
from ..sandbox import Sandbox
from ..telecmi import Bridge, Dial, Pstn
from ..webhooks import HuaweiReleaseEvent, huawei_release_handler
from ._common import async_client, console

CODE = """\
import voicekit
from voicekit.telecmi import Bridge, Dial, Pstn
from voicekit.huawei import Prompt

async with voicekit.AsyncTeleCMI(appid=..., secret=...,
                                 rate_limit=100) as tc:
    call = await tc.play_music(from_=19170000000, to=19170000001,
                               file_name="welcome.wav")
    call = await tc.make_call(
        from_=19170000000, to=19170000001,
        pcmo=[Bridge(from_=19170000000,
                     connect=[Pstn(number=19170000002)])])
    c2c = await tc.click_to_call(user_id="101_1111112", to=9100000000)
    specs = (Dial(key=str(n), from_=19170000000, to=n,
                  file_name="welcome.wav") for n in numbers)
    async for outcome in tc.dial_many(specs):
        ...          # outcome.ok / outcome.unknown / outcome.error
    async for record in tc.outgoing_answered():   # the last 24 h
        ...

async with voicekit.AsyncHuaweiVoice(base_url=..., app_key=...,
                                     app_secret=...) as hw:
    n = await hw.create_voice_notification(
        called="8899", play_list=[Prompt(voice_id="100001")],
        callback_url="https://example.com/huawei/release")
"""
#: The demo fits an 80-column terminal: no line of its own is wrapped or cropped.
WIDTH = 80


def run_demo(*, calls: int, rate: float) -> None:
    asyncio.run(_tour(calls=calls, rate=rate))


async def _receiver(events: asyncio.Queue[HuaweiReleaseEvent]) -> tuple[web.AppRunner, str]:
    async def on_release(event: HuaweiReleaseEvent) -> None:
        await events.put(event)

    app = web.Application()
    app.router.add_post("/huawei/release", huawei_release_handler(on_release))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/huawei/release"


async def _tour(*, calls: int, rate: float) -> None:
    summary: list[tuple[str, str]] = []
    started = time.monotonic()
    console.rule("[bold]voicekit demo[/] - every capability, against a local sandbox")
    events: asyncio.Queue[HuaweiReleaseEvent] = asyncio.Queue()
    async with Sandbox(callback_delay=0.2) as sb:
        console.print(f"sandbox on [bold]{escape(sb.url)}[/] (emulates TeleCMI and Huawei BES)\n")
        runner, callback_url = await _receiver(events)
        try:
            async with (
                async_client(AsyncTeleCMI, sandbox=sb, rate=rate, page_concurrency=4) as tc,
                async_client(AsyncHuaweiVoice, sandbox=sb) as hw,
            ):
                await _calls(tc, summary)
                await _notification(hw, callback_url, events, summary)
                await _burst(tc, calls, rate, summary)
                await _records(tc, summary)
        finally:
            await runner.cleanup()
        placed = len(sb.calls)
    table = Table(title="summary", show_header=True, header_style="bold")
    table.add_column("step")
    table.add_column("result")
    for step, result in summary:
        table.add_row(step, escape(result))
    console.print(table)
    console.print(
        f"The sandbox's own ledger holds {placed} placed calls; the tour took {time.monotonic() - started:.1f} s.\n"
    )
    console.print(
        Panel(Syntax(CODE, "python", theme="ansi_dark", background_color="default"), title="the code for each step")
    )
    console.print("[bold green]demo complete[/]")


async def _calls(tc: AsyncTeleCMI, summary: list[tuple[str, str]]) -> None:
    console.print("[bold]1. play a music[/]  tc.play_music(from_=19170000000, to=19170000001, ...)")
    call = await tc.play_music(from_=19170000000, to=19170000001, file_name="welcome_11112.wav")
    console.print(f"   -> status={call.status} request_id={call.request_id}", markup=False)
    summary.append(("play a music", f"{call.status}, request_id {call.request_id[:12]}..."))

    console.print("[bold]2. bridge a call[/]  tc.make_call(pcmo=[Bridge(connect=[Pstn(...)])])")
    call = await tc.make_call(
        from_=19170000000,
        to=19170000001,
        region="global",
        pcmo=[Bridge(from_=19170000000, duration=300, timeout=20, loop=2, connect=[Pstn(number=19170000002)])],
    )
    console.print(f"   -> status={call.status} request_id={call.request_id}", markup=False)
    summary.append(("bridge a call", f"{call.status}, request_id {call.request_id[:12]}..."))

    console.print("[bold]3. click-to-call[/]  tc.click_to_call(user_id='101_1111112', to=9100000000)")
    c2c = await tc.click_to_call(user_id="101_1111112", to=9100000000, extra_params={"crm": True})
    console.print(f"   -> {c2c.msg} request_id={c2c.request_id}", markup=False)
    summary.append(("click-to-call", c2c.msg))


async def _notification(
    hw: AsyncHuaweiVoice,
    callback_url: str,
    events: asyncio.Queue[HuaweiReleaseEvent],
    summary: list[tuple[str, str]],
) -> None:
    console.print("[bold]4. Huawei voice notification[/]  hw.create_voice_notification(...)")
    result = await hw.create_voice_notification(
        called="8899",
        play_list=[Prompt(voice_id="100001", template_params=["100", "200"])],
        play_times=1,
        caller_present="2222201",
        callback_url=callback_url,
    )
    console.print(f"   -> call_serial_no={result.call_serial_no}; waiting for the release event...", markup=False)
    try:
        event = await asyncio.wait_for(events.get(), timeout=10)
    except TimeoutError:
        console.print("   -> [yellow]no release event arrived within 10 s[/]")
        summary.append(("voice notification", f"{result.call_serial_no}, no callback"))
        return
    reason = event.release_reason.name if event.release_reason is not None else "unknown"
    console.print(f"   -> release event via voicekit.webhooks: {event.talk_duration} s, {reason}", markup=False)
    summary.append(("voice notification", f"{result.call_serial_no}: callback, {reason}"))


async def _burst(tc: AsyncTeleCMI, calls: int, rate: float, summary: list[tuple[str, str]]) -> None:
    limit = f"limit {rate:g}/s" if rate else "no limit"
    console.print(f"[bold]5. a burst of {calls} calls[/]  tc.dial_many(...), client-side {limit}")
    specs = (Dial(key=str(i), from_=19170000000, to=9100000000 + i, file_name="welcome.wav") for i in range(calls))
    counts = {"placed": 0, "failed": 0, "unknown": 0}
    started = time.monotonic()
    with Progress(
        TextColumn("   dialing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[rate]}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("dial", total=calls, rate="")
        async for outcome in tc.dial_many(specs, concurrency=32):
            counts["placed" if outcome.ok else "unknown" if outcome.unknown else "failed"] += 1
            elapsed = max(time.monotonic() - started, 1e-6)
            done = sum(counts.values())
            progress.update(task, advance=1, rate=f"{done / elapsed:.0f} calls/s ({limit})")
    elapsed = time.monotonic() - started
    console.print(
        f"   -> placed={counts['placed']} failed={counts['failed']} unknown={counts['unknown']} "
        f"in {elapsed:.1f} s ({calls / elapsed:.0f} calls/s, {limit})"
    )
    summary.append((f"burst of {calls} calls", f"{counts['placed']} placed at {calls / elapsed:.0f}/s"))


async def _records(tc: AsyncTeleCMI, summary: list[tuple[str, str]]) -> None:
    console.print("[bold]6. call records[/]  await tc.outgoing_answered() / async for record in ...")
    page = await tc.outgoing_answered(page_size=10)
    table = Table(title=f"outgoing answered: first page of {page.total} records", header_style="bold")
    for column in ("id", "to", "from", "time (UTC)", "billed s"):
        table.add_column(column)
    for record in page.records:
        # Vendor text, shown as it is (a table cell is read as markup otherwise).
        table.add_row(
            *(escape(cell) for cell in (record.id, record.to, record.from_ or "")),
            record.started_at.strftime("%H:%M:%S"),
            str(record.billedsec),
        )
    console.print(table)
    count = 0
    seen: set[Any] = set()
    async for record in tc.outgoing_answered(page_size=50):
        count += 1
        seen.add(record.id)
    console.print(f"   -> paged all {count} records concurrently ({len(seen)} distinct)")
    summary.append(("call records", f"{count} records paged, {len(seen)} distinct"))
