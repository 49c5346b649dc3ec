"""A campaign row's spec as the journal stores it: the same JSON text as every earlier version
wrote (journals written then must still load), and a round trip that gives the spec back."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicekit._campaign import spec_from_json, spec_to_json
from voicekit.huawei import Notify, Prompt
from voicekit.telecmi import Dial

# The text of each spec as voicekit wrote it before its JSON form came from the converter.
STORED: list[tuple[str, Dial | Notify, str]] = [
    (
        "telecmi",
        Dial(key="k01", from_="19170000000", to="9100000001", file_name="welcome.wav"),
        '{"key": "k01", "from": "19170000000", "to": "9100000001", "file_name": "welcome.wav", "file_url": null, '
        '"region": "global", "extra_params": null}',
    ),
    (
        "telecmi",
        Dial(
            key="c-\u00fc",
            from_=19170000000,
            to=9100000001,
            file_url="https://example.test/a.mp3",
            region="ind",
            extra_params={"crm": 1, "nested": {"a": [1, "x", None, True]}},
        ),
        '{"key": "c-\\u00fc", "from": 19170000000, "to": 9100000001, "file_name": null, '
        '"file_url": "https://example.test/a.mp3", "region": "ind", '
        '"extra_params": {"crm": 1, "nested": {"a": [1, "x", null, true]}}}',
    ),
    (
        "telecmi",
        Dial(key="e", from_="+1 917", to="91", file_name="m.mp3", extra_params='{"a": 1}'),
        '{"key": "e", "from": "+1 917", "to": "91", "file_name": "m.mp3", "file_url": null, "region": "global", '
        '"extra_params": "{\\"a\\": 1}"}',
    ),
    (
        "huawei",
        Notify(key="n1", called="+8613800000000", play_list=[Prompt(voice_id="100001")]),
        '{"key": "n1", "called": "+8613800000000", "callback_url": null, "caller_present": null, "play_times": null, '
        '"priority": null, "play_list": [{"voice_id": "100001", "voice_file_name": null, "template_id": null, '
        '"template_params": null}]}',
    ),
    (
        "huawei",
        Notify(
            key="n2",
            called="8899",
            play_list=[Prompt(template_id="7", template_params=["1", "2"]), Prompt(voice_file_name="v.wav")],
            callback_url="https://example.test/cb",
            caller_present="4001",
            play_times=3,
            priority=5,
        ),
        '{"key": "n2", "called": "8899", "callback_url": "https://example.test/cb", "caller_present": "4001", '
        '"play_times": 3, "priority": 5, "play_list": [{"voice_id": null, "voice_file_name": null, '
        '"template_id": "7", "template_params": ["1", "2"]}, {"voice_id": null, "voice_file_name": "v.wav", '
        '"template_id": null, "template_params": null}]}',
    ),
    (
        "huawei",
        Notify(key="n3", called="8899", play_list=[Prompt(voice_id="1")], priority="9"),
        '{"key": "n3", "called": "8899", "callback_url": null, "caller_present": null, "play_times": null, '
        '"priority": "9", "play_list": [{"voice_id": "1", "voice_file_name": null, "template_id": null, '
        '"template_params": null}]}',
    ),
]


@pytest.mark.parametrize(("vendor", "spec", "text"), STORED, ids=[spec.key for _, spec, _ in STORED])
def test_the_stored_json_of_a_spec_is_unchanged(vendor: str, spec: Dial | Notify, text: str) -> None:
    assert spec_to_json(spec) == text
    assert spec_from_json(vendor, text) == spec  # type: ignore[arg-type]


def test_a_spec_written_by_an_earlier_version_loads() -> None:
    # A row of the PostgreSQL journal voicekit 0.1.0 left behind (tests/data).
    text = (
        '{"key": "k01", "from": "19170000000", "to": "9100000001", "file_name": "welcome.wav", '
        '"file_url": null, "region": "global", "extra_params": null}'
    )
    assert spec_from_json("telecmi", text) == Dial(
        key="k01", from_="19170000000", to="9100000001", file_name="welcome.wav"
    )


# -- the round trip ----------------------------------------------------------------------------

JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
NUMBERS = st.one_of(st.integers(min_value=0, max_value=10**16), st.text(max_size=20))
TEXT = st.text(max_size=30)

DIALS = st.builds(
    Dial,
    key=TEXT,
    from_=NUMBERS,
    to=NUMBERS,
    file_name=st.none() | TEXT,
    file_url=st.none() | TEXT,
    region=st.sampled_from(["global", "ind"]) | TEXT,
    extra_params=st.one_of(st.none(), TEXT, st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4)),
)

# What a prompt accepts: UTF-8 text (no lone surrogates), the ids not blank.
UTF8 = st.characters(exclude_categories=["Cs"])
IDS = st.text(UTF8, min_size=1, max_size=20).filter(str.strip)
PROMPTS = st.one_of(
    st.builds(Prompt, voice_id=IDS),
    st.builds(Prompt, voice_file_name=IDS),
    st.builds(
        Prompt,
        template_id=IDS,
        template_params=st.none() | st.lists(st.text(UTF8, max_size=32), min_size=1, max_size=10),
    ),
)
NOTIFIES = st.builds(
    Notify,
    key=TEXT,
    called=TEXT,
    play_list=st.lists(PROMPTS, min_size=1, max_size=5),
    callback_url=st.none() | TEXT,
    caller_present=st.none() | TEXT,
    play_times=st.none() | st.integers(min_value=-(2**40), max_value=2**40),
    priority=st.one_of(st.none(), st.integers(0, 10), st.text(max_size=2)),
)


@settings(max_examples=300, deadline=None)
@given(spec=DIALS)
def test_a_dial_round_trips_through_its_json(spec: Dial) -> None:
    assert spec_from_json("telecmi", spec_to_json(spec)) == spec


@settings(max_examples=300, deadline=None)
@given(spec=NOTIFIES)
def test_a_notify_round_trips_through_its_json(spec: Notify) -> None:
    assert spec_from_json("huawei", spec_to_json(spec)) == spec
