"""`voicekit dial upgrade`: bring a journal written by an older voicekit to this one's schema."""

from __future__ import annotations

import asyncio

import click

from ...journal import upgrade_journal
from .._common import fail_on_voicekit_error
from ._shared import journal_argument, say, shown

__all__ = ["upgrade_cmd"]


@click.command("upgrade")
@journal_argument
@fail_on_voicekit_error
def upgrade_cmd(journal_path: str) -> None:
    """Upgrade a journal written by an older voicekit (numbered migrations, each recorded, in one
    transaction, under the journal's lock; a run of the campaign does the same). Reading a
    journal never upgrades it."""
    before, now = asyncio.run(upgrade_journal(journal_path))
    if before == now:
        say(f"{shown(journal_path)} is at schema {now} already")
    else:
        say(f"upgraded {shown(journal_path)} from schema {before} to {now}")
