"""voicekit's own log: ``VOICEKIT_LOG=debug`` (or info, warning, error) on standard error, as
text or, with ``VOICEKIT_LOG_FORMAT=json`` (``voicekit --log-format json``), one JSON object
per line.

voicekit logs through ``logging.getLogger("voicekit")`` (and its children) and configures
nothing unless asked: an application's own logging setup wins. What it logs at DEBUG (every
request and answer, timed) is scrubbed of the client's credentials before it is formatted.

Every record carries, where they apply, the fields an operator filters on: ``campaign`` (the
campaign's name), ``campaign_id``, ``worker``, ``key`` (a call's row), ``request_id`` (the
vendor's id of a call), and ``trace_id`` / ``span_id`` when it is logged inside an OpenTelemetry
span (`voicekit.telemetry`). A JSON line holds them beside ``time`` (UTC, ISO 8601), ``level``,
``logger`` and ``message``; an error's ``error`` is its type and message, never a traceback
(whose frames could hold anything).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Final

from ._sending import current_ticket

__all__ = ["CONTEXT_FIELDS", "LOG_FORMATS", "JsonFormatter", "configure", "configure_from_env", "log_fields"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
#: The formats of voicekit's own handler.
LOG_FORMATS: Final = ("text", "json")
#: The fields a record carries where they apply (see the module).
CONTEXT_FIELDS: Final = ("campaign", "campaign_id", "worker", "key", "request_id", "trace_id", "span_id")

_context: ContextVar[dict[str, str]] = ContextVar("voicekit_log_context", default={})  # noqa: B039 - never mutated


@contextlib.contextmanager
def log_fields(**fields: str | None) -> Iterator[None]:
    """Give every voicekit record logged in this block (and the tasks it starts) these fields."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current_fields() -> dict[str, str]:
    """The fields `log_fields` gave the running block (do not mutate)."""
    return _context.get()


class _ContextFilter(logging.Filter):
    """Adds the block's fields (`log_fields`) and the call's key (the send's ticket) to a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        if not hasattr(record, "key"):
            ticket = current_ticket.get()
            if ticket is not None:
                record.key = ticket.key
        trace = sys.modules.get("opentelemetry.trace")
        if trace is not None and not hasattr(record, "trace_id"):
            # the span current where the record was logged (a campaign run's, a request's)
            span = trace.get_current_span().get_span_context()
            if span.is_valid:
                record.trace_id = format(span.trace_id, "032x")
                record.span_id = format(span.span_id, "016x")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the context fields it has, and
    an exception's type and message."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = str(value)
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = f"{type(error).__name__}: {error}"
        return json.dumps(line, ensure_ascii=False, default=str)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler voicekit adds itself (so that it is added once)."""


_FILTER: Final = _ContextFilter()
_TEXT: Final = "%(asctime)s %(name)s %(levelname)s %(message)s"


def _install_filter() -> None:
    # On the loggers themselves: an application's own handlers see the fields too.
    for name in ("voicekit", "voicekit.webhooks", "voicekit.sandbox"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    # A library's records go where the application sends them, never to Python's last-resort
    # handler (a failed call's warning printed on a program's standard error uninvited).
    root = logging.getLogger("voicekit")
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


def configure(level: str | None = None, fmt: str | None = None) -> None:
    """Log voicekit's records at `level` (debug, info, warning, error) to standard error, as
    text or JSON (`fmt`). JSON without a level logs at info. Nothing else is touched.

    Raises:
        ValueError: an unknown level or format.
    """
    fmt = (fmt or "text").strip().lower()
    if fmt not in LOG_FORMATS:
        raise ValueError(f"the log format must be text or json, got {fmt!r}")
    name = (level or "").strip().lower() or ("info" if fmt == "json" else "")
    if not name:
        return
    if name not in _LEVELS:
        raise ValueError(f"the log level must be debug, info, warning or error, got {level!r}")
    logger = logging.getLogger("voicekit")
    logger.setLevel(_LEVELS[name])
    handler = next((h for h in logger.handlers if isinstance(h, _Handler)), None)
    if handler is None:
        handler = _Handler()
        logger.addHandler(handler)
    handler.setStream(sys.stderr)  # the standard error of now (a test runner may have swapped it)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))


def configure_from_env() -> None:
    """Apply ``VOICEKIT_LOG`` (the level) and ``VOICEKIT_LOG_FORMAT`` (text or json); a value
    that is neither is ignored, as an unset one is."""
    level = os.environ.get("VOICEKIT_LOG", "").strip().lower()
    fmt = os.environ.get("VOICEKIT_LOG_FORMAT", "").strip().lower()
    with contextlib.suppress(ValueError):
        configure(level if level in _LEVELS else None, fmt if fmt in LOG_FORMATS else None)


_install_filter()
