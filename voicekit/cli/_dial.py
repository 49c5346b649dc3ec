"""`voicekit dial`: bulk calls from a CSV, resumable from a SQLite journal."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import os
import shlex
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final

import attrs
import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .. import _constants as C
from .._bulk import Outcome
from .._campaign import Vendor
from .._sending import BeforeSend
from ..errors import AuthenticationError, ConnectError
from ..journal import (
    Campaign,
    CampaignRow,
    Journal,
    State,
    Summary,
    journaled,
    parse_shard,
    read_campaign,
)
from ._common import console, err_console, fail_on_voicekit_error, open_output, sandbox_option

__all__ = ["register"]

#: Consecutive calls that could not connect before a run gives up on the vendor (or the
#: concurrency, if larger: a whole wave of calls in flight failing at once is one event).
UNREACHABLE_AFTER: Final = 20

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_FAILED_ROWS: Final = 3
EXIT_UNKNOWN_ROWS: Final = 4
EXIT_STOPPED: Final = 5
EXIT_INTERRUPTED: Final = 130

DIAL_HELP: Final = f"""Dial every row of a campaign CSV, journaled so that a re-run resumes.

\b
  voicekit dial CAMPAIGN.csv --journal CAMPAIGN.db [OPTIONS]
  voicekit dial status CAMPAIGN.db
  voicekit dial report CAMPAIGN.db -o outcomes.csv

Each key is written to the journal as "sending" right before its request leaves. Re-running the
same command resumes: pending rows are dialed once; placed and failed rows are never dialed
again, except failures that provably never reached the vendor (connection refused, 429, bad
credentials), which the next run dials again; rows that were being sent when a run crashed (at
most --concurrency of them) are reported as unknown (they may have been dialed) and are dialed
again only with --redial-unknown. Ctrl-C stops cleanly (press it again to abandon the calls in
flight). The run stops early when the vendor refuses the credentials, or when
{UNREACHABLE_AFTER} or more calls in a row (or --concurrency, if larger) cannot connect. Credentials come from
VOICEKIT_TELECMI_* / VOICEKIT_HUAWEI_* unless --sandbox is given.

The CSV has a header row (UTF-8; column names in any case; other columns are ignored).
Rows are numbered as in a spreadsheet: the header is row 1.

\b
TeleCMI play-a-music (the default when the header has a "to" column):
  key           optional, unique; default: the row number
  to, from      phone numbers, 7-16 digits
  file_name     an uploaded .wav/.mp3 (or file_url: an http(s) URL)
  region        optional: global (default) or ind
  extra_params  optional: a JSON object
\b
Huawei voice notification (when the header has a "called" column):
  key           optional, unique; default: the row number
  called        the number to call
  voice_id      or voice_file_name, or template_id
  template_params  optional, "|"-separated: 100|200
  caller_present, play_times (1-5), priority (1-9), callback_url: optional

A row that cannot become a call (a missing value, a bad number, bytes that are not UTF-8) is
reported with its row number, recorded as failed, and the run goes on.

\b
Exit status (of a run; status and report exit 0 on success, 1 on an error):
  0    every row of the campaign is placed
  1    an error before dialing (a bad file, a journal of another campaign, ...)
  2    a usage error (a bad option or argument)
  3    the run finished, and some rows failed
  4    the run finished, and some rows have an unknown outcome (reconcile them; before 3)
  5    the run stopped early (credentials refused, vendor unreachable); resume it later
  130  interrupted (Ctrl-C); resume it later
"""

_MAX_SHOWN: Final = 20
_PLAIN_PROGRESS_EVERY: Final = 10.0


class _RunContext(click.Context):
    """The hidden `run` is the `dial` group itself to the user: its usage errors say so."""

    @property
    def command_path(self) -> str:
        return self.parent.command_path if self.parent is not None else "voicekit dial"


class _RunCommand(click.Command):
    context_class = _RunContext


class _DialGroup(click.Group):
    """`dial CAMPAIGN.csv ...` runs the campaign; `dial status|report ...` are subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("voicekit dial", "CAMPAIGN.csv --journal CAMPAIGN.db [OPTIONS]")

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        run = self.commands["run"]
        with click.Context(run, info_name="run", parent=ctx) as sub:
            records = [
                r for p in run.get_params(sub) if isinstance(p, click.Option) and (r := p.get_help_record(sub))
            ]
        with formatter.section("Options"):
            formatter.write_dl(records)
        self.format_commands(ctx, formatter)


@click.group("dial", cls=_DialGroup, help=DIAL_HELP, context_settings={"help_option_names": ["-h", "--help"]})
def dial() -> None:
    pass


@dial.command("run", cls=_RunCommand, hidden=True, help=DIAL_HELP)
@click.argument("campaign_csv", metavar="CAMPAIGN.csv", type=click.Path(dir_okay=False))
@click.option("--journal", "journal_path", required=True, type=click.Path(dir_okay=False),
              help="The SQLite journal: created on the first run, resumed by the next ones.")
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1, C.MAX_BULK_CONCURRENCY),
              help="Calls in flight at once.")
@click.option("--rate", type=click.FloatRange(min=0), default=None,
              help=f"Calls per second at most (default {C.DEFAULT_TELECMI_RATE:g}; 0: no client-side limit).")
@click.option("--vendor", type=click.Choice(["telecmi", "huawei"]), default=None,
              help="Whose API to call (default: told by the CSV header).")
@click.option("--shard", default=None, metavar="I/N",
              help="Dial only the rows whose key hashes to shard I of N (split a campaign over machines).")
@click.option("--redial-unknown", is_flag=True,
              help="Dial again the keys whose outcome is unknown (they may have been dialed already).")
@sandbox_option
@fail_on_voicekit_error
def run_cmd(
    campaign_csv: str, journal_path: str, concurrency: int, rate: float | None, vendor: Vendor | None,
    shard: str | None, redial_unknown: bool, sandbox: bool,
) -> None:
    resume = _resume_command(campaign_csv, journal_path, concurrency, rate, vendor, shard, sandbox)
    options = _Options(
        csv=campaign_csv, journal=journal_path, concurrency=concurrency, rate=rate, vendor=vendor,
        shard=parse_shard(shard) if shard else None, redial_unknown=redial_unknown, sandbox=sandbox,
    )
    result = asyncio.run(_run(options))
    counts = result.counts
    _say(f"placed={counts[State.PLACED]} failed={counts[State.FAILED]} unknown={counts[State.UNKNOWN]} "
         f"pending={counts[State.PENDING] + counts[State.SENDING]}")
    sys.exit(_finish(result, resume, journal_path))


def _finish(result: _Result, resume: str, journal_path: str) -> int:
    """Say how the run ended and what to do next; return the exit status."""
    counts = result.counts
    if result.interrupted:
        _say(f"stopped; the journal is saved. Resume with:\n  {resume}")
        return EXIT_INTERRUPTED
    if result.stopped:
        err_console.print(f"[bold red]error:[/] {result.stopped}", soft_wrap=True)
        _say(f"{result.advice}, then resume with (the rows that failed this way are dialed again):\n  {resume}",
             err=True)
        return EXIT_STOPPED
    if counts[State.UNKNOWN]:
        _say(f"{counts[State.UNKNOWN]} row(s) have an unknown outcome: they may have been placed. Check them "
             f"(`voicekit dial report {journal_path}`) before dialing them again with --redial-unknown.", err=True)
        return EXIT_UNKNOWN_ROWS
    if counts[State.FAILED]:
        return EXIT_FAILED_ROWS
    if counts[State.PENDING] or counts[State.SENDING]:
        _say(f"some rows were not dialed; resume with:\n  {resume}", err=True)
        return EXIT_STOPPED
    return EXIT_OK


@dial.command("status")
@click.argument("journal_path", metavar="CAMPAIGN.db", type=click.Path(dir_okay=False))
@fail_on_voicekit_error
def status_cmd(journal_path: str) -> None:
    """Summarise a journal: counts per state, the campaign file, when it started and last moved."""
    with Journal.read(journal_path) as journal:
        summary = journal.summary()
        unknown = [entry.key for entry in itertools.islice(journal.entries([State.UNKNOWN]), 10)]
    _print_status(journal_path, summary, unknown)


@dial.command("report")
@click.argument("journal_path", metavar="CAMPAIGN.db", type=click.Path(dir_okay=False))
@click.option("-o", "--output", default="-", show_default=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Where to write the CSV (- for standard output).")
@fail_on_voicekit_error
def report_cmd(journal_path: str, output: str) -> None:
    """Write one CSV row per key: key, row, state, request_id, error_type, error."""
    with Journal.read(journal_path) as journal, open_output(output) as f:
        writer = csv.writer(f)
        writer.writerow(["key", "row", "state", "request_id", "error_type", "error"])
        n = 0
        for entry in journal.entries():
            writer.writerow([entry.key, entry.row or "", entry.state, entry.request_id or "",
                             entry.error_type or "", entry.error or ""])
            n += 1
    if output != "-":
        _say(f"wrote {n} rows to {output}", err=True)


def register(main: click.Group) -> None:
    """Add the `dial` commands to the `voicekit` group."""
    main.add_command(dial)


# -- the run --------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Options:
    csv: str
    journal: str
    concurrency: int
    rate: float | None
    vendor: Vendor | None
    shard: tuple[int, int] | None
    redial_unknown: bool
    sandbox: bool


@attrs.define
class _Result:
    counts: dict[State, int] = attrs.field(factory=lambda: dict.fromkeys(State, 0))
    interrupted: bool = False
    #: Why the run stopped early (the vendor refused the credentials, or cannot be reached), and
    #: what to do about it.
    stopped: str | None = None
    advice: str = ""


def _resume_command(
    csv_path: str, journal: str, concurrency: int, rate: float | None, vendor: str | None, shard: str | None,
    sandbox: bool,
) -> str:
    args = ["voicekit", "dial", csv_path, "--journal", journal, "--concurrency", str(concurrency)]
    if rate is not None:
        args += ["--rate", f"{rate:g}"]
    if vendor:
        args += ["--vendor", vendor]
    if shard:
        args += ["--shard", shard]
    if sandbox:
        args.append("--sandbox")
    return shlex.join(args)


def _say(text: str, *, err: bool = False) -> None:
    """Print plain text as is: no markup, no highlighting, no wrapping (lines stay copyable)."""
    (err_console if err else console).print(text, markup=False, highlight=False, soft_wrap=True)


def _show_problem(row: CampaignRow, shown: list[int]) -> None:
    shown[0] += 1
    if shown[0] <= _MAX_SHOWN:
        _say(f"row {row.number} (key {row.key!r}): {row.problem}", err=True)


async def _run(opts: _Options) -> _Result:
    result = _Result()
    campaign = await asyncio.to_thread(Campaign.from_file, opts.csv, vendor=opts.vendor, shard=opts.shard)
    with Journal.open(opts.journal, campaign) as journal:
        fresh = not journal.loaded
        recovered = await asyncio.to_thread(journal.recover)
        redialed = (
            await asyncio.to_thread(journal.requeue, unknown=True, retryable=False) if opts.redial_unknown else 0
        )
        requeued = await asyncio.to_thread(journal.requeue, retryable=True)
        if fresh:
            shown = [0]
            rows = read_campaign(opts.csv, vendor=campaign.vendor, shard=campaign.shard)
            await asyncio.to_thread(journal.load, rows, on_problem=lambda row: _show_problem(row, shown))
            if shown[0] > _MAX_SHOWN:
                _say(f"... and {shown[0] - _MAX_SHOWN} more rows that cannot be dialed "
                     f"(see `voicekit dial report {opts.journal}`)", err=True)
        counts = await asyncio.to_thread(journal.counts)
        _announce(opts, journal, campaign, counts, fresh=fresh, recovered=recovered, requeued=requeued,
                  redialed=redialed)
        result.counts = counts
        if counts[State.PENDING]:
            await _dial(opts, journal, campaign, result)
        result.counts = await asyncio.to_thread(journal.counts)
    return result


def _announce(
    opts: _Options, journal: Journal, campaign: Campaign, counts: dict[State, int], *, fresh: bool,
    recovered: int, requeued: int, redialed: int,
) -> None:
    verb = "starting" if fresh else "resuming"
    _say(f"{verb} {campaign.describe()}")
    _say(f"journal {journal.path}: " + " ".join(f"{s}={n}" for s, n in counts.items() if n))
    if recovered:
        again = "are dialed again now (--redial-unknown)" if opts.redial_unknown else (
            f"will not be dialed again[/] (check them with `voicekit dial report {journal.path}`; dial them "
            "again with --redial-unknown)"
        )
        console.print(
            f"[yellow]{recovered} call(s) were being sent when the last run stopped: they may have been "
            f"placed, so they are now [bold]unknown[/] and {again}", soft_wrap=True
        )
    elif counts[State.UNKNOWN] and not opts.redial_unknown:
        console.print(f"[yellow]{counts[State.UNKNOWN]} call(s) have an unknown outcome and are not dialed "
                      "again[/] (--redial-unknown dials them)", soft_wrap=True)
    if redialed:
        console.print(f"[yellow]{redialed} call(s) whose outcome was unknown (they may have been placed "
                      "already) are dialed again, as --redial-unknown asks[/]", soft_wrap=True)
    if requeued:
        console.print(f"{requeued} call(s) that provably were not placed last time are dialed again", soft_wrap=True)
    if opts.sandbox:
        console.print("[bold magenta]sandbox:[/] dialing an in-process emulator; no real call is placed")


@contextlib.asynccontextmanager
async def _sender(opts: _Options, vendor: Vendor) -> AsyncIterator[
    Callable[[AsyncIterator[Any], BeforeSend], AsyncIterator[Outcome[Any]]]
]:
    from .. import AsyncHuaweiVoice, AsyncTeleCMI
    from .._config import NOT_GIVEN

    limit: Any = NOT_GIVEN if opts.rate is None else (None if opts.rate == 0 else opts.rate)
    async with contextlib.AsyncExitStack() as stack:
        urls: dict[str, Any] = {}
        if opts.sandbox:
            from ..sandbox import Sandbox

            sb = await stack.enter_async_context(Sandbox())
            if vendor == "telecmi":
                urls = {"appid": sb.telecmi_appid, "secret": sb.telecmi_secret, "base_url": sb.url,
                        "piopiy_url": sb.url}
            else:
                urls = {"base_url": sb.url, "app_key": sb.huawei_app_key, "app_secret": sb.huawei_app_secret}
        if vendor == "telecmi":
            tc = await stack.enter_async_context(AsyncTeleCMI(rate_limit=limit, **urls))
            yield lambda specs, before_send: tc.dial_many(
                specs, concurrency=opts.concurrency, before_send=before_send
            )
        else:
            hw = await stack.enter_async_context(AsyncHuaweiVoice(rate_limit=limit, **urls))
            yield lambda specs, before_send: hw.notify_many(
                specs, concurrency=opts.concurrency, before_send=before_send
            )


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


async def _dial(opts: _Options, journal: Journal, campaign: Campaign, result: _Result) -> None:
    counts = result.counts
    total = sum(counts.values())
    done = counts[State.PLACED] + counts[State.FAILED] + counts[State.UNKNOWN]
    limit = "no limit" if opts.rate == 0 else f"limit {opts.rate or C.DEFAULT_TELECMI_RATE:g}/s"
    stop = asyncio.Event()
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if not stop.is_set():
            stop.set()
            err_console.print("stopping: no new calls; waiting for the calls in flight "
                              "(Ctrl-C again to abandon them)")
        elif main_task is not None:
            main_task.cancel()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)

    def specs() -> Iterator[Any]:
        for row in read_campaign(opts.csv, vendor=campaign.vendor, shard=campaign.shard):
            if row.spec is not None:
                yield row.spec

    columns = [
        TextColumn("dialing"), BarColumn(), MofNCompleteColumn(),
        TextColumn("[green]placed {task.fields[placed]}[/] [red]failed {task.fields[failed]}[/] "
                   "[yellow]unknown {task.fields[unknown]}[/]"),
        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
    ]
    rate = _Rate()
    shown = 0
    last_plain = time.monotonic()
    unreachable_after = max(UNREACHABLE_AFTER, opts.concurrency)
    refused = 0  # consecutive outcomes that could not connect
    try:
        with Progress(*columns, console=console, disable=not console.is_terminal, transient=False) as progress:
            task = progress.add_task("dial", total=total, completed=done, placed=counts[State.PLACED],
                                     failed=counts[State.FAILED], unknown=counts[State.UNKNOWN], rate="")
            async with _sender(opts, campaign.vendor) as send_many:
                outcomes = journaled(journal, specs(), send_many, stop=stop)
                async with contextlib.aclosing(outcomes):
                    async for outcome in outcomes:
                        done += 1
                        refused = refused + 1 if isinstance(outcome.error, ConnectError) else 0
                        if outcome.ok:
                            counts[State.PLACED] += 1
                        elif outcome.unknown:
                            counts[State.UNKNOWN] += 1
                        else:
                            counts[State.FAILED] += 1
                            shown += 1
                            if shown <= _MAX_SHOWN:
                                _say(f"key {outcome.key!r}: {type(outcome.error).__name__}: {outcome.error}")
                            if result.stopped is None and isinstance(outcome.error, AuthenticationError):
                                result.stopped = f"the vendor refused the credentials ({outcome.error})"
                                result.advice = "Fix the credentials"
                                stop.set()
                            elif result.stopped is None and refused >= unreachable_after:
                                result.stopped = (f"the vendor cannot be reached: {refused} calls in a row "
                                                  f"could not connect ({outcome.error})")
                                result.advice = "Check the network and the vendor's URL"
                                stop.set()
                        per_second = rate.update(done)
                        progress.update(task, completed=done, placed=counts[State.PLACED],
                                        failed=counts[State.FAILED], unknown=counts[State.UNKNOWN],
                                        rate=f"{per_second:,.0f}/s ({limit})")
                        if not console.is_terminal and time.monotonic() - last_plain >= _PLAIN_PROGRESS_EVERY:
                            last_plain = time.monotonic()
                            _say(f"{done}/{total} placed={counts[State.PLACED]} failed={counts[State.FAILED]} "
                                 f"unknown={counts[State.UNKNOWN]} {per_second:,.0f}/s")
    except asyncio.CancelledError:
        result.interrupted = True  # a second Ctrl-C: calls in flight were abandoned (now unknown)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    if shown > _MAX_SHOWN:
        _say(f"... and {shown - _MAX_SHOWN} more failures (see `voicekit dial report {opts.journal}`)", err=True)
    if stop.is_set() and result.stopped is None:
        result.interrupted = True


def _print_status(path: str, summary: Summary, unknown: list[str]) -> None:
    counts = summary.counts
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("journal", os.path.abspath(path))
    table.add_row("campaign", summary.campaign.describe())
    table.add_row("started", summary.started.strftime("%Y-%m-%d %H:%M:%S UTC"))
    table.add_row("updated", summary.updated.strftime("%Y-%m-%d %H:%M:%S UTC"))
    table.add_row("run", "in progress" if summary.running else "none running")
    for state in State:
        table.add_row(str(state), f"{counts[state]:,}")
    table.add_row("total", f"{summary.total:,}")
    console.print(table)
    if counts[State.SENDING] and not summary.running:
        console.print(f"[yellow]{counts[State.SENDING]} call(s) were being sent when a run stopped abruptly; "
                      "the next run reports them as unknown[/]")
    if unknown:
        more = " ..." if counts[State.UNKNOWN] > len(unknown) else ""
        _say(f"unknown outcome (check before dialing again): {', '.join(unknown)}{more}")
    _say(f"placed={counts[State.PLACED]} failed={counts[State.FAILED]} unknown={counts[State.UNKNOWN]} "
         f"pending={counts[State.PENDING]} sending={counts[State.SENDING]}")
