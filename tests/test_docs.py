"""The README renders outside the repository (PyPI) and its links and the docs' links lead somewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "https://github.com/hubspot-channels/airflow-provider-hubspot-channels/"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _links(path: Path) -> list[str]:
    return LINK.findall(path.read_text(encoding="utf-8"))


def test_the_readme_links_only_absolute_urls_to_files_that_exist() -> None:
    links = _links(ROOT / "README.md")
    assert links
    for link in links:
        assert link.startswith("https://"), f"{link}: relative links break where the README is shown outside the repo"
        if link.startswith(REPOSITORY):
            relative = re.sub(r"^(blob|tree)/main/", "", link[len(REPOSITORY) :]).split("#")[0]
            assert (ROOT / relative).exists(), f"{link} names {relative}, which is not in the repository"


@pytest.mark.parametrize("page", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_relative_links_of_the_docs_resolve(page: Path) -> None:
    for link in _links(page):
        if link.startswith(("http://", "https://", "#")):
            continue
        target = (page.parent / link.split("#")[0]).resolve()
        assert target.exists(), f"{page.name}: {link} leads nowhere"


def test_the_readme_stays_a_front_page() -> None:
    # The reference lives in docs/, once: a README that grows argument tables again repeats it. (130: issue 15 asks for
    # the many-accounts sizing table on the front page.)
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 130


def test_the_package_metadata_names_the_repository_the_readme_links_to() -> None:
    # PyPI shows the project URLs beside the README: both must lead to the same repository.
    import tomllib

    urls = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]
    assert urls, "pyproject.toml has no project URLs"
    for name, url in urls.items():
        assert (url + "/").startswith(REPOSITORY), f"project URL {name} = {url} is not under {REPOSITORY}"
