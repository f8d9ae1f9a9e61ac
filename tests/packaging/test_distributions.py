"""The wheel and sdist users get: exactly the package, its typing marker, the simulator and the example DAGs.

``python -m build`` builds the sdist, then the wheel from the unpacked sdist; a second wheel built straight from
the source tree must hold the same files, which proves the sdist carries everything the wheel needs.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import PurePosixPath

import pytest

from tests.packaging.conftest import Distributions

PACKAGE = "airflow_provider_hubspot_channels"
EXAMPLES_IN_WHEEL = f"{PACKAGE}/example_dags"
DIST_INFO = f"{PACKAGE}-"  # airflow_provider_hubspot_channels-<version>.dist-info/...
# Never in a distribution: caches, byte code, venvs, build leftovers, VCS and tool state.
FORBIDDEN_PARTS = {"__pycache__", ".venv", "build", "dist", ".git", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def wheel_names(wheel: object) -> list[str]:
    with zipfile.ZipFile(str(wheel)) as archive:
        return sorted(archive.namelist())


def sdist_names(sdist: object) -> list[str]:
    """The sdist's files, relative to its top folder (``name-version/``)."""
    with tarfile.open(str(sdist)) as archive:
        files = [member.name for member in archive.getmembers() if member.isfile()]
    return sorted(str(PurePosixPath(*PurePosixPath(name).parts[1:])) for name in files)


def expected_in_wheel(dists: Distributions) -> set[str]:
    """Every source file of the package, and the top-level example DAGs under the package's example_dags/."""
    package = {
        str(path.relative_to(dists.source).as_posix()) for path in (dists.source / PACKAGE).rglob("*") if path.is_file()
    }
    examples = {f"{EXAMPLES_IN_WHEEL}/{path.name}" for path in (dists.source / "example_dags").glob("*.py")}
    return package | examples


def metadata(dists: Distributions) -> dict[str, list[str]]:
    with zipfile.ZipFile(dists.wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(archive.read(name).decode())
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    return fields


def test_twine_accepts_the_wheel_and_the_sdist(distributions: Distributions) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(distributions.wheel), str(distributions.sdist)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_wheel_holds_exactly_the_package_and_the_example_dags(distributions: Distributions) -> None:
    names = wheel_names(distributions.wheel)
    content = {name for name in names if not name.startswith(DIST_INFO)}
    expected = expected_in_wheel(distributions)
    missing, extra = expected - content, content - expected
    # A missing subpackage is one not listed in pyproject.toml's [tool.setuptools] packages.
    assert not missing, f"missing from the wheel (list new subpackages in pyproject.toml): {sorted(missing)}"
    assert not extra, f"in the wheel but not a source file of the package: {sorted(extra)}"
    assert f"{PACKAGE}/py.typed" in content
    assert f"{PACKAGE}/simulator/__main__.py" in content
    assert {f"{EXAMPLES_IN_WHEEL}/{p.name}" for p in (distributions.source / "example_dags").glob("*.py")} <= content
    info = {name.split("/", 1)[1] for name in names if name.startswith(DIST_INFO)}
    assert info == {"METADATA", "WHEEL", "RECORD", "entry_points.txt", "top_level.txt", "licenses/LICENSE"}


def test_the_wheel_s_example_dags_are_the_repository_s_files(distributions: Distributions) -> None:
    with zipfile.ZipFile(distributions.wheel) as archive:
        for path in sorted((distributions.source / "example_dags").glob("*.py")):
            assert archive.read(f"{EXAMPLES_IN_WHEEL}/{path.name}") == path.read_bytes(), path.name


def test_the_wheel_declares_the_provider_entry_point_and_its_license(distributions: Distributions) -> None:
    with zipfile.ZipFile(distributions.wheel) as archive:
        entry_points = next(archive.read(n).decode() for n in archive.namelist() if n.endswith("entry_points.txt"))
    assert "[apache_airflow_provider]" in entry_points
    assert f"provider_info = {PACKAGE}.get_provider_info:get_provider_info" in entry_points
    assert "[console_scripts]" in entry_points
    assert f"hubspot-channels-store = {PACKAGE}.store_cli:main" in entry_points
    assert f"hubspot-channels-simulator = {PACKAGE}.simulator.__main__:main" in entry_points
    fields = metadata(distributions)
    assert fields["License-Expression"] == ["Apache-2.0"]
    assert fields["License-File"] == ["LICENSE"]
    urls = dict(url.split(", ", 1) for url in fields["Project-URL"])
    assert {"Homepage", "Source", "Documentation", "Changelog", "Issues"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())


def test_the_sdist_holds_what_rebuilds_the_wheel(distributions: Distributions) -> None:
    names = set(sdist_names(distributions.sdist))
    assert {"pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "MANIFEST.in", "PKG-INFO"} <= names
    sources = {
        str(path.relative_to(distributions.source).as_posix())
        for folder in (PACKAGE, "example_dags")
        for path in (distributions.source / folder).rglob("*")
        if path.is_file()
    }
    assert not sources - names, f"missing from the sdist: {sorted(sources - names)}"
    # The wheel python -m build made from the unpacked sdist equals one built from the tree itself.
    assert wheel_names(distributions.wheel) == wheel_names(distributions.direct_wheel)


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_no_tests_caches_or_build_leftovers(distributions: Distributions, kind: str) -> None:
    names = wheel_names(distributions.wheel) if kind == "wheel" else sdist_names(distributions.sdist)
    leftovers = [
        name
        for name in names
        if FORBIDDEN_PARTS & set(PurePosixPath(name).parts)
        or name.endswith((".pyc", ".pyo"))
        or PurePosixPath(name).parts[0] in {"tests", "docs", "benchmarks", "scripts"}
    ]
    assert leftovers == []
