"""The package people install: the wheel holds what it should, and alone it runs `voicekit demo`.

Builds the wheel and the sdist with the configured backend (hatchling) into a temporary folder,
checks their contents and metadata, then installs the wheel by itself (no dev extra, runtime
dependencies from the package index) into a fresh virtual environment and runs the demo there.
"""

from __future__ import annotations

import email.parser
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import voicekit
from tests._paths import ROOT

pytestmark = pytest.mark.e2e

#: Bounds on each step: building is seconds; installing downloads the runtime dependencies.
BUILD_TIMEOUT = 300
INSTALL_TIMEOUT = 300
DEMO_TIMEOUT = 120


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--sdist", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    yield out


def wheel_of(dist: Path) -> Path:
    (wheel,) = dist.glob(f"voicekit-{voicekit.__version__}-py3-none-any.whl")
    return wheel


def test_the_wheel_holds_the_package_its_license_and_typing_but_no_tests(dist: Path) -> None:
    with zipfile.ZipFile(wheel_of(dist)) as whl:
        names = whl.namelist()
        info = f"voicekit-{voicekit.__version__}.dist-info"
        metadata = email.parser.Parser().parsestr(whl.read(f"{info}/METADATA").decode())
        license_text = whl.read(f"{info}/licenses/LICENSE").decode()
    assert "voicekit/py.typed" in names
    assert "voicekit/cli/_demo.py" in names and "voicekit/sandbox/__init__.py" in names
    assert "MIT License" in license_text
    top = {name.split("/")[0] for name in names}
    assert top == {"voicekit", info}, top  # no tests, benchmarks, examples or docs
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/") or n.endswith(".pyc")]

    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"
    assert metadata["Author"] == "voicekit developers"
    classifiers = metadata.get_all("Classifier") or []
    for wanted in ("Typing :: Typed", "Framework :: AsyncIO", "Programming Language :: Python :: 3.11"):
        assert wanted in classifiers
    # The project has no published address yet; the metadata must not invent one.
    assert metadata.get_all("Project-URL") is None and metadata.get("Home-page") is None
    assert metadata["Requires-Python"] == ">=3.11"


def test_the_sdist_holds_the_project_and_no_local_caches(dist: Path) -> None:
    (sdist,) = dist.glob("voicekit-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for wanted in (
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "pyproject.toml",
        "mkdocs.yml",
        "docs/index.md",
        "voicekit/py.typed",
        "tests/e2e/test_wheel.py",
    ):
        assert wanted in names, wanted
    assert not [n for n in names if n.startswith((".venv", ".hypothesis", ".mypy_cache", "site/"))]


def test_the_wheel_installed_alone_runs_the_demo(dist: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(bindir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel_of(dist))],
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        env=clean,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = subprocess.run(
        [str(bindir / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean,
    ).stdout.lower()
    assert "pytest" not in listed and "mypy" not in listed, "the dev extra came along"

    demo = subprocess.run(
        [str(bindir / "voicekit"), "demo", "--calls", "20", "--rate", "200"],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        cwd=tmp_path,
        env={**clean, "COLUMNS": "80"},
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "demo complete" in demo.stdout and "placed=20 failed=0 unknown=0" in demo.stdout
    # the installed copy ran, not the checkout's
    where = subprocess.run(
        [str(bindir / "python"), "-c", "import voicekit; print(voicekit.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean,
        cwd=tmp_path,
    ).stdout
    assert str(env_dir) in where and str(ROOT / "voicekit") not in where
