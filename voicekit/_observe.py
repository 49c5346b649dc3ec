"""Where voicekit reports what an operator measures (calls by outcome, limiter waits, claims,
leases, webhooks, reconcile's decisions): to the sinks attached (`voicekit.metrics` attaches a
Prometheus one, `voicekit._otel` an OpenTelemetry one), else nowhere. Each report point costs one
attribute check when none is.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Sink", "attach", "detach", "sink"]


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

    def reconcile(self, decision: str, count: int) -> None:
        """Reconcile decided this for this many rows: ``placed`` (an outcome or a record proves the
        call), ``not_placed`` (dialable again), ``ambiguous`` (left unknown) or ``waiting`` (its window
        is still open)."""


class _Fanout:
    """Several sinks as one."""

    def __init__(self, sinks: tuple[Sink, ...]) -> None:
        self.sinks = sinks

    def call(self, vendor: str, outcome: str) -> None:
        for s in self.sinks:
            s.call(vendor, outcome)

    def limiter_wait(self, seconds: float) -> None:
        for s in self.sinks:
            s.limiter_wait(seconds)

    def claim(self, seconds: float, keys: int) -> None:
        for s in self.sinks:
            s.claim(seconds, keys)

    def lease(self, event: str) -> None:
        for s in self.sinks:
            s.lease(event)

    def webhooks(self, result: str, count: int) -> None:
        for s in self.sinks:
            s.webhooks(result, count)

    def webhook_lag(self, seconds: float) -> None:
        for s in self.sinks:
            s.webhook_lag(seconds)

    def reconcile(self, decision: str, count: int) -> None:
        for s in self.sinks:
            s.reconcile(decision, count)


#: What the report points report into: None (no sink), the one sink, or all of them.
sink: Sink | None = None
_attached: tuple[Sink, ...] = ()


def _update() -> None:
    global sink
    sink = None if not _attached else _attached[0] if len(_attached) == 1 else _Fanout(_attached)


def attach(new: Sink) -> None:
    """Report into `new` too (once, however often it is attached)."""
    global _attached
    if not any(s is new for s in _attached):
        _attached = (*_attached, new)
        _update()


def detach(old: Sink) -> None:
    """Stop reporting into `old`."""
    global _attached
    _attached = tuple(s for s in _attached if s is not old)
    _update()
