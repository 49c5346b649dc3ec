"""Campaign CSV files: rows, their problems, both vendors' columns, shards."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests._journal import write_csv
from voicekit.errors import ConfigurationError, ValidationError
from voicekit.huawei import Notify
from voicekit.journal import Campaign, in_shard, parse_shard, read_campaign
from voicekit.telecmi import Dial


def test_malformed_rows_carry_their_row_number_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        b"\xef\xbb\xbfKey,To,From,File_Name,Extra_Params\n"  # a BOM and capitalised names
        b"a,9100000001,19170000000,welcome.wav,\n"  # row 2
        b"b,12ab,19170000000,welcome.wav,\n"  # row 3: bad number
        b"\n"  # row 4: blank, skipped
        b"c,9100000003,,welcome.wav,\n"  # row 5: missing value
        b"d,91000\xff0004,19170000000,welcome.wav,\n"  # row 6: not UTF-8
        b"e,9100000005,19170000000,welcome.wav,{nope\n"  # row 7: bad JSON
        b"f,9100000006,19170000000\n"  # row 8: short row, no file
        b',9100000007,19170000000,welcome.mp3,"{""crm"": 1}"\n'  # row 9: default key
    )
    rows = list(read_campaign(path))
    problems = {r.number: (r.key, r.problem) for r in rows if r.problem}
    assert [r.number for r in rows] == [2, 3, 5, 6, 7, 8, 9]
    assert problems[3] == ("b", "to: must be 7-16 digits without a leading zero, got '12ab'")
    assert problems[5] == ("c", "from: missing value")
    assert problems[6][0] == "d" and "undecodable" in problems[6][1]  # type: ignore[operator]
    assert problems[7][0] == "e" and "extra_params" in problems[7][1]  # type: ignore[operator]
    assert problems[8][0] == "f" and "file_name" in problems[8][1]  # type: ignore[operator]
    good = {r.number: r.spec for r in rows if r.spec}
    assert set(good) == {2, 9}
    assert good[9] == Dial(
        key="9", from_="19170000000", to="9100000007", file_name="welcome.mp3", extra_params={"crm": 1}
    )


def test_huawei_rows(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "h.csv",
        [
            ["n1", "8899", "100001", "", "7|8", "3"],
            ["n2", "8898", "", "T1", "a|b", "9"],
            ["n3", "8897", "100001", "", "", "x"],
        ],
        header=["key", "called", "voice_id", "template_id", "template_params", "play_times"],
    )
    rows = list(read_campaign(path))
    assert isinstance(rows[0].spec, Notify)
    assert rows[0].spec.play_list[0].voice_id == "100001"
    assert list(rows[0].spec.play_list[0].template_params or ()) == ["7", "8"]
    assert rows[1].problem == "play_times: must be between 1 and 5, got 9"
    assert rows[2].problem == "play_times: must be an integer, got 'x'"


def test_a_header_without_a_needed_column_is_one_clear_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [["a", "9100000001", "welcome.wav"]], header=["key", "to", "file_name"])
    with pytest.raises(ConfigurationError, match="needs a 'from' column"):
        Campaign.from_file(path)
    with pytest.raises(ConfigurationError, match="cannot tell the campaign's vendor"):
        Campaign.from_file(write_csv(tmp_path / "d.csv", [["1"]], header=["number"]))


def test_shards_split_the_keys_exactly() -> None:
    keys = [f"key-{i}" for i in range(3000)]
    owners = [[i for i in (1, 2, 3) if in_shard(k, (i, 3))] for k in keys]
    assert all(len(o) == 1 for o in owners)
    sizes = Counter(o[0] for o in owners)
    assert all(800 < size < 1200 for size in sizes.values())
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/3", "4/3", "x", "1/0", "1-3"):
        with pytest.raises(ValidationError):
            parse_shard(bad)


def test_a_campaign_is_named_after_its_file_unless_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "spring offers.csv", [["a", "9100000001", "19170000000", "welcome.wav"]])
    assert Campaign.from_file(path).name == "spring offers"
    assert Campaign.from_file(path, name="april").name == "april"
    assert Campaign.from_file(path).same_as(Campaign.from_file(path, name="april"))  # the name is not the content
    for bad in ("", "   ", "x" * 101, "tab\there", "\ud800"):
        with pytest.raises(ValidationError, match="campaign"):
            Campaign.from_file(path, name=bad)
