"""What every command shares: the console, error reporting, and client construction."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO, TypeVar

import click
from rich.console import Console

from ..errors import APIStatusError, CallOutcomeUnknownError, VoiceKitError

__all__ = ["console", "err_console", "fail_on_voicekit_error", "open_output"]

F = TypeVar("F", bound=Callable[..., Any])

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def describe(exc: VoiceKitError) -> str:
    """One line that says what went wrong (never a secret: errors carry none)."""
    kind = type(exc).__name__
    if isinstance(exc, APIStatusError):
        code = f", vendor code {exc.code}" if exc.code is not None else ""
        return f"{kind} (HTTP {exc.status}{code}): {exc}"
    if isinstance(exc, CallOutcomeUnknownError):
        return f"{kind}: {exc}"
    return f"{kind}: {exc}"


def fail_on_voicekit_error(fn: F) -> F:
    """Turn a VoiceKitError into a one-line message and exit status 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VoiceKitError as exc:
            err_console.print(f"[bold red]error:[/] {describe(exc)}", markup=True, soft_wrap=True)
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def sandbox_option(fn: F) -> F:
    return click.option(
        "--sandbox", is_flag=True, help="Aim at an in-process sandbox instead of the vendor."
    )(fn)


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
