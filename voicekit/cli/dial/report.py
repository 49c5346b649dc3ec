"""`voicekit dial report`: one line per row of a campaign, with how its call ended."""

from __future__ import annotations

import asyncio
import csv
import json
from typing import Any, Final, TextIO

import click

from ...journal import AsyncJournal, CallOutcome, Entry
from .._common import fail_on_voicekit_error, open_output, output_option
from ._shared import achunks, campaign_option, journal_argument, say

__all__ = ["report_cmd"]

_COLUMNS: Final = (
    "key",
    "row",
    "number",
    "state",
    "outcome",
    "billed_seconds",
    "rate",
    "hangup_reason",
    "request_id",
    "vendor_id",
    "error_type",
    "error",
    "worker",
    "attempts",
    "earlier_attempts",
)


@click.command("report")
@journal_argument
@campaign_option
@output_option("Where to write the report")
@click.option("--json", "json_output", is_flag=True, help="Write JSON Lines (one object per key) instead of CSV.")
@fail_on_voicekit_error
def report_cmd(journal_path: str, campaign_name: str | None, output: str, json_output: bool) -> None:
    """Write one row per key: key, row, number, state, outcome (answered, missed, or empty while
    awaiting it), billed_seconds, rate, hangup_reason, request_id, vendor_id, error_type, error,
    worker, attempts (calls the row had), earlier_attempts (a redialed row's earlier calls:
    "N:REQUEST_ID:answered|missed", separated by ";")."""
    with open_output(output) as f:
        n = asyncio.run(_write(journal_path, campaign_name, f, json_output))
    if output != "-":
        say(f"wrote {n} rows to {output}", err=True)


async def _write(journal_path: str, campaign_name: str | None, f: TextIO, json_output: bool) -> int:
    n = 0
    writer = None if json_output else csv.writer(f)
    if writer is not None:
        writer.writerow(_COLUMNS)
    async with await AsyncJournal.read(journal_path, campaign=campaign_name) as journal:
        async for chunk in achunks(journal.entries(), 1000):
            keys = [entry.key for entry in chunk]
            numbers = await journal.numbers(keys)
            outcomes = await journal.outcomes(keys)
            earlier = await journal.attempts(keys)
            for entry in chunk:
                line = _line(entry, numbers.get(entry.key), outcomes.get(entry.key))
                line["earlier_attempts"] = (
                    ";".join(
                        f"{a.attempt}:{a.request_id or ''}:{_said(a.answered)}" for a in earlier.get(entry.key, ())
                    )
                    or None
                )
                if writer is None:
                    f.write(json.dumps({**line, "updated": entry.updated.isoformat()}) + "\n")
                else:
                    writer.writerow(["" if line[name] is None else line[name] for name in _COLUMNS])
                n += 1
    return n


def _line(entry: Entry, number: str | None, outcome: CallOutcome | None) -> dict[str, Any]:
    line: dict[str, Any] = {
        "key": entry.key,
        "row": entry.row,
        "number": number,
        "state": str(entry.state),
        "outcome": None,
        "billed_seconds": None,
        "rate": None,
        "hangup_reason": None,
        "request_id": entry.request_id,
        "vendor_id": None,
        "error_type": entry.error_type,
        "error": entry.error,
        "worker": entry.worker,
        "attempts": entry.attempts,
        "earlier_attempts": None,
    }
    if outcome is not None:
        line.update(
            outcome="answered" if outcome.answered else "missed",
            billed_seconds=outcome.billed_seconds,
            rate=outcome.rate,
            hangup_reason=outcome.hangup_reason,
            request_id=entry.request_id or outcome.request_id,
            vendor_id=outcome.vendor_id,
        )
    return line


def _said(answered: bool | None) -> str:
    return "" if answered is None else "answered" if answered else "missed"
