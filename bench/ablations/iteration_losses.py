"""Per-iteration training loss of `tfrnn train` runs, from their TensorBoard logs
(`loss/iteration_NN`): a JSON file with every logged step, and a Markdown table of the mean over
the last logs up to a step.

    python bench/ablations/iteration_losses.py OUT.json [--upto STEP] [--window N] RUN_DIR...

The JSON: {"what", "runs": {name: {"steps": [...], "loss_per_iteration": [[per step] per
iteration]}}}; the table: one row per run, the mean of its last N (default 3) logs at or
before STEP (default: its last), after iterations 1, 2, 4, 8, 12, 16 (those it has).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from summarize import scalars  # beside this file

COLUMNS = (1, 2, 4, 8, 12, 16)


def losses(run: Path) -> dict:
    """{"steps": [...], "loss_per_iteration": [[loss at each step] for each iteration]}."""
    by_tag = scalars(run / "logs", ("loss/iteration_",))
    if not by_tag:
        raise SystemExit(f"{run}: no loss/iteration_NN scalars under {run / 'logs'}")
    tags = sorted(by_tag)
    steps = sorted(set.intersection(*(set(by_tag[t]) for t in tags)))
    return {"steps": steps, "loss_per_iteration": [[by_tag[t][s] for s in steps] for t in tags]}


def row(name: str, run: dict, upto: int | None, window: int) -> str:
    steps = [s for s in run["steps"] if upto is None or s <= upto]
    last = slice(max(len(steps) - window, 0), len(steps))  # fewer logs: all of them
    cells = [f"{np.mean(run['loss_per_iteration'][t - 1][last]):.4f}"
             if t <= len(run["loss_per_iteration"]) else "—" for t in COLUMNS]
    return f"| {name}, steps {steps[last][0]}–{steps[-1]} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--upto", type=int)
    parser.add_argument("--window", type=int, default=3)
    args = parser.parse_args()
    runs = {run.name: losses(run) for run in args.runs}
    args.out.write_text(json.dumps({"what": "per-iteration training loss (tfrnn train's "
                                    "loss/iteration_NN) at every logged step", "runs": runs},
                                   indent=1) + "\n")
    print("| run | " + " | ".join(f"after {t}" for t in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, run in runs.items():
        print(row(name, run, args.upto, args.window))


if __name__ == "__main__":
    main()
