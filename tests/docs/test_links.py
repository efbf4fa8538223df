"""The README and docs/ link to what exists, and the runbook keeps the anchors alerts link to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """Explicit `<a id=…>` anchors and GitHub's slugs of the page's headings."""
    text = page.read_text()
    explicit = set(re.findall(r'<a id="([^"]+)"></a>', text))
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
    return explicit | slugs


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_reaches_a_file_and_anchor(page: Path):
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}: no such file"
        if anchor:
            assert anchor in anchors(linked), f"{page.name} links to {target}: no such anchor"


def test_the_runbook_keeps_the_anchors_alerts_link_to():
    expected = {
        "gate-blocked",
        "data-check-failed",
        "run-failed",
        "message-dead-lettered",
        "service-down",
        *(f"service-down-{s}" for s in ("s3", "mlflow", "postgres", "rabbitmq", "dagster", "api")),
    }
    assert expected <= anchors(REPO / "docs" / "runbook.md")


def test_the_readme_points_to_every_doc():
    readme = (REPO / "README.md").read_text()
    for doc in (REPO / "docs").glob("*.md"):
        assert f"](docs/{doc.name})" in readme, doc.name
