"""Summarize `bench/ablations/run.sh`: held-out MS-SSIM by step, Kodak-8 raw curve, speed.

Usage: python bench/ablations/summarize.py [OUT_DIR]   (default runs/ablate); prints Markdown.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tensorflow as tf


def scalars(log_dir: Path, prefixes: tuple[str, ...] = ("eval/ms_ssim/", "speed/steps_per_sec")
            ) -> dict[str, dict[int, float]]:
    """The scalars of a run's TensorBoard logs whose tags start with one of `prefixes`
    (default: eval MS-SSIM and speed): tag -> step -> value."""
    out: dict[str, dict[int, float]] = {}
    for path in sorted(log_dir.rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                if v.tag.startswith(prefixes):
                    out.setdefault(v.tag, {})[event.step] = float(tf.make_ndarray(v.tensor))
    return out


def row(run: Path) -> str:
    s = scalars(run / "logs")
    speed = list(s.get("speed/steps_per_sec", {}).values())
    held = s.get("eval/ms_ssim/iter_08") or s.get("eval/ms_ssim/iter_04", {})
    trajectory = " / ".join(f"{held[t]:.4f}" for t in sorted(held))
    kodak = "—"
    for path in (run / "rd").glob("tfrnn*.json"):
        r = json.loads(path.read_text())["results"]
        by = dict(zip(r["iterations"], r["ms-ssim-rgb"], strict=True))
        kodak = " / ".join(f"{by[k]:.4f}" if k in by else "—" for k in (1, 2, 4, 8))
    return f"| {run.name} | {sum(speed) / max(len(speed), 1):.2f} | {trajectory} | {kodak} |"


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/ablate")
    print("| run | steps/s (1 core) | held-out MS-SSIM after 8 iterations (4 for iters4), "
          "every 300 steps | Kodak-8 MS-SSIM after 1 / 2 / 4 / 8 iterations |")
    print("|---|---|---|---|")
    for run in sorted(p for p in root.iterdir() if (p / "logs").is_dir()):
        print(row(run))


if __name__ == "__main__":
    main()
