"""`tfrnn configs [--json] [--stats] [NAME]`: the named model configurations."""

from __future__ import annotations

import json
from collections.abc import Sequence

from tfrnn.cli import ArgumentParser
from tfrnn.configs import CONFIGS, get_config


def main(argv: Sequence[str]) -> int:
    """`tfrnn configs [--json] [--stats] [NAME]`: list configurations with weights and GFLOP."""
    parser = ArgumentParser(prog="tfrnn configs", description=main.__doc__)
    parser.add_argument("name", nargs="?", help="show one configuration in full")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--stats", action="store_true",
                        help="also build each model and count weights and GFLOP (slow)")
    args = parser.parse_args(argv)
    if args.name:
        print(json.dumps(get_config(args.name).to_dict(), indent=2))
        return 0
    rows = []
    for cfg in CONFIGS.values():
        row = {"name": cfg.name, "cell": cfg.cell, "framework": cfg.framework,
               "bits_per_32x32_iteration": cfg.bits_per_iteration(32, 32),
               "description": cfg.description}
        if args.stats:
            from tfrnn.model_stats import model_stats  # imports TensorFlow: only when asked

            row.update(model_stats(cfg))
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        stats = (f"  {row['weights'] / 1e6:6.2f} M  {row['gflop_per_tile_iteration']:6.3f} GFLOP"
                 if args.stats else "")
        print(f"{row['name']:<38}{stats}  {row['description']}")
    return 0
