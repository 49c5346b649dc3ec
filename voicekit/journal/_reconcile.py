"""Reconciling a campaign: every ``unknown`` row resolved from the vendor's own evidence.

A row is ``unknown`` when its request may have reached the vendor but no answer came (a 5xx, a
dropped connection, a crash). `reconcile` decides each one, in this order:

1. An outcome already received for the row (a webhook carrying its key, a release event naming
   its request id): the call was placed, with that outcome.
2. The vendor's records over the campaign's time window (TeleCMI: outgoing answered and
   outgoing missed, paged concurrently; Huawei: the release events received, which have no
   record list), matched by the row's number and the time it was sent (the documented record
   fields carry no ``extra_params``):

   - exactly one record: the call was placed; the row becomes ``placed`` with its outcome;
   - none, once `settle` seconds have passed since the row was sent, and the whole window was
     read: the call was not placed; the row goes back to ``pending`` and the next run dials it
     once (TeleCMI only: Huawei has no record list, and a release event a receiver missed must
     not look like a call never placed, so such a Huawei row stays unknown, with the reason);
   - none yet (not settled), two or more records, or a number this campaign dials from more than
     one row: the row stays ``unknown`` and the report says why.

Nothing is written until every page has been read: a vendor that fails mid-paging (after the
client's retries) leaves every row as it was. The decisions are written in one transaction that
touches ``unknown`` rows only and never requeues a row for which an outcome arrived meanwhile:
a placed call never becomes dialable again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._campaign import CampaignRow, fingerprint, read_campaign
from .._validate import phone_number
from ..errors import ConfigurationError, ValidationError
from ._outcomes import record_outcome
from ._store import CallOutcome, Entry, State, Store

if TYPE_CHECKING:
    from ..huawei import AsyncHuaweiVoice
    from ..telecmi import AsyncTeleCMI

__all__ = ["CLOCK_SLACK", "DEFAULT_SETTLE", "ReconcileReport", "reconcile"]

#: Seconds after a row's send before the absence of a record proves the call was not placed:
#: TeleCMI resends a call's cdr webhook for 15 minutes (+5, +10, +15), and a call's record is
#: written when the call ends (a call can ring and talk for minutes). Uncertain: the vendor does
#: not document the record delay; 30 minutes covers a call of up to 15 minutes after the resends.
DEFAULT_SETTLE: Final = 30 * 60.0
#: Seconds either side of a row's send window within which a record's start time matches it
#: (the vendor's clock and ours differ a little; a call starts after its request arrived).
CLOCK_SLACK: Final = 120.0


@attrs.frozen(kw_only=True)
class ReconcileReport:
    """What `reconcile` found and did.

    Attributes:
        unknown: the unknown rows it looked at.
        from_outcomes: placed, by an outcome already received.
        from_records: placed, by one matching vendor record (or release event).
        requeued: not placed (no record after the settle period): pending again.
        waiting: no record yet, but the settle period has not passed: still unknown.
        ambiguous: ``(key, reason)`` of the rows left unknown for another reason.
        records: how many vendor records were read.
        filled: placed rows that were awaiting an outcome and got it from a record.
    """

    unknown: int = 0
    from_outcomes: int = 0
    from_records: int = 0
    requeued: int = 0
    waiting: tuple[tuple[str, str], ...] = ()
    ambiguous: tuple[tuple[str, str], ...] = ()
    records: int = 0
    filled: int = 0

    @property
    def left(self) -> int:
        """Rows still unknown."""
        return len(self.waiting) + len(self.ambiguous)


@attrs.frozen
class _Row:
    key: str
    number: str
    low: float
    high: float
    sent: float
    callback: bool
    placed: bool


async def reconcile(
    journal: Store,
    client: AsyncTeleCMI | AsyncHuaweiVoice | None = None,
    *,
    settle: float = DEFAULT_SETTLE,
    rows: Sequence[CampaignRow] | None = None,
    page_size: int = 100,
    fill: bool = True,
    now: float | None = None,
) -> ReconcileReport:
    """Resolve every ``unknown`` row of `journal` from the vendor's evidence (see the module).

    Args:
        journal: the campaign's journal (either store).
        client: the vendor's client (for TeleCMI's call records). Without one, only outcomes
            already received are used.
        settle: seconds since a row's send after which no record means "not placed".
        rows: the campaign's rows (default: read from the campaign file the journal names,
            which must be unchanged).
        page_size: records per page.
        fill: also give the placed rows still awaiting an outcome (their webhook was lost)
            the outcome of the one record that matches them.
        now: the current time (epoch seconds; tests).

    Raises:
        ConfigurationError: the campaign file is missing or changed.
        VoiceKitError: the vendor failed (after retries) while paging; nothing was changed.
    """
    if not settle >= 0:
        raise ValidationError("settle", f"must be a number of seconds >= 0, got {settle!r}")
    unknown = await asyncio.to_thread(lambda: list(journal.entries([State.UNKNOWN])))
    keys = [entry.key for entry in unknown]
    received = await asyncio.to_thread(journal.outcomes, keys) if keys else {}
    placed: list[tuple[str, CallOutcome | None]] = [(key, None) for key in keys if key in received]
    rest = [entry for entry in unknown if entry.key not in received]
    awaiting = await asyncio.to_thread(_awaiting, journal) if fill else []
    if not rest and not awaiting:
        if placed:
            await asyncio.to_thread(journal.resolve, placed, [], [])
        return ReconcileReport(unknown=len(unknown), from_outcomes=len(placed))

    clock = time.time() if now is None else now
    started = (await asyncio.to_thread(journal.summary)).started.timestamp()
    both = [*rest, *awaiting]
    sent = await asyncio.to_thread(journal.sent_times, [entry.key for entry in both])
    targets, shared, problems = await asyncio.to_thread(_targets, journal, both, rows, sent, started)

    vendor = journal.campaign.vendor
    candidates: dict[str, list[CallOutcome]] = {row.key: [] for row in targets}
    by_number: dict[str, list[_Row]] = {}
    for row in targets:
        by_number.setdefault(row.number, []).append(row)
    records = 0
    complete = True
    if vendor == "telecmi":
        if client is None or not hasattr(client, "call_records"):
            complete = False
        elif targets:
            low = min(row.low for row in targets)
            end = max(low, min(max(row.high for row in targets), clock))
            counts = await asyncio.gather(
                *(
                    _scan(client, kind, low, end, page_size, by_number, candidates)
                    for kind in ("outgoing_answered", "outgoing_missed")
                )
            )
            records = sum(counts)
    else:
        events = await asyncio.to_thread(lambda: list(journal.unmatched_outcomes()))
        records = len(events)
        for event in events:
            _match(event, by_number, candidates)

    requeue: list[str] = []
    skip = {entry.key for entry in awaiting}
    notes: list[tuple[str, str]] = [(key, why) for key, why in problems if key not in skip]
    waiting: list[tuple[str, str]] = []
    found = filled = 0
    for row in targets:
        found_here = candidates[row.key]
        others = shared.get(row.key, ())
        if row.placed:
            if len(found_here) == 1 and not others:
                placed.append((row.key, found_here[0]))  # its outcome, from the records
                filled += 1
            continue
        if len(found_here) == 1 and not others:
            placed.append((row.key, found_here[0]))
            found += 1
        elif len(found_here) > 1:
            notes.append(
                (
                    row.key,
                    f"ambiguous: {len(found_here)} vendor records match number {row.number} in the row's time window",
                )
            )
        elif found_here:
            notes.append(
                (
                    row.key,
                    f"ambiguous: number {row.number} is also dialed by row(s) {', '.join(others[:5])} of this campaign",
                )
            )
        elif vendor == "huawei":
            # Release events are not the vendor's records: one missed by a receiver that was down
            # would look like a call never placed. Huawei lists no records, so absence proves nothing.
            why = "" if row.callback else " (and the row has no callback_url)"
            notes.append(
                (
                    row.key,
                    f"no release event matches it{why}; Huawei lists no call records, so "
                    "whether it was placed cannot be told: check it, then requeue it by hand",
                )
            )
        elif not complete:
            notes.append((row.key, "the vendor's call records were not read (no client)"))
        elif clock - row.sent < settle:
            left = settle - (clock - row.sent)
            waiting.append((row.key, f"no record yet; settles in {left:.0f} s (run reconcile again then)"))
        else:
            requeue.append(row.key)
    resolution = await asyncio.to_thread(journal.resolve, placed, requeue, [*notes, *waiting])
    return ReconcileReport(
        unknown=len(unknown),
        from_outcomes=len(received),
        from_records=found,
        requeued=resolution.requeued,
        waiting=tuple(waiting),
        ambiguous=tuple(notes),
        records=records,
        filled=filled,
    )


async def _scan(
    client: Any,
    kind: str,
    low: float,
    high: float,
    page_size: int,
    by_number: dict[str, list[_Row]],
    candidates: dict[str, list[CallOutcome]],
) -> int:
    """Read every record of `kind` in [low, high] (epoch s); note those that match a row."""
    answered = kind == "outgoing_answered"
    seen = 0
    records = client.call_records(kind, start=int(low * 1000), end=int(high * 1000) + 999, page_size=page_size)
    async for record in records:
        seen += 1
        number = record.to if record.to.isdigit() else "".join(c for c in record.to if c.isdigit())
        rows = by_number.get(number)
        if rows is None:
            continue
        at = record.time / 1000
        for row in rows:
            if row.low <= at <= row.high and len(candidates[row.key]) < 2:
                candidates[row.key].append(record_outcome(record, answered=answered))
    return seen


def _awaiting(journal: Store, chunk: int = 1000) -> list[Entry]:
    """The placed rows that have no outcome yet."""
    found: list[Entry] = []
    batch: list[Entry] = []
    for entry in journal.entries([State.PLACED], chunk=chunk):
        batch.append(entry)
        if len(batch) >= chunk:
            known = journal.outcomes([e.key for e in batch])
            found.extend(e for e in batch if e.key not in known)
            batch = []
    if batch:
        known = journal.outcomes([e.key for e in batch])
        found.extend(e for e in batch if e.key not in known)
    return found


def _match(event: CallOutcome, by_number: dict[str, list[_Row]], candidates: dict[str, list[CallOutcome]]) -> None:
    if event.number is None or event.time is None:
        return
    for row in by_number.get(_normal(event.number, huawei=True), ()):
        if row.low <= event.time <= row.high and len(candidates[row.key]) < 2:
            candidates[row.key].append(event)


def _normal(number: Any, *, huawei: bool) -> str:
    if huawei:
        return str(number).strip()
    return str(phone_number("to", number))


def _targets(
    journal: Store,
    rest: Sequence[Entry],
    rows: Sequence[CampaignRow] | None,
    sent: dict[str, float],
    started: float,
) -> tuple[list[_Row], dict[str, tuple[str, ...]], list[tuple[str, str]]]:
    """Each unknown row's number and time window; the rows that share a number with another
    sent row of the campaign; the rows that cannot be matched (with why)."""
    campaign = journal.campaign
    huawei = campaign.vendor == "huawei"
    if rows is None:
        if not os.path.isfile(campaign.path):
            raise ConfigurationError(f"reconcile needs the campaign file {campaign.path}, which is not there")
        size, sha = fingerprint(campaign.path)
        if (size, sha) != (campaign.size, campaign.sha256):
            raise ConfigurationError(f"the campaign file {campaign.path} changed since the journal was made")

    def read() -> Iterable[CampaignRow]:
        # Read twice rather than held: a campaign can have millions of rows.
        return rows if rows is not None else read_campaign(campaign.path, vendor=campaign.vendor, shard=campaign.shard)

    wanted = {entry.key: entry for entry in rest}
    numbers: dict[str, str] = {}
    callbacks: dict[str, bool] = {}
    for row in read():
        spec = row.spec
        if spec is None or row.key not in wanted:
            continue
        target = getattr(spec, "called", None) if huawei else getattr(spec, "to", None)
        try:
            numbers[row.key] = _normal(target, huawei=huawei)
        except ValidationError:
            continue
        callbacks[row.key] = getattr(spec, "callback_url", None) is not None
    # Every row dialing one of these numbers, to tell whose call a record is.
    dialers: dict[str, list[str]] = {number: [] for number in numbers.values()}
    for row in read():
        spec = row.spec
        if spec is None:
            continue
        target = getattr(spec, "called", None) if huawei else getattr(spec, "to", None)
        try:
            number = _normal(target, huawei=huawei)
        except ValidationError:
            continue
        if number in dialers:
            dialers[number].append(row.key)
    shared: dict[str, tuple[str, ...]] = {}
    for key, number in numbers.items():
        others = [k for k in dialers[number] if k != key]
        sent_others = []
        for other in others:
            entry = journal.get(other)
            if entry is not None and entry.state is not State.PENDING:
                sent_others.append(other)
        if sent_others:
            shared[key] = tuple(sent_others)
    targets: list[_Row] = []
    problems: list[tuple[str, str]] = []
    for entry in rest:
        dialed = numbers.get(entry.key)
        if dialed is None:
            problems.append((entry.key, "the row is not in the campaign file (or cannot be read): no number to match"))
            continue
        at = sent.get(entry.key, started)
        seen = max(entry.updated.timestamp(), at)
        targets.append(
            _Row(
                key=entry.key,
                number=dialed,
                low=at - CLOCK_SLACK,
                high=seen + CLOCK_SLACK,
                sent=at,
                callback=callbacks.get(entry.key, False),
                placed=entry.state is State.PLACED,
            )
        )
    return targets, shared, problems
