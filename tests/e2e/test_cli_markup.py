"""The command line prints text that is not its own (error messages, file names, vendor text)
exactly as it is: square brackets are not rich markup.

Each command runs as a user runs it, in a subprocess, with a wide terminal so that no line is
wrapped; the assertions look for the text verbatim.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._paths import ROOT
from voicekit.sandbox import SyncSandbox

CAMPAIGN = "key,to,from,file_name\nk0,9100000000,19170000000,welcome.wav\nk1,9100000001,19170000000,welcome.wav\n"


def voicekit(*args: str, cwd: Path, env: dict[str, str] | None = None, prelude: str = "") -> tuple[int, str, str]:
    """Run ``voicekit ARGS`` in `cwd`; `prelude` is Python run first (to hide an installed extra)."""
    code = f"{prelude}\nimport sys\nfrom voicekit.cli import main\nsys.argv[0] = 'voicekit'\nmain()"
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("VOICEKIT_")},
            "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path]),
            "COLUMNS": "400",
            **(env or {}),
        },
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def sb() -> Iterator[SyncSandbox]:
    with SyncSandbox() as sandbox:
        yield sandbox


def test_an_error_naming_an_extra_is_printed_verbatim(tmp_path: Path) -> None:
    (tmp_path / "camp.csv").write_text(CAMPAIGN, encoding="utf-8")
    code, out, err = voicekit(
        "dial", "camp.csv", "--journal", "postgresql://u@127.0.0.1:9/db",
        cwd=tmp_path,
        prelude="import sys; sys.modules['psycopg'] = None; sys.modules['psycopg_pool'] = None",
    )  # fmt: skip
    assert code == 1, err
    assert 'pip install "psycopg[binary]" psycopg-pool' in err, err  # the brackets survive
    assert "Traceback" not in err


def test_a_missing_campaign_file_with_brackets_in_its_name_is_named_verbatim(tmp_path: Path) -> None:
    code, out, err = voicekit("dial", "camp[bold].csv", "--journal", "j.db", cwd=tmp_path)
    assert code == 1, err
    assert "'camp[bold].csv'" in err, err


@pytest.mark.slow
def test_a_campaign_file_with_brackets_in_its_name_is_shown_verbatim(tmp_path: Path, sb: SyncSandbox) -> None:
    (tmp_path / "camp[bold].csv").write_text(CAMPAIGN, encoding="utf-8")
    env = {
        "VOICEKIT_TELECMI_PIOPIY_URL": sb.url,
        "VOICEKIT_TELECMI_BASE_URL": sb.url,
        "VOICEKIT_TELECMI_APPID": str(sb.telecmi_appid),
        "VOICEKIT_TELECMI_SECRET": sb.telecmi_secret,
    }
    code, out, err = voicekit("dial", "camp[bold].csv", "--journal", "camp[red].db", cwd=tmp_path, env=env)
    assert code == 0, err
    assert "camp[bold].csv" in out and "camp[red].db" in out, out
    code, out, err = voicekit("dial", "status", "camp[red].db", cwd=tmp_path)
    assert code == 0, err
    journal_row = next(line for line in out.splitlines() if line.startswith("journal"))
    campaign_row = next(line for line in out.splitlines() if line.startswith("campaign"))
    assert journal_row.split()[-1] == str(tmp_path / "camp[red].db"), out
    assert str(tmp_path / "camp[bold].csv") in campaign_row, out


def test_a_validation_error_quoting_brackets_is_printed_verbatim(tmp_path: Path) -> None:
    code, out, err = voicekit(
        "call", "play", "--from", "19170000000", "--to", "[postgres]", "--file", "welcome.wav", "--sandbox",
        cwd=tmp_path,
    )  # fmt: skip
    assert code == 1, err
    assert "'[postgres]'" in err and "(option --to)" in err, err


def test_a_vendor_error_quoting_a_file_name_is_printed_verbatim(tmp_path: Path, sb: SyncSandbox) -> None:
    # The vendor's 404 names the music file it does not know; "[b]" is rich's bold tag.
    env = {
        "VOICEKIT_TELECMI_BASE_URL": sb.url,
        "VOICEKIT_TELECMI_APPID": str(sb.telecmi_appid),
        "VOICEKIT_TELECMI_SECRET": sb.telecmi_secret,
    }
    code, out, err = voicekit(
        "call", "play", "--from", "19170000000", "--to", "19170000001", "--file", "jingle[b].wav",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert code == 1, err
    assert "NotFoundError (HTTP 404" in err and "'jingle[b].wav'" in err, err
