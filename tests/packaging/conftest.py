"""Builds the distributions once per session: ``python -m build`` from a copy of the source tree.

The copy holds exactly the files git knows (tracked, or new and not ignored), so caches, venvs, earlier builds and
egg-info of the working tree cannot leak in, and building never writes into the working tree. The builds are
isolated (pip installs the build backend from ``[build-system] requires`` into a fresh environment), as users' and
CI's builds are; with the package index's files cached this takes about 10 s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

BUILD_TIMEOUT = 300


@dataclass(frozen=True)
class Distributions:
    """What one build produced.

    :param source: the copy of the source tree the builds ran in.
    :param sdist: the source distribution.
    :param wheel: the wheel ``python -m build`` made from the unpacked sdist (what users get).
    :param direct_wheel: a wheel built straight from the source tree, to compare with ``wheel``.
    """

    source: Path
    sdist: Path
    wheel: Path
    direct_wheel: Path


def source_files(root: Path) -> list[str]:
    """The files git knows under ``root``: tracked (and still present) or new and not ignored."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (root / name).is_file()})


def _build(source: Path, out: Path, *flags: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "build", *flags, "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert result.returncode == 0, f"python -m build {' '.join(flags)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="session")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distributions]:
    """The sdist and wheel of the current source tree, and a wheel built directly from it."""
    pytest.importorskip("build", reason="the test extra's `build` is not installed")
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout: git tells which files are sources")
    base = tmp_path_factory.mktemp("dist")
    source = base / "source"
    for name in source_files(ROOT):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    _build(source, base / "out")  # sdist, then the wheel from the unpacked sdist
    _build(source, base / "direct", "--wheel")
    yield Distributions(
        source=source,
        sdist=next((base / "out").glob("*.tar.gz")),
        wheel=next((base / "out").glob("*.whl")),
        direct_wheel=next((base / "direct").glob("*.whl")),
    )
