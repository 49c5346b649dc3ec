"""OpenTelemetry traces and metrics (the ``otel`` extra: ``opentelemetry-api``).

voicekit uses the OpenTelemetry API only. Configure an SDK (or run under
``opentelemetry-instrument``) and voicekit's spans and metrics go to its providers; configure
nothing and they cost nothing (voicekit never imports OpenTelemetry itself). Configure the
providers before the first request: voicekit looks for them as each request starts.

Spans (`SPANS`):

* ``{vendor} {endpoint}`` (CLIENT), e.g. ``telecmi make_call``: one vendor request with all its
  retries. Attributes ``voicekit.vendor``, ``voicekit.endpoint``, ``http.request.method``,
  ``http.response.status_code`` (the last answer's), ``voicekit.retry_count``,
  ``voicekit.outcome`` (``placed`` or ``ok``, ``unknown``, ``rate-limited``, ``failed``),
  ``voicekit.key`` (a bulk run's or campaign's row), ``error.type``; an event
  ``voicekit.retry`` per retry (attempt, reason, delay).
* ``voicekit send`` (INTERNAL): one specification of a bulk run (``dial_many``,
  ``notify_many``, a campaign row): ``voicekit.key``, ``voicekit.to`` (masked),
  ``voicekit.outcome`` (``placed``, ``unknown``, ``failed``). Its request's span is its child.
* ``voicekit campaign`` (INTERNAL): a campaign run (`voicekit.journal.run_campaign`, ``voicekit
  dial``): ``voicekit.campaign``, ``voicekit.campaign_id``, ``voicekit.worker``,
  ``voicekit.vendor``, and at its end ``voicekit.rows.<state>`` and ``voicekit.exit_status``.

Inside a request's span the standard aiohttp client instrumentation
(``opentelemetry-instrumentation-aiohttp-client``) is told not to trace it again, the way
OpenTelemetry's higher-level client instrumentations do: with both on, each vendor request is
one span, voicekit's, and the process's other aiohttp requests are traced as before.

Metrics (`METRICS`), through the meter ``voicekit``:

* ``voicekit.calls`` (counter): call-creating requests by ``voicekit.vendor``,
  ``voicekit.endpoint`` and ``voicekit.outcome``;
* ``voicekit.limiter.wait`` (histogram, s): each request's wait for the rate limiter;
* ``voicekit.claim.duration`` (histogram, s): each claim transaction of a journaled run;
* ``voicekit.leases`` (counter): lease events by ``voicekit.event`` (``renewed``, ``lost``);
* ``voicekit.webhooks`` (counter): webhook outcomes by ``voicekit.result`` (``written``,
  ``duplicate``, ``unmatched``, ``foreign``, ``refused``);
* ``voicekit.webhook.lag`` (histogram, s): from a call's start (the vendor's clock) to its
  outcome's arrival;
* ``voicekit.reconcile.decisions`` (counter): reconcile's decisions by ``voicekit.decision``
  (``placed``, ``not_placed``, ``ambiguous``, ``waiting``).

Within a campaign run, spans and measurements also carry ``voicekit.campaign``,
``voicekit.campaign_id`` and ``voicekit.worker``.

No attribute holds a secret, a message text or a whole phone number: a number shows its last
three digits (``*********210``), and so does a key made of 7 digits or more (a campaign keyed by
its numbers), unless ``configure(full_numbers=True)`` opts in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from . import _otel

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["METRICS", "SPANS", "configure"]

#: The span names voicekit starts (``{vendor} {endpoint}`` stands for each vendor endpoint).
SPANS: Final = ("{vendor} {endpoint}", "voicekit send", "voicekit campaign")
#: The metric names voicekit records.
METRICS: Final = (
    "voicekit.calls",
    "voicekit.limiter.wait",
    "voicekit.claim.duration",
    "voicekit.leases",
    "voicekit.webhooks",
    "voicekit.webhook.lag",
    "voicekit.reconcile.decisions",
)


def configure(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    full_numbers: bool = False,
) -> None:
    """Send voicekit's telemetry to these providers instead of the global ones.

    Args:
        tracer_provider: the provider of voicekit's spans (None: the global one, if set).
        meter_provider: the provider of voicekit's metrics (None: the global one, if set).
        full_numbers: show whole phone numbers in attributes (default: masked). Opt in only
            where the telemetry backend may hold personal data.

    Calling it again replaces the earlier settings; ``configure()`` goes back to the defaults.
    """
    _otel.configure(tracer_provider=tracer_provider, meter_provider=meter_provider, full_numbers=full_numbers)
