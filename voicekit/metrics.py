"""Prometheus metrics for a worker (the ``metrics`` extra: ``pip install ".[metrics]"``).

``voicekit dial --metrics HOST:PORT`` (and ``dial listen``) serves these in the Prometheus text
format, on loopback unless told otherwise; from a program, `PrometheusMetrics` and
`serve_metrics` do the same. The names:

* ``voicekit_calls_total`` (counter): this worker's campaign calls, by ``vendor`` and ``outcome``
  (``placed``, ``failed``, ``unknown``);
* ``voicekit_campaign_rows`` (gauge): the campaign's rows by ``state``, as this worker last read
  the journal (every few seconds);
* ``voicekit_limiter_wait_seconds`` (histogram): how long each request waited for the rate limiter;
* ``voicekit_claim_seconds`` (histogram): each claim transaction (the commit on every call's
  path), and ``voicekit_claimed_keys_total`` (counter): the keys they asked for;
* ``voicekit_lease_events_total`` (counter): this worker's lease, by ``event`` (``renewed``,
  ``lost``);
* ``voicekit_webhooks_total`` (counter): webhooks received, by ``result`` (``written``,
  ``duplicate``, ``unmatched``, ``foreign``, ``refused``);
* ``voicekit_webhook_lag_seconds`` (histogram): from a call's start (the vendor's clock) to its
  outcome's arrival;
* ``voicekit_reconcile_decisions_total`` (counter): reconcile's decisions on sent rows, by
  ``decision`` (``placed``, ``not_placed``, ``ambiguous``, ``waiting``).

Every metric also has ``campaign`` as a label (the campaign's name) when one is known. No label
holds a phone number or a secret.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from . import _observe

__all__ = ["PrometheusMetrics", "serve_metrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LAG_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        from .errors import ConfigurationError

        raise ConfigurationError(
            'metrics need the prometheus-client package: pip install ".[metrics]" in voicekit\'s checkout'
        ) from None
    return prometheus_client


class PrometheusMetrics:
    """voicekit's metrics in a registry of their own (never the process's default one).

    `install` makes voicekit report into it; `uninstall` stops that.
    """

    def __init__(self, campaign: str = "") -> None:
        prometheus = _prometheus()
        self.registry = prometheus.CollectorRegistry(auto_describe=True)
        self.campaign = campaign
        r = self.registry
        self._calls = prometheus.Counter(
            "voicekit_calls", "Campaign calls by outcome", ["campaign", "vendor", "outcome"], registry=r
        )
        self._rows = prometheus.Gauge(
            "voicekit_campaign_rows", "The campaign's rows by state", ["campaign", "state"], registry=r
        )
        self._limiter = prometheus.Histogram(
            "voicekit_limiter_wait_seconds", "Rate limiter waits", ["campaign"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self._claims = prometheus.Histogram(
            "voicekit_claim_seconds", "Claim transactions", ["campaign"], buckets=_LATENCY_BUCKETS, registry=r
        )
        self._claimed = prometheus.Counter("voicekit_claimed_keys", "Keys claimed for", ["campaign"], registry=r)
        self._lease = prometheus.Counter("voicekit_lease_events", "Lease events", ["campaign", "event"], registry=r)
        self._webhooks = prometheus.Counter(
            "voicekit_webhooks", "Webhooks received by result", ["campaign", "result"], registry=r
        )
        self._lag = prometheus.Histogram(
            "voicekit_webhook_lag_seconds", "Webhook lag", ["campaign"], buckets=_LAG_BUCKETS, registry=r
        )
        self._reconcile = prometheus.Counter(
            "voicekit_reconcile_decisions", "Reconcile's decisions", ["campaign", "decision"], registry=r
        )
        # Every name shows from the first scrape, at zero.
        for outcome in ("placed", "failed", "unknown"):
            self._calls.labels(campaign, "", outcome)
        for event in ("renewed", "lost"):
            self._lease.labels(campaign, event)
        for result in ("written", "duplicate", "unmatched", "foreign", "refused"):
            self._webhooks.labels(campaign, result)
        self._limiter.labels(campaign)
        self._claims.labels(campaign)
        self._claimed.labels(campaign)
        self._lag.labels(campaign)
        for decision in ("placed", "not_placed", "ambiguous", "waiting"):
            self._reconcile.labels(campaign, decision)

    # -- the sink voicekit reports into ---------------------------------------------------------

    def call(self, vendor: str, outcome: str) -> None:
        self._calls.labels(self.campaign, vendor, outcome).inc()

    def limiter_wait(self, seconds: float) -> None:
        self._limiter.labels(self.campaign).observe(seconds)

    def claim(self, seconds: float, keys: int) -> None:
        self._claims.labels(self.campaign).observe(seconds)
        self._claimed.labels(self.campaign).inc(keys)

    def lease(self, event: str) -> None:
        self._lease.labels(self.campaign, event).inc()

    def webhooks(self, result: str, count: int) -> None:
        self._webhooks.labels(self.campaign, result).inc(count)

    def webhook_lag(self, seconds: float) -> None:
        self._lag.labels(self.campaign).observe(seconds)

    def reconcile(self, decision: str, count: int) -> None:
        self._reconcile.labels(self.campaign, decision).inc(count)

    def rows(self, counts: Mapping[Any, int]) -> None:
        """Set the campaign's rows by state (from `AsyncJournal.counts`)."""
        for state, n in counts.items():
            self._rows.labels(self.campaign, str(state)).set(n)

    def install(self) -> None:
        """Make voicekit report into these metrics (in this process)."""
        _observe.attach(self)

    def uninstall(self) -> None:
        _observe.detach(self)

    def text(self) -> str:
        """The metrics in the Prometheus text format."""
        return str(_prometheus().generate_latest(self.registry).decode("utf-8"))


class _Served:
    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(metrics: PrometheusMetrics, host: str, port: int) -> _Served:
    """Serve `metrics` at ``http://HOST:PORT/metrics`` from a thread; ``.close()`` stops it.

    Raises:
        OSError: the address cannot be listened on.
    """
    server, thread = _prometheus().start_http_server(port, addr=host, registry=metrics.registry)
    return _Served(server, thread)
