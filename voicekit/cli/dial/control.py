"""`voicekit dial pause|resume|cancel|suppress`: steer a running campaign from any machine.

Every worker of the campaign checks its state with each claim: paused, none claims another row
(calls in flight finish); resumed, they go on; cancelled, the pending rows become ``cancelled``
and the workers end. Numbers suppressed are never dialed again by any worker.
"""

from __future__ import annotations

import asyncio

import click

from ..._policy import read_suppress_file
from ...errors import ConfigurationError, ValidationError
from ...journal import AsyncJournal
from .._common import fail_on_voicekit_error
from ._shared import campaign_option, journal_argument, say

__all__ = ["cancel_cmd", "pause_cmd", "resume_cmd", "suppress_cmd"]


async def _control(journal_path: str, campaign_name: str | None, action: str) -> tuple[str, str, int]:
    async with await AsyncJournal.read(journal_path, campaign=campaign_name) as journal:
        before, cancelled = await journal.control(action)
        return journal.campaign.name, before, cancelled


@click.command("pause")
@journal_argument
@campaign_option
@fail_on_voicekit_error
def pause_cmd(journal_path: str, campaign_name: str | None) -> None:
    """Pause the campaign: every worker, on any machine, stops claiming rows at once (calls in
    flight finish) and waits; `voicekit dial resume` lets them go on."""
    name, before, _ = asyncio.run(_control(journal_path, campaign_name, "pause"))
    say(f"the campaign {name!r} was paused already" if before == "paused" else f"paused the campaign {name!r}")


@click.command("resume")
@journal_argument
@campaign_option
@fail_on_voicekit_error
def resume_cmd(journal_path: str, campaign_name: str | None) -> None:
    """Resume a paused campaign: its waiting workers go on dialing."""
    name, before, _ = asyncio.run(_control(journal_path, campaign_name, "resume"))
    say(f"the campaign {name!r} was not paused" if before == "active" else f"resumed the campaign {name!r}")


@click.command("cancel")
@journal_argument
@campaign_option
@fail_on_voicekit_error
def cancel_cmd(journal_path: str, campaign_name: str | None) -> None:
    """Cancel the campaign: its pending rows become cancelled and are never dialed; calls in
    flight finish and are recorded; its workers end (exit 7). It cannot be resumed."""
    name, _, cancelled = asyncio.run(_control(journal_path, campaign_name, "cancel"))
    say(f"cancelled the campaign {name!r}: {cancelled:,} pending row(s) will not be dialed")


@click.command("suppress")
@journal_argument
@click.argument("numbers", nargs=-1, metavar="[NUMBER]...")
@click.option(
    "--file",
    "files",
    multiple=True,
    metavar="FILE",
    help="Numbers in a file: one per line, or a CSV with a to, called or number column (repeatable).",
)
@campaign_option
@fail_on_voicekit_error
def suppress_cmd(
    journal_path: str, numbers: tuple[str, ...], files: tuple[str, ...], campaign_name: str | None
) -> None:
    """Add numbers to the campaign's do-not-call list, while it runs: no worker dials them
    (their pending rows become suppressed now; a call already in flight cannot be recalled)."""
    wanted = list(numbers)
    for path in files:
        try:
            wanted += read_suppress_file(path)
        except (ValidationError, ConfigurationError) as exc:
            raise click.BadParameter(str(exc), param_hint="'--file'") from None
    if not wanted:
        raise click.UsageError("give the numbers to suppress, or --file FILE")
    try:
        added, rows = asyncio.run(_suppress(journal_path, campaign_name, wanted))
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint="'NUMBER'") from None
    say(f"{added:,} number(s) added to the do-not-call list; {rows:,} pending row(s) suppressed")


async def _suppress(journal_path: str, campaign_name: str | None, numbers: list[str]) -> tuple[int, int]:
    async with await AsyncJournal.read(journal_path, campaign=campaign_name) as journal:
        return await journal.suppress(numbers)
