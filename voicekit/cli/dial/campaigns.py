"""`voicekit dial campaigns | archive | drop`: the campaigns a journal's database holds."""

from __future__ import annotations

import asyncio
import json

import click
from rich.markup import escape
from rich.table import Table

from ...journal import CampaignInfo, State, archive_campaign, drop_campaign, list_campaigns
from .._common import console, fail_on_voicekit_error, json_option
from ._shared import journal_argument, say, shown

__all__ = ["archive_cmd", "campaigns_cmd", "drop_cmd"]


@click.command("campaigns")
@journal_argument
@json_option
@fail_on_voicekit_error
def campaigns_cmd(journal_path: str, json_output: bool) -> None:
    """List the campaigns of a journal (a PostgreSQL database holds any number; an SQLite file
    one): name, state, rows per state, live workers."""
    found = asyncio.run(list_campaigns(journal_path))
    if json_output:
        click.echo(json.dumps({"journal": shown(journal_path), "campaigns": [_json(c) for c in found]}))
        return
    if not found:
        say(f"no campaign in {shown(journal_path)} yet")
        return
    table = Table("campaign", "state", "workers", *(str(s) for s in State), "total", "file", box=None, pad_edge=False)
    for c in found:
        table.add_row(
            escape(c.campaign.name),
            c.state,
            str(c.live_workers),
            *(f"{c.counts[s]:,}" for s in State),
            f"{c.total:,}",
            escape(c.campaign.path),
        )
    console.print(table)


def _json(c: CampaignInfo) -> dict[str, object]:
    return {
        "name": c.campaign.name,
        "id": c.id,
        "state": c.state,
        "loaded": c.loaded,
        "live_workers": c.live_workers,
        "counts": {str(s): n for s, n in c.counts.items()},
        "total": c.total,
        "file": c.campaign.path,
        "sha256": c.campaign.sha256,
        "vendor": c.campaign.vendor,
    }


@click.command("archive")
@journal_argument
@click.argument("name", metavar="NAME")
@fail_on_voicekit_error
def archive_cmd(journal_path: str, name: str) -> None:
    """Archive the campaign NAME: no worker runs it again; its rows stay for reports."""
    info = asyncio.run(archive_campaign(journal_path, name))
    say(f"archived the campaign {info.campaign.name!r} ({info.total:,} rows)")


@click.command("drop")
@journal_argument
@click.argument("name", metavar="NAME")
@click.option("--yes", is_flag=True, help="Do it (without it, nothing is deleted).")
@fail_on_voicekit_error
def drop_cmd(journal_path: str, name: str, yes: bool) -> None:
    """Delete the campaign NAME and everything its journal holds of it (rows, outcomes, workers)."""
    if not yes:
        raise click.UsageError(f"dropping deletes every row of {name!r} for good: add --yes to do it")
    info = asyncio.run(drop_campaign(journal_path, name))
    say(f"dropped the campaign {info.campaign.name!r} ({info.total:,} rows)")
