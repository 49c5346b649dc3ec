"""`voicekit dial`: bulk calls from a CSV, resumable from a journal (an SQLite file, or PostgreSQL
shared by many workers)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import json
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
    DEFAULT_LEASE,
    DEFAULT_SETTLE,
    AsyncPostgresJournal,
    CallOutcome,
    Campaign,
    CampaignRow,
    Entry,
    Journal,
    OutcomeReceiver,
    OutcomeWriter,
    PostgresJournal,
    ReconcileReport,
    State,
    Summary,
    as_async,
    is_postgres_url,
    journaled,
    outcome_app,
    parse_shard,
    read_campaign,
    read_journal,
    reconcile,
    redact_url,
)
from ._common import (
    ExitCode,
    async_client,
    console,
    err_console,
    fail_on_voicekit_error,
    json_option,
    open_output,
    sandbox_option,
)

__all__ = ["register"]

#: Consecutive calls that could not connect before a run gives up on the vendor (or the
#: concurrency, if larger: a whole wave of calls in flight failing at once is one event).
UNREACHABLE_AFTER: Final = 20


DIAL_HELP: Final = f"""Dial every row of a campaign CSV, journaled so that a re-run resumes.

\b
  voicekit dial CAMPAIGN.csv --journal CAMPAIGN.db [OPTIONS]
  voicekit dial status CAMPAIGN.db
  voicekit dial report CAMPAIGN.db -o outcomes.csv
  voicekit dial reconcile CAMPAIGN.db [--settle SECONDS]
  voicekit dial listen CAMPAIGN.db --listen HOST:PORT

Each key is written to the journal as "sending" right before its request leaves. Re-running the
same command resumes: pending rows are dialed once; placed and failed rows are never dialed
again, except failures that provably never reached the vendor (connection refused, 429, bad
credentials), which the next run dials again; rows that were being sent when a run crashed (at
most --concurrency of them) are reported as unknown (they may have been dialed) and are dialed
again only with --redial-unknown (`voicekit dial reconcile` tells them apart from the vendor's own
call records first: found, they are placed; not placed, the next run dials them once).
Ctrl-C stops cleanly (press it again to abandon the calls in
flight). The run stops early when the vendor refuses the credentials, or when
{UNREACHABLE_AFTER} or more calls in a row (or --concurrency, if larger) cannot connect. Credentials come from
VOICEKIT_TELECMI_* / VOICEKIT_HUAWEI_* unless --sandbox is given.

With --journal postgresql://USER@HOST/DB any number of workers, on any machines, run the same
command at once: each takes pending rows as it has room for them, under a lease it renews
(--lease); the rows a dead worker was sending become unknown, its other rows go to the others.
Give the password with PGPASSWORD or ~/.pgpass rather than in the URL. --limiter redis://HOST
shares the account's --rate among all of them (if Redis is down, nothing is dialed).

--listen HOST:PORT receives the vendor's webhooks while dialing (TeleCMI: the webhook URL set in
the dashboard, at http://HOST:PORT/telecmi; Huawei: give each row's callback_url as
http://HOST:PORT/huawei) and writes each row's outcome into the journal: answered or missed,
billed seconds, rate, hangup reason, the vendor's ids. Every TeleCMI call carries its key in
extra_params as "voicekit_key". `voicekit dial listen` does the same for a campaign already run.

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
            records = [r for p in run.get_params(sub) if isinstance(p, click.Option) and (r := p.get_help_record(sub))]
        with formatter.section("Options"):
            formatter.write_dl(records)
        self.format_commands(ctx, formatter)


@click.group("dial", cls=_DialGroup, help=DIAL_HELP, context_settings={"help_option_names": ["-h", "--help"]})
def dial() -> None:
    pass


@dial.command("run", cls=_RunCommand, hidden=True, help=DIAL_HELP)
@click.argument("campaign_csv", metavar="CAMPAIGN.csv", type=click.Path(dir_okay=False))
@click.option(
    "--journal",
    "journal_path",
    required=True,
    metavar="FILE|URL",
    callback=lambda c, p, v: _journal_arg(c, p, v),
    help="The journal: an SQLite file, or a postgresql:// URL shared by many workers; "
    "created on the first run, resumed by the next ones.",
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
    help="Dial again the keys whose outcome is unknown (they may have been dialed already).",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=0.1),
    default=None,
    metavar="SECONDS",
    help=f"PostgreSQL journal: how long a silent worker keeps its rows (default {DEFAULT_LEASE:g}).",
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
@sandbox_option
@fail_on_voicekit_error
def run_cmd(
    campaign_csv: str,
    journal_path: str,
    concurrency: int,
    rate: float | None,
    vendor: Vendor | None,
    shard: str | None,
    redial_unknown: bool,
    lease: float | None,
    limiter_url: str | None,
    listen: str | None,
    listen_after: float,
    sandbox: bool,
) -> None:
    shared = is_postgres_url(journal_path)
    if shared and shard:
        raise click.UsageError(
            "--shard is for SQLite journals: workers on a PostgreSQL journal share its rows by themselves",
            ctx=click.get_current_context(),
        )
    if lease is not None and not shared:
        raise click.UsageError(
            "--lease is for PostgreSQL journals (--journal postgresql://...)", ctx=click.get_current_context()
        )
    if limiter_url is not None and not limiter_url.startswith(("redis://", "rediss://", "unix://")):
        raise click.BadParameter("must be a redis:// URL", param_hint="'--limiter'")
    resume = _resume_command(campaign_csv, journal_path, concurrency, rate, vendor, shard, sandbox, lease, limiter_url)
    options = _Options(
        csv=campaign_csv,
        journal=journal_path,
        concurrency=concurrency,
        rate=rate,
        vendor=vendor,
        shard=parse_shard(shard) if shard else None,
        redial_unknown=redial_unknown,
        sandbox=sandbox,
        lease=lease if lease is not None else DEFAULT_LEASE,
        limiter=limiter_url,
        listen=_address(listen, "--listen") if listen else None,
        listen_after=listen_after,
    )
    result = asyncio.run(_run(options))
    counts = result.counts
    _say(
        f"placed={counts[State.PLACED]} failed={counts[State.FAILED]} unknown={counts[State.UNKNOWN]} "
        f"pending={counts[State.PENDING] + counts[State.SENDING]}"
    )
    sys.exit(_finish(result, resume, _shown(journal_path)))


def _finish(result: _Result, resume: str, journal_path: str) -> int:
    """Say how the run ended and what to do next; return the exit status."""
    counts = result.counts
    if result.interrupted:
        _say(f"stopped; the journal is saved. Resume with:\n  {resume}")
        return ExitCode.INTERRUPTED
    if result.stopped:
        err_console.print(f"[bold red]error:[/] {result.stopped}", soft_wrap=True)
        _say(
            f"{result.advice}, then resume with (the rows that failed this way are dialed again):\n  {resume}", err=True
        )
        return ExitCode.STOPPED
    if counts[State.UNKNOWN]:
        _say(
            f"{counts[State.UNKNOWN]} row(s) have an unknown outcome: they may have been placed. Resolve them "
            f"from the vendor's records with `voicekit dial reconcile {journal_path}`; the next run then dials "
            "those that were not placed, once.",
            err=True,
        )
        return ExitCode.UNKNOWN
    if counts[State.FAILED]:
        return ExitCode.FAILED_ROWS
    if counts[State.PENDING] or counts[State.SENDING]:
        _say(f"some rows were not dialed; resume with:\n  {resume}", err=True)
        return ExitCode.STOPPED
    return ExitCode.OK


@dial.command("status")
@click.argument("journal_path", metavar="JOURNAL", callback=lambda c, p, v: _journal_arg(c, p, v))
@json_option
@fail_on_voicekit_error
def status_cmd(journal_path: str, json_output: bool) -> None:
    """Summarise a journal (a file or a postgresql:// URL, from any machine): counts per state
    and per worker, the campaign file, when it started and last moved."""
    with read_journal(journal_path) as journal:
        summary = journal.summary()
        unknown = [entry.key for entry in itertools.islice(journal.entries([State.UNKNOWN]), 10)]
        outcomes = journal.outcome_counts()
        shown = journal.path
    if json_output:
        click.echo(json.dumps({**_status_json(shown, summary), "outcomes": outcomes}))
        return
    _print_status(shown, summary, unknown, outcomes)


@dial.command("report")
@click.argument("journal_path", metavar="JOURNAL", callback=lambda c, p, v: _journal_arg(c, p, v))
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Where to write the report (- for standard output).",
)
@click.option("--json", "json_output", is_flag=True, help="Write JSON Lines (one object per key) instead of CSV.")
@fail_on_voicekit_error
def report_cmd(journal_path: str, output: str, json_output: bool) -> None:
    """Write one row per key: key, row, number, state, outcome (answered, missed, or empty while
    awaiting it), billed_seconds, rate, hangup_reason, request_id, vendor_id, error_type, error,
    worker."""
    with read_journal(journal_path) as journal, open_output(output) as f:
        n = 0
        writer = None if json_output else csv.writer(f)
        if writer is not None:
            writer.writerow(_REPORT_COLUMNS)
        for chunk in _chunks(journal.entries(), 1000):
            keys = [entry.key for entry in chunk]
            numbers = journal.numbers(keys)
            outcomes = journal.outcomes(keys)
            for entry in chunk:
                line = _report_line(entry, numbers.get(entry.key), outcomes.get(entry.key))
                if writer is None:
                    f.write(json.dumps({**line, "updated": entry.updated.isoformat()}) + "\n")
                else:
                    writer.writerow(["" if line[name] is None else line[name] for name in _REPORT_COLUMNS])
                n += 1
    if output != "-":
        _say(f"wrote {n} rows to {output}", err=True)


_REPORT_COLUMNS: Final = (
    "key",
    "row",
    "number",
    "state",
    "outcome",
    "billed_seconds",
    "rate",
    "hangup_reason",
    "request_id",
    "vendor_id",
    "error_type",
    "error",
    "worker",
)


def _report_line(entry: Entry, number: str | None, outcome: CallOutcome | None) -> dict[str, Any]:
    line: dict[str, Any] = {
        "key": entry.key,
        "row": entry.row,
        "number": number,
        "state": str(entry.state),
        "outcome": None,
        "billed_seconds": None,
        "rate": None,
        "hangup_reason": None,
        "request_id": entry.request_id,
        "vendor_id": None,
        "error_type": entry.error_type,
        "error": entry.error,
        "worker": entry.worker,
    }
    if outcome is not None:
        line.update(
            outcome="answered" if outcome.answered else "missed",
            billed_seconds=outcome.billed_seconds,
            rate=outcome.rate,
            hangup_reason=outcome.hangup_reason,
            request_id=entry.request_id or outcome.request_id,
            vendor_id=outcome.vendor_id,
        )
    return line


def _chunks(entries: Iterator[Entry], size: int) -> Iterator[list[Entry]]:
    while chunk := list(itertools.islice(entries, size)):
        yield chunk


@dial.command("reconcile")
@click.argument("journal_path", metavar="JOURNAL", callback=lambda c, p, v: _journal_arg(c, p, v))
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=DEFAULT_SETTLE,
    show_default=True,
    metavar="SECONDS",
    help="A row with no record this long after its send was not placed (the documented webhook "
    "resends and record delays fit in the default).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=None,
    help=f"Call-record requests per second at most (default {C.DEFAULT_TELECMI_RATE:g}; 0: no client-side limit).",
)
@json_option
@fail_on_voicekit_error
def reconcile_cmd(journal_path: str, settle: float, rate: float | None, json_output: bool) -> None:
    """Resolve every row whose outcome is unknown, from the outcomes received and the vendor's
    own call records (credentials from VOICEKIT_TELECMI_*): found, the row is placed; not found
    once --settle seconds have passed since its send, it was not placed and the next run dials it
    once; ambiguous, it stays unknown and the reason is shown. Huawei lists no records: its rows
    are resolved by the release events received (`voicekit dial listen`) only. Never makes a
    placed call dialable. The campaign file must be where the journal says, unchanged."""
    report, left = asyncio.run(_reconcile(journal_path, settle, rate))
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
        _say(
            f"unknown={report.unknown}: placed by outcomes received={report.from_outcomes}, "
            f"placed by call records={report.from_records}, not placed (pending again)={report.requeued}, "
            f"still unknown={left} ({report.records:,} records read; {report.filled} outcome(s) filled in)"
        )
        for key, reason in [*report.ambiguous, *report.waiting][:_MAX_SHOWN]:
            _say(f"key {key!r}: {reason}")
        if report.requeued:
            _say(f"the next `voicekit dial` run dials the {report.requeued} row(s) that were not placed, once")
    sys.exit(ExitCode.UNKNOWN if left else ExitCode.OK)


async def _reconcile(journal_path: str, settle: float, rate: float | None) -> tuple[ReconcileReport, int]:
    from .. import AsyncTeleCMI

    if is_postgres_url(journal_path):
        journal: Journal | PostgresJournal = await asyncio.to_thread(PostgresJournal.read, journal_path)
    else:
        # Opened to run (its lock held): no run may change the rows while they are reconciled.
        stored = await asyncio.to_thread(Journal.read, journal_path)
        stored.close()
        journal = await asyncio.to_thread(Journal.open, journal_path, stored.campaign)
    with journal:
        if journal.campaign.vendor == "telecmi":
            async with async_client(AsyncTeleCMI, rate=rate) as tc:
                report = await reconcile(journal, tc, settle=settle)
        else:
            # Huawei lists no call records: its release events, in the journal, are the evidence.
            report = await reconcile(journal, None, settle=settle)
        left = (await asyncio.to_thread(journal.counts))[State.UNKNOWN]
    return report, left


@dial.command("listen")
@click.argument("journal_path", metavar="JOURNAL", callback=lambda c, p, v: _journal_arg(c, p, v))
@click.option(
    "--listen",
    "listen",
    required=True,
    metavar="HOST:PORT",
    help="Where to receive the webhooks (TeleCMI at /telecmi, Huawei at /huawei).",
)
@click.option(
    "--for",
    "seconds",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Stop after this long (default: until Ctrl-C).",
)
@fail_on_voicekit_error
def listen_cmd(journal_path: str, listen: str, seconds: float | None) -> None:
    """Receive the vendor's webhooks for a campaign (one that ran, or one running elsewhere) and
    write each row's outcome into its journal. A resent webhook changes nothing; a malformed one
    gets 400; one for a key not in the campaign is logged and ignored."""
    address = _address(listen, "--listen")
    written = asyncio.run(_listen_only(journal_path, address, seconds))
    _say(f"wrote {written} outcome(s)")


async def _listen_only(journal_path: str, address: tuple[str, int], seconds: float | None) -> int:
    # A reader's connection: a run in another process may write the same journal meanwhile
    # (SQLite waits for its lock; PostgreSQL orders the transactions).
    journal = await asyncio.to_thread(read_journal, journal_path)
    with journal:
        async with _listening(journal, address) as writer:
            _say(f"listening on http://{address[0]}:{address[1]} for {journal.campaign.describe()} (Ctrl-C stops)")
            with contextlib.suppress(asyncio.CancelledError):
                if seconds is None:
                    await asyncio.Event().wait()
                else:
                    await asyncio.sleep(seconds)
        return writer.written


@contextlib.asynccontextmanager
async def _listening(
    journal: Journal | PostgresJournal | AsyncPostgresJournal, address: tuple[str, int]
) -> AsyncIterator[OutcomeWriter]:
    """Serve the campaign's outcome receiver at `address` while the block runs."""
    from aiohttp import web

    async with OutcomeWriter(journal) as writer:
        runner = web.AppRunner(outcome_app(OutcomeReceiver(writer), journal.campaign.vendor), access_log=None)
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, address[0], address[1]).start()
            except OSError as exc:
                raise click.UsageError(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror}") from None
            yield writer
        finally:
            await runner.cleanup()


def _address(text: str, flag: str) -> tuple[str, int]:
    """``HOST:PORT`` as ``(host, port)``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"must be HOST:PORT, e.g. 127.0.0.1:8080, got {text!r}", param_hint=f"'{flag}'")
    return host.strip("[]"), int(port)


def _status_json(path: str, summary: Summary) -> dict[str, Any]:
    return {
        "journal": path,
        "campaign": summary.campaign.describe(),
        "started": summary.started.isoformat(),
        "updated": summary.updated.isoformat(),
        "running": summary.running,
        "loaded": summary.loaded,
        "counts": {str(s): n for s, n in summary.counts.items()},
        "total": summary.total,
        "workers": [
            {"worker": w.worker, "live": w.live, "counts": {str(s): n for s, n in w.counts.items()}}
            for w in summary.workers
        ],
    }


def _journal_arg(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A journal is a postgresql:// URL, or a file path (checked as click checks a file)."""
    if value is None or is_postgres_url(value):
        return value
    return str(click.Path(dir_okay=False).convert(value, param, ctx))


def _shown(journal: str) -> str:
    """A journal fit to print: a URL without its password."""
    return redact_url(journal) if is_postgres_url(journal) else journal


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
    lease: float = DEFAULT_LEASE
    limiter: str | None = None
    listen: tuple[str, int] | None = None
    listen_after: float = 0.0


@attrs.define
class _Result:
    counts: dict[State, int] = attrs.field(factory=lambda: dict.fromkeys(State, 0))
    interrupted: bool = False
    #: Why the run stopped early (the vendor refused the credentials, or cannot be reached), and
    #: what to do about it.
    stopped: str | None = None
    advice: str = ""


def _resume_command(
    csv_path: str,
    journal: str,
    concurrency: int,
    rate: float | None,
    vendor: str | None,
    shard: str | None,
    sandbox: bool,
    lease: float | None = None,
    limiter: str | None = None,
) -> str:
    # The password of a URL is never printed: the command to resume takes it from PGPASSWORD.
    args = ["voicekit", "dial", csv_path, "--journal", _shown(journal), "--concurrency", str(concurrency)]
    if lease is not None:
        args += ["--lease", f"{lease:g}"]
    if limiter:
        args += ["--limiter", _shown_redis(limiter)]
    if rate is not None:
        args += ["--rate", f"{rate:g}"]
    if vendor:
        args += ["--vendor", vendor]
    if shard:
        args += ["--shard", shard]
    if sandbox:
        args.append("--sandbox")
    return shlex.join(args)


def _shown_redis(url: str) -> str:
    return redact_url(url)


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
    async with _opened(opts, campaign) as journal:
        store = as_async(journal)
        fresh = not await store.is_loaded()
        recovered = await store.recover()
        redialed = await store.requeue(unknown=True, retryable=False) if opts.redial_unknown else 0
        requeued = await store.requeue(retryable=True)
        if fresh:
            shown = [0]
            rows = read_campaign(opts.csv, vendor=campaign.vendor, shard=campaign.shard)
            await store.load(rows, on_problem=lambda row: _show_problem(row, shown))
            if shown[0] > _MAX_SHOWN:
                _say(
                    f"... and {shown[0] - _MAX_SHOWN} more rows that cannot be dialed "
                    f"(see `voicekit dial report {_shown(opts.journal)}`)",
                    err=True,
                )
        counts = await store.counts()
        _announce(
            opts, journal, campaign, counts, fresh=fresh, recovered=recovered, requeued=requeued, redialed=redialed
        )
        result.counts = counts
        async with contextlib.AsyncExitStack() as stack:
            if opts.listen is not None:
                # The same journal object as the dialer's: one connection, its writes serialised.
                await stack.enter_async_context(_listening(journal, opts.listen))
            if counts[State.PENDING]:
                await _dial(opts, journal, campaign, result)
            if opts.listen is not None and opts.listen_after > 0 and not result.interrupted:
                _say(f"listening for {opts.listen_after:g} s more for the last calls' webhooks (Ctrl-C ends it)")
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(opts.listen_after)
        result.counts = await store.counts()
    return result


@contextlib.asynccontextmanager
async def _opened(opts: _Options, campaign: Campaign) -> AsyncIterator[Journal | AsyncPostgresJournal]:
    """The journal this run dials from: SQLite, or PostgreSQL's async store on this loop."""
    if is_postgres_url(opts.journal):
        async with await AsyncPostgresJournal.open(opts.journal, campaign, lease=opts.lease) as shared:
            yield shared
    else:
        with Journal.open(opts.journal, campaign) as journal:
            yield journal


def _announce(
    opts: _Options,
    journal: Journal | AsyncPostgresJournal,
    campaign: Campaign,
    counts: dict[State, int],
    *,
    fresh: bool,
    recovered: int,
    requeued: int,
    redialed: int,
) -> None:
    verb = "starting" if fresh else "resuming"
    _say(f"{verb} {campaign.describe()}")
    _say(f"journal {journal.path}: " + " ".join(f"{s}={n}" for s, n in counts.items() if n))
    if recovered:
        again = (
            "are dialed again now (--redial-unknown)"
            if opts.redial_unknown
            else (
                f"will not be dialed again[/] (resolve them with `voicekit dial reconcile {journal.path}`; "
                "--redial-unknown dials them again regardless)"
            )
        )
        console.print(
            f"[yellow]{recovered} call(s) were being sent when the last run stopped: they may have been "
            f"placed, so they are now [bold]unknown[/] and {again}",
            soft_wrap=True,
        )
    elif counts[State.UNKNOWN] and not opts.redial_unknown:
        console.print(
            f"[yellow]{counts[State.UNKNOWN]} call(s) have an unknown outcome and are not dialed "
            f"again[/] (`voicekit dial reconcile {journal.path}` resolves them; --redial-unknown "
            "dials them regardless)",
            soft_wrap=True,
        )
    if redialed:
        console.print(
            f"[yellow]{redialed} call(s) whose outcome was unknown (they may have been placed "
            "already) are dialed again, as --redial-unknown asks[/]",
            soft_wrap=True,
        )
    if requeued:
        console.print(f"{requeued} call(s) that provably were not placed last time are dialed again", soft_wrap=True)
    if opts.sandbox:
        console.print("[bold magenta]sandbox:[/] dialing an in-process emulator; no real call is placed")


@contextlib.asynccontextmanager
async def _sender(
    opts: _Options, vendor: Vendor
) -> AsyncIterator[Callable[[AsyncIterator[Any], BeforeSend], AsyncIterator[Outcome[Any]]]]:
    from .. import AsyncHuaweiVoice, AsyncTeleCMI

    async with contextlib.AsyncExitStack() as stack:
        options: dict[str, Any] = {}
        if opts.limiter is not None:
            options["limiter_backend"] = await stack.enter_async_context(_redis_backend(opts.limiter))
        if vendor == "telecmi":
            tc = await stack.enter_async_context(
                async_client(AsyncTeleCMI, sandbox=opts.sandbox, rate=opts.rate, **options)
            )
            yield lambda specs, before_send: tc.dial_many(specs, concurrency=opts.concurrency, before_send=before_send)
        else:
            hw = await stack.enter_async_context(
                async_client(AsyncHuaweiVoice, sandbox=opts.sandbox, rate=opts.rate, **options)
            )
            yield lambda specs, before_send: hw.notify_many(
                specs, concurrency=opts.concurrency, before_send=before_send
            )


@contextlib.asynccontextmanager
async def _redis_backend(url: str) -> AsyncIterator[Any]:
    """The Redis limiter backend at `url`, once Redis answered; otherwise one clear error (a run
    never falls back to no limit)."""
    from ..redis_limiter import RedisBackend, connect_redis

    client = await connect_redis(url)
    try:
        yield RedisBackend(client)
    finally:
        await client.aclose()


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


async def _dial(opts: _Options, journal: Journal | AsyncPostgresJournal, campaign: Campaign, result: _Result) -> None:
    counts = result.counts
    total = sum(counts.values())
    done = counts[State.PLACED] + counts[State.FAILED] + counts[State.UNKNOWN]
    default = C.DEFAULT_TELECMI_RATE if campaign.vendor == "telecmi" else C.DEFAULT_HUAWEI_RATE
    limit = "no limit" if opts.rate == 0 else f"limit {opts.rate or default:g}/s"
    stop = asyncio.Event()
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if not stop.is_set():
            stop.set()
            err_console.print("stopping: no new calls; waiting for the calls in flight (Ctrl-C again to abandon them)")
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

    # A shared journal hands out its rows (stored with their specs) as this worker has room
    # for them; a batch ahead of the calls in flight, so that the others get the rest.
    source: Any = specs()
    filter_size = 256
    if isinstance(journal, AsyncPostgresJournal):
        source, filter_size = journal.specs(max(8, opts.concurrency)), max(8, opts.concurrency)

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
    rate = _Rate()
    shown = 0
    last_plain = time.monotonic()
    unreachable_after = max(UNREACHABLE_AFTER, opts.concurrency)
    refused = 0  # consecutive outcomes that could not connect
    try:
        with Progress(*columns, console=console, disable=not console.is_terminal, transient=False) as progress:
            task = progress.add_task(
                "dial",
                total=total,
                completed=done,
                placed=counts[State.PLACED],
                failed=counts[State.FAILED],
                unknown=counts[State.UNKNOWN],
                rate="",
            )
            async with _sender(opts, campaign.vendor) as send_many:
                outcomes = journaled(journal, source, send_many, stop=stop, filter_size=filter_size)
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
                            elif result.stopped is None and type(outcome.error).__name__ == "LimiterUnavailableError":
                                result.stopped = f"the rate limiter's Redis cannot be reached ({outcome.error})"
                                result.advice = "Start Redis, or fix --limiter"
                                stop.set()
                            elif result.stopped is None and refused >= unreachable_after:
                                result.stopped = (
                                    f"the vendor cannot be reached: {refused} calls in a row "
                                    f"could not connect ({outcome.error})"
                                )
                                result.advice = "Check the network and the vendor's URL"
                                stop.set()
                        per_second = rate.update(done)
                        progress.update(
                            task,
                            completed=done,
                            placed=counts[State.PLACED],
                            failed=counts[State.FAILED],
                            unknown=counts[State.UNKNOWN],
                            rate=f"{per_second:,.0f}/s ({limit})",
                        )
                        if not console.is_terminal and time.monotonic() - last_plain >= _PLAIN_PROGRESS_EVERY:
                            last_plain = time.monotonic()
                            _say(
                                f"{done}/{total} placed={counts[State.PLACED]} failed={counts[State.FAILED]} "
                                f"unknown={counts[State.UNKNOWN]} {per_second:,.0f}/s"
                            )
    except asyncio.CancelledError:
        result.interrupted = True  # a second Ctrl-C: calls in flight were abandoned (now unknown)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    if shown > _MAX_SHOWN:
        _say(
            f"... and {shown - _MAX_SHOWN} more failures (see `voicekit dial report {_shown(opts.journal)}`)", err=True
        )
    if stop.is_set() and result.stopped is None:
        result.interrupted = True


def _print_status(path: str, summary: Summary, unknown: list[str], outcomes: dict[str, int]) -> None:
    counts = summary.counts
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("journal", path)
    table.add_row("campaign", summary.campaign.describe())
    table.add_row("started", summary.started.strftime("%Y-%m-%d %H:%M:%S UTC"))
    table.add_row("updated", summary.updated.strftime("%Y-%m-%d %H:%M:%S UTC"))
    table.add_row("run", "in progress" if summary.running else "none running")
    for state in State:
        table.add_row(str(state), f"{counts[state]:,}")
    table.add_row("total", f"{summary.total:,}")
    table.add_row("answered", f"{outcomes['answered']:,}")
    table.add_row("missed", f"{outcomes['missed']:,}")
    table.add_row("awaiting outcome", f"{outcomes['awaiting']:,}")
    console.print(table)
    if summary.workers:
        workers = Table("worker", "lease", *(str(s) for s in State), box=None, pad_edge=False)
        for w in summary.workers:
            workers.add_row(w.worker, "live" if w.live else "ended", *(f"{w.counts[s]:,}" for s in State))
        console.print(workers)
    if counts[State.SENDING] and not summary.running:
        console.print(
            f"[yellow]{counts[State.SENDING]} call(s) were being sent when a run stopped abruptly; "
            "the next run reports them as unknown[/]"
        )
    if unknown:
        more = " ..." if counts[State.UNKNOWN] > len(unknown) else ""
        _say(f"unknown outcome (`voicekit dial reconcile {path}` resolves them): {', '.join(unknown)}{more}")
    _say(
        f"placed={counts[State.PLACED]} failed={counts[State.FAILED]} unknown={counts[State.UNKNOWN]} "
        f"pending={counts[State.PENDING]} sending={counts[State.SENDING]} answered={outcomes['answered']} "
        f"missed={outcomes['missed']} awaiting={outcomes['awaiting']}"
    )
