"""`voicekit dial`: bulk calls from a CSV, resumable from a journal (an SQLite file, or a
PostgreSQL database shared by many workers and many campaigns). A module per subcommand; the
campaign run itself is `voicekit.journal.run_campaign`."""

from __future__ import annotations

from typing import Final

import click

from ..._exit import EXIT_STATUS_TABLE
from ...journal import UNREACHABLE_AFTER
from .campaigns import archive_cmd, campaigns_cmd, drop_cmd
from .control import cancel_cmd, pause_cmd, resume_cmd, suppress_cmd
from .listen import listen_cmd
from .reconcile import reconcile_cmd
from .report import report_cmd
from .run import run_cmd
from .status import status_cmd
from .upgrade import upgrade_cmd

__all__ = ["DIAL_HELP", "dial", "register"]

DIAL_HELP: Final = f"""Dial every row of a campaign CSV, journaled so that a re-run resumes.

\b
  voicekit dial CAMPAIGN.csv --journal CAMPAIGN.db [OPTIONS]
  voicekit dial status CAMPAIGN.db
  voicekit dial report CAMPAIGN.db -o outcomes.csv
  voicekit dial reconcile CAMPAIGN.db [--settle SECONDS]
  voicekit dial listen CAMPAIGN.db --listen HOST:PORT
  voicekit dial campaigns postgresql://USER@HOST/DB
  voicekit dial pause|resume|cancel CAMPAIGN.db
  voicekit dial suppress CAMPAIGN.db NUMBER... [--file FILE]

Each key is written to the journal as "sending" right before its request leaves. Re-running the
same command resumes: pending rows are dialed once; placed and failed rows are never dialed
again, except failures that provably never reached the vendor (connection refused, 429, bad
credentials, a proxy asking for credentials, an answer that is not the vendor's), which the next
run dials again, and the failed rows --redial-failed names; rows that were being sent when a run
crashed (at most --concurrency of them) are reported as unknown (they may have been dialed) and
are dialed again only with --redial-unknown (`voicekit dial reconcile` tells them apart from the
vendor's own call records first: found, they are placed; not placed, the next run dials them
once). Ctrl-C stops cleanly (press it again to abandon the calls in flight). The run stops early
when the vendor refuses the credentials, when the setup is found wrong (a proxy asking for
credentials, answers that are not the vendor's: a wrong base URL), when the rate limiter's Redis
or the journal's database cannot be reached, or when {UNREACHABLE_AFTER} or more calls in a row
(or --concurrency, if larger) cannot connect. Credentials come from VOICEKIT_TELECMI_* /
VOICEKIT_HUAWEI_* unless --sandbox is given.

With --journal postgresql://USER@HOST/DB any number of workers, on any machines, run the same
command at once: each takes pending rows as it has room for them, under a lease it renews
(--lease); the rows a dead worker was sending become unknown, its other rows go to the others.
One database holds any number of campaigns, each under its name (--campaign, default: the CSV
file's name); `voicekit dial campaigns URL` lists them. Give the password with PGPASSWORD or
~/.pgpass rather than in the URL. --limiter redis://HOST shares the account's --rate among all
of them (if Redis is down, nothing is dialed).

--listen HOST:PORT receives the vendor's webhooks while dialing (TeleCMI: the webhook URL set in
the dashboard, at http://HOST:PORT/telecmi; Huawei: give each row's callback_url as
http://HOST:PORT/huawei) and writes each row's outcome into the journal: answered or missed,
billed seconds, rate, hangup reason, the vendor's ids. Every TeleCMI call carries its campaign's
id and its key in extra_params ("voicekit_campaign", "voicekit_key"): a webhook is a row's only
when campaign, key and number agree, so campaigns sharing one account and one webhook URL never
mix. `voicekit dial listen` does the same for a campaign already run, or running elsewhere.

--window 09:00-21:00 calls each number only inside that window of the callee's local time
(a window may cross midnight); --tz says how a row's zone is found: auto (the default: from
the number's country and area code; a number with several zones is called only when the
window is open in all of them), an IANA zone for every row, or column (the CSV's tz column).
A row whose zone cannot be found gets --tz-default, or is not called and is reported. Every
worker of a campaign must run it with the same window and zones. --suppress FILE (repeatable)
lists numbers never to call (one per line, or a CSV with a to, called or number column);
`voicekit dial suppress` adds more while it runs. --until WHEN (an ISO time, or a duration
such as 2h) starts no call after that moment. While the only rows left wait for their window
(or the campaign is paused: `voicekit dial pause`), the run waits and says until when.

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

{EXIT_STATUS_TABLE}
The other dial commands exit 0 on success and 1 on an error; reconcile exits 4 while rows stay
unknown.
"""


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


run_cmd.help = DIAL_HELP
for _command in (
    run_cmd,
    status_cmd,
    report_cmd,
    reconcile_cmd,
    listen_cmd,
    campaigns_cmd,
    archive_cmd,
    drop_cmd,
    upgrade_cmd,
    pause_cmd,
    resume_cmd,
    cancel_cmd,
    suppress_cmd,
):
    dial.add_command(_command)


def register(main: click.Group) -> None:
    """Add the `dial` commands to the `voicekit` group."""
    main.add_command(dial)
