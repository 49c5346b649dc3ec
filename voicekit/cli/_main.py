"""`voicekit`: the demo, the sandbox server, and single calls."""

from __future__ import annotations

import errno
import logging
import os
import sys
from typing import Any, Final, Literal, get_args

import click
from rich.markup import escape

from .. import __version__
from ..huawei import HuaweiVoice, Prompt
from ..telecmi import Bridge, Pstn, TeleCMI
from ._common import (
    EXIT_CODES_HELP,
    ExitCode,
    blocking_client,
    console,
    emit_json,
    err_console,
    fail_on_voicekit_error,
    json_option,
    sandbox_option,
)

#: Play-list sources of `notify --play KIND:VALUE`, and the Prompt field each one fills.
PLAY_KINDS: Final = {"voice-id": "voice_id", "voice-file": "voice_file_name", "template-id": "template_id"}
#: The values of ``--region``.
Region = Literal["global", "ind"]


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 80},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, prog_name="voicekit")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    envvar="VOICEKIT_LOG_FORMAT",
    help="voicekit's log on standard error as text or one JSON object per line (default: text; "
    "json logs at info unless VOICEKIT_LOG sets the level). Also VOICEKIT_LOG_FORMAT.",
)
def main(log_format: str | None) -> None:
    """voicekit: programmable voice calls (TeleCMI, Huawei BES), async-first.

    Start with `voicekit demo`: it needs no account. The single-call commands and `cdr stats`
    take --json, for scripts.
    """
    if log_format is not None:
        from .._logging import configure

        level = os.environ.get("VOICEKIT_LOG", "").strip().lower()
        configure(level if level in ("debug", "info", "warning", "error") else None, log_format)
    # The database driver's pool logs each failed reconnection in its own words; the journal
    # says once, in voicekit's, that the database is away and that it retries.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())


@main.command()
@click.option("--calls", default=200, show_default=True, help="Calls in the concurrent burst.")
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=100.0,
    show_default=True,
    help="Client-side limit for the burst (calls/s; 0: no limit).",
)
@fail_on_voicekit_error
def demo(calls: int, rate: float) -> None:
    """Tour every capability against an in-process sandbox (no account needed)."""
    from ._demo import run_demo

    run_demo(calls=calls, rate=rate)


@main.command("sandbox")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Loopback by default; another (0.0.0.0 in a container) is "
    "allowed with a warning: anyone who reaches the port can use the sandbox.",
)
@click.option("--port", default=8765, show_default=True, help="TCP port (0 picks a free one).")
@click.option("--seed-records", default=0, show_default=True, help="Synthetic call records to serve.")
@click.option("--rate-limit", type=float, default=None, help="Answer 429 above this many requests/s.")
@click.option("--latency", type=float, default=0.0, show_default=True, help="Seconds added to each answer.")
@click.option(
    "--webhook-url",
    default=None,
    metavar="URL",
    help="Post each TeleCMI call's webhooks (events and cdr) here, e.g. a `voicekit dial --listen` at "
    "http://127.0.0.1:8081/telecmi.",
)
@click.option(
    "--answer-rate",
    type=click.FloatRange(0, 1),
    default=1.0,
    show_default=True,
    help="The share of calls answered (the others are missed).",
)
@click.option("--ring", type=click.FloatRange(min=0), default=3.0, show_default=True, help="Seconds a call rings.")
@click.option(
    "--talk", type=click.FloatRange(min=0), default=None, help="Seconds an answered call lasts (default: 30)."
)
@click.option("--seed", default=None, help="Makes the answered / missed draws reproducible.")
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Wall seconds per simulated second of ringing and talk (0: calls end at once; 1: real time).",
)
def sandbox_cmd(
    host: str,
    port: int,
    seed_records: int,
    rate_limit: float | None,
    latency: float,
    webhook_url: str | None,
    answer_rate: float,
    ring: float,
    talk: float | None,
    seed: str | None,
    time_scale: float,
) -> None:
    """Serve the vendor emulator until Ctrl-C, for other programs to call."""
    from ..sandbox import (
        DEFAULT_HUAWEI_APP_KEY,
        DEFAULT_HUAWEI_APP_SECRET,
        DEFAULT_TELECMI_APPID,
        DEFAULT_TELECMI_SECRET,
        OutcomePlan,
        serve,
    )
    from ..sandbox._delivery import is_loopback_host

    if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
        raise click.BadParameter("must be an http:// or https:// URL", param_hint="'--webhook-url'")

    def ready(url: str) -> None:
        # soft_wrap: a narrow terminal may fold a line, but rich never breaks one, so every
        # line stays one shell command to copy (these are the sandbox's own test credentials)
        console.print(
            f"[bold green]voicekit sandbox[/] serving on [bold]{escape(url)}[/]  (Ctrl-C to stop)", soft_wrap=True
        )
        console.print("Point voicekit at it with:")
        for name, value in (
            ("VOICEKIT_TELECMI_APPID", DEFAULT_TELECMI_APPID),
            ("VOICEKIT_TELECMI_SECRET", DEFAULT_TELECMI_SECRET),
            ("VOICEKIT_TELECMI_BASE_URL", url),
            ("VOICEKIT_TELECMI_PIOPIY_URL", url),
            ("VOICEKIT_HUAWEI_BASE_URL", url),
            ("VOICEKIT_HUAWEI_APP_KEY", DEFAULT_HUAWEI_APP_KEY),
            ("VOICEKIT_HUAWEI_APP_SECRET", DEFAULT_HUAWEI_APP_SECRET),
        ):
            console.print(f"  export {name}={value}", markup=False, soft_wrap=True)

    remote = not is_loopback_host(host)
    if remote:
        err_console.print(
            f"[bold yellow]warning:[/] listening on {escape(host)}, not loopback: anyone who can "
            "reach this port can use the sandbox",
            soft_wrap=True,
        )
    try:
        serve(
            host=host,
            port=port,
            on_ready=ready,
            allow_remote=remote,
            seed_records=seed_records,
            rate_limit=rate_limit,
            latency=latency,
            telecmi_webhook_url=webhook_url,
            outcomes=OutcomePlan(answer_rate=answer_rate, ring=ring, talk=talk, seed=seed),
            time_scale=time_scale,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--host") from None
    except OSError as exc:  # the port is taken, or not ours to use: one line and a hint, no traceback
        reason = (exc.strerror or str(exc)).lower()
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is in use by another program"
        err_console.print(f"[bold red]error:[/] cannot serve on {escape(f'{host}:{port}: {reason}')}", soft_wrap=True)
        err_console.print("hint: choose another --port, or --port 0 for a free one", soft_wrap=True)
        sys.exit(ExitCode.ERROR)
    console.print("sandbox stopped")


def _show(title: str, json_output: bool, **fields: Any) -> None:
    """The result: a title and one line per field, or with --json one object (``ok`` and the fields)."""
    if json_output:
        emit_json({"ok": True, **fields})
        return
    console.print(f"[bold green]{title}[/]")
    for name, value in fields.items():
        console.print(f"  {name}: [bold]{escape(str(value))}[/]", soft_wrap=True)


@main.group()
def call() -> None:
    """Place one TeleCMI call."""


@call.command("play")
@click.option("--from", "from_", required=True, help="Caller id (digits).")
@click.option("--to", required=True, help="Number to call (digits).")
@click.option("--file", "file_name", required=True, help="Uploaded .mp3 or .wav file name.")
@click.option("--region", type=click.Choice(get_args(Region)), default="global", show_default=True)
@sandbox_option
@json_option
@fail_on_voicekit_error
def call_play(from_: str, to: str, file_name: str, region: Region, sandbox: bool, json_output: bool) -> None:
    """Call a number and play an uploaded music file."""
    with blocking_client(TeleCMI, sandbox=sandbox) as tc:
        result = tc.play_music(from_=from_, to=to, file_name=file_name, region=region)
    _show("call placed", json_output, request_id=result.request_id, status=result.status)


@call.command("bridge")
@click.option("--from", "from_", required=True, help="Caller id (digits).")
@click.option("--to", required=True, help="First number to call (digits).")
@click.option("--connect", "connect", multiple=True, required=True, help="Number to bridge to (repeatable).")
@click.option("--duration", type=int, default=None, help="Maximum call length in seconds.")
@click.option("--timeout", type=int, default=None, help="Ring timeout in seconds.")
@click.option("--region", type=click.Choice(get_args(Region)), default="global", show_default=True)
@sandbox_option
@json_option
@fail_on_voicekit_error
def call_bridge(
    from_: str,
    to: str,
    connect: tuple[str, ...],
    duration: int | None,
    timeout: int | None,
    region: Region,
    sandbox: bool,
    json_output: bool,
) -> None:
    """Call a number and bridge it to one or more others."""
    action = Bridge(from_=from_, duration=duration, timeout=timeout, connect=[Pstn(number=n) for n in connect])
    with blocking_client(TeleCMI, sandbox=sandbox) as tc:
        result = tc.make_call(from_=from_, to=to, pcmo=[action], region=region)
    _show("call placed", json_output, request_id=result.request_id, status=result.status)


@main.command("click2call")
@click.option("--user-id", required=True, help="The TeleCMI user (agent) id.")
@click.option("--to", required=True, help="Number to connect the user to.")
@click.option("--followme", is_flag=True, help="Ring the user's mobile instead of the softphone.")
@sandbox_option
@json_option
@fail_on_voicekit_error
def click2call(user_id: str, to: str, followme: bool, sandbox: bool, json_output: bool) -> None:
    """Ring a user, then connect them to a number."""
    with blocking_client(TeleCMI, sandbox=sandbox) as tc:
        result = tc.click_to_call(user_id=user_id, to=to, webrtc=not followme, followme=followme)
    _show("click-to-call initiated", json_output, request_id=result.request_id, message=result.msg)


def _play_item(text: str) -> Prompt:
    """One `--play KIND:VALUE[:P1|P2...]` as a Prompt; a malformed one is a usage error naming --play."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in PLAY_KINDS:
        raise click.BadParameter(
            f"{text!r}: expected KIND:VALUE with KIND one of {', '.join(PLAY_KINDS)} "
            "(e.g. voice-id:100001, template-id:T1:100|200)",
            param_hint="'--play'",
        )
    value, sep, params = rest.partition(":")
    if sep and kind != "template-id":
        raise click.BadParameter(f"{text!r}: only template-id takes parameters", param_hint="'--play'")
    fields: dict[str, Any] = {PLAY_KINDS[kind]: value}
    if sep:
        fields["template_params"] = params.split("|")
    return Prompt(**fields)


@main.command()
@click.option("--called", required=True, help="Number to call.")
@click.option("--voice-id", default=None, help="Recording id to play (one prompt; see --play for more).")
@click.option("--voice-file", "voice_file_name", default=None, help="Uploaded voice file name to play.")
@click.option("--template-id", default=None, help="Template id to play.")
@click.option("--param", "params", multiple=True, help="Parameter of --template-id (repeatable).")
@click.option(
    "--play",
    "play",
    multiple=True,
    metavar="KIND:VALUE",
    help="A play-list item, in order, up to 5 in all (repeatable): voice-id:ID, voice-file:NAME or "
    "template-id:ID[:P1|P2...].",
)
@click.option("--callback-url", default=None, help="Where the release event is POSTed.")
@click.option("--caller-present", default=None, help="Number shown to the called party.")
@click.option("--play-times", type=int, default=None, help="Times to play (1-5).")
@click.option("--priority", type=int, default=None, help="Call priority, 1 (highest) to 9.")
@sandbox_option
@json_option
@fail_on_voicekit_error
def notify(
    called: str,
    voice_id: str | None,
    voice_file_name: str | None,
    template_id: str | None,
    params: tuple[str, ...],
    play: tuple[str, ...],
    callback_url: str | None,
    caller_present: str | None,
    play_times: int | None,
    priority: int | None,
    sandbox: bool,
    json_output: bool,
) -> None:
    """Create one Huawei voice notification.

    Give one prompt with --voice-id, --voice-file or --template-id (and --param), or a play
    list with --play (repeatable); the single prompt, if given, plays first.
    """
    play_list = [_play_item(item) for item in play]
    single = (voice_id, voice_file_name, template_id)
    if any(v is not None for v in single) or params or not play_list:
        play_list.insert(
            0,
            Prompt(
                voice_id=voice_id,
                voice_file_name=voice_file_name,
                template_id=template_id,
                template_params=list(params) or None,
            ),
        )
    with blocking_client(HuaweiVoice, sandbox=sandbox) as hw:
        result = hw.create_voice_notification(
            called=called,
            play_list=play_list,
            callback_url=callback_url,
            caller_present=caller_present,
            play_times=play_times,
            priority=priority,
        )
    _show("notification created", json_output, call_serial_no=result.call_serial_no)


def _register_more() -> None:
    from . import _cdr, dial

    dial.register(main)
    _cdr.register(main)


_register_more()
