"""Relative links and images in README.md and docs/ resolve; every dock has its page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)

# Each dock of napari.yaml (display name) -> its user-guide page and screenshot.
DOCK_PAGES = {
    "Seek-friendly copy": ("seek-copy.md", None),
    "Crop & contrast": ("crop.md", "images/crop_contrast.png"),
    "Labeling": ("labeling.md", "images/labeling.png"),
    "Training": ("training.md", "images/training.png"),
    "Evaluation": ("evaluation.md", "images/evaluation.png"),
    "Inference": ("analysis.md", "images/inference.png"),
    "Trajectories": ("trajectories.md", "images/trajectories.png"),
    "Outliers": ("outliers.md", "images/outliers.png"),
}


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(m) for m in re.findall(r"^#{1,6}\s+(.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = page if not path else page.parent / path
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _anchors(file)):
            broken.append(target)
    assert broken == []


def test_every_dock_has_a_page_with_its_screenshot() -> None:
    manifest = (REPO / "src" / "napari_dlc_workbench" / "napari.yaml").read_text(encoding="utf-8")
    docks = re.findall(r"display_name: (.+)", manifest.split("widgets:")[1])
    assert sorted(docks) == sorted(DOCK_PAGES)
    index = (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    for dock, (page, image) in DOCK_PAGES.items():
        assert f"({page}" in index, dock
        text = (REPO / "docs" / page).read_text(encoding="utf-8")
        assert dock in text, (dock, page)
        if image is not None:
            assert f"]({image})" in text, (page, image)


def test_index_links_every_page() -> None:
    index = (REPO / "docs" / "index.md").read_text(encoding="utf-8")
    linked = {target.split("#")[0] for target in LINK.findall(index)}
    pages = {p.name for p in (REPO / "docs").glob("*.md")} - {"index.md"}
    assert pages <= linked


def test_screenshots_are_credited_to_one_script() -> None:
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"screenshot_\w+\.py|--screenshot", text), page.name
