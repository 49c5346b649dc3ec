"""What the `dial` commands share: the journal argument, the campaign option, plain output."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, Final, TypeVar

import click

from ...journal import is_postgres_url, redact_url
from .._common import console, err_console

__all__ = [
    "MAX_SHOWN",
    "address",
    "campaign_option",
    "chunks",
    "journal_argument",
    "journal_arg",
    "say",
    "shown",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

#: How many problem rows or failures a command prints before it sums up the rest.
MAX_SHOWN: Final = 20
#: How often a worker serving metrics reads its campaign's rows by state.
_ROWS_EVERY: Final = 2.0


def say(text: str, *, err: bool = False) -> None:
    """Print text as it is: no markup, no highlighting, no wrapping (lines stay copyable)."""
    (err_console if err else console).print(text, markup=False, highlight=False, soft_wrap=True)


def shown(journal: str) -> str:
    """A journal fit to print: a URL without its password."""
    return redact_url(journal) if is_postgres_url(journal) else journal


def journal_arg(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A journal is a postgresql:// URL, or a file path (checked as click checks a file)."""
    if value is None or is_postgres_url(value):
        return value
    return str(click.Path(dir_okay=False).convert(value, param, ctx))


def journal_argument(fn: F) -> F:
    """``JOURNAL``: an SQLite file or a postgresql:// URL."""
    return click.argument("journal_path", metavar="JOURNAL", callback=journal_arg)(fn)


def campaign_option(fn: F) -> F:
    """``--campaign NAME``: which campaign of a database that holds several."""
    return click.option(
        "--campaign",
        "campaign_name",
        default=None,
        metavar="NAME",
        help="The campaign, in a database that holds several (see `voicekit dial campaigns`).",
    )(fn)


def metrics_option(fn: F) -> F:
    """``--metrics HOST:PORT``: serve Prometheus metrics there while the command runs."""
    return click.option(
        "--metrics",
        default=None,
        metavar="HOST:PORT",
        help="Serve Prometheus metrics at http://HOST:PORT/metrics while this runs (e.g. 127.0.0.1:9464; "
        'needs pip install ".[metrics]"); see the operations section of the CLI guide for the names.',
    )(fn)


@contextlib.asynccontextmanager
async def serving_metrics(journal: Any, where: tuple[str, int]) -> AsyncIterator[None]:
    """Serve the metrics of `journal`'s campaign at `where` while the block runs, its rows by
    state read from the journal every few seconds."""
    from ...metrics import PrometheusMetrics, serve_metrics

    metrics = PrometheusMetrics(campaign=journal.campaign.name)
    host, port = where
    if host not in ("127.0.0.1", "::1", "localhost"):
        err_console.print(
            f"warning: serving metrics on {host}, not loopback: anyone who reaches the port can read them",
            markup=False,
            highlight=False,
        )
    try:
        served = await asyncio.to_thread(serve_metrics, metrics, host, port)
    except OSError as exc:
        raise click.UsageError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None

    async def rows() -> None:
        while True:
            with contextlib.suppress(Exception):  # the journal away: the last counts stay
                metrics.rows(await journal.counts())
            await asyncio.sleep(_ROWS_EVERY)

    metrics.install()
    poller = asyncio.create_task(rows())
    try:
        yield
    finally:
        poller.cancel()
        await asyncio.wait([poller])
        metrics.uninstall()
        await asyncio.to_thread(served.close)


def address(text: str, flag: str) -> tuple[str, int]:
    """``HOST:PORT`` as ``(host, port)``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"must be HOST:PORT, e.g. 127.0.0.1:8080, got {text!r}", param_hint=f"'{flag}'")
    return host.strip("[]"), int(port)


def chunks(entries: Iterator[T], size: int) -> Iterator[list[T]]:
    while chunk := list(itertools.islice(entries, size)):
        yield chunk


async def achunks(entries: AsyncIterator[T], size: int) -> AsyncIterator[list[T]]:
    chunk: list[T] = []
    async for entry in entries:
        chunk.append(entry)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def listed(items: Iterable[str], limit: int = 10) -> str:
    items = list(items)
    more = " ..." if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
