"""`voicekit dial CAMPAIGN.csv --journal J`: one worker's run of a campaign, rendered.

The run itself is `voicekit.journal.run_campaign`; this module reads the options, opens the
journal and the client, shows the progress, and exits with the run's `exit_status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shlex
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import attrs
import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ... import _constants as C
from ..._bulk import Outcome
from ..._campaign import Vendor
from ..._exit import ExitStatus
from ..._policy import parse_retry, parse_until, read_suppress_file
from ...errors import ConfigurationError, JournalError, ValidationError
from ...journal import (
    DEFAULT_LEASE,
    DEFAULT_RECONNECT,
    AsyncJournal,
    Campaign,
    CampaignRow,
    Policy,
    RunResult,
    RunStart,
    State,
    Waiting,
    Window,
    is_postgres_url,
    parse_shard,
    redact_url,
    run_campaign,
)
from ...journal import Progress as RunProgress
from .._common import async_client, console, err_console, fail_on_voicekit_error, sandbox_option
from ._shared import MAX_SHOWN, address, journal_arg, metrics_option, say, serving_metrics, shown
from .listen import listening

__all__ = ["run_cmd"]

#: How often a run whose output is not a terminal prints its progress line (seconds);
#: ``VOICEKIT_PROGRESS_EVERY`` changes it.
_PLAIN_PROGRESS_EVERY: Final = 10.0
#: How often a worker of a shared journal reads the whole campaign's progress (seconds).
_CAMPAIGN_EVERY: Final = 2.0


class _RunContext(click.Context):
    """The hidden `run` is the `dial` group itself to the user: its usage errors say so."""

    @property
    def command_path(self) -> str:
        return self.parent.command_path if self.parent is not None else "voicekit dial"


class RunCommand(click.Command):
    context_class = _RunContext


@click.command("run", cls=RunCommand, hidden=True)
@click.argument("campaign_csv", metavar="CAMPAIGN.csv", type=click.Path(dir_okay=False))
@click.option(
    "--journal",
    "journal_path",
    required=True,
    metavar="FILE|URL",
    callback=journal_arg,
    help="The journal: an SQLite file, or a postgresql:// URL shared by many workers (and many "
    "campaigns); created on the first run, resumed by the next ones.",
)
@click.option(
    "--campaign",
    "campaign_name",
    default=None,
    metavar="NAME",
    help="The campaign's name in the journal (default: the CSV file's name without .csv).",
)
@click.option(
    "--concurrency",
    default=32,
    show_default=True,
    type=click.IntRange(1, C.MAX_BULK_CONCURRENCY),
    help="Calls in flight at once.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=None,
    help=f"Calls per second at most (default {C.DEFAULT_TELECMI_RATE:g} for TeleCMI, "
    f"{C.DEFAULT_HUAWEI_RATE:g} for Huawei; 0: no client-side limit).",
)
@click.option(
    "--vendor",
    type=click.Choice(["telecmi", "huawei"]),
    default=None,
    help="Whose API to call (default: told by the CSV header).",
)
@click.option(
    "--shard",
    default=None,
    metavar="I/N",
    help="Dial only the rows whose key hashes to shard I of N (split a campaign over machines).",
)
@click.option(
    "--redial-unknown",
    is_flag=True,
    help="Dial again the rows whose outcome is unknown (they may have been dialed already).",
)
@click.option(
    "--redial-failed",
    "redial_failed",
    multiple=True,
    is_flag=False,
    flag_value="*",
    metavar="[CLASS]",
    help="Dial again the rows that failed (a failure placed no call): all of them, or those failed "
    "by the error CLASS (repeatable), e.g. --redial-failed NotFoundError. Says what it redials first.",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help=f"PostgreSQL journal: how long a silent worker keeps its rows (default {DEFAULT_LEASE:g}).",
)
@click.option(
    "--reconnect",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help=f"PostgreSQL journal: how long a worker waits for the database to come back before it stops "
    f"(exit 5; default {DEFAULT_RECONNECT:g}).",
)
@click.option(
    "--limiter",
    "limiter_url",
    default=None,
    metavar="redis://...",
    help="Share the account's rate limit with every worker through this Redis.",
)
@click.option(
    "--listen",
    "listen",
    default=None,
    metavar="HOST:PORT",
    help="Receive the vendor's webhooks here while dialing and write each row's outcome into the journal.",
)
@click.option(
    "--listen-after",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="With --listen: keep receiving this long after the last call (its webhooks come when "
    "it ends, and are resent for 15 minutes).",
)
@click.option(
    "--window",
    default=None,
    metavar="HH:MM-HH:MM",
    help="Call only inside this window of the callee's local time (it may cross midnight).",
)
@click.option(
    "--tz",
    default=None,
    metavar="auto|ZONE|column",
    help="With --window: how a row's time zone is found: auto (the default: from the number), an IANA "
    "zone for every row, or column (the CSV's tz column).",
)
@click.option(
    "--tz-default",
    default=None,
    metavar="ZONE",
    help="With --window: the zone of a row whose zone cannot be found (without it, such a row is not called).",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(1, 20),
    default=1,
    show_default=True,
    help="Calls a row may get in all: with --retry, a missed call is dialed again up to this many.",
)
@click.option(
    "--retry",
    "retries",
    multiple=True,
    metavar="REASON=DURATION",
    help="Dial a missed row again after DURATION (missed=30m; busy=10m where the vendor reports busy), up to "
    "--max-attempts calls; never after an answered, failed or unknown call. Repeatable.",
)
@click.option(
    "--suppress",
    "suppress_files",
    multiple=True,
    metavar="FILE",
    help="Numbers never to call: one per line, or a CSV with a to, called or number column (repeatable).",
)
@click.option(
    "--until",
    default=None,
    metavar="WHEN",
    help="Start no call after this moment: an ISO time (2026-12-03T18:00, this machine's zone unless "
    "given) or a duration from now (2h, 90m). Rows left stay pending (exit 7).",
)
@metrics_option
@sandbox_option
@fail_on_voicekit_error
def run_cmd(
    campaign_csv: str,
    journal_path: str,
    campaign_name: str | None,
    concurrency: int,
    rate: float | None,
    vendor: Vendor | None,
    shard: str | None,
    redial_unknown: bool,
    redial_failed: tuple[str, ...],
    lease: float | None,
    reconnect: float | None,
    limiter_url: str | None,
    listen: str | None,
    listen_after: float,
    window: str | None,
    tz: str | None,
    tz_default: str | None,
    max_attempts: int,
    retries: tuple[str, ...],
    suppress_files: tuple[str, ...],
    until: str | None,
    metrics: str | None,
    sandbox: bool,
) -> None:
    shared = is_postgres_url(journal_path)
    ctx = click.get_current_context()
    if shared and shard:
        raise click.UsageError(
            "--shard is for SQLite journals: workers on a PostgreSQL journal share its rows by themselves", ctx=ctx
        )
    for flag, value in (("--lease", lease), ("--reconnect", reconnect)):
        if value is not None and not shared:
            raise click.UsageError(f"{flag} is for PostgreSQL journals (--journal postgresql://...)", ctx=ctx)
    if limiter_url is not None and not limiter_url.startswith(("redis://", "rediss://", "unix://")):
        raise click.BadParameter("must be a redis:// URL", param_hint="'--limiter'")
    policy = _policy(window, tz, tz_default, max_attempts, retries)
    suppress: list[str] = []
    for path in suppress_files:
        try:
            suppress += read_suppress_file(path)
        except (ValidationError, ConfigurationError) as exc:
            raise click.BadParameter(str(exc), param_hint="'--suppress'") from None
    deadline = None
    if until is not None:
        try:
            deadline = parse_until(until, now=time.time())
        except ValidationError as exc:
            raise click.BadParameter(exc.rule, param_hint="'--until'") from None
    options = Options(
        metrics=address(metrics, "--metrics") if metrics else None,
        policy=policy,
        suppress_files=suppress_files,
        suppress=tuple(suppress),
        until=deadline,
        csv=campaign_csv,
        journal=journal_path,
        name=campaign_name,
        concurrency=concurrency,
        rate=rate,
        vendor=vendor,
        shard=shard,
        redial_unknown=redial_unknown,
        redial_failed=True if "*" in redial_failed else frozenset(redial_failed) if redial_failed else False,
        sandbox=sandbox,
        lease=lease,
        reconnect=reconnect,
        limiter=limiter_url,
        listen=address(listen, "--listen") if listen else None,
        listen_after=listen_after,
    )
    result = asyncio.run(_run(options))
    counts = result.counts
    more = "".join(f" {s}={counts[s]}" for s in (State.SUPPRESSED, State.CANCELLED) if counts[s])
    say(
        f"placed={counts[State.PLACED]} failed={counts[State.FAILED]} unknown={counts[State.UNKNOWN]} "
        f"pending={counts[State.PENDING] + counts[State.SENDING]}{more}"
    )
    sys.exit(_finish(result, options))


def _policy(
    window: str | None, tz: str | None, tz_default: str | None, max_attempts: int, retries: tuple[str, ...]
) -> Policy | None:
    """The campaign's policy from the options, or a usage error."""
    parsed = None
    if window is None:
        for flag, value in (("--tz", tz), ("--tz-default", tz_default)):
            if value is not None:
                raise click.UsageError(f"{flag} applies to a calling window: give --window HH:MM-HH:MM too")
    else:
        try:
            parsed = Window.parse(window)
        except ValidationError as exc:
            raise click.BadParameter(exc.rule, param_hint="'--window'") from None
    retry: dict[str, float] = {}
    for text in retries:
        try:
            reason, delay = parse_retry(text)
        except ValidationError as exc:
            raise click.BadParameter(exc.rule, param_hint="'--retry'") from None
        if reason in retry:
            raise click.BadParameter(f"{reason} is given twice", param_hint="'--retry'")
        retry[reason] = delay
    if retry and max_attempts < 2:
        raise click.UsageError("--retry dials a row again: give --max-attempts 2 or more too")
    if max_attempts > 1 and not retry:
        raise click.UsageError("--max-attempts needs --retry missed=DURATION (when to dial a missed row again)")
    try:
        policy = Policy(
            window=parsed,
            tz=tz if tz is not None else "auto",
            tz_default=tz_default,
            max_attempts=max_attempts,
            retry=retry,
        )
    except ValidationError as exc:
        flag = "--tz-default" if exc.field == "tz_default" else "--tz"
        raise click.BadParameter(exc.rule, param_hint=f"'{flag}'") from None
    return policy if policy.active else None


@attrs.frozen(kw_only=True)
class Options:
    csv: str
    journal: str
    name: str | None
    concurrency: int
    rate: float | None
    vendor: Vendor | None
    shard: str | None
    redial_unknown: bool
    redial_failed: bool | frozenset[str]
    sandbox: bool
    lease: float | None = None
    reconnect: float | None = None
    limiter: str | None = None
    listen: tuple[str, int] | None = None
    listen_after: float = 0.0
    policy: Policy | None = None
    suppress_files: tuple[str, ...] = ()
    suppress: tuple[str, ...] = ()
    until: float | None = None
    metrics: tuple[str, int] | None = None

    def resume_command(self) -> str:
        """The same run, to resume it (never with a password: the URL's is taken from the
        environment, e.g. PGPASSWORD)."""
        args = ["voicekit", "dial", self.csv, "--journal", shown(self.journal)]
        if self.name is not None:
            args += ["--campaign", self.name]
        args += ["--concurrency", str(self.concurrency)]
        if self.lease is not None:
            args += ["--lease", f"{self.lease:g}"]
        if self.reconnect is not None:
            args += ["--reconnect", f"{self.reconnect:g}"]
        if self.limiter:
            args += ["--limiter", redact_url(self.limiter)]
        if self.rate is not None:
            args += ["--rate", f"{self.rate:g}"]
        if self.vendor:
            args += ["--vendor", self.vendor]
        if self.shard:
            args += ["--shard", self.shard]
        if self.policy is not None and self.policy.window is not None:
            args += ["--window", str(self.policy.window), "--tz", self.policy.tz]
            if self.policy.tz_default is not None:
                args += ["--tz-default", self.policy.tz_default]
        if self.policy is not None and self.policy.max_attempts > 1:
            args += ["--max-attempts", str(self.policy.max_attempts)]
            for reason, delay in self.policy.retry:
                args += ["--retry", f"{reason}={delay:g}s"]
        for path in self.suppress_files:
            args += ["--suppress", path]
        if self.sandbox:
            args.append("--sandbox")
        return shlex.join(args)


def _finish(result: RunResult, options: Options) -> ExitStatus:
    """Say how the run ended and what to do next; return the exit status."""
    status = result.exit_status
    resume = options.resume_command()
    counts = result.counts
    if status is ExitStatus.INTERRUPTED:
        say(f"stopped; the journal is saved. Resume with:\n  {resume}")
    elif status is ExitStatus.WAITING and result.ended == "cancelled":
        say(f"the campaign was cancelled: {counts[State.CANCELLED]:,} row(s) were not dialed", err=True)
    elif status is ExitStatus.WAITING:
        if result.waiting and result.waiting_until is not None:
            opens = dt.datetime.fromtimestamp(result.waiting_until).astimezone()
            say(f"{result.waiting:,} row(s) wait for their calling window (the next at {opens:%Y-%m-%d %H:%M %Z})")
        left = max(result.undialed, result.waiting)
        say(f"the deadline (--until) came: {left:,} row(s) left pending; go on later with:\n  {resume}", err=True)
    elif result.stopped is not None:
        err_console.print(f"[bold red]error:[/] {escape(result.stopped.message)}", soft_wrap=True)
        advice = f"{result.stopped.advice}, then resume" if result.stopped.advice else "Resume"
        say(f"{advice} with (the rows that failed this way are dialed again):\n  {resume}", err=True)
    elif status is ExitStatus.STOPPED:
        say(f"some rows were not dialed; resume with:\n  {resume}", err=True)
    elif status is ExitStatus.UNKNOWN:
        say(
            f"{counts[State.UNKNOWN]} row(s) have an unknown outcome: they may have been placed. Resolve them "
            f"from the vendor's records with `voicekit dial reconcile {shown(options.journal)}`; the next run then "
            "dials those that were not placed, once.",
            err=True,
        )
    held, sending = result.elsewhere
    if held or sending:
        say(f"other workers still hold {held} row(s) and are sending {sending}: this worker's part is done")
    return status


async def _run(options: Options) -> RunResult:
    shard = parse_shard(options.shard) if options.shard else None
    campaign = await asyncio.to_thread(
        Campaign.from_file, options.csv, vendor=options.vendor, shard=shard, name=options.name, policy=options.policy
    )
    lease = options.lease if options.lease is not None else DEFAULT_LEASE
    reconnect = options.reconnect if options.reconnect is not None else DEFAULT_RECONNECT
    async with await AsyncJournal.open(options.journal, campaign, lease=lease, reconnect=reconnect) as journal:
        view = _View(options, journal)
        async with contextlib.AsyncExitStack() as stack:
            if options.metrics is not None:
                await stack.enter_async_context(serving_metrics(journal, options.metrics))
            if options.listen is not None:
                # The same journal as the dialer's: its writes serialised with the claims.
                await stack.enter_async_context(listening(journal, options.listen))
            async with _client(options, journal.campaign.vendor) as client:
                result = await view.run(client)
            if options.listen is not None and options.listen_after > 0 and not result.interrupted:
                say(f"listening for {options.listen_after:g} s more for the last calls' webhooks (Ctrl-C ends it)")
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(options.listen_after)
        return result


@contextlib.asynccontextmanager
async def _client(options: Options, vendor: Vendor) -> AsyncIterator[Any]:
    from ... import AsyncHuaweiVoice, AsyncTeleCMI

    async with contextlib.AsyncExitStack() as stack:
        extra: dict[str, Any] = {}
        if options.limiter is not None:
            from ...redis_limiter import RedisBackend, connect_redis

            redis = await connect_redis(options.limiter)
            stack.push_async_callback(redis.aclose)
            extra["limiter_backend"] = RedisBackend(redis)
        cls = AsyncTeleCMI if vendor == "telecmi" else AsyncHuaweiVoice
        sandbox: Any = options.sandbox
        if options.sandbox and options.listen is not None:
            # The in-process sandbox posts its calls' webhooks to this run's listener.
            from ...sandbox import Sandbox

            host, port = options.listen
            host = "127.0.0.1" if host in ("0.0.0.0", "") else host
            url = f"http://[{host}]:{port}/telecmi" if ":" in host else f"http://{host}:{port}/telecmi"
            sandbox = await stack.enter_async_context(Sandbox(telecmi_webhook_url=url))
        yield await stack.enter_async_context(async_client(cls, sandbox=sandbox, rate=options.rate, **extra))


class _Rate:
    """Calls completed per second over the last few seconds."""

    def __init__(self, window: float = 5.0) -> None:
        self._samples: deque[tuple[float, int]] = deque()
        self._window = window

    def update(self, done: int) -> float:
        now = time.monotonic()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window:
            self._samples.popleft()
        t0, d0 = self._samples[0]
        return (done - d0) / (now - t0) if now > t0 else 0.0


class _View:
    """What a run shows: how it began, problem rows, failures, the progress bar, why it stopped."""

    def __init__(self, options: Options, journal: AsyncJournal) -> None:
        self.options = options
        self.journal = journal
        self.problems = 0
        self.failures = 0
        self.rate = _Rate()
        self.last_plain = time.monotonic()
        self.plain_every = _plain_every()
        self.progress: Progress | None = None
        self.task: Any = None
        # A shared journal's workers each show the whole campaign, read from the journal:
        # its rows by state, and its rate over the last readings.
        self.campaign: dict[State, int] | None = None
        self.campaign_rate = _Rate(window=15.0)
        self.own = 0.0
        self.watcher: asyncio.Task[None] | None = None

    async def run(self, client: Any) -> RunResult:
        options = self.options
        stop = asyncio.Event()
        main_task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if not stop.is_set():
                stop.set()
                err_console.print(
                    "stopping: no new calls; waiting for the calls in flight (Ctrl-C again to abandon them)"
                )
            elif main_task is not None:
                main_task.cancel()

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, on_signal)
                installed.append(sig)
        columns = [
            TextColumn("dialing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "[green]placed {task.fields[placed]}[/] [red]failed {task.fields[failed]}[/] "
                "[yellow]unknown {task.fields[unknown]}[/]"
            ),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
        ]
        try:
            with Progress(*columns, console=console, disable=not console.is_terminal, transient=False) as progress:
                self.progress = progress
                result = await run_campaign(
                    self.journal,
                    client,
                    concurrency=options.concurrency,
                    redial_unknown=options.redial_unknown,
                    redial_failed=options.redial_failed,
                    suppress=options.suppress,
                    until=options.until,
                    await_outcomes=options.listen_after if options.listen is not None else 0.0,
                    stop=stop,
                    on_problem=self.problem,
                    on_start=self.start,
                    on_outcome=self.outcome,
                    on_wait=self.wait,
                )
        except asyncio.CancelledError:
            # A second Ctrl-C: the calls in flight were abandoned (now unknown).
            counts = await self.journal.counts()
            start = RunStart(
                fresh=False, recovered=0, requeued=0, redialed_unknown=0, redialed_failed={}, problems=0, counts=counts
            )
            result = RunResult(start=start, counts=counts, interrupted=True)
        finally:
            if self.watcher is not None:
                self.watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.watcher
            for sig in installed:
                loop.remove_signal_handler(sig)
        if self.failures > MAX_SHOWN:
            say(
                f"... and {self.failures - MAX_SHOWN} more failures (see `voicekit dial report "
                f"{shown(options.journal)}`)",
                err=True,
            )
        return result

    async def _watch_campaign(self) -> None:
        """Read the whole campaign's rows every few seconds (every worker's progress)."""
        while True:
            try:
                counts = await self.journal.counts()
            except JournalError:
                counts = None  # the run itself reports the journal's troubles
            if counts is not None:
                self.campaign = counts
                done = _done(counts)
                per_second = self.campaign_rate.update(done)
                if self.progress is not None and self.task is not None:
                    self.progress.update(
                        self.task,
                        total=sum(counts.values()),
                        completed=done,
                        placed=counts[State.PLACED],
                        failed=counts[State.FAILED],
                        unknown=counts[State.UNKNOWN],
                        rate=f"campaign {per_second:,.0f}/s, this worker {self.own:,.0f}/s",
                    )
            await asyncio.sleep(min(_CAMPAIGN_EVERY, self.plain_every))  # never staler than a line

    def wait(self, waiting: Waiting) -> None:
        if waiting.state == "paused":
            say("the campaign is paused (`voicekit dial resume` goes on); waiting")
        elif waiting.next_time is not None:
            local = waiting.next_time.astimezone()
            say(
                f"{waiting.rows:,} row(s) wait for their calling window or a redial; waiting until "
                f"{local:%Y-%m-%d %H:%M:%S %Z} (Ctrl-C stops; the journal keeps them)"
            )
        elif waiting.outcomes:
            say(
                f"{waiting.outcomes:,} placed call(s) await their outcome (a missed one is dialed again); "
                f"waiting up to {self.options.listen_after:g} s"
            )

    def problem(self, row: CampaignRow) -> None:
        self.problems += 1
        if self.problems <= MAX_SHOWN:
            say(f"row {row.number} (key {row.key!r}): {row.problem}", err=True)

    def start(self, start: RunStart) -> None:
        options, journal = self.options, self.journal
        if self.problems > MAX_SHOWN:
            say(
                f"... and {self.problems - MAX_SHOWN} more rows that cannot be dialed "
                f"(see `voicekit dial report {shown(options.journal)}`)",
                err=True,
            )
        counts = start.counts
        say(f"{'starting' if start.fresh else 'resuming'} {journal.campaign.describe()}")
        say(f"journal {journal.path}: " + " ".join(f"{s}={n}" for s, n in counts.items() if n))
        path = escape(journal.path)
        if start.recovered:
            again = (
                "are dialed again now (--redial-unknown)"
                if options.redial_unknown
                else (
                    f"will not be dialed again[/] (resolve them with `voicekit dial reconcile {path}`; "
                    "--redial-unknown dials them again regardless)"
                )
            )
            console.print(
                f"[yellow]{start.recovered} call(s) were being sent when the last run stopped: they may have been "
                f"placed, so they are now [bold]unknown[/] and {again}",
                soft_wrap=True,
            )
        elif counts[State.UNKNOWN] and not options.redial_unknown:
            console.print(
                f"[yellow]{counts[State.UNKNOWN]} call(s) have an unknown outcome and are not dialed "
                f"again[/] (`voicekit dial reconcile {path}` resolves them; --redial-unknown "
                "dials them regardless)",
                soft_wrap=True,
            )
        if start.redialed_unknown:
            console.print(
                f"[yellow]{start.redialed_unknown} call(s) whose outcome was unknown (they may have been placed "
                "already) are dialed again, as --redial-unknown asks[/]",
                soft_wrap=True,
            )
        if options.redial_failed:
            if start.redialed_failed:
                what = ", ".join(f"{kind or 'unknown error'}: {n}" for kind, n in start.redialed_failed.items())
                say(
                    f"{sum(start.redialed_failed.values())} failed row(s) are dialed again, as --redial-failed "
                    f"asks ({what})"
                )
            else:
                say("--redial-failed: no failed row matches; nothing is dialed again")
        if start.requeued:
            say(f"{start.requeued} call(s) that provably were not placed last time are dialed again")
        if options.sandbox:
            console.print("[bold magenta]sandbox:[/] dialing an in-process emulator; no real call is placed")
        if self.journal.shared:  # once the campaign is loaded
            self.watcher = asyncio.get_running_loop().create_task(self._watch_campaign())
        if self.progress is not None:
            done = _done(counts)
            self.task = self.progress.add_task(
                "dial",
                total=sum(counts.values()),
                completed=done,
                placed=counts[State.PLACED],
                failed=counts[State.FAILED],
                unknown=counts[State.UNKNOWN],
                rate="",
            )

    def outcome(self, outcome: Outcome[Any], progress: RunProgress) -> None:
        error = outcome.error
        if error is not None and not outcome.unknown:
            self.failures += 1
            if self.failures <= MAX_SHOWN:
                say(f"key {outcome.key!r}: {type(error).__name__}: {error}")
        per_second = self.own = self.rate.update(progress.done)
        counts = progress.counts
        default = C.DEFAULT_TELECMI_RATE if self.journal.campaign.vendor == "telecmi" else C.DEFAULT_HUAWEI_RATE
        limit = "no limit" if self.options.rate == 0 else f"limit {self.options.rate or default:g}/s"
        if self.campaign is not None:
            # the bar shows the whole campaign (`_watch_campaign`); this worker's own figures
            # go in the plain line
            self._plain(progress, per_second)
            return
        if self.progress is not None and self.task is not None:
            self.progress.update(
                self.task,
                completed=progress.done,
                placed=counts[State.PLACED],
                failed=counts[State.FAILED],
                unknown=counts[State.UNKNOWN],
                rate=f"{per_second:,.0f}/s ({limit})",
            )
        self._plain(progress, per_second)

    def _plain(self, progress: RunProgress, per_second: float) -> None:
        """The progress line of a run whose output is not a terminal (a log), every few seconds:
        the whole campaign's when the journal is shared, with its rate and time left."""
        if console.is_terminal or time.monotonic() - self.last_plain < self.plain_every:
            return
        self.last_plain = time.monotonic()
        counts, done, total, rate = progress.counts, progress.done, progress.total, per_second
        if self.campaign is not None:
            counts, done, total = self.campaign, _done(self.campaign), sum(self.campaign.values())
            rate = self.campaign_rate.update(done)
        line = (
            f"{done}/{total} placed={counts[State.PLACED]} failed={counts[State.FAILED]} "
            f"unknown={counts[State.UNKNOWN]} {rate:,.0f}/s"
        )
        if rate > 0 and total > done:
            line += f", about {_duration(int((total - done) / rate + 0.5))} left"
        if self.campaign is not None:
            line = f"campaign {line}; this worker {progress.done} done, {per_second:,.0f}/s"
        say(line)


def _plain_every() -> float:
    try:
        every = float(os.environ.get("VOICEKIT_PROGRESS_EVERY", _PLAIN_PROGRESS_EVERY))
    except ValueError:
        return _PLAIN_PROGRESS_EVERY
    return every if 0 < every < float("inf") else _PLAIN_PROGRESS_EVERY


def _done(counts: Mapping[State, int]) -> int:
    """The rows that are through: neither pending nor being sent."""
    return sum(n for s, n in counts.items() if s not in (State.PENDING, State.SENDING))


def _duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
