"""`voicekit cdr`: stream call records to a file, or chart them in the terminal."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import csv
import datetime as dt
import functools
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Final, TextIO

import attrs
import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .. import _constants as C
from .._pagination import AsyncPaginator, Page
from ..telecmi import AsyncTeleCMI, CallRecord
from ._common import (
    async_client,
    console,
    emit_json,
    err_console,
    fail_on_voicekit_error,
    json_option,
    open_output,
    output_option,
    sandbox_option,
)

__all__ = ["register"]

KINDS: Final = {
    "outgoing-answered": "outgoing_answered",
    "outgoing-missed": "outgoing_missed",
    "answered": "answered",
    "missed": "missed",
}
FIELDS: Final = ("id", "time", "started_at", "from", "to", "billedsec", "rate", "record", "filename", "name", "agent")
#: Upper bounds (inclusive) of the billed-seconds buckets of `cdr stats`.
BILLED_BUCKETS: Final = (0, 10, 30, 60, 120, 300, 600)
_BAR_WIDTH: Final = 40


if TYPE_CHECKING:
    _IntParam = click.ParamType[int]
else:  # click < 8.2 has no generic ParamType
    _IntParam = click.ParamType


class _When(_IntParam):
    """An ISO 8601 date-time (naive means UTC) or epoch milliseconds, as epoch milliseconds."""

    name = "DATETIME|EPOCH_MS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text.isdigit():
            return int(text)  # the client rejects numbers that look like seconds, with a clear message
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            self.fail(
                f"{text!r} is neither an ISO 8601 date-time (2024-05-01T12:00:00Z) nor epoch milliseconds", param, ctx
            )
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return int(when.timestamp() * 1000)


def _source_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--kind",
            type=click.Choice(list(KINDS)),
            default="outgoing-answered",
            show_default=True,
            help="Which call records.",
        ),
        click.option(
            "--since",
            type=_When(),
            default=None,
            help="Window start: ISO 8601 (naive = UTC) or epoch ms (default: --until minus 24 h).",
        ),
        click.option("--until", type=_When(), default=None, help="Window end (default: now)."),
        click.option(
            "--page-size",
            type=click.IntRange(1, C.MAX_PAGE_SIZE),
            default=C.MAX_PAGE_SIZE,
            show_default=True,
            help="Records per request.",
        ),
        click.option(
            "--concurrency", type=click.IntRange(1, 64), default=8, show_default=True, help="Pages fetched at once."
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0),
            default=None,
            help=f"Requests per second at most (default {C.DEFAULT_TELECMI_RATE:g}; 0: no client-side limit).",
        ),
        sandbox_option,
        click.option(
            "--seed-records",
            type=click.IntRange(min=0),
            default=None,
            help="With --sandbox: synthetic outgoing-answered records to serve [default: 1000].",
        ),
    ]

    @functools.wraps(fn)
    def with_source(
        kind: str,
        since: int | None,
        until: int | None,
        page_size: int,
        concurrency: int,
        rate: float | None,
        sandbox: bool,
        seed_records: int | None,
        **rest: Any,
    ) -> Any:
        if seed_records is not None and not sandbox:
            raise click.UsageError("--seed-records only applies with --sandbox")
        source = _Source(kind, since, until, page_size, concurrency, rate, sandbox, seed_records)
        return fn(source, **rest)

    command: Callable[..., Any] = with_source
    for option in reversed(options):
        command = option(command)
    return command


@attrs.frozen
class _Source:
    """Where the records come from: their kind and window, and how they are read."""

    kind: str
    since: int | None
    until: int | None
    page_size: int
    concurrency: int
    rate: float | None
    sandbox: bool
    seed_records: int | None


@click.group()
def cdr() -> None:
    """Call detail records (TeleCMI): export them, or chart them."""


@cdr.command("export")
@_source_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default="csv",
    show_default=True,
    help="CSV with a header row, or one JSON object per line.",
)
@output_option("The file to write")
@fail_on_voicekit_error
def export_cmd(source: _Source, fmt: str, output: str) -> None:
    """Stream every record of the window to a file, oldest page last, in constant memory.

    Pages are fetched concurrently and written in order; the progress bar knows the total
    after the first page.
    """
    started = time.monotonic()
    with open_output(output) as f:
        written = asyncio.run(_export(f, fmt, source))
    elapsed = time.monotonic() - started
    out = err_console if output == "-" else console
    out.print(f"exported {written} records to {output} in {elapsed:.1f} s", markup=False, highlight=False)


@cdr.command("stats")
@_source_options
@click.option(
    "--campaign",
    "campaign",
    default=None,
    metavar="JOURNAL",
    help="Chart one campaign's calls instead: the outcomes its journal (a file or a postgresql:// "
    "URL) holds, of --kind's outgoing answered or missed calls.",
)
@json_option
@fail_on_voicekit_error
def stats_cmd(source: _Source, campaign: str | None, json_output: bool) -> None:
    """Chart calls per hour and the distribution of billed seconds.

    With --json, print the same figures as one JSON object: records, billed_seconds,
    mean_billed_seconds, per_hour ([{"hour", "calls"}], UTC, empty hours included) and
    billed ([{"seconds", "calls"}], the buckets of the chart).
    """
    if campaign is not None:
        if source.sandbox:
            raise click.UsageError("--campaign reads a journal, not the vendor: drop --sandbox")
        answered = source.kind != "outgoing-missed"
        stats = _campaign_stats(campaign, answered=answered, since=source.since, until=source.until)
    else:
        stats = asyncio.run(_stats(source))
    if json_output:
        emit_json(_stats_json(stats))
    else:
        _print_stats(stats)


def register(main: click.Group) -> None:
    """Add the `cdr` commands to the `voicekit` group."""
    main.add_command(cdr)


@contextlib.asynccontextmanager
async def _client(
    sandbox: bool, seed_records: int | None, concurrency: int, rate: float | None
) -> AsyncIterator[AsyncTeleCMI]:
    if not sandbox:
        async with async_client(AsyncTeleCMI, rate=rate, page_concurrency=concurrency) as tc:
            yield tc
        return
    from ..sandbox import Sandbox

    async with Sandbox(seed_records=1000 if seed_records is None else seed_records) as sb:
        err_console.print(
            f"[bold magenta]sandbox:[/] reading synthetic records from an in-process emulator "
            f"({sb.seed_records:,} seeded)"
        )
        async with async_client(AsyncTeleCMI, sandbox=sb, rate=rate, page_concurrency=concurrency) as tc:
            yield tc


def _paginator(
    tc: AsyncTeleCMI, kind: str, since: int | None, until: int | None, page_size: int
) -> AsyncPaginator[CallRecord]:
    method = getattr(tc, KINDS[kind])
    paginator: AsyncPaginator[CallRecord] = method(start=since, end=until, page_size=page_size)
    return paginator


async def _pages(source: _Source, what: str) -> AsyncIterator[Page[CallRecord]]:
    """Every page in order, under a progress bar (on standard error) whose total the first page tells."""
    columns = [TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    async with _client(source.sandbox, source.seed_records, source.concurrency, source.rate) as tc:
        with Progress(*columns, console=err_console, disable=not err_console.is_terminal) as progress:
            task = progress.add_task(what, total=None)
            pages = _paginator(tc, source.kind, source.since, source.until, source.page_size).pages()
            async with contextlib.aclosing(pages):
                async for page in pages:
                    if page.number == 1:
                        progress.update(task, total=page.total)
                    yield page
                    progress.advance(task, len(page.records))


def _row(record: CallRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "time": record.time,
        "started_at": record.started_at.isoformat(),
        "from": record.from_,
        "to": record.to,
        "billedsec": record.billedsec,
        "rate": None if record.rate is None else str(record.rate),
        "record": record.record,
        "filename": record.filename,
        "name": record.name,
        "agent": record.agent,
    }


async def _export(f: TextIO, fmt: str, source: _Source) -> int:
    written = 0
    writer = csv.DictWriter(f, FIELDS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    async for page in _pages(source, "exporting"):
        rows = [_row(record) for record in page.records]
        if writer is not None:
            writer.writerows(rows)
        else:
            f.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        written += len(rows)
    return written


class _Stats:
    def __init__(self) -> None:
        self.per_hour: collections.Counter[int] = collections.Counter()
        self.billed: collections.Counter[int] = collections.Counter()
        self.count = 0
        self.billed_total = 0


def _bucket(seconds: int) -> int:
    for i, bound in enumerate(BILLED_BUCKETS):
        if seconds <= bound:
            return i
    return len(BILLED_BUCKETS)


async def _stats(source: _Source) -> _Stats:
    stats = _Stats()
    async for page in _pages(source, "reading"):
        for record in page.records:
            stats.count += 1
            stats.per_hour[record.time // 3_600_000] += 1
            stats.billed[_bucket(record.billedsec)] += 1
            stats.billed_total += record.billedsec
    return stats


def _campaign_stats(target: str, *, answered: bool, since: int | None, until: int | None) -> _Stats:
    """The stats of one campaign: the outcomes in its journal (answered or missed calls whose
    start is in [since, until], epoch ms), read in chunks."""
    from ..journal import read_journal

    stats = _Stats()
    with read_journal(target) as journal:
        entries = journal.entries()
        while chunk := [entry.key for entry in itertools.islice(entries, 1000)]:
            for outcome in journal.outcomes(chunk).values():
                if outcome.answered != answered or outcome.time is None:
                    continue
                at = int(outcome.time * 1000)
                if (since is not None and at < since) or (until is not None and at > until):
                    continue
                billed = outcome.billed_seconds or 0
                stats.count += 1
                stats.per_hour[at // 3_600_000] += 1
                stats.billed[_bucket(billed)] += 1
                stats.billed_total += billed
    return stats


def _hours(stats: _Stats) -> list[tuple[str, int]]:
    """Every hour from the first record's to the last's (empty ones included), labelled in UTC."""
    if not stats.per_hour:
        return []
    first, last = min(stats.per_hour), max(stats.per_hour)
    return [
        (dt.datetime.fromtimestamp(hour * 3600, tz=dt.UTC).strftime("%Y-%m-%d %H:00"), stats.per_hour.get(hour, 0))
        for hour in range(first, last + 1)
    ]


def _buckets(stats: _Stats) -> list[tuple[str, int]]:
    """The billed-seconds buckets, labelled ("0", "1-10", ..., "> 600"), with their counts."""
    labels = [
        "0",
        *(f"{lo + 1}-{hi}" for lo, hi in zip(BILLED_BUCKETS, BILLED_BUCKETS[1:], strict=False)),
        f"> {BILLED_BUCKETS[-1]}",
    ]
    return [(label, stats.billed.get(i, 0)) for i, label in enumerate(labels)]


def _stats_json(stats: _Stats) -> dict[str, Any]:
    return {
        "ok": True,
        "records": stats.count,
        "billed_seconds": stats.billed_total,
        "mean_billed_seconds": round(stats.billed_total / stats.count, 3) if stats.count else None,
        "per_hour": [{"hour": label, "calls": n} for label, n in _hours(stats)],
        "billed": [{"seconds": label, "calls": n} for label, n in _buckets(stats)],
    }


def _bar(n: int, most: int) -> str:
    width = 0 if most == 0 else max(1 if n else 0, round(n / most * _BAR_WIDTH))
    return "█" * width


def _print_stats(stats: _Stats) -> None:
    if not stats.count:
        console.print("no call records in the window")
        return
    hours = Table(title="calls per hour (UTC)", header_style="bold")
    hours.add_column("hour")
    hours.add_column("calls", justify="right")
    hours.add_column("")
    most = max(stats.per_hour.values())
    for label, n in _hours(stats):
        hours.add_row(label, f"{n:,}", f"[cyan]{_bar(n, most)}[/]")
    console.print(hours)
    billed = Table(title="billed seconds", header_style="bold")
    billed.add_column("seconds")
    billed.add_column("calls", justify="right")
    billed.add_column("")
    most = max(stats.billed.values())
    for label, n in _buckets(stats):
        billed.add_row(label, f"{n:,}", f"[green]{_bar(n, most)}[/]")
    console.print(billed)
    console.print(
        f"records={stats.count} billed_minutes={stats.billed_total / 60:.1f} "
        f"mean_billed_seconds={stats.billed_total / stats.count:.1f}",
        markup=False,
        highlight=False,
    )
