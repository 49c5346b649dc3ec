"""``VOICEKIT_LOG=debug`` (or info, warning, error): voicekit's own log on standard error.

voicekit logs through ``logging.getLogger("voicekit")`` and configures nothing unless asked: an
application's own logging setup wins. What it logs at DEBUG (every request and answer, timed)
is scrubbed of the client's credentials before it is formatted.
"""

from __future__ import annotations

import logging
import os

__all__ = ["configure_from_env"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler voicekit adds itself (so that it is added once)."""


def configure_from_env() -> None:
    """Apply ``VOICEKIT_LOG``: set the "voicekit" logger's level and log it to standard error."""
    level = _LEVELS.get(os.environ.get("VOICEKIT_LOG", "").strip().lower())
    if level is None:
        return
    logger = logging.getLogger("voicekit")
    logger.setLevel(level)
    if not any(isinstance(handler, _Handler) for handler in logger.handlers):
        handler = _Handler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
