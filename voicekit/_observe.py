"""Where voicekit reports what an operator measures (calls by outcome, limiter waits, claims,
leases, webhooks): to one sink, if one is installed (`voicekit.metrics` installs a Prometheus
one), else nowhere. Each report point costs one attribute check when none is.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Sink", "install", "sink"]


class Sink(Protocol):
    """What a metrics backend is told."""

    def call(self, vendor: str, outcome: str) -> None:
        """A campaign call ended: ``placed``, ``failed`` or ``unknown``."""

    def limiter_wait(self, seconds: float) -> None:
        """A request waited this long for the rate limiter."""

    def claim(self, seconds: float, keys: int) -> None:
        """A claim transaction took this long, for this many keys."""

    def lease(self, event: str) -> None:
        """This worker's lease was ``renewed`` or ``lost``."""

    def webhooks(self, result: str, count: int) -> None:
        """This many webhooks (the outcomes they carried) were ``written``, ``duplicate``,
        ``unmatched``, ``foreign`` or ``refused``."""

    def webhook_lag(self, seconds: float) -> None:
        """A call's outcome arrived this long after the call started (the vendor's clock)."""


#: The installed sink, or None.
sink: Sink | None = None


def install(new: Sink | None) -> Sink | None:
    """Install `new` (None: none); return the one it replaces."""
    global sink
    old, sink = sink, new
    return old
