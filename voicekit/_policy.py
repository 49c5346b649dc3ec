"""Calling windows: when a campaign may ring a number, judged in the callee's local time.

Regulators bar commercial calls outside set hours in the callee's time (India, for one, bars
them from 21:00 to 09:00). A `Policy` holds such a window and says which time zones each row is
judged in; this module is the pure logic behind it, plus the small parsers the command line uses.
It does no I/O except reading a suppression file, and never touches the network.

The rules:

* A `Window` is ``HH:MM-HH:MM`` in 24-hour wall-clock time, minute precision. It is open from its
  start (inclusive) to its end (exclusive); a window whose end is before its start crosses
  midnight (``21:00-06:00`` is open at 23:00 and at 05:59, closed at 06:00). A start equal to its
  end is refused: it would be either empty or the whole day, and nobody can tell which.
* The zones of a row come from the number (``tz="auto"``: phonenumbers' zone data, which names
  several zones for a number that spans them, e.g. a North American toll-free number), from a
  fixed zone (``tz="Asia/Kolkata"``), or from the row's own ``tz`` column (``tz="column"``). When
  none results, the policy's default zone is used, and without one the row is refused: a window
  is never judged in a guessed zone.
* A row with several zones may be called only when the window is open in *every* one of them.
* Local time is wall-clock time, read through the IANA time-zone database (`zoneinfo`), so
  daylight-saving changes are exact: a window whose start falls in a spring-forward gap opens at
  the first instant that exists after it (the end of the gap); when clocks fall back, a start in
  the repeated hour opens at its first occurrence, and wall-clock time that re-enters the window
  opens it again.
* `Policy.next_open` looks at most `HORIZON` (8 days) ahead; zones whose windows never overlap
  have no opening, and it says so with ``None``.

Redials: a row whose call was missed (not answered, as the webhooks or reconcile tell) is
dialed again after the policy's delay for that reason (``retry={"missed": 1800}``; ``"busy"``
for a call whose hangup reason says busy, where a vendor reports one; without a ``"busy"``
delay, such a call counts as missed), up to `Policy.max_attempts` calls in all. Never after an
answered call, a failure, or an unknown outcome.

The parsers (`parse_duration`, `parse_until`, `parse_retry`, `normalize_number`,
`read_suppress_file`) raise `ValidationError` for bad input, quoting at most 60 characters of it.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final
from zoneinfo import ZoneInfo

import attrs

from ._validate import show
from .errors import ConfigurationError, ValidationError

__all__ = [
    "HORIZON",
    "Policy",
    "Window",
    "normalize_number",
    "parse_duration",
    "parse_retry",
    "parse_until",
    "read_suppress_file",
]

#: How far ahead `Policy.next_open` looks, in seconds.
HORIZON: Final = 8 * 86_400

# Longer input than any sensible value of its kind is refused before any regex runs.
_TEXT_MAX: Final = 64
_ZONE_NAME_MAX: Final = 100

_WINDOW = re.compile(r"([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})")
_WINDOW_HINT: Final = "HH:MM-HH:MM in 24-hour time (e.g. 09:00-21:00)"

# Names zoneinfo loads that are not places: the machine's own zone, leap-second ("right/") and
# POSIX copies of the database, and the "Factory" placeholder.
_PSEUDO_ZONES: Final = frozenset({"localtime", "posixrules", "Factory"})
_PSEUDO_PREFIXES: Final = ("posix/", "right/")
_UNKNOWN_ZONE: Final = "Etc/Unknown"

# The earliest and latest `now` accepted: far enough inside datetime's range that every date
# `next_open` looks at exists.
_NOW_MIN: Final = 0.0
_NOW_MAX: Final = 221_845_392_000.0  # 9000-01-01T00:00Z

_NUMBER = re.compile(r"[1-9][0-9]{6,15}")
_NUMBER_JUNK: Final = str.maketrans("", "", " -.()")
_NUMBER_RULE: Final = "7-16 digits without a leading zero; +, spaces, dashes, dots and parentheses are ignored"
_NUMBER_INT_MIN, _NUMBER_INT_MAX = 10**6, 10**16

_NUM = r"[0-9]+(?:\.[0-9]+)?"
_BARE_SECONDS = re.compile(_NUM)
_DURATION = re.compile(rf"(?:{_NUM}\s*[dhms]\s*)+")
_DURATION_PART = re.compile(rf"({_NUM})\s*([dhms])")
_UNIT_SECONDS: Final = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNIT_ORDER: Final = "dhms"
_DURATION_MAX: Final = 366 * 86_400
_DURATION_HINT: Final = "a duration like 45s, 30m, 2h, 1h30m or 1d (a bare number is seconds)"

_SUPPRESS_COLUMNS: Final = ("to", "called", "number")

#: The outcomes a redial may follow, and the most calls a row may get.
RETRY_REASONS: Final = ("missed", "busy")
MAX_ATTEMPTS: Final = 20


# -- windows -------------------------------------------------------------------------------


def _check_boundary(name: str, value: Any) -> None:
    if not isinstance(value, dt.time):
        raise ValidationError("window", f"{name} must be a datetime.time, got {type(value).__name__}")
    if value.tzinfo is not None:
        raise ValidationError("window", f"{name} must be a naive wall-clock time, got {value.isoformat()}")
    if value.second or value.microsecond:
        raise ValidationError("window", f"{name} must be a whole minute, got {value.isoformat()}")


def _validate_window(instance: Window, attribute: attrs.Attribute[dt.time], value: dt.time) -> None:
    _check_boundary(attribute.name, value)


@attrs.frozen
class Window:
    """A daily calling window in wall-clock time: open from `start` (inclusive) to `end` (exclusive).

    An `end` before `start` crosses midnight. Both are naive, whole-minute times, and differ.
    """

    start: dt.time = attrs.field(validator=_validate_window)
    end: dt.time = attrs.field(validator=_validate_window)

    def __attrs_post_init__(self) -> None:
        if self.start == self.end:
            raise ValidationError(
                "window", f"start and end are both {self.start:%H:%M}: the window would be empty (or the whole day)"
            )

    @classmethod
    def parse(cls, text: str) -> Window:
        """A window from ``HH:MM-HH:MM`` (24-hour; a one-digit hour is fine; it may cross midnight).

        Raises:
            ValidationError: (field ``"window"``) for any other shape, an hour above 23 (``24:00``
                included), a minute above 59, or a start equal to the end.
        """
        if not isinstance(text, str):
            raise ValidationError("window", f"must be {_WINDOW_HINT}, got {type(text).__name__}")
        if len(text) > _TEXT_MAX:
            raise ValidationError("window", f"must be {_WINDOW_HINT}, got {len(text)} characters")
        # `[0-9]` matches ASCII digits only: no other script's digits reach int().
        match = _WINDOW.fullmatch(text.strip())
        if match is None:
            raise ValidationError("window", f"must be {_WINDOW_HINT}, got {show(text)}")
        h1, m1, h2, m2 = (int(group) for group in match.groups())
        times: list[dt.time] = []
        for hour, minute in ((h1, m1), (h2, m2)):
            if hour == 24 and minute == 0:
                raise ValidationError(
                    "window", f"24:00 is not a time of day, write 00:00 (a window may cross midnight); got {show(text)}"
                )
            if hour > 23:
                raise ValidationError("window", f"hour {hour} is not 00-23 in {show(text)}")
            if minute > 59:
                raise ValidationError("window", f"minute {minute} is not 00-59 in {show(text)}")
            times.append(dt.time(hour, minute))
        return cls(times[0], times[1])

    @property
    def crosses_midnight(self) -> bool:
        """Whether the window runs past midnight (its end is before its start)."""
        return self.end < self.start

    def is_open_at(self, local: dt.time) -> bool:
        """Whether the window is open at `local`, a wall-clock time (a time zone on it is ignored)."""
        if local.tzinfo is not None:
            local = local.replace(tzinfo=None)
        if self.crosses_midnight:
            return local >= self.start or local < self.end
        return self.start <= local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


# -- time zones ----------------------------------------------------------------------------


def _zone_problem(name: str) -> str | None:
    """Why `name` is not a usable IANA zone name, or None when it is."""
    if not name or len(name) > _ZONE_NAME_MAX:
        return "not an IANA time-zone name"
    if name in _PSEUDO_ZONES or name.startswith(_PSEUDO_PREFIXES):
        return "not a place's time zone (give an IANA name such as Asia/Kolkata)"
    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError, UnicodeError):
        # ZoneInfoNotFoundError is a KeyError; a malformed key is a ValueError; a directory such
        # as "America", or an over-long name, is an OSError.
        return "not a known time zone (give an IANA name such as Asia/Kolkata or America/New_York)"
    return None


@functools.lru_cache(maxsize=1024)
def _zone_ok(name: str) -> bool:
    return _zone_problem(name) is None


def _check_zone(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"must be an IANA time-zone name, got {type(value).__name__}")
    problem = _zone_problem(value)
    if problem is not None:
        raise ValidationError(field, f"{show(value)} is {problem}")
    return value


def _number_digits(number: Any) -> str | None:
    """The digits of a number as a row may give it, or None when it is not a number at all."""
    if isinstance(number, bool):
        return None
    if isinstance(number, int):
        return str(number) if 0 < number < 10**17 else None
    if not isinstance(number, str) or len(number) > _TEXT_MAX:
        return None
    digits = number.strip().translate(_NUMBER_JUNK).removeprefix("+")
    return digits if re.fullmatch(r"[0-9]{1,17}", digits) else None


def _zones_for_number(number: Any) -> tuple[str, ...]:
    digits = _number_digits(number)
    if digits is None:
        return ()
    # Imported here: phonenumbers takes ~40 ms to import, and only "auto" rows need it.
    import phonenumbers
    from phonenumbers import timezone as pn_timezone

    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return ()
    names = pn_timezone.time_zones_for_number(parsed)
    return tuple(sorted({name for name in names if name != _UNKNOWN_ZONE and _zone_ok(name)}))


def _check_now(now: Any) -> float:
    if isinstance(now, bool) or not isinstance(now, int | float):
        raise ValidationError("now", f"must be epoch seconds, got {type(now).__name__}")
    if not (math.isfinite(now) and _NOW_MIN <= now <= _NOW_MAX):
        raise ValidationError("now", f"must be epoch seconds between 1970 and 9000, got {show(now)}")
    return float(now)


def _load_zones(zones: Sequence[str]) -> list[ZoneInfo]:
    if isinstance(zones, str):
        # A bare string is a sequence of one-letter "zones": certainly a mistake.
        zones = (zones,)
    if not zones:
        raise ValidationError("tz", "no time zone to judge the window in; give a default zone (--tz-default ZONE)")
    return [ZoneInfo(name if isinstance(name, str) and _zone_ok(name) else _check_zone("tz", name)) for name in zones]


def _local_time(zone: ZoneInfo, t: float) -> dt.time:
    return dt.datetime.fromtimestamp(t, zone).time()


def _utc_offset(zone: ZoneInfo, t: int) -> dt.timedelta | None:
    return dt.datetime.fromtimestamp(t, zone).utcoffset()


def _instants(zone: ZoneInfo, day: dt.date, wall: dt.time) -> Iterator[int]:
    """The instants at which the wall clock of `zone` reads `wall` on `day`, or where it jumps past it.

    Normally one instant. In a repeated (fall-back) hour, both occurrences and the transition
    between them; in a skipped (spring-forward) gap, the transition (the first instant after the
    gap) and the two instants the naive time maps to under either offset.
    """
    naive = dt.datetime.combine(day, wall)
    first = int(naive.replace(tzinfo=zone, fold=0).timestamp())
    second = int(naive.replace(tzinfo=zone, fold=1).timestamp())
    yield first
    if first == second:
        return
    yield second
    lo, hi = min(first, second), max(first, second)
    target = _utc_offset(zone, hi)
    if _utc_offset(zone, lo) == target:
        return
    # The transition: the first second in (lo, hi] with the later offset (a dozen steps for an hour).
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _utc_offset(zone, mid) == target:
            hi = mid
        else:
            lo = mid
    yield hi


def _zone_next_open(window: Window, zone: ZoneInfo, t: float) -> float | None:
    """The earliest instant >= `t` at which `window` is open in `zone` (None: none in 10 days).

    The window becomes open only where the wall clock reaches its start, or where a clock change
    makes the wall clock jump into it; `_instants` yields every such instant of a day (and some
    more), and each candidate is checked, so the earliest open candidate is the answer.
    """
    if window.is_open_at(_local_time(zone, t)):
        return t
    today = dt.datetime.fromtimestamp(t, zone).date()
    best: int | None = None
    for offset in range(-1, 11):
        day = today + dt.timedelta(days=offset)
        for wall in (window.start, window.end):
            for instant in _instants(zone, day, wall):
                if instant > t and (best is None or instant < best) and window.is_open_at(_local_time(zone, instant)):
                    best = instant
        # Every day has an opening (its start, or the end of a gap over it), and a later day's
        # openings come after an earlier day's: once tomorrow is done, the earliest is known.
        if best is not None and offset >= 1:
            break
    return None if best is None else float(best)


# -- the policy ----------------------------------------------------------------------------


def _validate_window_field(instance: Policy, attribute: attrs.Attribute[Window | None], value: Any) -> None:
    if value is not None and not isinstance(value, Window):
        raise ValidationError("window", f"must be a Window or None, got {type(value).__name__}")


def _validate_tz(instance: Policy, attribute: attrs.Attribute[str], value: Any) -> None:
    if value in ("auto", "column"):
        return
    if not isinstance(value, str):
        raise ValidationError("tz", f'must be "auto", "column" or an IANA time-zone name, got {type(value).__name__}')
    _check_zone("tz", value)


def _validate_tz_default(instance: Policy, attribute: attrs.Attribute[str | None], value: Any) -> None:
    if value is not None:
        _check_zone("tz_default", value)


def _validate_max_attempts(instance: Policy, attribute: attrs.Attribute[int], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS:
        raise ValidationError("max_attempts", f"must be an integer from 1 to {MAX_ATTEMPTS}, got {show(value)}")


def _retry_items(value: Any) -> tuple[tuple[str, float], ...]:
    """``{"missed": 1800}`` (or pairs) as sorted ``(reason, seconds)`` pairs, checked."""
    items = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = [(reason, delay) for reason, delay in items]
    except (TypeError, ValueError):
        raise ValidationError("retry", f"must map missed / busy to seconds, got {show(value)}") from None
    found: dict[str, float] = {}
    for reason, delay in pairs:
        if reason not in RETRY_REASONS:
            raise ValidationError("retry", f"a redial follows a missed or busy call, got {show(reason)}")
        if reason in found:
            raise ValidationError("retry", f"{reason} is given twice")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 < delay <= 366 * 86_400:
            raise ValidationError("retry", f"the delay after a {reason} call must be 0 < seconds <= 366 days")
        found[reason] = float(delay)
    return tuple(sorted(found.items()))


@attrs.frozen(kw_only=True)
class Policy:
    """When a campaign may call: a window in the callee's local time, and where that time comes from.

    Attributes:
        window: the daily calling window, or None to call at any time.
        tz: ``"auto"`` (the zones of the number), ``"column"`` (each row's ``tz`` column) or an
            IANA zone name every row is judged in.
        tz_default: the zone of a row whose number or column gives none; without it such a row
            is refused.
    """

    window: Window | None = attrs.field(default=None, validator=_validate_window_field)
    tz: str = attrs.field(default="auto", validator=_validate_tz)
    tz_default: str | None = attrs.field(default=None, validator=_validate_tz_default)
    #: The most calls a row may get (its first, and the redials `retry` allows).
    max_attempts: int = attrs.field(default=1, validator=_validate_max_attempts)
    #: Seconds to wait before dialing a row again, by the outcome it follows: ``"missed"``,
    #: ``"busy"`` (a mapping, stored as sorted pairs).
    retry: tuple[tuple[str, float], ...] = attrs.field(default=(), converter=_retry_items)

    @property
    def active(self) -> bool:
        """Whether it changes anything: a window, or redials."""
        return self.window is not None or (self.max_attempts > 1 and bool(self.retry))

    def redial_after(self, answered: bool, hangup_reason: str | None = None) -> float | None:
        """Seconds to wait before dialing again a row whose call ended so (None: never again)."""
        if answered or self.max_attempts <= 1:
            return None
        delays = dict(self.retry)
        if hangup_reason is not None and "busy" in hangup_reason.lower() and "busy" in delays:
            return delays["busy"]
        return delays.get("missed")

    def zones(self, number: str | int | None, column: str | None = None) -> tuple[str, ...]:
        """The time zones a row's window is judged in (sorted, no duplicates); ``()`` without a window.

        Args:
            number: the row's number: digits, ``+`` digits, an int, or with spaces or dashes.
            column: the row's ``tz`` column (used with ``tz="column"`` only).

        Raises:
            ValidationError: (field ``"tz"``) when no zone results and there is no default zone.
        """
        if self.window is None:
            return ()
        if self.tz == "auto":
            found = _zones_for_number(number)
            why = f"no time zone is known for the number {show(number)}"
        elif self.tz == "column":
            value = column.strip() if isinstance(column, str) else ""
            if value and not _zone_ok(value):
                # A typo is not an empty cell: judging the row in the default zone would guess.
                raise ValidationError("tz", f"the row's tz column holds {show(column)}, not a known time zone")
            found = (value,) if value else ()
            why = "the row's tz column is empty"
        else:
            return (self.tz,)
        if found:
            return found
        if self.tz_default is not None:
            return (self.tz_default,)
        raise ValidationError("tz", f"{why}; give a default zone (--tz-default ZONE)")

    def is_open(self, zones: Sequence[str], now: float) -> bool:
        """Whether a row judged in `zones` may be called at epoch `now` (open in every zone).

        Always true without a window.

        Raises:
            ValidationError: for empty `zones` while there is a window (field ``"tz"``), an unknown
                zone (``"tz"``), or a `now` that is not finite epoch seconds (``"now"``).
        """
        if self.window is None:
            return True
        loaded = _load_zones(zones)
        now = _check_now(now)
        window = self.window
        return all(window.is_open_at(_local_time(zone, now)) for zone in loaded)

    def next_open(self, zones: Sequence[str], now: float) -> float | None:
        """The earliest epoch second at or after `now` at which the window is open in every zone.

        `now` itself when the window is open then (and always without a window); None when it
        does not open in all the zones at once within `HORIZON` (8 days) of `now`.

        Raises:
            ValidationError: as `is_open`.
        """
        if self.window is None:
            return now
        loaded = _load_zones(zones)
        now = _check_now(now)
        window = self.window
        deadline = now + HORIZON
        t = now
        # Each zone's next opening at or after t is at most the common one, so their latest is a
        # lower bound that only grows; it stops where every zone is open. Each step lands on an
        # opening of some zone, and there are a few per zone per day: the bound is generous.
        for _ in range(64 + 32 * len(loaded)):
            latest = t
            for zone in loaded:
                found = _zone_next_open(window, zone, t)
                if found is None or found > deadline:
                    return None
                latest = max(latest, found)
            if latest == t:
                return t
            t = latest
        return None  # pragma: no cover - unreachable: the loop ends well within its bound

    def to_json(self) -> dict[str, Any]:
        """The policy as a plain JSON object; `from_json` reads it back."""
        data: dict[str, Any] = {
            "window": None if self.window is None else str(self.window),
            "tz": self.tz,
            "tz_default": self.tz_default,
        }
        if self.max_attempts > 1 or self.retry:  # a policy without redials keeps its older form
            data["max_attempts"] = self.max_attempts
            data["retry"] = dict(self.retry)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        """A policy from `to_json`'s output; unknown keys are ignored, missing ones take their defaults.

        Raises:
            ValidationError: for a value that is not valid (or `data` that is not an object).
        """
        if not isinstance(data, Mapping):
            raise ValidationError("policy", f"must be a JSON object, got {type(data).__name__}")
        window = data.get("window")
        tz = data.get("tz", "auto")
        return cls(
            window=None if window is None else Window.parse(window),
            tz="auto" if tz is None else tz,
            tz_default=data.get("tz_default"),
            max_attempts=data.get("max_attempts", 1),
            retry=data.get("retry") or (),
        )

    def describe(self) -> str:
        """The policy in one line, for humans; ``""`` when it changes nothing."""
        parts = []
        if self.window is not None:
            if self.tz not in ("auto", "column"):
                parts.append(f"window {self.window} in {self.tz} time")
            else:
                source = "zones from the number" if self.tz == "auto" else "zone from the tz column"
                fallback = "" if self.tz_default is None else f", else {self.tz_default}"
                parts.append(f"window {self.window} in the callee's time ({source}{fallback})")
        if self.max_attempts > 1 and self.retry:
            after = ", ".join(f"{reason} after {_seconds_text(delay)}" for reason, delay in self.retry)
            parts.append(f"up to {self.max_attempts} attempts ({after})")
        return "; ".join(parts)


# -- command-line values -------------------------------------------------------------------


def _check_text(field: str, text: Any, what: str) -> str:
    if not isinstance(text, str):
        raise ValidationError(field, f"must be {what}, got {type(text).__name__}")
    if len(text) > _TEXT_MAX:
        raise ValidationError(field, f"must be {what}, got {len(text)} characters")
    stripped = text.strip()
    if not stripped:
        raise ValidationError(field, f"must be {what}, got an empty value")
    return stripped


def parse_duration(text: str, *, field: str = "duration") -> float:
    """Seconds from ``45s``, ``30m``, ``2h``, ``1h30m``, ``1d``, ``1.5h`` or ``90`` (a bare number is seconds).

    Units go from largest to smallest, each at most once; whitespace around is fine.

    Raises:
        ValidationError: (field `field`) for an empty, malformed, negative, zero, non-finite or
            over-long value, an unknown unit, or more than 366 days.
    """
    stripped = _check_text(field, text, _DURATION_HINT)
    if stripped.startswith("-"):
        raise ValidationError(field, f"must be more than zero, got {show(text)}")
    if _BARE_SECONDS.fullmatch(stripped):
        seconds = float(stripped)
    elif _DURATION.fullmatch(stripped):
        seconds = 0.0
        last = -1
        for match in _DURATION_PART.finditer(stripped):
            rank = _UNIT_ORDER.index(match.group(2))
            if rank <= last:
                raise ValidationError(
                    field, f"units must go from largest to smallest, each once (e.g. 1h30m), got {show(text)}"
                )
            last = rank
            seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValidationError(field, f"must be {_DURATION_HINT}, got {show(text)}")
    if not math.isfinite(seconds):  # pragma: no cover - 64 digits cannot overflow a float
        raise ValidationError(field, f"must be finite, got {show(text)}")
    if seconds <= 0:
        raise ValidationError(field, f"must be more than zero, got {show(text)}")
    if seconds > _DURATION_MAX:
        raise ValidationError(field, f"must be at most 366 days, got {show(text)}")
    return seconds


def _seconds_text(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def parse_retry(text: str) -> tuple[str, float]:
    """``missed=30m`` (or ``busy=10m``) as ``("missed", 1800.0)``.

    Raises:
        ValidationError: (field ``"retry"``) for another shape, reason or duration.
    """
    stripped = _check_text("retry", text, "REASON=DURATION, e.g. missed=30m")
    reason, sep, delay = stripped.partition("=")
    reason = reason.strip()
    if not sep or reason not in RETRY_REASONS:
        raise ValidationError("retry", f"must be missed=DURATION or busy=DURATION (e.g. missed=30m), got {show(text)}")
    return reason, parse_duration(delay, field="retry")


def _reads_as_moment(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_until(text: str, *, now: float) -> float:
    """Epoch seconds from an ISO 8601 moment, or from a duration counted from `now`.

    A moment may carry an offset (``2026-12-03T18:00:00+05:30``, ``2026-12-03 18:00Z``); without
    one it is this machine's local time. Anything else `parse_duration` reads is a duration from
    `now`; a bare number is seconds, except one that is also an ISO 8601 basic-format date
    (``20261203``), which is refused as ambiguous.

    Raises:
        ValidationError: (field ``"until"``) for a malformed or ambiguous value, or a moment not
            after `now`; (field ``"now"``) for a `now` that is not a finite number.
    """
    hint = "a moment (ISO 8601, e.g. 2026-12-03T18:00 or 2026-12-03T18:00+05:30) or a duration from now (e.g. 2h, 1d)"
    stripped = _check_text("until", text, hint)
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise ValidationError("now", f"must be finite epoch seconds, got {show(now)}")
    if _BARE_SECONDS.fullmatch(stripped):
        if _reads_as_moment(stripped):
            raise ValidationError(
                "until",
                f"{show(text)} is ambiguous: write a date as 2026-12-03, or seconds with their unit (e.g. 90s)",
            )
        return now + parse_duration(stripped, field="until")
    if _DURATION.fullmatch(stripped):
        return now + parse_duration(stripped, field="until")
    try:
        moment = dt.datetime.fromisoformat(stripped)
    except ValueError:
        raise ValidationError("until", f"must be {hint}, got {show(text)}") from None
    try:
        # A naive moment is local time (timestamp() asks the C library, which fails for some years).
        epoch = moment.timestamp()
    except (OverflowError, OSError, ValueError):
        raise ValidationError("until", f"{show(text)} is out of range") from None
    if not epoch > now:
        raise ValidationError("until", f"{show(text)} is not in the future")
    return epoch


def normalize_number(text: str | int) -> str:
    """A number as digits only (E.164 without the ``+``).

    ``+``, spaces, dashes, dots and parentheses are dropped; what is left must be 7-16 ASCII
    digits without a leading zero.

    Raises:
        ValidationError: (field ``"suppress"``) for anything else.
    """
    if isinstance(text, bool):
        raise ValidationError("suppress", "a phone number must be digits, not a boolean")
    if isinstance(text, int):
        if _NUMBER_INT_MIN <= text < _NUMBER_INT_MAX:
            return str(text)
        raise ValidationError("suppress", f"{show(text)} is not a phone number ({_NUMBER_RULE})")
    if not isinstance(text, str):
        raise ValidationError("suppress", f"a phone number must be a string or an int, got {type(text).__name__}")
    if len(text) > _TEXT_MAX:
        raise ValidationError("suppress", f"a phone number is at most 16 digits, got {len(text)} characters")
    digits = text.strip().translate(_NUMBER_JUNK).removeprefix("+")
    # `[0-9]` matches ASCII digits only.
    if not _NUMBER.fullmatch(digits):
        raise ValidationError("suppress", f"{show(text)} is not a phone number ({_NUMBER_RULE})")
    return digits


def _printable_path(path: str | os.PathLike[str]) -> str:
    # A path undecodable on this system holds surrogate escapes: keep them printable.
    return os.fsdecode(path).encode("utf-8", "backslashreplace").decode("utf-8")


def _masked(lines: Iterable[str]) -> Iterator[str]:
    """The lines with comment lines blanked, so that csv's line numbers stay those of the file."""
    for line in lines:
        yield "" if line.lstrip().startswith("#") else line


def read_suppress_file(path: str | os.PathLike[str]) -> list[str]:
    """The numbers never to call, normalized (`normalize_number`), in file order, without duplicates.

    The file is UTF-8 (a byte-order mark is fine) and holds either one number per line, or a CSV
    whose header has a ``to``, ``called`` or ``number`` column (any case; the leftmost such
    column is read, the others ignored). It is a CSV when its first line that is neither blank
    nor a comment holds a comma. Blank lines, lines starting with ``#`` and empty cells are
    skipped.

    Raises:
        ConfigurationError: the file cannot be read (missing, a directory, not UTF-8...).
        ValidationError: (field ``"suppress"``) a line that is not a number, as ``path:line: why``;
            or a CSV header without a number column.
    """
    shown = _printable_path(path)
    try:
        with open(path, encoding="utf-8-sig") as file:
            text = file.read()
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"cannot read the suppression file {shown}: it is not UTF-8 text (byte {exc.start})"
        ) from exc
    except OSError as exc:
        raise ConfigurationError(f"cannot read the suppression file {shown}: {exc.strerror or exc}") from exc

    lines = text.split("\n")
    numbers: dict[str, None] = {}
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), "")

    def add(value: str, line: int) -> None:
        try:
            numbers.setdefault(normalize_number(value))
        except ValidationError as exc:
            raise ValidationError("suppress", f"{shown}:{line}: {exc.rule}") from None

    if "," not in first:
        for number, line in enumerate(lines, start=1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                add(stripped, number)
        return list(numbers)

    reader = csv.reader(_masked(lines))
    column: int | None = None
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if column is None:
                names = [cell.strip().lower() for cell in row]
                column = next((i for i, name in enumerate(names) if name in _SUPPRESS_COLUMNS), None)
                if column is None:
                    raise ValidationError(
                        "suppress",
                        f"{shown}:{reader.line_num}: the CSV header has no 'to', 'called' or 'number' column",
                    )
                continue
            cell = row[column].strip() if column < len(row) else ""
            if cell:
                add(cell, reader.line_num)
    except csv.Error as exc:
        raise ValidationError("suppress", f"{shown}:{reader.line_num}: not valid CSV ({exc})") from None
    return list(numbers)
