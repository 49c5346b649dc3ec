"""The shell blocks of the README and docs/ cannot rot: each runs as shown, or says why not.

Every ```sh / ```bash / ```console block is one of:

- run: the blocks of a page run in order in one fresh directory (a later block may use what an
  earlier one wrote, as a reader following the page would), under bash ``-e``, with the
  environment `voicekit sandbox` tells a reader to export (a sandbox on loopback), the project's
  ``voicekit`` on ``PATH`` and ``.venv`` pointing at the interpreter's environment. Each must exit
  0 and print what `EXPECT` says it prints. A transcript (``$ command`` lines, each followed by
  its output) runs each command and compares its JSON with the one shown. A block serving the
  sandbox (``voicekit sandbox``) runs until it prints its exports, on a free port;
- or marked ``<!-- docs-test: skip (reason) -->`` right before it: not run here, for the reason
  given (a TeleCMI account, a PostgreSQL server, root).

Whatever the block, a ``pip install`` in it is checked, never run: it installs the project
itself (its checkout or its wheel, with extras it has) or a package the project depends on.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests._paths import ROOT
from voicekit.sandbox import SyncSandbox

pytestmark = pytest.mark.e2e

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(?P<lang>sh|bash|console|shell)[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)
SKIP_MARK = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
#: Seconds one block may take: a few commands against a local sandbox.
BLOCK_TIMEOUT = 60

#: What each run block prints: (page, a line of the block, a pattern its standard output
#: matches). Every run block needs one, and each entry must name exactly one block.
EXPECT: list[tuple[str, str, str]] = [
    ("README.md", "voicekit dial campaign.csv --journal campaign.db --sandbox", r"placed=2 failed=0"),
    ("README.md", "voicekit dial reconcile campaign.db", r"placed=2"),
    ("README.md", "voicekit cdr export --kind outgoing-answered", r"records"),
    ("docs/getting-started.md", "voicekit demo", r"demo complete"),
    ("docs/getting-started.md", "voicekit sandbox --port 8765", r"export VOICEKIT_TELECMI_APPID=\d+"),
    ("docs/guides/bulk-campaign.md", "voicekit dial campaign.csv --journal campaign.db --sandbox", r"placed=1"),
    ("docs/guides/bulk-campaign.md", "voicekit dial reconcile campaign.db", r"placed=1"),
    ("docs/guides/cli.md", "voicekit notify --called 8899 --play voice-id:100001", r"records"),
    ("docs/guides/cli.md", "$ voicekit call play", r'"ok": false'),
    ("docs/guides/operations.md", "voicekit dial pause campaign.db", r"cancelled the campaign"),
    ("docs/guides/operations.md", "voicekit --log-format json dial", r"placed=2"),
    ("docs/guides/sandbox.md", "voicekit sandbox --port 8765", r"export VOICEKIT_HUAWEI_APP_KEY="),
]
#: What a run block's standard error must match, where the output is the log.
EXPECT_STDERR: dict[tuple[str, str], str] = {
    ("docs/guides/operations.md", "voicekit --log-format json dial"): r'"level": "info", "logger": "voicekit"',
}


class Block(NamedTuple):
    page: str
    line: int
    code: str
    skip: str | None


def blocks() -> list[Block]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            before = text[: match.start()].rstrip().rsplit("\n", 1)[-1].strip()
            mark = SKIP_MARK.fullmatch(before)
            found.append(
                Block(
                    str(page.relative_to(ROOT)),
                    text.count("\n", 0, match.start()) + 1,
                    match.group("code"),
                    mark.group("reason") if mark else None,
                )
            )
    return found


BLOCKS = blocks()
RUN = [b for b in BLOCKS if b.skip is None]


def expectation(block: Block) -> str:
    found = [pattern for page, line, pattern in EXPECT if page == block.page and line in block.code]
    assert len(found) == 1, f"{block.page}:{block.line}: give it one EXPECT entry (or a skip mark), found {found}"
    return found[0]


# -- the checks that need nothing run ------------------------------------------------------------


def test_every_shell_block_is_run_or_says_why_not() -> None:
    assert len(BLOCKS) >= 20, "the shell blocks were not found"
    assert len(RUN) >= 10, "most shell blocks run"
    for block in RUN:
        expectation(block)  # a run block says what it prints
        assert "pip install" not in block.code, f"{block.page}:{block.line}: installs are not run: mark it skipped"
    for page, line, _ in EXPECT:  # no stale entry
        assert sum(b.page == page and line in b.code for b in RUN) == 1, (page, line)


def project_packages() -> tuple[set[str], set[str]]:
    """The names the project depends on (any extra), and its extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    names = {requirement_name(r) for r in project["dependencies"]}
    names |= {requirement_name(r) for group in extras.values() for r in group}
    return names - {"voicekit"}, set(extras)


def requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def install_targets(code: str) -> Iterator[str]:
    """What each ``pip install`` of a block installs: its arguments that are not options."""
    for line in code.splitlines():
        for command in re.split(r"&&|;|\|", line.split(" #", 1)[0]):
            if "pip" not in command:
                continue
            words = shlex.split(command)
            if "pip" not in words or "install" not in words:
                continue
            for word in words[words.index("install") + 1 :]:
                if not word.startswith("-"):
                    yield word


def test_every_install_names_the_project_or_one_of_its_dependencies() -> None:
    names, extras = project_packages()
    targets = [(b.page, b.line, t) for b in BLOCKS for t in install_targets(b.code)]
    assert len(targets) >= 8, targets
    for page, line, target in targets:
        project = re.fullmatch(r"\.(?:\[(?P<extras>[a-z,]+)\])?", target)
        if project:
            wanted = set(filter(None, (project.group("extras") or "").split(",")))
            assert wanted <= extras, f"{page}:{line}: no extra {wanted - extras} in pyproject.toml"
        elif target.endswith(".whl"):
            assert Path(target).name.startswith("voicekit-"), f"{page}:{line}: {target} is not the project's wheel"
        else:
            assert requirement_name(target) in names, f"{page}:{line}: {target} is not a dependency of the project"


def test_the_install_check_refuses_a_stranger() -> None:
    names, extras = project_packages()
    assert list(install_targets('pip install "requests-oauth>=1" .[nope] && voicekit demo')) == [
        "requests-oauth>=1",
        ".[nope]",
    ]
    assert requirement_name("requests-oauth>=1") not in names and "nope" not in extras


# -- running them ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox_env() -> Iterator[dict[str, str]]:
    """The environment `voicekit sandbox` tells a reader to export, for a sandbox on loopback."""
    with SyncSandbox(seed_records=200) as sb:
        yield {
            **os.environ,
            "VOICEKIT_TELECMI_APPID": str(sb.telecmi_appid),
            "VOICEKIT_TELECMI_SECRET": sb.telecmi_secret,
            "VOICEKIT_TELECMI_BASE_URL": sb.url,
            "VOICEKIT_TELECMI_PIOPIY_URL": sb.url,
            "VOICEKIT_HUAWEI_BASE_URL": sb.url,
            "VOICEKIT_HUAWEI_APP_KEY": sb.huawei_app_key,
            "VOICEKIT_HUAWEI_APP_SECRET": sb.huawei_app_secret,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "COLUMNS": "100",
        }


def run_script(block: Block, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", block.code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=BLOCK_TIMEOUT,
    )


def run_transcript(block: Block, env: dict[str, str], cwd: Path) -> str:
    """Each ``$ command`` runs; its output has the keys, and the ``ok``, of the JSON shown."""
    lines = block.code.splitlines()
    outputs = []
    for n, line in enumerate(lines):
        if not line.startswith("$ "):
            continue
        shown = json.loads(lines[n + 1])
        proc = subprocess.run(
            ["bash", "-c", line[2:]], capture_output=True, text=True, cwd=cwd, env=env, timeout=BLOCK_TIMEOUT
        )
        assert proc.returncode == shown.get("exit_code", 0), f"{block.page}:{block.line} {line}\n{proc.stderr}"
        got = json.loads(proc.stdout)
        assert set(got) == set(shown) and got["ok"] == shown["ok"], (line, got)
        if "error" in shown:
            assert got["error"]["type"] == shown["error"]["type"] and got["error"]["field"] == shown["error"]["field"]
        outputs.append(proc.stdout)
    assert outputs, f"{block.page}:{block.line}: a transcript with no command"
    return "".join(outputs)


def run_server(block: Block, env: dict[str, str], cwd: Path) -> str:
    """`voicekit sandbox` serves until Ctrl-C: it runs (on a free port) until it printed its
    exports, then gets Ctrl-C and must stop cleanly."""
    command = shlex.split(block.code.strip().split(" #", 1)[0])
    assert command[:2] == ["voicekit", "sandbox"], command
    if "--port" in command:
        command[command.index("--port") + 1] = "0"  # the shown port may be taken on this machine
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "VOICEKIT_HUAWEI_APP_SECRET" in line:
                break
        proc.send_signal(signal.SIGINT)
        rest, errors = proc.communicate(timeout=BLOCK_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, 130), errors
    return "".join(lines) + rest


@pytest.mark.parametrize("page", sorted({b.page for b in RUN}))
def test_a_page_s_shell_blocks_run_as_shown(page: str, sandbox_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    for block in (b for b in RUN if b.page == page):
        pattern = expectation(block)
        if block.code.lstrip().startswith("$ "):
            out, err = run_transcript(block, sandbox_env, tmp_path), ""
        elif block.code.strip().startswith("voicekit sandbox") and "\n" not in block.code.strip():
            out, err = run_server(block, sandbox_env, tmp_path), ""
        else:
            proc = run_script(block, sandbox_env, tmp_path)
            out, err = proc.stdout, proc.stderr
            assert proc.returncode == 0, f"{block.page}:{block.line} exited {proc.returncode}\n{out}\n{err}"
        assert re.search(pattern, out), f"{block.page}:{block.line}: {pattern!r} not in\n{out}"
        for (where, line), stderr_pattern in EXPECT_STDERR.items():
            if where == block.page and line in block.code:
                assert re.search(stderr_pattern, err), f"{block.page}:{block.line}: {stderr_pattern!r} not in\n{err}"
        assert "Traceback" not in out + err, err
