"""`voicekit dial listen`: write a campaign's webhooks into its journal (and the listener that
`voicekit dial --listen` runs beside the dialing)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Final

import click
from aiohttp import web

from ...errors import JournalNotFoundError
from ...journal import AsyncJournal, AsyncStore, OutcomeReceiver, OutcomeWriter
from ...journal._outcomes import outcome_routes
from ...webhooks import Reply
from .._common import fail_on_voicekit_error
from ._shared import address, campaign_option, journal_argument, metrics_option, say, serving_metrics

__all__ = ["listen_cmd", "listening"]

#: How often a listener started before its campaign looks for it.
_WAIT_EVERY: Final = 1.0
_NOT_YET: Final = Reply(503, json.dumps({"error": "the campaign's journal is not there yet; send again later"}))


@click.command("listen")
@journal_argument
@click.option(
    "--listen",
    "listen",
    required=True,
    metavar="HOST:PORT",
    help="Where to receive the webhooks (TeleCMI at /telecmi, Huawei at /huawei).",
)
@campaign_option
@metrics_option
@click.option(
    "--for",
    "seconds",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Stop after this long (default: until Ctrl-C).",
)
@fail_on_voicekit_error
def listen_cmd(
    journal_path: str, listen: str, campaign_name: str | None, metrics: str | None, seconds: float | None
) -> None:
    """Receive the vendor's webhooks and write each call's outcome into its journal (a campaign
    that ran, or is running elsewhere; a PostgreSQL journal's every campaign, by the campaign id
    each call carries). Started before the journal exists (in a deployment, before the workers),
    it waits for it, answering 503 (the vendor sends again) until it is there. A resent webhook
    changes nothing; a malformed one gets 400; one of another campaign is counted and ignored."""
    where = address(listen, "--listen")
    metrics_at = address(metrics, "--metrics") if metrics else None
    written = asyncio.run(_listen_only(journal_path, where, campaign_name, seconds, metrics_at))
    say(f"wrote {written} outcome(s)")


async def _listen_only(
    journal_path: str,
    where: tuple[str, int],
    campaign_name: str | None,
    seconds: float | None,
    metrics_at: tuple[str, int] | None = None,
) -> int:
    app, receiver = _app()
    # A journal that is already there is opened before the port is: the vendor's first webhook
    # then finds it ready instead of a 503.
    journal = await _read(journal_path, campaign_name)
    async with contextlib.AsyncExitStack() as stack:
        if journal is not None:
            await stack.enter_async_context(journal)
        await stack.enter_async_context(_serving(app, where))
        say(f"listening on http://{where[0]}:{where[1]} (Ctrl-C stops)")
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            async with asyncio.timeout(seconds):
                if journal is None:
                    journal = await stack.enter_async_context(await _wait_for(journal_path, campaign_name))
                if metrics_at is not None:
                    await stack.enter_async_context(serving_metrics(journal, metrics_at))
                writer = await stack.enter_async_context(OutcomeWriter(journal))
                receiver.ready = OutcomeReceiver(writer)
                say(f"writing the outcomes of {journal.campaign.describe()}")
                await asyncio.Event().wait()
    return receiver.written


async def _read(journal_path: str, campaign_name: str | None, *, tell: bool = False) -> AsyncJournal | None:
    try:
        return await AsyncJournal.read(journal_path, campaign=campaign_name)
    except JournalNotFoundError as exc:
        if tell:
            say(f"waiting for the campaign's journal: {exc}")
        return None


async def _wait_for(journal_path: str, campaign_name: str | None) -> AsyncJournal:
    told = False
    while True:
        journal = await _read(journal_path, campaign_name, tell=not told)
        if journal is not None:
            return journal
        told = True
        await asyncio.sleep(_WAIT_EVERY)


class _Receiver:
    """The receiver a listener serves: 503 until its journal is there."""

    def __init__(self) -> None:
        self.ready: OutcomeReceiver | None = None

    @property
    def written(self) -> int:
        return 0 if self.ready is None else self.ready.writer.written

    async def telecmi(self, body: bytes) -> Reply:
        return _NOT_YET if self.ready is None else await self.ready.telecmi(body)

    async def huawei(self, body: bytes) -> Reply:
        return _NOT_YET if self.ready is None else await self.ready.huawei(body)


def _app(vendor: str = "telecmi") -> tuple[web.Application, _Receiver]:
    receiver = _Receiver()
    app = web.Application(client_max_size=1 << 20)
    outcome_routes(app, receiver.telecmi, receiver.huawei, vendor)
    return app, receiver


@contextlib.asynccontextmanager
async def _serving(app: web.Application, where: tuple[str, int]) -> AsyncIterator[None]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, where[0], where[1]).start()
        except OSError as exc:
            raise click.UsageError(f"cannot listen on {where[0]}:{where[1]}: {exc.strerror}") from None
        yield
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def listening(journal: AsyncStore, where: tuple[str, int]) -> AsyncIterator[OutcomeWriter]:
    """Serve the outcome receiver of `journal` at `where` while the block runs."""
    app, receiver = _app(journal.campaign.vendor)
    async with OutcomeWriter(journal) as writer:
        receiver.ready = OutcomeReceiver(writer)
        async with _serving(app, where):
            yield writer
