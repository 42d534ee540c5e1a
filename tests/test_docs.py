"""Every results file the docs name exists: a reader can find the file behind each number."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([REPO / "README.md", REPO / "BUILD.md", REPO / "FORMAT.md",
               *(REPO / "tfrnn" / "pretrained").glob("*/MODEL_CARD.md"),
               *(REPO / "bench" / "results").glob("**/README.md")])
# A path under bench/results/, possibly with a glob star, as the docs write it.
RESULT_PATH = re.compile(r"bench/results/[A-Za-z0-9_.*/-]*[A-Za-z0-9_*/]")


def named_results(text: str) -> set[str]:
    return {m.group(0).rstrip("/") for m in RESULT_PATH.finditer(text)}


def test_named_results_are_found():
    assert named_results("see `bench/results/kodak/a-b.json`, bench/results/x/*.md.") == {
        "bench/results/kodak/a-b.json", "bench/results/x/*.md"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_results_file_named_in_the_docs_exists(doc):
    missing = [name for name in sorted(named_results(doc.read_text()))
               if not (list(REPO.glob(name)) if "*" in name else (REPO / name).exists())]
    assert not missing, f"{doc.name} names results that are not committed: {missing}"


def test_the_headline_table_cites_its_results():
    """The README's headline BD-rates are those of the committed summary table."""
    readme = (REPO / "README.md").read_text()
    table = (REPO / "bench/results/kodak/summary-shipped-ms-ssim-rgb.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| tfrnn default |"))
    vs_jpeg, vs_webp = (float(x) for x in row.split("|")[7:9])
    assert f"−{abs(vs_jpeg):.1f}%" in readme and f"+{vs_webp:.1f}%" in readme
