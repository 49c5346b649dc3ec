"""The documentation cannot rot: every Python block of docs/ runs, as shown, against the sandbox.

Each block is a complete program. It runs in its own interpreter, with the environment that
`voicekit sandbox` prints (credentials and base URLs of a sandbox on loopback), exactly as the
getting-started page tells a reader to run it. A block preceded by
``<!-- docs-test: skip (reason) -->`` is not run (FastAPI, Redis, another SDK's code); one
preceded by ``<!-- docs-test: postgres -->`` runs against a real PostgreSQL as well.
The site itself is built with ``mkdocs build --strict``.
"""

from __future__ import annotations

import html
import importlib
import itertools
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import attrs
import pytest

import voicekit.huawei
import voicekit.journal
import voicekit.telecmi
import voicekit.tracking
from tests._paths import ROOT
from voicekit._exit import EXIT_STATUS_TABLE, ExitStatus
from voicekit.sandbox import SyncSandbox

pytestmark = pytest.mark.e2e

DOCS = ROOT / "docs"
#: Seconds one block may take: each is a short program against a local sandbox.
BLOCK_TIMEOUT = 60
SKIP_MARK = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
#: A block that runs against a real PostgreSQL: ``JOURNAL_URL`` names a fresh database. Every
#: block has a small ``campaign.csv`` in its working directory.
POSTGRES_MARK = re.compile(r"<!--\s*docs-test:\s*postgres\s*-->")
_databases = itertools.count()
FENCE = re.compile(r"^```python[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.M | re.S)


class Block(NamedTuple):
    page: str
    line: int
    code: str
    skip: str | None
    postgres: bool = False


def blocks() -> list[Block]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
            mark = SKIP_MARK.fullmatch(before.strip())
            found.append(
                Block(
                    str(page.relative_to(DOCS)),
                    text.count("\n", 0, match.start()) + 1,
                    match.group("code"),
                    mark.group("reason") if mark else None,
                    bool(POSTGRES_MARK.fullmatch(before.strip())),
                )
            )
    return found


BLOCKS = blocks()


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
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }


def test_the_docs_have_runnable_blocks_and_skip_few() -> None:
    runnable = [b for b in BLOCKS if b.skip is None]
    skipped = [b for b in BLOCKS if b.skip is not None]
    assert len(runnable) >= 15, "the guides lost their examples"
    assert len(skipped) <= 4, f"skip sparingly: {[(b.page, b.line, b.skip) for b in skipped]}"


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.skip is None], ids=[f"{b.page}:{b.line}" for b in BLOCKS if b.skip is None]
)
def test_a_python_block_of_the_docs_runs_as_shown(
    block: Block, sandbox_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if block.postgres:
        server = request.getfixturevalue("postgres")
        sandbox_env = {**sandbox_env, "JOURNAL_URL": server.fresh_database(f"docs{next(_databases)}")}
    # A small campaign beside every block, as the campaign guides' examples read one.
    rows = [f"row-{i},{9100000000 + i},19170000000,welcome.wav" for i in range(5)]
    (tmp_path / "campaign.csv").write_text("key,to,from,file_name\n" + "\n".join(rows) + "\n")
    script = tmp_path / "block.py"
    script.write_text(block.code, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=sandbox_env,
        timeout=BLOCK_TIMEOUT,
    )
    assert proc.returncode == 0, f"{block.page}:{block.line}\n{proc.stderr}"
    assert proc.stdout.strip(), "every example shows what it did"
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr


#: What a user reads or runs: the documentation, the metadata, the examples, the package itself.
CLAIMS = ("README.md", "pyproject.toml", "mkdocs.yml", "docs/**/*.md", "examples/**/*", "benchmarks/README.md")
#: A URL whose host or path names the project: an address of its own, which it does not have.
OWN_URL = re.compile(r"https?://[^\s\"'`<>)]*voicekit", re.I)
#: An install of voicekit by name from a package index, where it is not published.
INDEX_INSTALL = re.compile(r"pip install [\"']?voicekit\b", re.I)


def claim_files() -> list[Path]:
    found = {path for pattern in CLAIMS for path in ROOT.glob(pattern) if path.is_file()}
    found |= set((ROOT / "voicekit").rglob("*.py"))
    return sorted(found)


def test_nothing_claims_an_address_or_a_published_package_the_project_does_not_have() -> None:
    """voicekit has no hosted site, no public repository address and no package on an index yet:
    no page, no metadata, no example, no message of the package may send a user to one."""
    metadata = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "urls" not in metadata, "[project.urls] names addresses the project does not have"
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert not re.findall(r"^(site_url|repo_url|repo_name|edit_uri):", config, re.M)
    files = claim_files()
    assert len(files) > 50 and ROOT / "README.md" in files and ROOT / "voicekit" / "redis_limiter.py" in files
    claims = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OWN_URL.search(line) or INDEX_INSTALL.search(line)
    ]
    assert claims == []


def test_mkdocs_builds_the_site_strictly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    for page in ("index.html", "migration/index.html", "guides/cli/index.html", "reference/clients/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    reference = (tmp_path / "site" / "reference" / "clients" / "index.html").read_text(encoding="utf-8")
    assert "play_music" in reference and "create_voice_notification" in reference
    # attrs classes show their __init__ signature and their fields' table (docs/_griffe_attrs.py
    # and griffe-fieldz): every field, once in each
    for page, cls, path in (
        ("telecmi", voicekit.telecmi.Dial, "voicekit.telecmi.Dial"),
        ("huawei", voicekit.huawei.Notify, "voicekit.huawei.Notify"),
        ("journal", voicekit.journal.CallOutcome, "voicekit.journal.CallOutcome"),
        ("journal", voicekit.journal.Policy, "voicekit.journal.Policy"),
        ("tracking", voicekit.tracking.CallEnd, "voicekit.tracking.CallEnd"),
    ):
        section = rendered_section(tmp_path / "site" / "reference" / page / "index.html", path)
        signature, _, fields = section.partition("Attributes:")
        signature = signature.replace(" ", "")
        assert signature.startswith(f"{cls.__name__}¶{cls.__name__}(*,"), section[:200]
        for field in attrs.fields(cls):
            assert f",{field.alias}:" in signature, f"{path}({field.alias}) missing from its signature"
            assert re.search(rf"\b{field.name}\b", fields), f"{path}.{field.name} missing from its fields"


def rendered_section(page: Path, path: str) -> str:
    """The text of `path`'s entry on a built reference page, up to its first member's heading."""
    text = page.read_text(encoding="utf-8")
    start = text.find(f'id="{path}"')
    assert start >= 0, f"{path} is not on {page}"
    body = re.split(r"<h[1-6] id=", text[start:], maxsplit=1)[0]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", "<" + body))).strip()


def test_the_operations_guide_s_exit_statuses_are_the_code_s() -> None:
    """The orchestrators' table lists every `ExitStatus`, in order, under its name and code."""
    guide = (DOCS / "guides" / "operations.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| `([A-Z_]+)` \| [^|]+\| [^|]+\|$", guide, re.M)
    assert [(int(code), name) for code, name in rows] == [(int(s), s.name) for s in ExitStatus]
    assert all(f"\n  {int(s):<4} " in EXIT_STATUS_TABLE for s in ExitStatus)  # and `--help` prints each


def test_the_operations_guide_s_metrics_are_the_ones_served() -> None:
    guide = (DOCS / "guides" / "operations.md").read_text(encoding="utf-8")
    documented = {name.removesuffix("_total") for name in re.findall(r"^\| `(voicekit_[a-z_]+)` \|", guide, re.M)}
    served = set(re.findall(r'"(voicekit_[a-z_]+)"', (ROOT / "voicekit" / "metrics.py").read_text(encoding="utf-8")))
    assert len(documented) >= 8 and documented == served
    # written once: the CLI guide links to the table rather than repeating it
    assert not re.search(r"^\| `voicekit_", (DOCS / "guides" / "cli.md").read_text(encoding="utf-8"), re.M)


def _resolves(dotted: str) -> bool:
    """Whether `dotted` (``voicekit.x.y``) names a module or an attribute of one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_every_voicekit_name_the_docs_write_exists() -> None:
    """A dotted ``voicekit.`` name in the README or the docs is a module or an object of the
    package, or one of the telemetry names `voicekit.telemetry` documents (spans' attributes,
    metrics)."""
    import voicekit.telemetry

    named = re.compile(r"`(voicekit(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`")
    telemetry_names = set(named.findall(voicekit.telemetry.__doc__ or "")) | set(voicekit.telemetry.METRICS)
    pages = [ROOT / "README.md", *DOCS.rglob("*.md")]
    missing = sorted(
        f"{page.relative_to(ROOT)}: {name}"
        for page in pages
        for name in set(named.findall(page.read_text(encoding="utf-8")))
        if name not in telemetry_names and not _resolves(name)
    )
    assert missing == []
