"""A campaign run as a library call: recover, load, requeue, dial, and why it ended.

`run_campaign` is what ``voicekit dial`` runs, for one worker, on any journal::

    from voicekit import AsyncTeleCMI
    from voicekit.journal import AsyncJournal, Campaign, run_campaign

    campaign = Campaign.from_file("calls.csv")
    async with await AsyncJournal.open("calls.db", campaign) as journal, AsyncTeleCMI() as tc:
        result = await run_campaign(journal, tc, concurrency=32)
    result.counts, result.stopped, result.exit_status

Its stop policy: the run stops early, its rows staying dialable, when the vendor refuses the
credentials, when an error says the setup is wrong (a proxy asking for authentication, answers
that are not the vendor's: a wrong base URL), when the shared rate limiter's Redis cannot be
reached, when `unreachable_after` calls in a row (or the concurrency, if larger) cannot
connect, when the journal's database stays away past its reconnect window, or when this
worker's lease is lost. `RunResult.exit_status` is the one decision the command line exits with.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar

import attrs

from .. import _observe, _otel
from .._bulk import Outcome
from .._campaign import CampaignRow, read_campaign
from .._exit import ExitStatus
from .._logging import log_fields
from ..errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    JournalUnavailableError,
    LeaseLostError,
    LimiterUnavailableError,
)
from ._blocking import Journal, as_async
from ._runner import SendMany, journaled_batches
from ._store import AsyncStore, State, Waiting

if TYPE_CHECKING:
    from ..huawei import AsyncHuaweiVoice
    from ..telecmi import AsyncTeleCMI

__all__ = ["UNREACHABLE_AFTER", "Progress", "RunResult", "RunStart", "StopReason", "run_campaign"]

log = logging.getLogger("voicekit")
P = ParamSpec("P")
T = TypeVar("T")

#: Consecutive calls that could not connect before a run gives up on the vendor (or the
#: concurrency, if larger: a whole wave of calls in flight failing at once is one event).
UNREACHABLE_AFTER: Final = 20


@attrs.frozen(kw_only=True)
class StopReason:
    """Why a run stopped early: what happened, what to do, and whether it may pass by itself
    (`transient`: run again as is) or is a configuration problem (fix it first)."""

    kind: str
    message: str
    advice: str
    transient: bool


@attrs.frozen(kw_only=True)
class RunStart:
    """How a run began: whether it loaded the campaign, the rows a dead run left unknown
    (`recovered`), and those made dialable again."""

    fresh: bool
    recovered: int
    #: Failed rows whose error proved nothing was placed (dialed again by every run).
    requeued: int
    #: Unknown rows dialed again (``redial_unknown``).
    redialed_unknown: int
    #: Failed rows dialed again (``redial_failed``), by the error that failed them.
    redialed_failed: Mapping[str, int]
    #: Rows that cannot be dialed (a malformed row, a repeated key), found by this load.
    problems: int
    counts: Mapping[State, int]


@attrs.frozen(kw_only=True)
class Progress:
    """Where a run stands after one more outcome: this worker's counts since the run began."""

    done: int
    total: int
    counts: Mapping[State, int]


@attrs.frozen(kw_only=True)
class RunResult:
    """How a run ended: the campaign's counts (as this worker saw them last), why it stopped
    early if it did, whether it was interrupted, and what other live workers still hold."""

    start: RunStart
    counts: Mapping[State, int]
    stopped: StopReason | None = None
    interrupted: bool = False
    #: Pending rows nobody holds at the end: left to dial (the run stopped before them).
    undialed: int = 0
    #: Rows other workers hold (pending) or are sending at the end (a shared journal).
    elsewhere: tuple[int, int] = (0, 0)
    #: Why the run ended with rows left, if by the campaign's policy: ``"deadline"`` (its
    #: `until` came) or ``"cancelled"`` (the campaign was cancelled).
    ended: str | None = None
    #: Pending rows left waiting for their calling window at the end, and when the first of
    #: them becomes callable (epoch seconds).
    waiting: int = 0
    waiting_until: float | None = None

    @property
    def exit_status(self) -> ExitStatus:
        """The exit status (see `voicekit.ExitStatus`): interrupted, stopped early (a fault that
        may pass, or a configuration problem), ended by the policy with rows waiting (the
        deadline, a cancel), rows left undialed, unknown rows, failed rows, else done."""
        if self.interrupted:
            return ExitStatus.INTERRUPTED
        if self.stopped is not None:
            return ExitStatus.STOPPED if self.stopped.transient else ExitStatus.CONFIGURATION
        if self.ended is not None and (self.undialed or self.waiting or self.counts.get(State.CANCELLED)):
            return ExitStatus.WAITING
        if self.undialed:
            return ExitStatus.STOPPED
        if self.counts[State.UNKNOWN]:
            return ExitStatus.UNKNOWN
        if self.counts[State.FAILED]:
            return ExitStatus.FAILED_ROWS
        return ExitStatus.OK


def stop_reason(error: BaseException) -> StopReason | None:
    """The stop a failed call's error calls for (the stop policy), or None to go on."""
    if isinstance(error, AuthenticationError):
        return StopReason(
            kind="credentials",
            message=f"the vendor refused the credentials ({error})",
            advice="Fix the credentials",
            transient=False,
        )
    if isinstance(error, LimiterUnavailableError):
        return StopReason(
            kind="limiter",
            message=f"the rate limiter's Redis cannot be reached ({error})",
            advice="Start Redis, or fix --limiter",
            transient=True,
        )
    if isinstance(error, ConfigurationError):
        return StopReason(
            kind="configuration",
            message=f"the setup is wrong ({type(error).__name__}: {error})",
            advice="Fix the setting (the base URL, the proxy, the credentials)",
            transient=False,
        )
    return None


def _with_campaign_fields(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Every record logged during the run carries its campaign and worker (see voicekit's log),
    and the run is a ``voicekit campaign`` span when telemetry is on."""

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        store = as_async(args[0] if args else kwargs["journal"])  # type: ignore[arg-type]
        fields = {"campaign": store.campaign.name, "campaign_id": store.campaign_id}
        worker = getattr(store, "worker", None)
        telemetry = _otel.current()
        with log_fields(**fields, worker=worker):
            if telemetry is None:
                return await fn(*args, **kwargs)
            with telemetry.campaign({**fields, "worker": worker, "vendor": store.campaign.vendor}) as span:
                result = await fn(*args, **kwargs)
                if span is not None and isinstance(result, RunResult):
                    span.set_attributes({f"voicekit.rows.{s}": n for s, n in result.counts.items()})
                    span.set_attribute("voicekit.exit_status", int(result.exit_status))
                return result

    return run


@_with_campaign_fields
async def run_campaign(
    journal: AsyncStore | Journal,
    send: AsyncTeleCMI | AsyncHuaweiVoice | SendMany[Any, Any],
    *,
    concurrency: int = 32,
    redial_unknown: bool = False,
    redial_failed: bool | Iterable[str] = False,
    unreachable_after: int = UNREACHABLE_AFTER,
    rows: Iterable[CampaignRow] | None = None,
    suppress: Iterable[str | int] = (),
    until: dt.datetime | float | None = None,
    await_outcomes: float = 0.0,
    stop: asyncio.Event | None = None,
    on_problem: Callable[[CampaignRow], None] | None = None,
    on_start: Callable[[RunStart], None] | None = None,
    on_outcome: Callable[[Outcome[Any], Progress], None] | None = None,
    on_stop: Callable[[StopReason], None] | None = None,
    on_wait: Callable[[Waiting], None] | None = None,
) -> RunResult:
    """Run the campaign of `journal` as one worker: recover what a dead run left, load the
    campaign if it is new, make the rows asked for dialable again, and dial every pending row
    once, under the stop policy (see the module).

    Args:
        journal: the campaign's journal, opened to run it (`AsyncJournal.open`).
        send: the vendor's client (`AsyncTeleCMI` for a TeleCMI campaign, `AsyncHuaweiVoice`
            for a Huawei one), or a bulk sender taking ``(specs, before_send)``.
        concurrency: calls in flight at once.
        redial_unknown: dial the unknown rows again (they may have been placed: reconcile first).
        redial_failed: dial again every failed row that became a call (True), or those failed
            by the error classes named; a failure placed no call.
        unreachable_after: consecutive calls that cannot connect before the run stops.
        rows: the campaign's rows, to load a new campaign (default: read from its file).
        suppress: numbers never to call, added to the campaign's do-not-call list before the
            load (``voicekit dial suppress`` adds more while it runs).
        until: no call starts at or after this moment (an aware datetime, or epoch seconds);
            rows left stay pending, and the result's `exit_status` says the deadline came.
        await_outcomes: with redials (`Policy.max_attempts`), how long a run whose rows are all
            sent waits for the outcomes of its placed calls (webhooks written meanwhile, e.g. by
            ``voicekit dial --listen``): a missed call is dialed again in the same run.
        stop: set it to end the run cleanly (nothing new is sent; calls in flight finish).
        on_problem: told each row that cannot be dialed, as the load finds it.
        on_start: told how the run began, before the first call.
        on_outcome: told each outcome, with this worker's progress.
        on_stop: told why the run stops early, once.
        on_wait: told when the run waits (only rows waiting for their calling window are left,
            or the campaign is paused), and until when; again when that changes.

    The campaign's policy (`Campaign.policy`: its calling window in each callee's time) is
    applied to every claim, by every worker; a campaign paused (``voicekit dial pause``) is
    waited for, a cancelled one ends the run.

    Raises:
        JournalError: the journal could not be used (other than the database staying away or
            the lease being lost, which stop the run).
    """
    store = as_async(journal)
    deadline = until.timestamp() if isinstance(until, dt.datetime) else until
    if deadline is not None and (deadline != deadline or deadline in (float("inf"), float("-inf"))):
        raise ValueError(f"until must be a moment, got {until!r}")
    fresh = not await store.is_loaded()
    recovered = await store.recover()
    suppress = list(suppress)
    if suppress:  # before the load: the rows it adds are suppressed as they are loaded
        await store.suppress(suppress)
    problems = 0
    if fresh:

        def problem(row: CampaignRow) -> None:
            nonlocal problems
            problems += 1
            if on_problem is not None:
                on_problem(row)

        campaign = store.campaign
        source = (
            rows if rows is not None else read_campaign(campaign.path, vendor=campaign.vendor, shard=campaign.shard)
        )
        await store.load(source, on_problem=problem)
    # Rows are made dialable again after the load: only a row with its spec can be, and a journal
    # upgraded from voicekit 0.1.0's SQLite store gains its rows' specs in that load.
    redialed_unknown = await store.requeue(unknown=True, retryable=False) if redial_unknown else 0
    redialed_failed: dict[str, int] = {}
    if redial_failed:
        wanted = None if redial_failed is True else set(redial_failed)
        redialed_failed = {k: n for k, n in (await store.failed_classes()).items() if wanted is None or k in wanted}
        await store.requeue(retryable=False, failed=redial_failed)
    requeued = await store.requeue(retryable=True)
    counts = await store.counts()
    start = RunStart(
        fresh=fresh,
        recovered=recovered,
        requeued=requeued,
        redialed_unknown=redialed_unknown,
        redialed_failed=redialed_failed,
        problems=problems,
        counts=counts,
    )
    log.info(
        "run %s: %s",
        "started" if fresh else "resumed",
        " ".join(f"{s}={n}" for s, n in counts.items() if n) or "no rows",
    )
    if on_start is not None:
        on_start(start)
    stop = stop if stop is not None else asyncio.Event()
    stopped: StopReason | None = None
    store.until = deadline
    store.await_outcomes = max(0.0, float(await_outcomes))

    def halt(reason: StopReason) -> None:
        nonlocal stopped
        if stopped is None:
            stopped = reason
            stop.set()
            log.error("run stopped early (%s): %s", reason.kind, reason.message)
            if on_stop is not None:
                on_stop(reason)

    if counts[State.PENDING] and (await store.waiting()).state not in ("cancelled", "archived"):
        live = dict(counts)
        done = sum(n for s, n in counts.items() if s not in (State.PENDING, State.SENDING))
        total = sum(counts.values())
        refused = 0  # consecutive outcomes that could not connect
        limit = max(unreachable_after, concurrency)
        send_many = _sender(send, store.campaign.vendor, concurrency)
        batch = max(8, concurrency) if store.shared else max(256, concurrency)
        try:
            batches = store.spec_batches(batch, on_wait=_logged_wait(on_wait))
            outcomes = journaled_batches(store, batches, send_many, stop=stop)
            async with contextlib.aclosing(outcomes):
                async for outcome in outcomes:
                    done += 1
                    live[State.PENDING] -= 1
                    error = outcome.error
                    if _observe.sink is not None:
                        verdict = "placed" if error is None else "unknown" if outcome.unknown else "failed"
                        _observe.sink.call(store.campaign.vendor, verdict)
                    refused = refused + 1 if isinstance(error, ConnectError) else 0
                    if error is None:
                        live[State.PLACED] += 1
                        if log.isEnabledFor(logging.DEBUG):
                            log.debug("placed", extra=_call_fields(outcome))
                    elif outcome.unknown:
                        live[State.UNKNOWN] += 1
                        log.warning("outcome unknown: %s", error, extra=_call_fields(outcome))
                    else:
                        live[State.FAILED] += 1
                        log.warning("failed: %s: %s", type(error).__name__, error, extra=_call_fields(outcome))
                        reason = stop_reason(error)
                        if reason is None and refused >= limit:
                            reason = StopReason(
                                kind="unreachable",
                                message=f"the vendor cannot be reached: {refused} calls in a row could not connect "
                                f"({error})",
                                advice="Check the network and the vendor's URL",
                                transient=True,
                            )
                        if reason is not None:
                            halt(reason)
                    if on_outcome is not None:
                        on_outcome(outcome, Progress(done=done, total=total, counts=dict(live)))
        except (JournalUnavailableError, LeaseLostError) as exc:
            halt(
                StopReason(
                    kind="journal" if isinstance(exc, JournalUnavailableError) else "lease",
                    message=str(exc),
                    advice="Wait for the journal's database" if isinstance(exc, JournalUnavailableError) else "",
                    transient=True,
                )
            )
        counts = live
    waiting = Waiting(state="active")
    try:
        counts = await store.counts()
        free, held, sending = await store.left()
        waiting = await store.waiting()
    except (JournalUnavailableError, LeaseLostError):
        free, held, sending = counts[State.PENDING], 0, 0
    interrupted = stop.is_set() and stopped is None
    log.info("run ended: %s", " ".join(f"{s}={n}" for s, n in counts.items() if n) or "no rows")
    ended = None
    if waiting.state == "cancelled":
        ended = "cancelled"
    elif deadline is not None and (free or waiting.rows) and (time.time() >= deadline or _after(waiting, deadline)):
        ended = "deadline"
    return RunResult(
        ended=ended,
        waiting=waiting.rows,
        waiting_until=waiting.next_at,
        start=start,
        counts=counts,
        stopped=stopped,
        interrupted=interrupted,
        undialed=free,
        elsewhere=(held, sending),
    )


def _sender(
    send: AsyncTeleCMI | AsyncHuaweiVoice | SendMany[Any, Any], vendor: str, concurrency: int
) -> SendMany[Any, Any]:
    """The bulk sender of `send`: its client's ``dial_many`` / ``notify_many``, or `send` itself."""
    from ..huawei import AsyncHuaweiVoice
    from ..telecmi import AsyncTeleCMI

    if isinstance(send, AsyncTeleCMI):
        if vendor != "telecmi":
            raise ConfigurationError(f"a {vendor} campaign needs the {vendor} client, not AsyncTeleCMI")
        tc = send
        return lambda specs, before_send: tc.dial_many(specs, concurrency=concurrency, before_send=before_send)
    if isinstance(send, AsyncHuaweiVoice):
        if vendor != "huawei":
            raise ConfigurationError(f"a {vendor} campaign needs the {vendor} client, not AsyncHuaweiVoice")
        hw = send
        return lambda specs, before_send: hw.notify_many(specs, concurrency=concurrency, before_send=before_send)
    return send


def _after(waiting: Waiting, deadline: float) -> bool:
    """Whether every row left waits past `deadline` (the run ended before it: nothing opens
    in time)."""
    return waiting.next_at is not None and waiting.next_at >= deadline


def _call_fields(outcome: Outcome[Any]) -> dict[str, str]:
    """A call's log fields: its row's key and, once placed, the vendor's request id."""
    fields = {"key": outcome.key}
    request_id = getattr(outcome.result, "request_id", None)
    if request_id is not None:
        fields["request_id"] = str(request_id)
    return fields


def _logged_wait(on_wait: Callable[[Waiting], None] | None) -> Callable[[Waiting], None]:
    def told(waiting: Waiting) -> None:
        if waiting.state == "paused":
            log.info("run waits: the campaign is paused")
        elif waiting.next_time is not None:
            log.info("run waits: %d row(s) until %s", waiting.rows, waiting.next_time.isoformat())
        elif waiting.outcomes:
            log.info("run waits for %d call(s)' outcomes (a missed one is dialed again)", waiting.outcomes)
        if on_wait is not None:
            on_wait(waiting)

    return told
