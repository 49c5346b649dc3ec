"""What may be retried, and how long to wait before the next attempt."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from ._config import RetryPolicy

__all__ = ["backoff_delay", "parse_retry_after"]


def backoff_delay(policy: RetryPolicy, retry_number: int, retry_after: float | None) -> float:
    """Seconds to wait before retry number `retry_number` (1-based): full jitter, or Retry-After.

    Full jitter (a uniform draw below the exponential cap) spreads many clients' retries apart;
    a vendor's Retry-After is honoured as a floor.
    """
    cap = min(policy.max_delay, policy.initial * (2 ** (retry_number - 1)))
    delay = random.uniform(0, cap) if cap > 0 else 0.0
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def parse_retry_after(value: str | None) -> float | None:
    """Parse a Retry-After header (delta-seconds or an HTTP date) into seconds, or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds)
