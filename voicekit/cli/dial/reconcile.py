"""`voicekit dial reconcile`: every unknown row resolved from the vendor's own evidence."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

import click

from ... import _constants as C
from ..._exit import ExitStatus
from ...journal import CLOCK_SKEW, DEFAULT_SETTLE, AsyncJournal, ReconcileReport, State, is_postgres_url, reconcile
from .._common import async_client, fail_on_voicekit_error, json_option
from ._shared import MAX_SHOWN, address, campaign_option, journal_argument, metrics_option, say, serving_metrics

__all__ = ["reconcile_cmd"]


@click.command("reconcile")
@journal_argument
@campaign_option
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=DEFAULT_SETTLE,
    show_default=True,
    metavar="SECONDS",
    help="How long after its send a call's record may appear (the call queued, ringing, talking; "
    "the documented webhook resends and record delays fit in the default).",
)
@click.option(
    "--skew",
    type=click.FloatRange(min=0),
    default=CLOCK_SKEW,
    show_default=True,
    metavar="SECONDS",
    help="The most the vendor's clock may differ from this machine's, either way.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=None,
    help=f"Call-record requests per second at most (default {C.DEFAULT_TELECMI_RATE:g}; 0: no client-side limit).",
)
@metrics_option
@json_option
@fail_on_voicekit_error
def reconcile_cmd(
    journal_path: str,
    campaign_name: str | None,
    settle: float,
    skew: float,
    rate: float | None,
    metrics: str | None,
    json_output: bool,
) -> None:
    """Resolve every row whose outcome is unknown, from the outcomes received and the vendor's
    own call records (credentials from VOICEKIT_TELECMI_*): found, the row is placed; not found
    once its window has passed (--skew before its send to --settle + --skew after), it was not
    placed and the next run dials it once; ambiguous, it stays unknown and the reason is shown.
    Huawei lists no records: its rows are resolved by the release events received (`voicekit
    dial listen`) only. Never makes a placed call dialable."""
    metrics_at = address(metrics, "--metrics") if metrics else None
    report, left = asyncio.run(_reconcile(journal_path, campaign_name, settle, skew, rate, metrics_at))
    if json_output:
        click.echo(
            json.dumps(
                {
                    "unknown": report.unknown,
                    "from_outcomes": report.from_outcomes,
                    "from_records": report.from_records,
                    "requeued": report.requeued,
                    "filled": report.filled,
                    "records": report.records,
                    "left": left,
                    "waiting": [{"key": k, "reason": r} for k, r in report.waiting],
                    "ambiguous": [{"key": k, "reason": r} for k, r in report.ambiguous],
                }
            )
        )
    else:
        say(
            f"unknown={report.unknown}: placed by outcomes received={report.from_outcomes}, "
            f"placed by call records={report.from_records}, not placed (pending again)={report.requeued}, "
            f"still unknown={left} ({report.records:,} records read; {report.filled} outcome(s) filled in)"
        )
        for key, reason in [*report.ambiguous, *report.waiting][:MAX_SHOWN]:
            say(f"key {key!r}: {reason}")
        if report.requeued:
            say(f"the next `voicekit dial` run dials the {report.requeued} row(s) that were not placed, once")
    sys.exit(ExitStatus.UNKNOWN if left else ExitStatus.OK)


async def _reconcile(
    journal_path: str,
    campaign_name: str | None,
    settle: float,
    skew: float,
    rate: float | None,
    metrics_at: tuple[str, int] | None = None,
) -> tuple[ReconcileReport, int]:
    from ... import AsyncTeleCMI

    journal = await AsyncJournal.read(journal_path, campaign=campaign_name)
    if not is_postgres_url(journal_path):
        # Opened to run (its lock held): no run may change the rows while they are reconciled.
        await journal.aclose()
        journal = await AsyncJournal.open(journal_path, journal.campaign)
    async with journal, contextlib.AsyncExitStack() as stack:
        if metrics_at is not None:
            await stack.enter_async_context(serving_metrics(journal, metrics_at))
        if journal.campaign.vendor == "telecmi":
            async with async_client(AsyncTeleCMI, rate=rate) as tc:
                report = await reconcile(journal, tc, settle=settle, skew=skew)
        else:
            # Huawei lists no call records: its release events, in the journal, are the evidence.
            report = await reconcile(journal, None, settle=settle, skew=skew)
        left = (await journal.counts())[State.UNKNOWN]
    return report, left
