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

How each call ended: every TeleCMI campaign call carries its key in ``extra_params``
(``"voicekit_key"``); `OutcomeReceiver` (served by `outcome_app`, or ``voicekit dial --listen``)
writes the vendor's webhooks into the journal (answered or missed, billed seconds, rate, hangup
reason, the vendor's ids), and `reconcile` (``voicekit dial reconcile``) resolves the ``unknown``
rows from those outcomes and the vendor's call records (see its module).

The pieces: `voicekit._campaign` (the campaign's identity and CSV rows), ``_store`` (the states,
the errors and the `Store` interface), ``_sqlite`` (`Journal`, the embedded default),
``_postgres`` (`AsyncPostgresJournal` and its blocking twin `PostgresJournal`, one campaign
shared by many workers) and ``_runner``
(`journaled`, which drives a bulk sender through any store), ``_outcomes`` (webhooks into the
journal) and ``_reconcile`` (`reconcile`).
"""

from __future__ import annotations

from .._campaign import Campaign, CampaignRow, in_shard, parse_shard, read_campaign
from .._policy import Policy, Window
from ..errors import (
    CampaignMismatchError,
    JournalBusyError,
    JournalError,
    JournalNotFoundError,
    JournalUnavailableError,
    LeaseLostError,
)
from ._blocking import AsyncPostgresJournal, Journal, PostgresJournal, as_async
from ._core import DEFAULT_LEASE, AsyncJournal, archive_campaign, drop_campaign, list_campaigns, upgrade_journal
from ._outcomes import OutcomeReceiver, OutcomeWriter, huawei_outcome, outcome_app, record_outcome, telecmi_outcome
from ._postgres import DEFAULT_RECONNECT, is_postgres_url, redact_url
from ._reconcile import CLOCK_SKEW, DEFAULT_SETTLE, ReconcileReport, reconcile
from ._run import UNREACHABLE_AFTER, Progress, RunResult, RunStart, StopReason, run_campaign
from ._runner import SendMany, journaled
from ._sql import SCHEMA_VERSION
from ._store import (
    AsyncStore,
    Attempt,
    CallOutcome,
    CampaignInfo,
    Entry,
    OutcomeCounts,
    Resolution,
    State,
    Store,
    Summary,
    Waiting,
    WorkerCount,
)

__all__ = [
    "CLOCK_SKEW",
    "DEFAULT_LEASE",
    "DEFAULT_RECONNECT",
    "DEFAULT_SETTLE",
    "SCHEMA_VERSION",
    "UNREACHABLE_AFTER",
    "AsyncJournal",
    "AsyncPostgresJournal",
    "AsyncStore",
    "Attempt",
    "CallOutcome",
    "Campaign",
    "CampaignInfo",
    "CampaignMismatchError",
    "CampaignRow",
    "Entry",
    "Journal",
    "JournalBusyError",
    "JournalError",
    "JournalNotFoundError",
    "JournalUnavailableError",
    "LeaseLostError",
    "OutcomeCounts",
    "OutcomeReceiver",
    "OutcomeWriter",
    "Policy",
    "PostgresJournal",
    "Progress",
    "ReconcileReport",
    "Resolution",
    "RunResult",
    "RunStart",
    "SendMany",
    "State",
    "StopReason",
    "Store",
    "Summary",
    "Waiting",
    "Window",
    "WorkerCount",
    "archive_campaign",
    "as_async",
    "drop_campaign",
    "huawei_outcome",
    "in_shard",
    "is_postgres_url",
    "journaled",
    "list_campaigns",
    "open_journal",
    "outcome_app",
    "parse_shard",
    "read_campaign",
    "read_journal",
    "reconcile",
    "record_outcome",
    "run_campaign",
    "redact_url",
    "telecmi_outcome",
    "upgrade_journal",
]


def open_journal(target: str, campaign: Campaign, *, lease: float = DEFAULT_LEASE) -> Journal:
    """Run `campaign` with the journal at `target` (an SQLite file, or a ``postgresql://`` URL,
    then as one worker among any number, holding a lease of `lease` seconds): the blocking twin."""
    return Journal.open(target, campaign, lease=lease)


def read_journal(target: str, *, campaign: str | None = None) -> Journal:
    """Open the journal at `target` (an SQLite file or a ``postgresql://`` URL) to look at it."""
    return Journal.read(target, campaign=campaign)
