"""What every command shares: the console, exit codes, error reporting, JSON output, clients."""

from __future__ import annotations

import contextlib
import functools
import json
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TextIO, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from .._base_client import BaseAsyncClient
from .._config import NOT_GIVEN, NotGiven
from .._exit import EXIT_STATUS_TABLE, ExitStatus
from .._sync import BlockingClient
from ..errors import APIStatusError, CallOutcomeUnknownError, ValidationError, VoiceKitError
from ..huawei import AsyncHuaweiVoice, HuaweiVoice
from ..telecmi import AsyncTeleCMI, TeleCMI

if TYPE_CHECKING:
    from ..sandbox import Sandbox, SyncSandbox

__all__ = [
    "EXIT_CODES_HELP",
    "ExitCode",
    "async_client",
    "blocking_client",
    "client_options",
    "console",
    "emit_json",
    "err_console",
    "fail_on_voicekit_error",
    "json_option",
    "open_output",
    "output_option",
    "rate_limit",
    "sandbox_option",
]

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
T = TypeVar("T")
AsyncClient = TypeVar("AsyncClient", bound=BaseAsyncClient)
SyncClient = TypeVar("SyncClient", bound=BlockingClient[Any])

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


#: The exit statuses of every command (one table: `voicekit.ExitStatus`).
ExitCode = ExitStatus
#: The table shown by `voicekit --help` and `voicekit dial --help`.
EXIT_CODES_HELP: Final = EXIT_STATUS_TABLE


# A ValidationError names the field as the Python API does; these fields have a flag of another name.
_FIELD_FLAGS: Final = {"template_params": "params", "play_list": "play", "pcmo": "connect"}
_FIELD_ROOT: Final = re.compile(r"[A-Za-z_]+")


def describe(exc: VoiceKitError) -> str:
    """One line that says what went wrong (never a secret: errors carry none)."""
    kind = type(exc).__name__
    if isinstance(exc, APIStatusError):
        code = f", vendor code {exc.code}" if exc.code is not None else ""
        return f"{kind} (HTTP {exc.status}{code}): {exc}"
    return f"{kind}: {exc}"


def exit_code_for(exc: VoiceKitError) -> ExitCode:
    """The exit status for an error: unknown outcomes have their own, so scripts never re-dial them."""
    return ExitCode.UNKNOWN if isinstance(exc, CallOutcomeUnknownError) else ExitCode.ERROR


def flag_for(exc: ValidationError, ctx: click.Context | None) -> str | None:
    """The command-line flag behind the field a ValidationError names (``to`` -> ``--to``), if any."""
    if ctx is None:
        return None
    match = _FIELD_ROOT.match(exc.field)
    if match is None:
        return None
    root = match.group(0)
    wanted = {root, _FIELD_FLAGS.get(root, root)}
    for param in ctx.command.params:
        if isinstance(param, click.Option) and param.name in wanted and param.opts:
            return max(param.opts, key=len)
    return None


def error_json(exc: VoiceKitError) -> dict[str, Any]:
    """The error as `--json` prints it: its kind, message and, where it has them, status and code."""
    body: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, APIStatusError):
        body["status"] = exc.status
        body["code"] = exc.code
    if isinstance(exc, ValidationError):
        body["field"] = exc.field
    return {"ok": False, "error": body, "exit_code": int(exit_code_for(exc))}


def emit_json(data: dict[str, Any]) -> None:
    """One JSON object on one line of standard output: no colours, no wrapping, for scripts."""
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


def fail_on_voicekit_error(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn a VoiceKitError into a one-line message and its exit status, never a traceback.

    A ValidationError also names the flag to fix. With ``--json`` (a ``json_output`` keyword) the
    error is also printed to standard output as a JSON object.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except VoiceKitError as exc:
            message = describe(exc)
            if isinstance(exc, ValidationError):
                flag = flag_for(exc, click.get_current_context(silent=True))
                if flag is not None:
                    message += f" (option {flag})"
            # The message is the error's own text (a file name, a vendor's words, an install
            # hint like "voicekit[postgres]"): escaped, so rich never reads it as markup.
            err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
            if kwargs.get("json_output"):
                emit_json(error_json(exc))
            sys.exit(exit_code_for(exc))
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(ExitCode.INTERRUPTED)

    return wrapper


def sandbox_option(fn: F) -> F:
    """``--sandbox``: aim the command at an in-process sandbox."""
    return click.option("--sandbox", is_flag=True, help="Aim at an in-process sandbox instead of the vendor.")(fn)


def json_option(fn: F) -> F:
    """``--json``: print the result (or the error) as one JSON object on standard output."""
    return click.option(
        "--json",
        "json_output",
        is_flag=True,
        help="Print the result (or the error) as one JSON object on standard output.",
    )(fn)


def output_option(what: str) -> Callable[[F], F]:
    """``-o/--output FILE``: where to write `what` (``-``, the default: standard output)."""
    return click.option(
        "-o",
        "--output",
        default="-",
        show_default=True,
        type=click.Path(dir_okay=False, allow_dash=True),
        help=f"{what} (- for standard output).",
    )


@contextlib.contextmanager
def open_output(path: str) -> Iterator[TextIO]:
    """A text file to write (UTF-8, no newline translation), or standard output for ``-``."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    try:
        f = open(path, "w", newline="", encoding="utf-8")
    except OSError as exc:
        raise click.FileError(path, exc.strerror) from None
    with f:
        yield f


def rate_limit(rate: float | None) -> float | None | NotGiven:
    """``--rate`` as a client's `rate_limit`: not given, the client's default; 0, no limit."""
    if rate is None:
        return NOT_GIVEN
    return None if rate == 0 else rate


def client_options(cls: Callable[..., Any], sandbox: Sandbox | SyncSandbox | None) -> dict[str, Any]:
    """The keywords that aim a client of class `cls` at `sandbox`: its URL and the default
    account's credentials. Without a sandbox, none: the VOICEKIT_* environment supplies them."""
    if sandbox is None:
        return {}
    if cls in (AsyncTeleCMI, TeleCMI):
        return {
            "appid": sandbox.telecmi_appid,
            "secret": sandbox.telecmi_secret,
            "base_url": sandbox.url,
            "piopiy_url": sandbox.url,
        }
    if cls in (AsyncHuaweiVoice, HuaweiVoice):
        return {"base_url": sandbox.url, "app_key": sandbox.huawei_app_key, "app_secret": sandbox.huawei_app_secret}
    raise TypeError(f"the sandbox has no account for {cls!r}")


@contextlib.contextmanager
def blocking_client(
    cls: Callable[..., SyncClient],
    *,
    sandbox: bool | SyncSandbox = False,
    rate: float | None = None,
    **options: Any,
) -> Iterator[SyncClient]:
    """A blocking client of class `cls` (`TeleCMI`, `HuaweiVoice`), closed on exit.

    Args:
        sandbox: True to aim it at an in-process sandbox started (and stopped) here, or a
            running `SyncSandbox`; False to read the account from the VOICEKIT_* environment.
        rate: the ``--rate`` option (see `rate_limit`).
        options: more keywords of the client (``page_concurrency``, ``limiter_backend``, ...).
    """
    with contextlib.ExitStack() as stack:
        sb: SyncSandbox | None = None
        if sandbox is True:
            from ..sandbox import SyncSandbox

            sb = stack.enter_context(SyncSandbox())
        elif sandbox is not False:
            sb = sandbox
        client = cls(**client_options(cls, sb), rate_limit=rate_limit(rate), **options)
        with client:
            yield client


@contextlib.asynccontextmanager
async def async_client(
    cls: Callable[..., AsyncClient],
    *,
    sandbox: bool | Sandbox = False,
    rate: float | None = None,
    **options: Any,
) -> AsyncIterator[AsyncClient]:
    """An async client of class `cls` (`AsyncTeleCMI`, `AsyncHuaweiVoice`), closed on exit.

    The arguments are those of `blocking_client`, with a running `Sandbox` in place of a
    `SyncSandbox`.
    """
    async with contextlib.AsyncExitStack() as stack:
        sb: Sandbox | None = None
        if sandbox is True:
            from ..sandbox import Sandbox

            sb = await stack.enter_async_context(Sandbox())
        elif sandbox is not False:
            sb = sandbox
        client = cls(**client_options(cls, sb), rate_limit=rate_limit(rate), **options)
        async with client:
            yield client
