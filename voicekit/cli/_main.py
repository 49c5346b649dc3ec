"""`voicekit`: the demo, the sandbox server, and single calls."""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator
from typing import Any

import click

from .. import __version__
from ..huawei import HuaweiVoice, Prompt
from ..telecmi import Bridge, Pstn, TeleCMI
from ._common import console, err_console, fail_on_voicekit_error, sandbox_option


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voicekit")
def main() -> None:
    """voicekit: programmable voice calls (TeleCMI, Huawei BES), async-first.

    Start with `voicekit demo`: it needs no account.
    """


@main.command()
@click.option("--calls", default=200, show_default=True, help="Calls in the concurrent burst.")
@click.option("--rate", default=100.0, show_default=True, help="Client-side limit for the burst (calls/s).")
@fail_on_voicekit_error
def demo(calls: int, rate: float) -> None:
    """Tour every capability against an in-process sandbox (no account needed)."""
    from ._demo import run_demo

    run_demo(calls=calls, rate=rate)


@main.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@click.option("--port", default=8765, show_default=True, help="TCP port (0 picks a free one).")
@click.option("--seed-records", default=0, show_default=True, help="Synthetic call records to serve.")
@click.option("--rate-limit", type=float, default=None, help="Answer 429 above this many requests/s.")
@click.option("--latency", type=float, default=0.0, show_default=True, help="Seconds added to each answer.")
def sandbox_cmd(host: str, port: int, seed_records: int, rate_limit: float | None, latency: float) -> None:
    """Serve the vendor emulator until Ctrl-C, for other programs to call."""
    from ..sandbox import serve
    from ..sandbox._state import (
        DEFAULT_HUAWEI_APP_KEY,
        DEFAULT_HUAWEI_APP_SECRET,
        DEFAULT_TELECMI_APPID,
        DEFAULT_TELECMI_SECRET,
    )

    def ready(url: str) -> None:
        console.print(f"[bold green]voicekit sandbox[/] serving on [bold]{url}[/]  (Ctrl-C to stop)")
        console.print("Point voicekit at it with:")
        console.print(f"  export VOICEKIT_TELECMI_APPID={DEFAULT_TELECMI_APPID}")
        console.print(f"  export VOICEKIT_TELECMI_SECRET={DEFAULT_TELECMI_SECRET}")
        console.print(f"  export VOICEKIT_TELECMI_BASE_URL={url} VOICEKIT_TELECMI_PIOPIY_URL={url}")
        console.print(f"  export VOICEKIT_HUAWEI_BASE_URL={url}")
        console.print(f"  export VOICEKIT_HUAWEI_APP_KEY={DEFAULT_HUAWEI_APP_KEY}")
        console.print(f"  export VOICEKIT_HUAWEI_APP_SECRET={DEFAULT_HUAWEI_APP_SECRET}")

    try:
        serve(host=host, port=port, on_ready=ready, seed_records=seed_records, rate_limit=rate_limit,
              latency=latency)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--host") from None
    except OSError as exc:  # the port is taken, or not ours to use: one line and a hint, no traceback
        reason = (exc.strerror or str(exc)).lower()
        if exc.errno == errno.EADDRINUSE:
            reason = "the port is in use by another program"
        err_console.print(f"[bold red]error:[/] cannot serve on {host}:{port}: {reason}", soft_wrap=True)
        err_console.print("hint: choose another --port, or --port 0 for a free one", soft_wrap=True)
        sys.exit(1)
    console.print("sandbox stopped")


@contextlib.contextmanager
def telecmi_client(use_sandbox: bool) -> Iterator[TeleCMI]:
    """A blocking TeleCMI client: on an in-process sandbox, or from VOICEKIT_TELECMI_* variables."""
    if not use_sandbox:
        with TeleCMI() as tc:
            yield tc
        return
    from ..sandbox import SyncSandbox

    with SyncSandbox() as sb, TeleCMI(
        appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url
    ) as tc:
        yield tc


@contextlib.contextmanager
def huawei_client(use_sandbox: bool) -> Iterator[HuaweiVoice]:
    """A blocking Huawei client: on an in-process sandbox, or from VOICEKIT_HUAWEI_* variables."""
    if not use_sandbox:
        with HuaweiVoice() as hw:
            yield hw
        return
    from ..sandbox import SyncSandbox

    with SyncSandbox() as sb, HuaweiVoice(
        base_url=sb.url, app_key=sb.huawei_app_key, app_secret=sb.huawei_app_secret
    ) as hw:
        yield hw


def _show(title: str, **fields: Any) -> None:
    console.print(f"[bold green]{title}[/]")
    for name, value in fields.items():
        console.print(f"  {name}: [bold]{value}[/]")


@main.group()
def call() -> None:
    """Place one TeleCMI call."""


@call.command("play")
@click.option("--from", "from_", required=True, help="Caller id (digits).")
@click.option("--to", required=True, help="Number to call (digits).")
@click.option("--file", "file_name", required=True, help="Uploaded .mp3 or .wav file name.")
@click.option("--region", type=click.Choice(["global", "ind"]), default="global", show_default=True)
@sandbox_option
@fail_on_voicekit_error
def call_play(from_: str, to: str, file_name: str, region: str, sandbox: bool) -> None:
    """Call a number and play an uploaded music file."""
    with telecmi_client(sandbox) as tc:
        result = tc.play_music(from_=from_, to=to, file_name=file_name, region=region)  # type: ignore[arg-type]
    _show("call placed", request_id=result.request_id, status=result.status)


@call.command("bridge")
@click.option("--from", "from_", required=True, help="Caller id (digits).")
@click.option("--to", required=True, help="First number to call (digits).")
@click.option("--connect", "connect", multiple=True, required=True, help="Number to bridge to (repeatable).")
@click.option("--duration", type=int, default=None, help="Maximum call length in seconds.")
@click.option("--timeout", type=int, default=None, help="Ring timeout in seconds.")
@click.option("--region", type=click.Choice(["global", "ind"]), default="global", show_default=True)
@sandbox_option
@fail_on_voicekit_error
def call_bridge(
    from_: str, to: str, connect: tuple[str, ...], duration: int | None, timeout: int | None,
    region: str, sandbox: bool,
) -> None:
    """Call a number and bridge it to one or more others."""
    action = Bridge(from_=from_, duration=duration, timeout=timeout, connect=[Pstn(number=n) for n in connect])
    with telecmi_client(sandbox) as tc:
        result = tc.make_call(from_=from_, to=to, pcmo=[action], region=region)  # type: ignore[arg-type]
    _show("call placed", request_id=result.request_id, status=result.status)


@main.command("click2call")
@click.option("--user-id", required=True, help="The TeleCMI user (agent) id.")
@click.option("--to", required=True, help="Number to connect the user to.")
@click.option("--followme", is_flag=True, help="Ring the user's mobile instead of the softphone.")
@sandbox_option
@fail_on_voicekit_error
def click2call(user_id: str, to: str, followme: bool, sandbox: bool) -> None:
    """Ring a user, then connect them to a number."""
    with telecmi_client(sandbox) as tc:
        result = tc.click_to_call(user_id=user_id, to=to, webrtc=not followme, followme=followme)
    _show("click-to-call initiated", request_id=result.request_id, message=result.msg)


@main.command()
@click.option("--called", required=True, help="Number to call.")
@click.option("--voice-id", default=None, help="Recording id to play.")
@click.option("--template-id", default=None, help="Template id to play.")
@click.option("--param", "params", multiple=True, help="Template parameter (repeatable).")
@click.option("--callback-url", default=None, help="Where the release event is POSTed.")
@click.option("--caller-present", default=None, help="Number shown to the called party.")
@click.option("--play-times", type=int, default=None, help="Times to play (1-5).")
@sandbox_option
@fail_on_voicekit_error
def notify(
    called: str, voice_id: str | None, template_id: str | None, params: tuple[str, ...],
    callback_url: str | None, caller_present: str | None, play_times: int | None, sandbox: bool,
) -> None:
    """Create one Huawei voice notification."""
    prompt = Prompt(voice_id=voice_id, template_id=template_id, template_params=list(params) or None)
    with huawei_client(sandbox) as hw:
        result = hw.create_voice_notification(
            called=called, play_list=[prompt], callback_url=callback_url,
            caller_present=caller_present, play_times=play_times,
        )
    _show("notification created", call_serial_no=result.call_serial_no)


def _register_more() -> None:
    from . import _cdr, _dial

    _dial.register(main)
    _cdr.register(main)


_register_more()
