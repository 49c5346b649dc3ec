"""The command line for scripts: `--json`, the shared exit codes, flags named in errors, `notify`'s play list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from tests._cli import env_for
from voicekit.cli import main
from voicekit.cli._common import ExitCode
from voicekit.huawei import HuaweiVoice, Prompt
from voicekit.sandbox import SyncSandbox

MAKE_CALL = "/v2/global_pcmo_make_call"


@pytest.fixture
def sb() -> Iterator[SyncSandbox]:
    with SyncSandbox(seed_records=300) as sandbox:
        yield sandbox


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def one_object(stdout: str) -> dict[str, Any]:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout  # one line, nothing else on standard output
    data: dict[str, Any] = json.loads(lines[0])
    return data


def test_call_play_json_is_the_result_and_the_call_is_in_the_ledger(sb: SyncSandbox) -> None:
    code, out, _ = invoke(
        "call",
        "play",
        "--from",
        "19170000000",
        "--to",
        "19170000001",
        "--file",
        "welcome.wav",
        "--json",
        env=env_for(sb),
    )
    assert code == ExitCode.OK == 0
    data = one_object(out)
    assert data["ok"] is True and data["status"] == "progress"
    assert [c.request_id for c in sb.calls] == [data["request_id"]]


@pytest.mark.parametrize(
    ("args", "keys"),
    [
        (
            ["call", "bridge", "--from", "19170000000", "--to", "19170000001", "--connect", "19170000002"],
            {"ok", "request_id", "status"},
        ),
        (["click2call", "--user-id", "101_1111112", "--to", "9100000000"], {"ok", "request_id", "message"}),
        (["notify", "--called", "8899", "--voice-id", "100001"], {"ok", "call_serial_no"}),
    ],
)
@pytest.mark.slow
def test_every_single_call_command_has_json(sb: SyncSandbox, args: list[str], keys: set[str]) -> None:
    code, out, _ = invoke(*args, "--json", env=env_for(sb))
    assert code == 0, out
    data = one_object(out)
    assert set(data) == keys and data["ok"] is True


def test_an_error_with_json_is_an_object_too_and_names_the_flag(sb: SyncSandbox) -> None:
    code, out, err = invoke(
        "call", "play", "--from", "19170000000", "--to", "12ab", "--file", "welcome.wav", "--json", env=env_for(sb)
    )
    assert code == ExitCode.ERROR == 1
    data = one_object(out)
    assert data == {
        "ok": False,
        "exit_code": 1,
        "error": {"type": "ValidationError", "field": "to", "message": data["error"]["message"]},
    }
    assert "(option --to)" in err
    assert sb.calls == []


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["call", "play", "--from", "1", "--to", "19170000001", "--file", "welcome.wav"], "--from"),
        (["notify", "--called", "8899", "--voice-id", "100001", "--priority", "0"], "--priority"),
        (["notify", "--called", "8899", "--voice-id", "100001", "--play-times", "9"], "--play-times"),
        (["notify", "--called", "8899", "--template-id", "T1", "--param", "x" * 40], "--param"),
    ],
)
def test_a_validation_error_names_its_flag(sb: SyncSandbox, args: list[str], flag: str) -> None:
    code, _, err = invoke(*args, env=env_for(sb))
    assert code == 1
    assert f"(option {flag})" in err


def test_an_unknown_outcome_has_its_own_exit_code(sb: SyncSandbox) -> None:
    sb.faults.add(MAKE_CALL, status=503)  # placed, then 503: the call may have rung
    code, out, err = invoke(
        "call",
        "play",
        "--from",
        "19170000000",
        "--to",
        "19170000001",
        "--file",
        "welcome.wav",
        "--json",
        env=env_for(sb),
    )
    assert code == ExitCode.UNKNOWN == 4
    data = one_object(out)
    assert data["error"]["type"] == "CallOutcomeUnknownError" and data["exit_code"] == 4
    assert "CallOutcomeUnknownError" in err
    assert len(sb.calls) == 1  # placed once, not retried


def test_a_refused_call_is_exit_1_not_unknown(sb: SyncSandbox) -> None:
    code, out, _ = invoke(
        "call", "play", "--from", "19170000000", "--to", "19170000001", "--file", "nope.wav", "--json", env=env_for(sb)
    )
    assert code == 1
    assert one_object(out)["error"]["status"] == 404


def test_notify_takes_every_play_list_source_in_order_and_a_priority(
    sb: SyncSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    original = HuaweiVoice.create_voice_notification

    def spy(self: HuaweiVoice, **kwargs: Any) -> Any:
        sent.append(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(HuaweiVoice, "create_voice_notification", spy)
    code, out, _ = invoke(
        "notify",
        "--called",
        "8899",
        "--voice-file",
        "hello.wav",
        "--play",
        "voice-id:100001",
        "--play",
        "template-id:T7:100|200",
        "--priority",
        "2",
        "--json",
        env=env_for(sb),
    )
    assert code == 0, out
    assert one_object(out)["call_serial_no"] == sb.calls[0].request_id
    (kwargs,) = sent
    assert kwargs["play_list"] == [
        Prompt(voice_file_name="hello.wav"),
        Prompt(voice_id="100001"),
        Prompt(template_id="T7", template_params=["100", "200"]),
    ]
    assert kwargs["priority"] == 2


@pytest.mark.parametrize("play", ["bogus", "voice-id", "voice-id:1:2|3", "speak:hello"])
def test_a_malformed_play_item_is_a_usage_error_naming_play(play: str) -> None:
    code, out, err = invoke("notify", "--called", "8899", "--play", play, "--sandbox")
    assert code == ExitCode.USAGE == 2
    assert "'--play'" in out + err


def test_cdr_stats_json_counts_every_record(sb: SyncSandbox) -> None:
    day = 86_400_000
    code, out, _ = invoke(
        "cdr", "stats", "--since", str(sb.seed_end_ms - day), "--until", str(sb.seed_end_ms), "--json", env=env_for(sb)
    )
    assert code == 0, out
    data = one_object(out)
    assert data["records"] == 300
    assert sum(h["calls"] for h in data["per_hour"]) == 300
    assert sum(b["calls"] for b in data["billed"]) == 300
    assert data["mean_billed_seconds"] == pytest.approx(data["billed_seconds"] / 300, abs=1e-3)
    assert [b["seconds"] for b in data["billed"]][0] == "0"


def test_cdr_stats_json_of_an_empty_window() -> None:
    code, out, _ = invoke("cdr", "stats", "--sandbox", "--seed-records", "0", "--json")
    assert code == 0, out
    assert one_object(out) == {
        "ok": True,
        "records": 0,
        "billed_seconds": 0,
        "mean_billed_seconds": None,
        "per_hour": [],
        "billed": one_object(out)["billed"],
    }


def test_the_help_documents_the_exit_codes() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for status in ExitCode:
        assert f"  {int(status)} " in out, status
    assert max(len(line) for line in out.splitlines()) <= 80
