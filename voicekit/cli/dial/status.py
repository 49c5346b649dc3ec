"""`voicekit dial status`: a campaign's counts, per state and per worker, from any machine."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ...journal import AsyncJournal, State, Summary
from .._common import console, fail_on_voicekit_error, json_option
from ._shared import campaign_option, journal_argument, say

__all__ = ["status_cmd", "status_json"]


@click.command("status")
@journal_argument
@campaign_option
@json_option
@fail_on_voicekit_error
def status_cmd(journal_path: str, campaign_name: str | None, json_output: bool) -> None:
    """Summarise a campaign's journal (a file or a postgresql:// URL, from any machine, while
    workers run it; reading takes no lock and never changes it): counts per state and per
    worker, the campaign file, when it started and last moved."""
    path, summary, unknown, outcomes = asyncio.run(_read(journal_path, campaign_name))
    if json_output:
        click.echo(json.dumps({**status_json(path, summary), "outcomes": outcomes}))
        return
    _print(path, summary, unknown, outcomes)


async def _read(journal_path: str, campaign_name: str | None) -> tuple[str, Summary, list[str], dict[str, int]]:
    async with await AsyncJournal.read(journal_path, campaign=campaign_name) as journal:
        summary = await journal.summary()
        unknown: list[str] = []
        async for entry in journal.entries([State.UNKNOWN], chunk=10):
            unknown.append(entry.key)
            if len(unknown) >= 10:
                break
        return journal.path, summary, unknown, await journal.outcome_counts()


def status_json(path: str, summary: Summary) -> dict[str, Any]:
    return {
        "journal": path,
        "campaign": summary.campaign.describe(),
        "name": summary.campaign.name,
        "id": summary.campaign_id,
        "state": summary.state,
        "started": summary.started.isoformat(),
        "updated": summary.updated.isoformat(),
        "running": summary.running,
        "loaded": summary.loaded,
        "counts": {str(s): n for s, n in summary.counts.items()},
        "total": summary.total,
        "waiting": {
            "rows": summary.waiting.rows if summary.waiting else 0,
            "next": summary.waiting.next_time.isoformat() if summary.waiting and summary.waiting.next_time else None,
        },
        "suppressed_numbers": summary.suppressed_numbers,
        "workers": [
            {"worker": w.worker, "live": w.live, "counts": {str(s): n for s, n in w.counts.items()}}
            for w in summary.workers
        ],
    }


def _print(path: str, summary: Summary, unknown: list[str], outcomes: dict[str, int]) -> None:
    counts = summary.counts
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("journal", escape(path))
    table.add_row("campaign", escape(summary.campaign.describe()))
    if summary.state != "active":
        advice = {"paused": " (`voicekit dial resume` goes on)"}.get(summary.state, "")
        table.add_row("state", summary.state + advice)
    table.add_row("started", summary.started.strftime("%Y-%m-%d %H:%M:%S UTC"))
    table.add_row("updated", summary.updated.strftime("%Y-%m-%d %H:%M:%S UTC"))
    table.add_row("run", "in progress" if summary.running else "none running")
    for state in State:
        table.add_row(str(state), f"{counts[state]:,}")
    table.add_row("total", f"{summary.total:,}")
    waiting = summary.waiting
    if waiting is not None and waiting.rows and waiting.next_time is not None:
        table.add_row(
            "waiting",
            f"{waiting.rows:,} pending row(s) wait for their calling window; the next is callable at "
            f"{waiting.next_time:%Y-%m-%d %H:%M:%S} UTC",
        )
    if summary.suppressed_numbers:
        table.add_row("do-not-call", f"{summary.suppressed_numbers:,} number(s)")
    table.add_row("answered", f"{outcomes['answered']:,}")
    table.add_row("missed", f"{outcomes['missed']:,}")
    table.add_row("awaiting outcome", f"{outcomes['awaiting']:,}")
    console.print(table)
    if summary.workers:
        workers = Table("worker", "lease", *(str(s) for s in State), box=None, pad_edge=False)
        for w in summary.workers:
            workers.add_row(escape(w.worker), "live" if w.live else "ended", *(f"{w.counts[s]:,}" for s in State))
        console.print(workers)
    if counts[State.SENDING] and not summary.running:
        console.print(
            f"[yellow]{counts[State.SENDING]} call(s) were being sent when a run stopped abruptly; "
            "the next run reports them as unknown[/]"
        )
    if unknown:
        more = " ..." if counts[State.UNKNOWN] > len(unknown) else ""
        say(f"unknown outcome (`voicekit dial reconcile {path}` resolves them): {', '.join(unknown)}{more}")
    say(
        f"placed={counts[State.PLACED]} failed={counts[State.FAILED]} unknown={counts[State.UNKNOWN]} "
        f"pending={counts[State.PENDING]} sending={counts[State.SENDING]} answered={outcomes['answered']} "
        f"missed={outcomes['missed']} awaiting={outcomes['awaiting']}"
    )
