"""Resumable bulk campaigns: a crash-safe journal of what happened to every key.

Each key moves through these states::

    pending ──claim──> sending ──outcome──> placed | failed | unknown
                          │
                          └── the run crashed ──> unknown   (it may have been dialed)

A key is marked ``sending`` durably *as* its request is about to leave (after the rate limiter
granted it), so after a crash (even ``kill -9`` or a power cut) a key is never dialed twice: a
resumed run sends every ``pending`` key once, never a ``placed`` or ``failed`` one, and reports
the keys left in ``sending`` as ``unknown`` instead of re-sending them (`Journal.requeue` does
that only when asked). Those unknown keys are at most the calls that were in flight when the
run died. Failures that provably never reached the vendor (connection refused, 429, bad
credentials) are retried by the next run; every other failure is final.

Durability costs one commit on each call's path, shared: the claims of calls about to leave at
the same moment are committed together (group commit, one writer thread, off the event loop),
with the outcomes ready by then. Against a vendor 20 ms away that costs about 5% of the calls per
second; against a loopback server that answers at once, on two cores shared with it, about half
(see benchmarks/README.md, rows 8 and 8b). Usage::

    from contextlib import aclosing
    from voicekit.journal import Campaign, Journal, journaled, read_campaign

    campaign = Campaign.from_file("calls.csv")
    with Journal.open("calls.db", campaign) as journal:     # resumes a journal that exists
        journal.recover()                                   # sending -> unknown (a crash)
        if not journal.loaded:
            journal.load(read_campaign("calls.csv"))        # every key, as pending
        specs = (row.spec for row in read_campaign("calls.csv") if row.spec is not None)
        async with AsyncTeleCMI() as tc, aclosing(journaled(
            journal, specs,
            lambda specs, before_send: tc.dial_many(specs, concurrency=32, before_send=before_send),
        )) as outcomes:
            async for outcome in outcomes:
                ...

The journal records the campaign's identity (its file's SHA-256 and size, the vendor, the
columns, the shard) and refuses to run another campaign (`CampaignMismatchError`). Only one
process may run a journal at a time (`JournalBusyError`). The campaign CSV format is described
in `read_campaign`'s module, and in ``voicekit dial --help``. The journal needs SQLite 3.38 or
newer (`Journal.open` says so otherwise).

The pieces: `voicekit._campaign` (the campaign's identity and CSV rows), ``_store`` (the states,
the errors and the `Store` interface), ``_sqlite`` (`Journal`, the embedded default),
``_postgres`` (`PostgresJournal`, one campaign shared by many workers) and ``_runner``
(`journaled`, which drives a bulk sender through any store).
"""

from __future__ import annotations

from .._campaign import Campaign, CampaignRow, in_shard, parse_shard, read_campaign
from ._postgres import DEFAULT_LEASE, PostgresJournal, is_postgres_url, redact_url
from ._runner import SendMany, journaled
from ._sqlite import Journal
from ._store import (
    CampaignMismatchError,
    Entry,
    JournalBusyError,
    JournalError,
    LeaseLostError,
    State,
    Store,
    Summary,
    WorkerCount,
)

__all__ = [
    "DEFAULT_LEASE",
    "Campaign",
    "CampaignMismatchError",
    "CampaignRow",
    "Entry",
    "Journal",
    "JournalBusyError",
    "JournalError",
    "LeaseLostError",
    "PostgresJournal",
    "SendMany",
    "State",
    "Store",
    "Summary",
    "WorkerCount",
    "in_shard",
    "is_postgres_url",
    "journaled",
    "open_journal",
    "parse_shard",
    "read_campaign",
    "read_journal",
    "redact_url",
]


def open_journal(target: str, campaign: Campaign, *, lease: float = DEFAULT_LEASE) -> Journal | PostgresJournal:
    """Run `campaign` with the journal at `target`: an SQLite file, or a ``postgresql://`` URL
    (then as one worker among any number, holding a lease of `lease` seconds)."""
    if is_postgres_url(target):
        return PostgresJournal.open(target, campaign, lease=lease)
    return Journal.open(target, campaign)


def read_journal(target: str) -> Journal | PostgresJournal:
    """Open the journal at `target` (an SQLite file or a ``postgresql://`` URL) to look at it."""
    if is_postgres_url(target):
        return PostgresJournal.read(target)
    return Journal.read(target)
