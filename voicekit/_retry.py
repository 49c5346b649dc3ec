"""How long to wait before the next attempt: pure functions of the policy and what the vendor said."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from ._config import RetryPolicy

__all__ = ["backoff_delay", "parse_retry_after", "retry_delay"]

# Past this exponent the cap is max_delay anyway; stopping here keeps 2**n from overflowing.
_MAX_EXPONENT = 60


def backoff_delay(policy: RetryPolicy, retry_number: int, retry_after: float | None) -> float:
    """Seconds to wait before retry number `retry_number` (1-based): full jitter, or Retry-After.

    Full jitter (a uniform draw below the exponential cap) spreads many clients' retries apart;
    a vendor's Retry-After is honoured as a floor.
    """
    exponent = min(max(retry_number - 1, 0), _MAX_EXPONENT)
    cap = min(policy.max_delay, policy.initial * (2**exponent))
    delay = random.uniform(0, cap) if cap > 0 else 0.0
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def retry_delay(policy: RetryPolicy, attempt: int, retry_after: float | None, time_left: float) -> float | None:
    """The delay before attempt `attempt + 1`, or None when the policy says to give up.

    It gives up when the attempts are spent, when the vendor's Retry-After is longer than the
    policy waits out silently, or when the wait would overrun the request's time budget.
    """
    if attempt >= policy.attempts:
        return None
    if retry_after is not None and retry_after > policy.max_retry_after:
        return None
    delay = backoff_delay(policy, attempt, retry_after)
    if delay > time_left:
        return None
    return delay


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header (delta-seconds or an HTTP date) in seconds, or None.

    A value that is not a finite number nor a date (``1e999``, ``nan``, garbage) is ignored, as
    if the header were absent: it says nothing usable about when to come back.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
