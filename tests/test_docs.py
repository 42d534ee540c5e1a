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
    for bd_rate in (float(x) for x in row.split("|")[7:9]):
        assert f"{'−' if bd_rate < 0 else '+'}{abs(bd_rate):.1f}%" in readme, bd_rate


def command_parsers(monkeypatch) -> dict[str, object]:
    """Each `tfrnn` subcommand's (and benchmark's) argparse parser, captured as its main
    parses an empty command line (nothing runs; the command modules import TensorFlow)."""
    import argparse
    import importlib

    from tfrnn.cli import COMMANDS
    from tfrnn.commands.bench import BENCHES

    class Captured(Exception):
        pass

    seen: list[argparse.ArgumentParser] = []

    def capture(self, *args, **kwargs):
        seen.append(self)
        raise Captured

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
    targets = {name: target for name, (target, _) in COMMANDS.items() if name != "bench"}
    targets |= {f"bench {name}": target for name, (target, _) in BENCHES.items()}
    parsers = {}
    for name, target in targets.items():
        module, func = target.split(":")
        seen.clear()
        with pytest.raises(Captured):
            getattr(importlib.import_module(module), func)([])
        parsers[name] = seen[0]
    return parsers


def test_the_manual_names_every_command_and_flag(monkeypatch):
    manual = (REPO / "BUILD.md").read_text()
    missing = {}
    for name, parser in command_parsers(monkeypatch).items():
        flags = [flag for action in parser._actions for flag in action.option_strings
                 if flag.startswith("--") and flag != "--help"]
        absent = [flag for flag in flags if flag not in manual]
        if f"tfrnn {name}" not in manual or absent:
            missing[name] = absent
    assert not missing, f"BUILD.md lacks these commands or flags: {missing}"
