"""OpenTelemetry for voicekit: spans and metrics through the OpenTelemetry API (``opentelemetry-api``,
the ``otel`` extra), never the SDK.

Telemetry is on when a tracer or meter provider is configured: the process's global ones
(`opentelemetry.trace.set_tracer_provider`, ``opentelemetry-instrument``), or those given to
`voicekit.telemetry.configure`. Otherwise every report point costs a dictionary lookup: the
OpenTelemetry modules are never imported by voicekit itself, and with no provider configured no
span is started.

The names (documented in the operations guide):

* spans: ``{vendor} {endpoint}`` (e.g. ``telecmi make_call``) for every vendor request, its
  retries included; ``voicekit send`` for each specification a bulk run sends (a campaign row);
  ``voicekit campaign`` for a campaign run;
* metrics: ``voicekit.calls``, ``voicekit.limiter.wait``, ``voicekit.claim.duration``,
  ``voicekit.leases``, ``voicekit.webhooks``, ``voicekit.webhook.lag``,
  ``voicekit.reconcile.decisions``.

No attribute holds a secret or a whole phone number: numbers, and keys that are numbers (7
digits or more), are masked to their last `SHOWN_DIGITS` digits unless
`voicekit.telemetry.configure` is told ``full_numbers=True``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from . import _observe
from ._logging import current_fields
from .errors import ActionOutcomeUnknownError, CallOutcomeUnknownError, RateLimitedError

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = ["SHOWN_DIGITS", "Telemetry", "current", "mask", "shown_key"]

#: The digits of a number an attribute shows (the rest are ``*``) unless full numbers are asked for.
SHOWN_DIGITS: Final = 3
_SCOPE: Final = "voicekit"
_AIOHTTP_INSTRUMENTATION: Final = "opentelemetry.instrumentation.aiohttp_client"


def mask(number: str) -> str:
    """`number` with every digit but its last `SHOWN_DIGITS` replaced by ``*``."""
    if _settings.full_numbers:
        return number
    keep = SHOWN_DIGITS
    out = []
    for ch in reversed(number):
        if ch.isdigit():
            if keep:
                keep -= 1
            else:
                ch = "*"
        out.append(ch)
    return "".join(reversed(out))


# A key that is a phone number (a campaign keyed by its numbers): 7 digits or more, maybe a "+".
_NUMBER_LIKE: Final = re.compile(r"\+?[0-9]{7,}")


def shown_key(key: str) -> str:
    """A row's key as an attribute shows it: masked like a number when it is one."""
    return mask(key) if _NUMBER_LIKE.fullmatch(key) else key


class _Settings:
    def __init__(self) -> None:
        self.full_numbers = False
        # True when `configure` was given providers: `telemetry` is theirs, whatever the globals
        self.pinned = False
        # the global providers `current` last saw, and what it made of them
        self.seen: tuple[object, object] | None = None
        self.telemetry: Telemetry | None = None


_settings = _Settings()


def current() -> Telemetry | None:
    """voicekit's telemetry, or None when no provider is configured (the common case: cheap)."""
    if _settings.pinned:
        return _settings.telemetry
    modules = sys.modules
    trace, metrics = modules.get("opentelemetry.trace"), modules.get("opentelemetry.metrics")
    if trace is None and metrics is None:
        return None  # nothing imported OpenTelemetry: no provider can be set
    tp = None if trace is None else trace.get_tracer_provider()
    mp = None if metrics is None else metrics.get_meter_provider()
    seen = _settings.seen
    if seen is not None and seen[0] is tp and seen[1] is mp:
        return _settings.telemetry
    _use(tp, mp)
    _settings.seen = (tp, mp)
    return _settings.telemetry


def _real(provider: object) -> bool:
    """Whether `provider` is an SDK's (not the API's placeholder or no-op)."""
    return provider is not None and type(provider).__name__ not in (
        "ProxyTracerProvider",
        "NoOpTracerProvider",
        "_ProxyMeterProvider",
        "NoOpMeterProvider",
    )


def _use(tracer_provider: object, meter_provider: object) -> None:
    """Make these providers' telemetry the current one (None: no real provider)."""
    tp = tracer_provider if _real(tracer_provider) else None
    mp = meter_provider if _real(meter_provider) else None
    telemetry = None if tp is None and mp is None else Telemetry(tp, mp)  # type: ignore[arg-type]
    old = _settings.telemetry
    if old is not None and old.sink is not None:
        _observe.detach(old.sink)
    if telemetry is not None and telemetry.sink is not None:
        _observe.attach(telemetry.sink)
    _settings.telemetry = telemetry


def configure(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    full_numbers: bool = False,
) -> None:
    """See `voicekit.telemetry.configure`."""
    _settings.full_numbers = bool(full_numbers)
    _settings.seen = None
    _settings.pinned = tracer_provider is not None or meter_provider is not None
    if _settings.pinned:
        _use(tracer_provider, meter_provider)
    else:
        _use(None, None)  # the global providers, as `current` finds them


def _outcome_of(error: BaseException | None, creates_call: bool) -> str:
    """A request's outcome: placed / ok, unknown, rate-limited or failed."""
    if error is None:
        return "placed" if creates_call else "ok"
    if isinstance(error, CallOutcomeUnknownError | ActionOutcomeUnknownError):
        return "unknown"
    if isinstance(error, RateLimitedError):
        return "rate-limited"
    return "failed"


_campaign_cache: tuple[object, tuple[tuple[str, str], ...]] = (None, ())


def _campaign_pairs() -> tuple[tuple[str, str], ...]:
    """The running campaign's attributes (from `log_fields`), as pairs; computed once a block."""
    global _campaign_cache
    fields = current_fields()
    if _campaign_cache[0] is not fields:
        pairs = tuple((f"voicekit.{k}", v) for k, v in fields.items() if k in ("campaign", "campaign_id", "worker"))
        _campaign_cache = (fields, pairs)
    return _campaign_cache[1]


class RequestTrace:
    """The span of one vendor request (all its attempts) and its count in ``voicekit.calls``:
    ``with telemetry.request(...) as trace:``, told each attempt's status and each retry."""

    __slots__ = ("_creates_call", "_endpoint", "_telemetry", "_token", "_vendor", "attempts", "span", "status")

    def __init__(self, telemetry: Telemetry, vendor: str, endpoint: str, creates_call: bool, key: str | None) -> None:
        self._telemetry, self._vendor, self._endpoint, self._creates_call = telemetry, vendor, endpoint, creates_call
        self.attempts = 0
        self.status: int | None = None
        self._token: object = None
        self.span: Span | None = None
        tracer = telemetry.tracer
        if tracer is not None:
            trace = telemetry.trace
            attributes: dict[str, Any] = {
                "voicekit.vendor": vendor,
                "voicekit.endpoint": endpoint,
                "http.request.method": "POST",
            }
            attributes.update(_campaign_pairs())
            if key is not None:
                attributes["voicekit.key"] = shown_key(key)
            self.span = span = tracer.start_span(
                f"{vendor} {endpoint}", kind=trace.SpanKind.CLIENT, attributes=attributes
            )
            if _AIOHTTP_INSTRUMENTATION in sys.modules:
                # the request's own span is voicekit's: the instrumentation is told to stand back
                context = telemetry.context
                self._token = context.attach(
                    context.set_value(_suppress_http_key(), True, trace.set_span_in_context(span))
                )

    def __enter__(self) -> RequestTrace:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        outcome = (
            _outcome_of(error, self._creates_call) if error is None or isinstance(error, Exception) else "cancelled"
        )
        if self._token is not None:
            self._telemetry.context.detach(self._token)
        span = self.span
        if span is not None:
            ended: dict[str, Any] = {"voicekit.outcome": outcome, "voicekit.retry_count": max(0, self.attempts - 1)}
            if self.status is not None:
                ended["http.response.status_code"] = self.status
            if error is not None:
                ended["error.type"] = type(error).__name__
                span.set_status(self._telemetry.trace.StatusCode.ERROR, type(error).__name__)
            span.set_attributes(ended)
            span.end()
        sink = self._telemetry.sink
        if sink is not None and self._creates_call:
            sink.request(self._vendor, self._endpoint, outcome)

    def retry(self, reason: str, delay: float) -> None:
        if self.span is not None:
            self.span.add_event(
                "voicekit.retry",
                {"voicekit.attempt": self.attempts, "voicekit.reason": reason, "voicekit.delay": delay},
            )


class Telemetry:
    """The tracer and instruments of one pair of providers."""

    def __init__(self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> None:
        from opentelemetry import context, trace

        from ._version import __version__

        self.context, self.trace = context, trace
        self.tracer: Tracer | None = (
            None if tracer_provider is None else tracer_provider.get_tracer(_SCOPE, __version__)
        )
        self.sink: _OtelSink | None = None
        if meter_provider is not None:
            self.sink = _OtelSink(meter_provider.get_meter(_SCOPE, __version__))

    def request(self, vendor: str, endpoint: str, creates_call: bool, key: str | None) -> RequestTrace:
        """The span of one vendor request: ``with telemetry.request(...) as trace:``.

        Inside it, the standard aiohttp client instrumentation is told not to trace the same
        request again (OpenTelemetry's suppression of HTTP instrumentation).
        """
        return RequestTrace(self, vendor, endpoint, creates_call, key)

    @contextmanager
    def send(self, key: str, number: str | None) -> Iterator[Span | None]:
        """The span of one specification sent by a bulk run (a campaign row)."""
        if self.tracer is None:
            yield None
            return
        attributes = {"voicekit.key": shown_key(key), **dict(_campaign_pairs())}
        if number:
            attributes["voicekit.to"] = mask(number)
        with self.tracer.start_as_current_span(
            "voicekit send",
            kind=self.trace.SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield span

    @contextmanager
    def campaign(self, attributes: Mapping[str, str | None]) -> Iterator[Span | None]:
        """The span of a campaign run."""
        if self.tracer is None:
            yield None
            return
        trace = self.trace
        with self.tracer.start_as_current_span(
            "voicekit campaign",
            kind=trace.SpanKind.INTERNAL,
            attributes={f"voicekit.{k}": v for k, v in attributes.items() if v is not None},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
                raise


def end_send_error(span: Span, error: BaseException, *, unknown: bool) -> None:
    """Close a send's span with the outcome of what it raised: unknown or failed."""
    from opentelemetry import trace

    span.set_attribute("voicekit.outcome", "unknown" if unknown else "failed")
    span.set_attribute("error.type", type(error).__name__)
    span.set_status(trace.StatusCode.ERROR, type(error).__name__)


def _suppress_http_key() -> Any:
    # The key OpenTelemetry's HTTP client instrumentations (aiohttp's among them) check before
    # they trace a request; the higher-level client that traces the request itself sets it.
    from opentelemetry import context

    key = getattr(context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None)
    if key is None:  # an API too old to have one: nothing to suppress
        key = context.create_key("voicekit_unused")
    return key


class _Tally:
    """A counter kept in a dictionary and read by an observable counter when the metrics are
    collected: adding to it costs a dictionary update, not a pass through the SDK."""

    def __init__(self, meter: Meter, name: str, unit: str, description: str) -> None:
        self.counts: dict[tuple[tuple[str, str], ...], int] = {}
        meter.create_observable_counter(name, callbacks=[self._observe], unit=unit, description=description)

    def add(self, n: int, pairs: tuple[tuple[str, str], ...]) -> None:
        self.counts[pairs] = self.counts.get(pairs, 0) + n

    def _observe(self, options: CallbackOptions) -> list[Observation]:
        from opentelemetry.metrics import Observation

        return [Observation(n, dict(pairs)) for pairs, n in list(self.counts.items())]


#: The shortest wait `voicekit.limiter.wait` records: a request the limiter let through at once
#: did not wait (and recording it would cost every request a pass through the SDK).
MIN_RECORDED_WAIT: Final = 0.001


class _OtelSink:
    """The metrics voicekit reports (`voicekit._observe.Sink`), as OpenTelemetry instruments."""

    def __init__(self, meter: Meter) -> None:
        self._calls = _Tally(meter, "voicekit.calls", "{call}", "Call-creating requests, by outcome")
        self._leases = _Tally(meter, "voicekit.leases", "{event}", "Lease renewals and losses")
        self._webhooks = _Tally(meter, "voicekit.webhooks", "{outcome}", "Webhook outcomes received, by result")
        self._reconcile = _Tally(meter, "voicekit.reconcile.decisions", "{row}", "Reconcile's decisions")
        self._limiter = meter.create_histogram(
            "voicekit.limiter.wait", unit="s", description="Waits the rate limiter imposed"
        )
        self._claims = meter.create_histogram(
            "voicekit.claim.duration", unit="s", description="Claim transactions of a journaled run"
        )
        self._lag = meter.create_histogram(
            "voicekit.webhook.lag", unit="s", description="From a call's start to its outcome's arrival"
        )

    def request(self, vendor: str, endpoint: str, outcome: str) -> None:
        pairs = (("voicekit.vendor", vendor), ("voicekit.endpoint", endpoint), ("voicekit.outcome", outcome))
        self._calls.add(1, pairs + _campaign_pairs())

    def call(self, vendor: str, outcome: str) -> None:
        """Counted per request in `request` (with its endpoint), not again per campaign row."""

    def limiter_wait(self, seconds: float) -> None:
        if seconds >= MIN_RECORDED_WAIT:
            self._limiter.record(seconds, dict(_campaign_pairs()))

    def claim(self, seconds: float, keys: int) -> None:
        self._claims.record(seconds, dict(_campaign_pairs()))

    def lease(self, event: str) -> None:
        self._leases.add(1, (("voicekit.event", event), *_campaign_pairs()))

    def webhooks(self, result: str, count: int) -> None:
        self._webhooks.add(count, (("voicekit.result", result), *_campaign_pairs()))

    def webhook_lag(self, seconds: float) -> None:
        self._lag.record(seconds, dict(_campaign_pairs()))

    def reconcile(self, decision: str, count: int) -> None:
        self._reconcile.add(count, (("voicekit.decision", decision), *_campaign_pairs()))
