"""Frozen configuration objects and environment lookup."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final, TypeVar

import attrs

from . import _constants as C
from ._validate import check_int_range, check_number, show
from .errors import ConfigurationError, ValidationError

__all__ = [
    "NOT_GIVEN",
    "NotGiven",
    "RateLimit",
    "RetryPolicy",
    "Timeout",
    "checked_setting",
    "env_or",
]

T = TypeVar("T")


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


#: Sane ceilings. A timeout or a backoff longer than a day is a mistake (a unit confusion), not a
#: setting. Attempts are also bounded by the retry time budget, so their ceiling only refuses the
#: absurd. A rate this high means "effectively unlimited" (benchmarks use 10**6); above it the
#: limiter's arithmetic would lose meaning.
MAX_SECONDS: Final = 86_400.0
MAX_ATTEMPTS: Final = 10_000
MAX_RATE: Final = 1_000_000_000.0


def _seconds(*, allow_zero: bool = False) -> Callable[[object, attrs.Attribute[float], object], None]:
    """An attrs validator: a finite number of seconds in (0, MAX_SECONDS] (or [0, ...])."""

    def check(inst: object, attr: attrs.Attribute[float], value: object) -> None:
        check_number(attr.name, value, 0.0, MAX_SECONDS, lo_open=not allow_zero)

    return check


def _float(value: object) -> object:
    # Runs after the validators' type checks would: only a real int or float is converted, so the
    # validator still sees (and names) anything else.
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= 2**63:
        return float(value)
    return value


@attrs.frozen(kw_only=True)
class Timeout:
    """HTTP timeouts in seconds: `connect` for establishing the connection, `total` per attempt.

    Each is a finite number of seconds, above 0 and at most a day.
    """

    connect: float = attrs.field(default=C.DEFAULT_CONNECT_TIMEOUT, converter=_float, validator=_seconds())
    total: float = attrs.field(default=C.DEFAULT_TOTAL_TIMEOUT, converter=_float, validator=_seconds())


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How transient failures are retried: capped attempts, a total time budget, full jitter.

    Call-creating requests are retried only when the request provably never reached the vendor or
    the vendor answered 429, whatever this policy says; read-only requests on every transient
    failure.

    `attempts` is 1-10000 (1 never retries); `timeout` (the budget) is above 0; `initial`,
    `max_delay` and `max_retry_after` are 0 or more; all in seconds, at most a day.
    """

    attempts: int = attrs.field(default=C.DEFAULT_MAX_ATTEMPTS)
    timeout: float = attrs.field(default=C.DEFAULT_RETRY_TIMEOUT, converter=_float, validator=_seconds())
    initial: float = attrs.field(
        default=C.DEFAULT_BACKOFF_INITIAL, converter=_float, validator=_seconds(allow_zero=True)
    )
    max_delay: float = attrs.field(default=C.DEFAULT_BACKOFF_MAX, converter=_float, validator=_seconds(allow_zero=True))
    max_retry_after: float = attrs.field(
        default=C.MAX_RETRY_AFTER, converter=_float, validator=_seconds(allow_zero=True)
    )

    @attempts.validator
    def _check_attempts(self, attr: attrs.Attribute[int], value: object) -> None:
        check_int_range("attempts", value, 1, MAX_ATTEMPTS)

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(attempts=1)


@attrs.frozen(kw_only=True)
class RateLimit:
    """At most `rate` requests start in any one-second window; `burst` may start back to back.

    `rate` is a finite number above 0 and at most 10**9. `burst` defaults to 1 (requests evenly
    spaced at 1/rate). A larger burst lets up to `burst` requests start at once after a quiet
    spell, but never more than `rate` in any second.
    """

    rate: float = attrs.field(converter=_float)
    burst: int = attrs.field(default=1)

    @rate.validator
    def _check_rate(self, attr: attrs.Attribute[float], value: object) -> None:
        check_number("rate", value, 0.0, MAX_RATE, lo_open=True)

    @burst.validator
    def _check_burst(self, attr: attrs.Attribute[int], value: object) -> None:
        top = max(1, int(self.rate))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ValidationError("burst", f"must be an integer between 1 and the rate ({top}), got {show(value)}")

    @classmethod
    def coerce(cls, value: object) -> RateLimit | None:
        """`value` as a RateLimit: None (no limit), a RateLimit, or requests per second."""
        if value is None or isinstance(value, RateLimit):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(
                "rate_limit", f"must be requests per second, a voicekit.RateLimit or None, got {show(value)}"
            )
        check_number("rate_limit", value, 0.0, MAX_RATE, lo_open=True)
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


def checked_setting(value: object, var: str, field: str, check: Callable[[str, object], T]) -> T | None:
    """`value` passed through `check`, else the environment variable `var` through it, else None.

    An argument that breaks the rule raises `ValidationError` naming `field`; a value from the
    environment raises `ConfigurationError` naming the variable, so the message points at where
    the bad value came from. An empty argument or variable counts as not given.
    """
    if value is not None and not (isinstance(value, str) and value == ""):
        return check(field, value)
    found = os.environ.get(var)
    if not found:
        return None
    try:
        return check(var, found)
    except ValidationError as exc:
        raise ConfigurationError(f"the environment variable {exc}") from None
