"""Reconciling a campaign: every ``unknown`` row resolved from the vendor's own evidence.

A row is ``unknown`` when its request may have reached the vendor but no answer came (a 5xx, a
dropped connection, a crash). `reconcile` decides each one, in this order:

1. An outcome already received for the row (a webhook carrying its campaign and key, a release
   event naming its request id): the call was placed, with that outcome.
2. The vendor's records over the row's window (TeleCMI: outgoing answered and outgoing missed,
   paged concurrently; Huawei: the release events received, which have no record list),
   matched by the row's number (the documented record fields carry no ``extra_params``). A
   row's window runs from `CLOCK_SKEW` before its send to `settle` plus `CLOCK_SKEW` after it
   became unknown (when its request had reached the vendor, if it ever did): it holds the
   call's record even if the vendor's clock is off by up to `CLOCK_SKEW` either way and the
   vendor queued the call (or the call rang) up to `settle`:

   - exactly one record: the call was placed; the row becomes ``placed`` with its outcome;
   - none, once the whole window has passed (by both clocks) and was read: the call was not
     placed; the row goes back to ``pending`` and the
     next run dials it once (TeleCMI only: Huawei has no record list, and a release event a
     receiver missed must not look like a call never placed, so such a Huawei row stays
     unknown, with the reason);
   - none yet (the window has not passed), two or more records, or a record that another sent
     row (of any campaign in the journal) dialing the same number could own: the row stays
     ``unknown`` and the report says why.

Nothing is written until every page has been read: a vendor that fails mid-paging (after the
client's retries) leaves every row as it was. The decisions are written in one transaction that
touches ``unknown`` rows only and never requeues a row for which an outcome arrived meanwhile:
a placed call never becomes dialable again.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from .. import _observe, _otel
from .._campaign import CampaignRow, fingerprint, read_campaign
from ..errors import ConfigurationError, ValidationError
from ._blocking import Journal, as_async
from ._core import numbers_agree
from ._outcomes import record_outcome
from ._store import AsyncStore, CallOutcome, Entry, State

if TYPE_CHECKING:
    from ..huawei import AsyncHuaweiVoice
    from ..telecmi import AsyncTeleCMI

__all__ = ["CLOCK_SKEW", "DEFAULT_SETTLE", "ReconcileReport", "reconcile"]

#: Seconds after a row's send within which its call's record appears: TeleCMI resends a call's
#: cdr webhook for 15 minutes (+5, +10, +15), and a call's record is written when the call ends
#: (a call can be queued, ring and talk for minutes). Uncertain: the vendor does not document
#: the record delay; 30 minutes covers a call of up to 15 minutes after the resends.
DEFAULT_SETTLE: Final = 30 * 60.0
#: The most the vendor's clock may differ from this machine's, either way (seconds). A record's
#: time is the vendor's; a row's send time is ours (or the journal database's).
CLOCK_SKEW: Final = 10 * 60.0


@attrs.frozen(kw_only=True)
class ReconcileReport:
    """What `reconcile` found and did.

    Attributes:
        unknown: the unknown rows it looked at.
        from_outcomes: placed, by an outcome already received.
        from_records: placed, by one matching vendor record (or release event).
        requeued: not placed (no record once the window passed): pending again.
        waiting: no record yet, but the window has not passed: still unknown.
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


@attrs.define
class _Row:
    key: str
    number: str
    low: float
    high: float
    sent: float
    callback: bool
    placed: bool
    #: A second after the row's last earlier call started (a redial), by the vendor's clock: a
    #: record before then is that call's.
    after: float = float("-inf")


async def reconcile(
    journal: AsyncStore | Journal,
    client: AsyncTeleCMI | AsyncHuaweiVoice | None = None,
    *,
    settle: float = DEFAULT_SETTLE,
    skew: float = CLOCK_SKEW,
    rows: Sequence[CampaignRow] | None = None,
    page_size: int = 100,
    fill: bool = True,
    now: float | None = None,
) -> ReconcileReport:
    """Resolve every ``unknown`` row of `journal` from the vendor's evidence (see the module).

    Args:
        journal: the campaign's journal (`AsyncJournal`, or a blocking twin).
        client: the vendor's client (for TeleCMI's call records). Without one, only outcomes
            already received are used.
        settle: seconds after a row's send within which its call's record appears.
        skew: the most the vendor's clock may differ from ours, either way (seconds).
        rows: the campaign's rows, to load a journal that was never loaded (default: read
            from the campaign file the journal names, which must be unchanged).
        page_size: records per page asked (a vendor serving fewer is paged as it serves).
        fill: also give the placed rows still awaiting an outcome (their webhook was lost)
            the outcome of the one record that matches them.
        now: the current time (epoch seconds; tests).

    Raises:
        ConfigurationError: the journal was never loaded and the campaign file is missing or
            changed.
        VoiceKitError: the vendor failed (after retries) while paging; nothing was changed.
    """
    for name, value in (("settle", settle), ("skew", skew)):
        if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < float("inf")):
            raise ValidationError(name, f"must be a number of seconds >= 0, got {value!r}")
    store = as_async(journal)
    if not await store.is_loaded():
        await store.load(rows if rows is not None else _campaign_rows(store))
    unknown = [entry async for entry in store.entries([State.UNKNOWN])]
    keys = [entry.key for entry in unknown]
    received = await store.outcomes(keys) if keys else {}
    placed: list[tuple[str, CallOutcome | None]] = [(key, None) for key in keys if key in received]
    rest = [entry for entry in unknown if entry.key not in received]
    awaiting = await _awaiting(store) if fill else []
    if not rest and not awaiting:
        if placed:
            await store.resolve(placed, [], [])
        return _told(ReconcileReport(unknown=len(unknown), from_outcomes=len(placed)))

    clock = time.time() if now is None else now
    started = (await store.summary()).started.timestamp()
    targets, shared, problems = await _targets(store, [*rest, *awaiting], started, settle, skew)

    vendor = store.campaign.vendor
    candidates: dict[str, list[CallOutcome]] = {row.key: [] for row in targets}
    by_number: dict[str, list[_Row]] = {}
    for row in targets:
        by_number.setdefault(row.number, []).append(row)
    # A redialed row's call started after its earlier calls did (by the vendor's clock, as
    # their outcomes told, to the second): a record of that second or before is an earlier
    # call's, never this one's (a redial waits far longer than a second).
    earlier = await store.attempts([row.key for row in targets]) if targets else {}
    for row in targets:
        times = [a.time for a in earlier.get(row.key, ()) if a.time is not None]
        if times:
            row.after = max(times) + 1.0
    records = 0
    complete = True
    if vendor == "telecmi":
        if client is None or not hasattr(client, "call_records"):
            complete = False
        elif targets:
            low = min(row.low for row in targets)
            end = max(low, min(max(row.high for row in targets), clock + skew))
            counts = await asyncio.gather(
                *(
                    _scan(client, kind, low, end, page_size, by_number, candidates)
                    for kind in ("outgoing_answered", "outgoing_missed")
                )
            )
            records = sum(counts)
    else:
        events = await store.unmatched_outcomes()
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
                    f"ambiguous: {len(found_here)} vendor records match number {row.number} in the row's window "
                    f"(from {skew:g} s before its send to {settle + skew:g} s after)",
                )
            )
        elif found_here:
            notes.append(
                (
                    row.key,
                    f"ambiguous: the record of number {row.number} could be the call of row(s) "
                    f"{', '.join(others[:5])}, which dial it too",
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
        elif clock < row.high:
            waiting.append(
                (row.key, f"no record yet; its window closes in {row.high - clock:.0f} s (run reconcile again then)")
            )
        else:
            requeue.append(row.key)
    resolution = await store.resolve(placed, requeue, [*notes, *waiting])
    report = ReconcileReport(
        unknown=len(unknown),
        from_outcomes=len(received),
        from_records=found,
        requeued=resolution.requeued,
        waiting=tuple(waiting),
        ambiguous=tuple(notes),
        records=records,
        filled=filled,
    )
    return _told(report)


def _told(report: ReconcileReport) -> ReconcileReport:
    """`report`, once its decisions on unknown rows are reported to the metrics (if any)."""
    _otel.current()  # a provider configured: its metrics sink attached
    sink = _observe.sink
    if sink is not None:
        for decision, count in (
            ("placed", report.from_outcomes + report.from_records),
            ("not_placed", report.requeued),
            ("ambiguous", len(report.ambiguous)),
            ("waiting", len(report.waiting)),
        ):
            if count:
                sink.reconcile(decision, count)
    return report


def _campaign_rows(store: AsyncStore) -> Any:
    campaign = store.campaign
    if not os.path.isfile(campaign.path):
        raise ConfigurationError(f"reconcile needs the campaign file {campaign.path}, which is not there")
    size, sha = fingerprint(campaign.path)
    if (size, sha) != (campaign.size, campaign.sha256):
        raise ConfigurationError(f"the campaign file {campaign.path} changed since the journal was made")
    return read_campaign(campaign.path, vendor=campaign.vendor, shard=campaign.shard)


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
    tails = _by_tail(by_number)
    async for record in records:
        seen += 1
        at = record.time / 1000
        for row in _rows_for(record.to, by_number, tails):
            if row.low <= at <= row.high and at >= row.after and len(candidates[row.key]) < 2:
                candidates[row.key].append(record_outcome(record, answered=answered))
    return seen


def _by_tail(by_number: dict[str, list[_Row]]) -> dict[str, list[str]]:
    """The rows' numbers by their last 7 digits."""
    tails: dict[str, list[str]] = {}
    for number in by_number:
        tails.setdefault(number[-7:], []).append(number)
    return tails


def _rows_for(number: str, by_number: dict[str, list[_Row]], tails: dict[str, list[str]]) -> list[_Row]:
    """The rows dialing `number` (digits equal, or one is the other with a country prefix)."""
    digits = "".join(c for c in number if c.isdigit())
    return [row for n in tails.get(digits[-7:], ()) if numbers_agree(n, digits) for row in by_number[n]]


async def _awaiting(store: AsyncStore, chunk: int = 1000) -> list[Entry]:
    """The placed rows that have no outcome yet."""
    found: list[Entry] = []
    batch: list[Entry] = []
    async for entry in store.entries([State.PLACED], chunk=chunk):
        batch.append(entry)
        if len(batch) >= chunk:
            known = await store.outcomes([e.key for e in batch])
            found.extend(e for e in batch if e.key not in known)
            batch = []
    if batch:
        known = await store.outcomes([e.key for e in batch])
        found.extend(e for e in batch if e.key not in known)
    return found


def _match(event: CallOutcome, by_number: dict[str, list[_Row]], candidates: dict[str, list[CallOutcome]]) -> None:
    if event.number is None or event.time is None:
        return
    for row in by_number.get(event.number.strip(), ()):
        if row.low <= event.time <= row.high and event.time >= row.after and len(candidates[row.key]) < 2:
            candidates[row.key].append(event)


async def _targets(
    store: AsyncStore,
    rest: Sequence[Entry],
    started: float,
    settle: float,
    skew: float,
) -> tuple[list[_Row], dict[str, tuple[str, ...]], list[tuple[str, str]]]:
    """Each row's number and window; the rows whose record another sent row dialing the same
    number (of any campaign in the journal) could own; the rows that cannot be matched (why)."""
    keys = [entry.key for entry in rest]
    numbers = await store.numbers(keys)
    sent = await store.sent_times(keys)
    specs = {spec.key: spec for spec in await _specs_of(store, keys)}
    targets: list[_Row] = []
    problems: list[tuple[str, str]] = []
    for entry in rest:
        number = numbers.get(entry.key)
        if number is None:
            problems.append((entry.key, "the row has no number in the journal: nothing to match a record with"))
            continue
        at = sent.get(entry.key, started)
        # The call's request reached the vendor, if at all, before the row became unknown (or
        # placed): from then on, the call may be queued or ring for up to `settle` seconds.
        seen = max(entry.updated.timestamp(), at)
        targets.append(
            _Row(
                key=entry.key,
                number=number,
                low=at - skew,
                high=seen + settle + skew,
                sent=at,
                callback=getattr(specs.get(entry.key), "callback_url", None) is not None,
                placed=entry.state is State.PLACED,
            )
        )
    # Every other sent row (of any campaign in the journal) dialing one of these numbers whose
    # call's record could fall in a target's window: [sent - skew, sent + settle + skew].
    shared: dict[str, list[str]] = {}
    by_number: dict[str, list[_Row]] = {}
    for row in targets:
        by_number.setdefault(row.number, []).append(row)
    for number, campaign, key, state, sent_at in await store.dialers(sorted(by_number)):
        mine = campaign == store.campaign_id
        if state in (State.PENDING, State.FAILED):
            continue  # no call of it was placed (never sent, refused, or found not placed)
        for row in by_number.get(number, ()):
            if mine and key == row.key:
                continue
            if sent_at is None or (sent_at - skew <= row.high and sent_at + settle + skew >= row.low):
                shared.setdefault(row.key, []).append(key if mine else f"{key} (another campaign)")
    return targets, {k: tuple(v) for k, v in shared.items()}, problems


async def _specs_of(store: AsyncStore, keys: Sequence[str]) -> list[Any]:
    """The specs of `keys` (for the Huawei rows' callback URLs)."""
    if store.campaign.vendor != "huawei" or not keys:
        return []
    return await store.specs_of(keys)
