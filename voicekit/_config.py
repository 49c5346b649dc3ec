"""Frozen configuration objects and environment lookup."""

from __future__ import annotations

import os
from typing import Final

import attrs

from . import _constants as C
from .errors import ConfigurationError, ValidationError

__all__ = ["NOT_GIVEN", "NotGiven", "RateLimit", "RetryPolicy", "Timeout", "env_or"]


class NotGiven:
    """Sentinel for "argument not given", distinct from an explicit ``None``."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()


def _positive(inst: object, attr: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValidationError(attr.name, f"must be > 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Timeout:
    """HTTP timeouts in seconds: `connect` for establishing the connection, `total` per attempt."""

    connect: float = attrs.field(default=C.DEFAULT_CONNECT_TIMEOUT, validator=_positive)
    total: float = attrs.field(default=C.DEFAULT_TOTAL_TIMEOUT, validator=_positive)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How transient failures are retried: capped attempts, a total time budget, full jitter.

    Call-creating requests are retried only when the request provably never reached the vendor or
    the vendor answered 429, whatever this policy says; read-only requests on every transient
    failure.
    """

    attempts: int = attrs.field(default=C.DEFAULT_MAX_ATTEMPTS)
    timeout: float = attrs.field(default=C.DEFAULT_RETRY_TIMEOUT, validator=_positive)
    initial: float = attrs.field(default=C.DEFAULT_BACKOFF_INITIAL)
    max_delay: float = attrs.field(default=C.DEFAULT_BACKOFF_MAX)
    max_retry_after: float = attrs.field(default=C.MAX_RETRY_AFTER)

    @attempts.validator
    def _check_attempts(self, attr: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValidationError("attempts", f"must be >= 1, got {value!r}")

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(attempts=1)


@attrs.frozen(kw_only=True)
class RateLimit:
    """At most `rate` requests start in any one-second window; `burst` may start back to back.

    `burst` defaults to 1 (requests evenly spaced at 1/rate). A larger burst lets up to `burst`
    requests start at once after a quiet spell, but never more than `rate` in any second.
    """

    rate: float = attrs.field(validator=_positive)
    burst: int = attrs.field(default=1)

    @burst.validator
    def _check_burst(self, attr: attrs.Attribute[int], value: int) -> None:
        if value < 1 or value > max(1, int(self.rate)):
            raise ValidationError("burst", f"must be between 1 and the rate, got {value!r}")

    @classmethod
    def coerce(cls, value: RateLimit | float | int | None) -> RateLimit | None:
        if value is None or isinstance(value, RateLimit):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("rate_limit", "must be requests per second, a RateLimit or None")
        return cls(rate=float(value))


def env_or(value: str | None, var: str, what: str, *, required: bool = True) -> str | None:
    """Return `value`, else the environment variable `var`, else raise ConfigurationError."""
    if value is not None and value != "":
        return value
    found = os.environ.get(var)
    if found:
        return found
    if required:
        raise ConfigurationError(f"no {what} given: pass it as an argument or set {var}")
    return None
