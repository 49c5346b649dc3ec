"""Calling windows (`voicekit._policy`): parsing, a number's zones, open / next opening, CLI values.

Expected instants are written by hand as explicit UTC datetimes, worked out from each zone's
offsets (the comments say how); the property tests judge `Policy` against an independent oracle
that reads wall-clock time through zoneinfo and scans minute by minute.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicekit._policy import (
    HORIZON,
    Policy,
    Window,
    normalize_number,
    parse_duration,
    parse_until,
    read_suppress_file,
)
from voicekit.errors import ConfigurationError, ValidationError

UTC = dt.UTC


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    """Epoch seconds of a UTC wall-clock moment."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def local(epoch: float, zone: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, ZoneInfo(zone))


def policy(window: str, **kwargs: Any) -> Policy:
    return Policy(window=Window.parse(window), **kwargs)


def assert_short_message(exc: BaseException) -> None:
    text = str(exc)
    assert len(text) < 400, text
    text.encode("utf-8")  # printable on any terminal: no lone surrogate


DAY = 9 * 60, 21 * 60  # 09:00-21:00, in minutes of the day

# Numbers (digits, E.164 without "+") and the zone phonenumbers gives them.
NUMBERS = {
    "india": "919876543210",
    "new_york": "12125551234",
    "chicago": "13125551234",
    "denver": "13035551234",
    "phoenix": "16025551234",
    "los_angeles": "12135551234",
    "anchorage": "19075551234",
    "honolulu": "18085551234",
    "toll_free": "18005551234",
}


# -- Window ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end", "crosses"),
    [
        ("09:00-21:00", dt.time(9), dt.time(21), False),
        ("9:00-21:00", dt.time(9), dt.time(21), False),
        ("9:05-9:06", dt.time(9, 5), dt.time(9, 6), False),
        ("21:00-06:00", dt.time(21), dt.time(6), True),
        ("00:00-23:59", dt.time(0), dt.time(23, 59), False),
        ("23:59-00:00", dt.time(23, 59), dt.time(0), True),
        ("  08:30-17:45\n", dt.time(8, 30), dt.time(17, 45), False),
    ],
)
def test_window_parse_good(text: str, start: dt.time, end: dt.time, crosses: bool) -> None:
    window = Window.parse(text)
    assert (window.start, window.end) == (start, end)
    assert window.crosses_midnight is crosses
    assert Window.parse(str(window)) == window
    assert str(window) == f"{start:%H:%M}-{end:%H:%M}"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "09:00",
        "9-21",
        "0900-2100",
        "09:00-21:00-22:00",
        "09:0-21:00",
        "009:00-21:00",
        "25:00-26:00",
        "09:00-23:60",
        "09:60-21:00",
        "24:00-06:00",
        "09:00-24:00",
        "24:30-06:00",
        "09:00-09:00",
        "9:00-09:00",
        "00:00-00:00",
        "09:00\u201321:00",  # an en dash
        "\u0660\u0669:\u0660\u0660-\u0662\u0661:\u0660\u0660",  # Arabic-Indic digits
        "\uff10\uff19:\uff10\uff10-\uff12\uff11:\uff10\uff10",  # full-width digits
        "09:00-21:00\ud800",
        "9 am-9 pm",
        "-09:00-21:00",
        pytest.param("0" * 5000, id="5000-zeros"),
        pytest.param("09:00-21:00" + " " * 5000, id="5000-spaces"),
    ],
)
def test_window_parse_bad(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        Window.parse(text)
    assert info.value.field == "window"
    assert_short_message(info.value)


@pytest.mark.parametrize("value", [None, 900, 9.0, b"09:00-21:00", ["09:00", "21:00"], dt.time(9)])
def test_window_parse_not_a_string(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Window.parse(value)  # type: ignore[arg-type]
    assert info.value.field == "window"


def test_window_parse_messages_say_what_is_wrong() -> None:
    with pytest.raises(ValidationError, match="00:00"):
        Window.parse("24:00-06:00")
    with pytest.raises(ValidationError, match="hour 25"):
        Window.parse("25:00-06:00")
    with pytest.raises(ValidationError, match="minute 61"):
        Window.parse("09:61-21:00")
    with pytest.raises(ValidationError, match="empty"):
        Window.parse("09:00-09:00")
    with pytest.raises(ValidationError) as info:
        Window.parse("x" * 5000)
    assert "5000 characters" in info.value.rule


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (dt.time(9, 0, 30), dt.time(21)),
        (dt.time(9), dt.time(21, 0, 0, 1)),
        (dt.time(9, tzinfo=UTC), dt.time(21)),
        (dt.time(9), dt.time(9)),
        ("09:00", dt.time(21)),
    ],
)
def test_window_constructed_directly_is_checked(start: dt.time, end: dt.time) -> None:
    with pytest.raises(ValidationError) as info:
        Window(start, end)
    assert info.value.field == "window"


@pytest.mark.parametrize(
    ("window", "at", "expected"),
    [
        ("09:00-21:00", dt.time(8, 59, 59, 999999), False),
        ("09:00-21:00", dt.time(9), True),
        ("09:00-21:00", dt.time(14, 30), True),
        ("09:00-21:00", dt.time(20, 59, 59), True),
        ("09:00-21:00", dt.time(21), False),
        ("09:00-21:00", dt.time(0), False),
        ("21:00-06:00", dt.time(20, 59), False),
        ("21:00-06:00", dt.time(21), True),
        ("21:00-06:00", dt.time(23, 59, 59), True),
        ("21:00-06:00", dt.time(0), True),
        ("21:00-06:00", dt.time(5, 59), True),
        ("21:00-06:00", dt.time(6), False),
        ("21:00-06:00", dt.time(12), False),
        ("23:59-00:00", dt.time(23, 59, 30), True),
        ("23:59-00:00", dt.time(0), False),
    ],
)
def test_window_is_open_at(window: str, at: dt.time, expected: bool) -> None:
    assert Window.parse(window).is_open_at(at) is expected


# -- Policy construction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone",
    [
        "Mars/Olympus",
        "",
        "America",
        "../etc/passwd",
        "/etc/localtime",
        "asia/kolkata",
        "Asia/Kolkata ",
        "localtime",
        "right/UTC",
        "posix/Asia/Kolkata",
        "Etc/Unknown",
        "Asia/Kolkata\x00",
        "\ud800",
        pytest.param("a" * 5000, id="5000-chars"),
        "auto/x",
    ],
)
def test_policy_refuses_unknown_zones(zone: str) -> None:
    with pytest.raises(ValidationError) as info:
        Policy(window=Window.parse("09:00-21:00"), tz=zone)
    assert info.value.field == "tz"
    assert_short_message(info.value)
    with pytest.raises(ValidationError) as info:
        Policy(window=Window.parse("09:00-21:00"), tz_default=zone)
    assert info.value.field == "tz_default"
    assert_short_message(info.value)


@pytest.mark.parametrize("value", [None, 5, ["Asia/Kolkata"]])
def test_policy_refuses_non_string_zones(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        Policy(tz=value)  # type: ignore[arg-type]
    assert info.value.field == "tz"
    if value is not None:
        with pytest.raises(ValidationError) as info:
            Policy(tz_default=value)  # type: ignore[arg-type]
        assert info.value.field == "tz_default"


def test_policy_refuses_a_window_that_is_not_a_window() -> None:
    with pytest.raises(ValidationError) as info:
        Policy(window="09:00-21:00")  # type: ignore[arg-type]
    assert info.value.field == "window"


def test_policy_accepts_zones_and_keywords() -> None:
    for tz in ("auto", "column", "Asia/Kolkata", "Asia/Calcutta", "UTC", "America/Argentina/Buenos_Aires"):
        assert Policy(window=Window.parse("09:00-21:00"), tz=tz, tz_default="Europe/London").tz == tz


# -- zones() ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", ["919876543210", "+919876543210", 919876543210, "+91 98765-43210", " 91 98765 43210 "]
)
def test_zones_auto_from_an_indian_number(number: str | int) -> None:
    assert policy("09:00-21:00").zones(number) == ("Asia/Calcutta",)


@pytest.mark.parametrize(
    ("name", "zones"),
    [
        ("new_york", ("America/New_York",)),
        ("chicago", ("America/Chicago",)),
        ("denver", ("America/Denver",)),
        ("phoenix", ("America/Phoenix",)),
        ("los_angeles", ("America/Los_Angeles",)),
        ("anchorage", ("America/Adak", "America/Anchorage")),
        ("honolulu", ("Pacific/Honolulu",)),
    ],
)
def test_zones_auto_us(name: str, zones: tuple[str, ...]) -> None:
    assert policy("09:00-21:00").zones(NUMBERS[name]) == zones


def test_zones_auto_toll_free_names_many_zones_sorted_once() -> None:
    zones = policy("09:00-21:00").zones(NUMBERS["toll_free"])
    assert len(zones) > 10
    assert list(zones) == sorted(set(zones))
    assert {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu", "Pacific/Guam"} <= set(zones)
    assert "Etc/Unknown" not in zones
    for zone in zones:
        ZoneInfo(zone)


def test_zones_without_a_window_are_empty() -> None:
    assert Policy().zones(NUMBERS["india"]) == ()
    assert Policy(tz="column").zones("garbage", None) == ()
    assert Policy(tz="Asia/Kolkata").zones(None) == ()


def test_zones_fixed_zone_ignores_the_number() -> None:
    fixed = policy("09:00-21:00", tz="Europe/London")
    assert fixed.zones(NUMBERS["india"]) == ("Europe/London",)
    assert fixed.zones("not a number") == ("Europe/London",)
    assert fixed.zones(None, "Asia/Tokyo") == ("Europe/London",)


def test_zones_from_the_column() -> None:
    by_column = policy("09:00-21:00", tz="column")
    assert by_column.zones(NUMBERS["india"], "Europe/London") == ("Europe/London",)
    assert by_column.zones(NUMBERS["india"], " America/Denver ") == ("America/Denver",)
    for bad in (None, "", "  "):
        with pytest.raises(ValidationError) as info:
            by_column.zones(NUMBERS["india"], bad)
        assert info.value.field == "tz"
        assert "--tz-default" in info.value.rule
    with_default = policy("09:00-21:00", tz="column", tz_default="Asia/Kolkata")
    assert with_default.zones(NUMBERS["new_york"], "") == ("Asia/Kolkata",)
    assert with_default.zones(NUMBERS["new_york"], "Europe/London") == ("Europe/London",)
    # A value that is not a zone is a typo, not an empty cell: never judged in the default zone.
    for typo in ("Mars/Olympus", "Asia/Kolkatta", "localtime"):
        for p in (by_column, with_default):
            with pytest.raises(ValidationError) as info:
                p.zones(NUMBERS["india"], typo)
            assert info.value.field == "tz" and "not a known time zone" in info.value.rule


@pytest.mark.parametrize(
    "number",
    [
        None,
        "",
        "abc",
        "+1 555 555 5555",
        "0",
        "+",
        True,
        3.5,
        pytest.param("1" * 5000, id="5000-chars"),
        pytest.param(10**5000, id="huge-int"),
    ],
)
def test_zones_auto_falls_back_to_the_default(number: object) -> None:
    assert policy("09:00-21:00", tz_default="Asia/Kolkata").zones(number) == ("Asia/Kolkata",)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as info:
        policy("09:00-21:00").zones(number)  # type: ignore[arg-type]
    assert info.value.field == "tz"
    assert "--tz-default" in info.value.rule
    assert_short_message(info.value)


def test_zones_auto_prefers_the_number_over_the_default() -> None:
    assert policy("09:00-21:00", tz_default="Asia/Kolkata").zones(NUMBERS["new_york"]) == ("America/New_York",)


# -- is_open / next_open on a fixed clock ----------------------------------------------------

SUMMER = utc(2026, 7, 15, 13, 30)  # EDT (UTC-4), CDT, MDT, MST (Phoenix), PDT, AKDT, HST; IST (UTC+5:30)
WINTER = utc(2026, 1, 15, 13, 30)  # EST (UTC-5), CST, MST, MST, PST, AKST, HST


@pytest.mark.parametrize(
    ("zone", "now", "is_open", "opens"),
    [
        # 13:30 UTC in July: New York 09:30 EDT (open), Chicago 08:30 CDT, Denver 07:30 MDT,
        # Phoenix 06:30 MST, Los Angeles 06:30 PDT, Anchorage 05:30 AKDT, Honolulu 03:30 HST;
        # each opens at 09:00 local, i.e. 09:00 minus its offset in UTC.
        ("America/New_York", SUMMER, True, SUMMER),
        ("America/Chicago", SUMMER, False, utc(2026, 7, 15, 14)),
        ("America/Denver", SUMMER, False, utc(2026, 7, 15, 15)),
        ("America/Phoenix", SUMMER, False, utc(2026, 7, 15, 16)),
        ("America/Los_Angeles", SUMMER, False, utc(2026, 7, 15, 16)),
        ("America/Anchorage", SUMMER, False, utc(2026, 7, 15, 17)),
        ("Pacific/Honolulu", SUMMER, False, utc(2026, 7, 15, 19)),
        ("Asia/Kolkata", SUMMER, True, SUMMER),  # 19:00 IST
        # In January, standard time: an hour later in UTC, except Phoenix and Honolulu (no DST).
        ("America/New_York", WINTER, False, utc(2026, 1, 15, 14)),
        ("America/Chicago", WINTER, False, utc(2026, 1, 15, 15)),
        ("America/Denver", WINTER, False, utc(2026, 1, 15, 16)),
        ("America/Phoenix", WINTER, False, utc(2026, 1, 15, 16)),
        ("America/Los_Angeles", WINTER, False, utc(2026, 1, 15, 17)),
        ("America/Anchorage", WINTER, False, utc(2026, 1, 15, 18)),
        ("Pacific/Honolulu", WINTER, False, utc(2026, 1, 15, 19)),
        # India, after 21:00 IST (16:00 UTC): the next morning at 09:00 IST, 03:30 UTC.
        ("Asia/Kolkata", utc(2026, 7, 15, 16, 0, 0), False, utc(2026, 7, 16, 3, 30)),
        ("Asia/Calcutta", utc(2026, 7, 15, 15, 29, 59), True, utc(2026, 7, 15, 15, 29, 59)),
        ("Asia/Kolkata", utc(2026, 7, 15, 3, 29, 59), False, utc(2026, 7, 15, 3, 30)),
    ],
)
def test_next_open_across_zones(zone: str, now: float, is_open: bool, opens: float) -> None:
    day = policy("09:00-21:00")
    assert day.is_open([zone], now) is is_open
    assert day.next_open([zone], now) == opens
    if not is_open:
        assert local(opens, zone).time() == dt.time(9)
        assert not day.is_open([zone], opens - 1)
    assert day.is_open([zone], opens)


def test_next_open_by_number_in_summer_and_winter() -> None:
    day = policy("09:00-21:00")
    for name, summer, winter in [
        ("india", SUMMER, utc(2026, 1, 15, 13, 30)),  # 19:00 IST, open, both seasons
        ("new_york", SUMMER, utc(2026, 1, 15, 14)),
        ("phoenix", utc(2026, 7, 15, 16), utc(2026, 1, 15, 16)),  # Arizona keeps MST all year
        ("honolulu", utc(2026, 7, 15, 19), utc(2026, 1, 15, 19)),
        # 907 is Anchorage and Adak (an hour behind): both must be open, so Adak's 09:00 decides.
        ("anchorage", utc(2026, 7, 15, 18), utc(2026, 1, 15, 19)),
    ]:
        zones = day.zones(NUMBERS[name])
        assert day.next_open(zones, SUMMER) == summer, name
        assert day.next_open(zones, WINTER) == winter, name


@pytest.mark.parametrize(
    ("zone", "now", "opens"),
    [
        # New York springs forward on 2026-03-08 at 07:00 UTC (02:00 EST -> 03:00 EDT).
        ("America/New_York", utc(2026, 3, 7, 2), utc(2026, 3, 7, 14)),  # Sat 09:00 EST
        ("America/New_York", utc(2026, 3, 8, 2), utc(2026, 3, 8, 13)),  # Sun 09:00 EDT
        # ... and falls back on 2026-11-01 at 06:00 UTC (02:00 EDT -> 01:00 EST).
        ("America/New_York", utc(2026, 10, 31, 2), utc(2026, 10, 31, 13)),  # Sat 09:00 EDT
        ("America/New_York", utc(2026, 11, 1, 2), utc(2026, 11, 1, 14)),  # Sun 09:00 EST
        # London springs forward on 2026-03-29 at 01:00 UTC, falls back on 2026-10-25 at 01:00 UTC.
        ("Europe/London", utc(2026, 3, 28, 21), utc(2026, 3, 29, 8)),  # 09:00 BST
        ("Europe/London", utc(2026, 3, 27, 21), utc(2026, 3, 28, 9)),  # 09:00 GMT
        ("Europe/London", utc(2026, 10, 24, 20), utc(2026, 10, 25, 9)),  # 21:00 BST -> 09:00 GMT
        ("Europe/London", utc(2026, 10, 23, 20), utc(2026, 10, 24, 8)),  # 09:00 BST
    ],
)
def test_next_open_across_dst_changes(zone: str, now: float, opens: float) -> None:
    day = policy("09:00-21:00")
    assert not day.is_open([zone], now)
    assert day.next_open([zone], now) == opens
    assert local(opens, zone).time() == dt.time(9)
    assert day.is_open([zone], opens) and not day.is_open([zone], opens - 1)


@pytest.mark.parametrize(
    ("window", "zone", "now", "opens"),
    [
        # A start inside the spring-forward gap (02:00-03:00 New York time does not exist on
        # 2026-03-08): the window opens when the gap ends, 03:00 EDT = 07:00 UTC.
        ("02:30-05:00", "America/New_York", utc(2026, 3, 8, 5), utc(2026, 3, 8, 7)),
        ("02:00-05:00", "America/New_York", utc(2026, 3, 8, 5), utc(2026, 3, 8, 7)),
        # London's gap is 01:00-02:00 on 2026-03-29; it ends at 01:00 UTC (02:00 BST).
        ("01:30-03:00", "Europe/London", utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)),
        # A start inside the repeated hour (01:00-02:00 happens twice in New York on 2026-11-01):
        # the first occurrence, 01:30 EDT = 05:30 UTC.
        ("01:30-04:00", "America/New_York", utc(2026, 11, 1, 4), utc(2026, 11, 1, 5, 30)),
        # An end inside the repeated hour: closed at 01:30 EDT (05:30 UTC), the clock goes back to
        # 01:00 EST at 06:00 UTC, inside the window again until 01:30 EST (06:30 UTC).
        ("00:00-01:30", "America/New_York", utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6)),
        # Open 01:30 EDT, closed again when the clock goes back to 01:00 EST at 06:00 UTC, and
        # open once more at the second 01:30 (EST, 06:30 UTC).
        ("01:30-03:00", "America/New_York", utc(2026, 11, 1, 6), utc(2026, 11, 1, 6, 30)),
        # London falls back at 01:00 UTC on 2026-10-25 (02:00 BST -> 01:00 GMT).
        ("01:15-01:45", "Europe/London", utc(2026, 10, 25, 0, 45), utc(2026, 10, 25, 1, 15)),
    ],
)
def test_next_open_at_clock_changes(window: str, zone: str, now: float, opens: float) -> None:
    rule = policy(window)
    assert not rule.is_open([zone], now)
    assert rule.next_open([zone], now) == opens
    assert rule.is_open([zone], opens) and not rule.is_open([zone], opens - 1)


def test_window_crossing_midnight() -> None:
    night = policy("21:00-06:00")
    zone = ["Asia/Kolkata"]
    # 10:00 IST (04:30 UTC): closed until 21:00 IST, 15:30 UTC.
    assert not night.is_open(zone, utc(2026, 7, 15, 4, 30))
    assert night.next_open(zone, utc(2026, 7, 15, 4, 30)) == utc(2026, 7, 15, 15, 30)
    # 02:00 IST (20:30 UTC the day before): open.
    assert night.is_open(zone, utc(2026, 7, 14, 20, 30))
    # 06:00 IST (00:30 UTC): just closed.
    assert not night.is_open(zone, utc(2026, 7, 15, 0, 30))
    assert night.is_open(zone, utc(2026, 7, 15, 0, 29, 59))


def test_next_open_returns_now_itself_when_open() -> None:
    day = policy("09:00-21:00")
    now = utc(2026, 7, 15, 13, 30) + 0.25
    assert day.next_open(["America/New_York"], now) == now
    # Closed at a fractional instant: the opening is a whole second.
    later = day.next_open(["America/Chicago"], now)
    assert later == utc(2026, 7, 15, 14)


def test_a_number_with_several_zones_is_open_only_when_open_in_all() -> None:
    day = policy("09:00-21:00")
    zones = day.zones(NUMBERS["toll_free"])
    # July: Guam (UTC+10) opens at 23:00 UTC; St John's (UTC-2:30) closes at 23:30 UTC. Between
    # the two, every other zone of the number (UTC-11 to UTC+10) is between 09:00 and 21:00.
    assert "America/St_Johns" in zones and "Pacific/Guam" in zones
    assert day.next_open(zones, utc(2026, 7, 15, 12)) == utc(2026, 7, 15, 23)
    assert day.is_open(zones, utc(2026, 7, 15, 23, 15))
    assert not day.is_open(zones, utc(2026, 7, 15, 22, 59))
    assert not day.is_open(zones, utc(2026, 7, 15, 23, 30))
    # New York alone is open at 13:30 UTC; the number is not.
    assert day.is_open(["America/New_York"], SUMMER) and not day.is_open(zones, SUMMER)
    # January: St John's is UTC-3:30, so the common window is 23:00 to 00:30 UTC.
    assert day.next_open(zones, utc(2026, 1, 15, 12)) == utc(2026, 1, 15, 23)
    assert day.is_open(zones, utc(2026, 1, 16, 0, 29))
    assert not day.is_open(zones, utc(2026, 1, 16, 0, 30))
    assert day.next_open(zones, utc(2026, 1, 16, 0, 30)) == utc(2026, 1, 16, 23)


def test_zones_that_never_overlap_have_no_opening() -> None:
    office = policy("09:00-17:00")
    # Kolkata's 09:00-17:00 is 03:30-11:30 UTC, New York's 13:00-21:00 (EDT) or 14:00-22:00 (EST).
    for now in (SUMMER, WINTER, utc(2026, 3, 8, 6), utc(2026, 11, 1, 5)):
        assert office.next_open(["Asia/Kolkata", "America/New_York"], now) is None
        assert not office.is_open(["Asia/Kolkata", "America/New_York"], now)
    # Guam's 09:00-17:00 is 23:00-07:00 UTC, St John's 11:30-19:30 UTC (summer).
    assert office.next_open(office.zones(NUMBERS["toll_free"]), SUMMER) is None
    # Each alone does open.
    assert office.next_open(["Asia/Kolkata"], SUMMER) is not None
    assert office.next_open(["America/New_York"], SUMMER) == SUMMER


def test_next_open_looks_eight_days_ahead() -> None:
    assert HORIZON == 8 * 86_400
    day = policy("09:00-21:00")
    # Duplicated zones change nothing.
    assert day.next_open(["America/Chicago", "America/Chicago"], SUMMER) == utc(2026, 7, 15, 14)


def test_no_window_is_always_open() -> None:
    anytime = Policy()
    assert anytime.is_open((), SUMMER)
    assert anytime.is_open(["Asia/Kolkata"], SUMMER)
    assert anytime.next_open((), SUMMER) == SUMMER


def test_a_window_needs_a_zone() -> None:
    day = policy("09:00-21:00")
    empty: list[Sequence[str]] = [(), []]
    for zones in empty:
        with pytest.raises(ValidationError) as info:
            day.is_open(zones, SUMMER)
        assert info.value.field == "tz"
        with pytest.raises(ValidationError) as info:
            day.next_open(zones, SUMMER)
        assert info.value.field == "tz"


@pytest.mark.parametrize("zones", [["Mars/Olympus"], ["Asia/Kolkata", "nope"], [5], ["localtime"]])
def test_unknown_zones_are_refused(zones: Sequence[str]) -> None:
    day = policy("09:00-21:00")
    with pytest.raises(ValidationError) as info:
        day.is_open(zones, SUMMER)
    assert info.value.field == "tz"
    with pytest.raises(ValidationError) as info:
        day.next_open(zones, SUMMER)
    assert info.value.field == "tz"


def test_a_bare_string_is_one_zone() -> None:
    day = policy("09:00-21:00")
    assert day.next_open("America/Chicago", SUMMER) == utc(2026, 7, 15, 14)


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf, 1e300, -1.0, "0", None, True])
def test_bad_now_is_refused(now: object) -> None:
    day = policy("09:00-21:00")
    with pytest.raises(ValidationError) as info:
        day.is_open(["UTC"], now)  # type: ignore[arg-type]
    assert info.value.field == "now"
    with pytest.raises(ValidationError):
        day.next_open(["UTC"], now)  # type: ignore[arg-type]


# -- JSON and describe -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        Policy(),
        Policy(window=Window.parse("09:00-21:00")),
        Policy(window=Window.parse("21:00-06:00"), tz="column", tz_default="Asia/Kolkata"),
        Policy(window=Window.parse("8:30-17:00"), tz="America/New_York"),
        Policy(tz_default="Europe/London"),
    ],
)
def test_json_round_trip(rule: Policy) -> None:
    data = json.loads(json.dumps(rule.to_json()))
    assert Policy.from_json(data) == rule
    assert Policy.from_json({**data, "future_key": [1, 2]}) == rule


def test_json_shape_and_defaults() -> None:
    rule = Policy(window=Window.parse("9:00-21:00"), tz_default="Asia/Kolkata")
    assert rule.to_json() == {"window": "09:00-21:00", "tz": "auto", "tz_default": "Asia/Kolkata"}
    assert Policy.from_json({}) == Policy()
    assert Policy.from_json({"window": "09:00-21:00"}) == Policy(window=Window.parse("09:00-21:00"))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"window": "25:00-26:00"}, "window"),
        ({"window": 5}, "window"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"tz": 3}, "tz"),
        ({"tz_default": "nope"}, "tz_default"),
        (["window"], "policy"),
    ],
)
def test_from_json_refuses_bad_values(data: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Policy.from_json(data)  # type: ignore[arg-type]
    assert info.value.field == field


def test_describe() -> None:
    assert Policy().describe() == ""
    assert Policy(tz_default="Asia/Kolkata").describe() == ""
    assert (
        Policy(window=Window.parse("09:00-21:00"), tz_default="Asia/Kolkata").describe()
        == "window 09:00-21:00 in the callee's time (zones from the number, else Asia/Kolkata)"
    )
    assert (
        Policy(window=Window.parse("09:00-21:00")).describe()
        == "window 09:00-21:00 in the callee's time (zones from the number)"
    )
    assert (
        Policy(window=Window.parse("21:00-6:00"), tz="column").describe()
        == "window 21:00-06:00 in the callee's time (zone from the tz column)"
    )
    assert (
        Policy(window=Window.parse("09:00-21:00"), tz="America/New_York").describe()
        == "window 09:00-21:00 in America/New_York time"
    )


# -- properties against an independent oracle ------------------------------------------------

PROPERTY_ZONES = [
    "Asia/Kolkata",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "Europe/London",
    "Europe/Berlin",
    "America/St_Johns",  # UTC-3:30 / -2:30
    "Asia/Kathmandu",  # UTC+5:45
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Chatham",  # UTC+12:45 / +13:45
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Pago_Pago",  # UTC-11
    "UTC",
]
YEARS_START, YEARS_END = int(utc(2026, 1, 1)), int(utc(2027, 12, 31))
# Days with clock changes in the zones above (US, EU, Lord Howe, Chatham), to look near them often.
CHANGE_DAYS = [
    utc(2026, 3, 8), utc(2026, 11, 1), utc(2027, 3, 14), utc(2027, 11, 7),
    utc(2026, 3, 29), utc(2026, 10, 25), utc(2027, 3, 28), utc(2027, 10, 31),
    utc(2026, 4, 5), utc(2026, 10, 4), utc(2026, 9, 27), utc(2027, 4, 4),
]  # fmt: skip
# Minutes of the day, with clock-change hours (01:00-03:00) over-represented.
MINUTES = st.one_of(st.integers(0, 1439), st.sampled_from([0, 60, 90, 120, 135, 150, 165, 180, 1425, 1439]))

instants = st.one_of(
    st.integers(YEARS_START, YEARS_END),
    st.builds(lambda day, delta: int(day) + delta, st.sampled_from(CHANGE_DAYS), st.integers(-2 * 86_400, 2 * 86_400)),
).flatmap(lambda t: st.sampled_from([float(t), t + 0.5, t + 0.999]))
windows = st.tuples(MINUTES, MINUTES).filter(lambda pair: pair[0] != pair[1])
zone_sets = st.lists(st.sampled_from(PROPERTY_ZONES), min_size=1, max_size=3)

PROPERTY = settings(max_examples=100, deadline=None, database=None)


def oracle_open(window: tuple[int, int], zones: Sequence[str], t: float) -> bool:
    """Open at `t` in every zone: the wall clock read through zoneinfo, compared in minutes."""
    start, end = window
    for zone in zones:
        wall = dt.datetime.fromtimestamp(t, ZoneInfo(zone))
        minutes = wall.hour * 60 + wall.minute + (wall.second + wall.microsecond / 1e6) / 60
        inside = start <= minutes < end if start < end else (minutes >= start or minutes < end)
        if not inside:
            return False
    return True


def make_policy(window: tuple[int, int]) -> Policy:
    (h1, m1), (h2, m2) = divmod(window[0], 60), divmod(window[1], 60)
    return Policy(window=Window(dt.time(h1, m1), dt.time(h2, m2)))


@PROPERTY
@given(window=windows, zones=zone_sets, now=instants)
def test_property_next_open_is_an_opening(window: tuple[int, int], zones: list[str], now: float) -> None:
    rule = make_policy(window)
    assert rule.is_open(zones, now) is oracle_open(window, zones, now)
    r = rule.next_open(zones, now)
    if r is None:
        assert not oracle_open(window, zones, now)
        return
    assert r >= now
    assert r - now <= HORIZON
    assert oracle_open(window, zones, r)
    assert rule.is_open(zones, r)
    if r != now:
        assert r == int(r)  # to the second
        assert not oracle_open(window, zones, r - 1)
        assert not oracle_open(window, zones, now)


@settings(max_examples=40, deadline=None, database=None)
@given(window=windows, zones=zone_sets, now=instants)
def test_property_no_earlier_minute_is_open(window: tuple[int, int], zones: list[str], now: float) -> None:
    """Scanning every minute boundary (every zone here has a whole-minute offset, so every opening
    is one) finds the same first opening, within two days; or none within eight when there is none."""
    rule = make_policy(window)
    r = rule.next_open(zones, now)
    if oracle_open(window, zones, now):
        assert r == now
        return
    first_minute = math.ceil(now / 60) * 60
    scan_end = now + (HORIZON if r is None else 2 * 86_400)
    found = next(
        (m for m in range(first_minute, int(scan_end) + 1, 60) if oracle_open(window, zones, m)),
        None,
    )
    if r is None:
        assert found is None
    elif found is not None:
        assert r == found
    else:
        assert r - now > 2 * 86_400


# -- parse_duration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("30m", 1800),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("1d", 86_400),
        ("1d2h3m4s", 86_400 + 7200 + 180 + 4),
        ("90", 90),
        ("0.5", 0.5),
        ("1.5h", 5400),
        ("  10m \n", 600),
        ("366d", 366 * 86_400),
        ("365d23h59m60s", 366 * 86_400),
    ],
)
def test_parse_duration_good(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "0",
        "0s",
        "0.0h",
        "-5m",
        "-1",
        "+5m",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e309",
        "1e3",
        "5x",
        "5 minutes",
        "5w",
        "5M",
        "h",
        "1.h",
        ".5h",
        "1,5h",
        "30m1h",
        "1h1h",
        "1h30",
        "367d",
        "8785h",
        "99999999999999999999999999d",
        pytest.param("1" * 5000, id="5000-chars"),
        "5m\ud800",
        "\ud800",
        "\u0665m",
        "\uff15m",
        "5m;",
    ],
)
def test_parse_duration_bad(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_duration(text)
    assert info.value.field == "duration"
    assert_short_message(info.value)


@pytest.mark.parametrize("value", [None, 5, 5.0, math.nan, b"5m"])
def test_parse_duration_not_a_string(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse_duration(value, field="every")  # type: ignore[arg-type]
    assert info.value.field == "every"


def test_parse_duration_names_its_field_and_says_why() -> None:
    with pytest.raises(ValidationError) as info:
        parse_duration("400d", field="max_age")
    assert info.value.field == "max_age"
    assert "366 days" in info.value.rule
    with pytest.raises(ValidationError, match="more than zero"):
        parse_duration("0m")
    with pytest.raises(ValidationError, match="largest to smallest"):
        parse_duration("30m1h")


# -- parse_until -----------------------------------------------------------------------------

NOW = utc(2026, 6, 1, 12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03T18:00:00+05:30", utc(2026, 12, 3, 12, 30)),
        ("2026-12-03 18:00Z", utc(2026, 12, 3, 18)),
        ("2026-12-03T18:00:00-08:00", utc(2026, 12, 4, 2)),
        ("2h", NOW + 7200),
        ("1d", NOW + 86_400),
        ("90", NOW + 90),
        (" 1h30m ", NOW + 5400),
    ],
)
def test_parse_until_good(text: str, expected: float) -> None:
    assert parse_until(text, now=NOW) == expected


def test_parse_until_naive_is_local_time() -> None:
    # A naive moment is this machine's local time, as datetime itself reads it.
    expected = dt.datetime(2026, 12, 3, 18, 0).timestamp()
    assert parse_until("2026-12-03T18:00", now=NOW) == expected
    assert parse_until("2026-12-03", now=NOW) == dt.datetime(2026, 12, 3).timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "tomorrow",
        "2026-13-01",
        "2026-12-03T25:00",
        "2026-12-03T24:00",
        "2020-01-01T00:00Z",
        "2026-06-01T12:00:00Z",
        "2026-06-01T11:59:59Z",
        "0s",
        "0",
        "-5m",
        "400d",
        "nan",
        "inf",
        "1e309",
        "2026-12-03T18:00\ud800",
        "\ud800",
        pytest.param("1" * 5000, id="5000-chars"),
        "2026-12-03T18:00+99:00",
    ],
)
def test_parse_until_bad(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_until(text, now=NOW)
    assert info.value.field == "until"
    assert_short_message(info.value)


def test_parse_until_a_bare_number_that_reads_as_a_date_is_ambiguous() -> None:
    # "20261203" is 2026-12-03 in ISO 8601's basic format, and also 234 days in seconds.
    with pytest.raises(ValidationError, match="ambiguous") as info:
        parse_until("20261203", now=NOW)
    assert info.value.field == "until"
    assert parse_until("20261203s", now=NOW) == NOW + 20_261_203
    assert parse_until("86400", now=NOW) == NOW + 86_400


def test_parse_until_a_moment_must_be_after_now() -> None:
    assert parse_until("2026-06-01T12:00:01Z", now=NOW) == NOW + 1
    with pytest.raises(ValidationError, match="not in the future"):
        parse_until("2026-06-01T12:00:00Z", now=NOW)


@pytest.mark.parametrize("value", [None, 5, b"2h"])
def test_parse_until_not_a_string(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse_until(value, now=NOW)  # type: ignore[arg-type]
    assert info.value.field == "until"


@pytest.mark.parametrize("now", [math.nan, math.inf, None, "0"])
def test_parse_until_bad_now(now: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse_until("2h", now=now)  # type: ignore[arg-type]
    assert info.value.field == "now"


# -- normalize_number ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("919876543210", "919876543210"),
        ("+919876543210", "919876543210"),
        (" +91 98765-43210 ", "919876543210"),
        ("+1 (212) 555.1234", "12125551234"),
        ("(+91) 98765 43210", "919876543210"),
        (919876543210, "919876543210"),
        ("1234567", "1234567"),
        ("1234567890123456", "1234567890123456"),
    ],
)
def test_normalize_number_good(text: str | int, expected: str) -> None:
    assert normalize_number(text) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        "123456",
        "12345678901234567",
        "0919876543210",
        "+0919876543210",
        "91987654321a",
        "++919876543210",
        "9198765\t43210",
        "\u0669\u0661\u0669\u0668\u0667\u0666\u0665\u0664\u0663\u0662\u0661\u0660",
        "\ud800",
        pytest.param("9" * 5000, id="5000-chars"),
        123456,
        10**16,
        -919876543210,
        pytest.param(10**5000, id="huge-int"),
        True,
        None,
        9.19876543210e11,
        b"919876543210",
    ],
)
def test_normalize_number_bad(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_number(value)  # type: ignore[arg-type]
    assert info.value.field == "suppress"
    assert_short_message(info.value)


# -- read_suppress_file ----------------------------------------------------------------------


def test_suppress_file_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "dnc.txt"
    path.write_text(
        "\ufeff# numbers that asked not to be called\n"
        "919876543210\n"
        "\n"
        "+1 212 555 1234\r\n"
        "   # indented comment\n"
        "+91 98765-43210\n"  # a duplicate in another notation
        "447911123456\n",
        encoding="utf-8",
    )
    assert read_suppress_file(path) == ["919876543210", "12125551234", "447911123456"]
    assert read_suppress_file(str(path)) == ["919876543210", "12125551234", "447911123456"]


def test_suppress_file_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("", encoding="utf-8")
    assert read_suppress_file(path) == []
    path.write_text("# nothing yet\n\n", encoding="utf-8")
    assert read_suppress_file(path) == []


def test_suppress_file_bad_line_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "dnc.txt"
    path.write_text("919876543210\n\nabc\n12125551234\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        read_suppress_file(path)
    assert info.value.field == "suppress"
    assert info.value.rule.startswith(f"{path}:3: ")
    assert "'abc'" in info.value.rule


def test_suppress_file_csv_called_column(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text(
        "\ufeffrow,Called,status,number\n"
        "1,+91 98765 43210,answered,12125551234\n"
        "2,,failed,13125551234\n"  # an empty cell is skipped
        '3,"12125551234",busy,x\n'
        "\n"
        "4,919876543210,answered,\n",
        encoding="utf-8",
    )
    # "Called" is the leftmost number column: "number" is ignored.
    assert read_suppress_file(path) == ["919876543210", "12125551234"]


@pytest.mark.parametrize("header", ["to", "TO", " To ", "number", "Number"])
def test_suppress_file_csv_column_names(tmp_path: Path, header: str) -> None:
    path = tmp_path / "list.csv"
    path.write_text(f"name,{header}\nAsha,919876543210\nBob,+1-212-555-1234\n", encoding="utf-8")
    assert read_suppress_file(path) == ["919876543210", "12125551234"]


def test_suppress_file_csv_without_a_number_column(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("# exported\nname,phone\nAsha,919876543210\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        read_suppress_file(path)
    assert info.value.field == "suppress"
    assert info.value.rule.startswith(f"{path}:2: ")


def test_suppress_file_csv_bad_cell_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("to,name\n919876543210,Asha\n\n# a comment\nabc,Bob\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        read_suppress_file(path)
    assert info.value.rule.startswith(f"{path}:5: ")
    assert "'abc'" in info.value.rule


def test_suppress_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "nope.txt"
    with pytest.raises(ConfigurationError) as info:
        read_suppress_file(path)
    assert str(path) in str(info.value)


def test_suppress_file_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as info:
        read_suppress_file(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_suppress_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("919876543210\nJos\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigurationError) as info:
        read_suppress_file(path)
    assert str(path) in str(info.value)
    assert "UTF-8" in str(info.value)
