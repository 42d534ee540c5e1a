"""`tfrnn bench prepare`: tile-mining throughput, where the time goes, cost per million images.

1. The whole `prepare` (local runner) on a folder (default `../shared/data/train`) with 1 and
   2 worker processes: images/s and tiles/s of wall time, and the worker CPU time by phase
   (read, decode + resize, PNG encodes for the ranking, the rest).
2. The paper's image size: 1280×720 mosaics (3×3 native-resolution crops of the folder's
   photos, JPEG quality 90) mined one by one in this process; their mean time per image on
   one core, ×10⁶ / 3600, is the cost of a million 1280×720 images in core-hours.
"""

from __future__ import annotations

import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from data_prep.cli import positive_int
from data_prep.decode import Skip, decode_rgb
from data_prep.prepare import prepare
from data_prep.sources import Item, Source, open_source
from data_prep.stats import Stats
from data_prep.tiles import REFERENCE_SIZE, Settings, mine_item
from tfrnn import atomic
from tfrnn.cli import ArgumentParser
from tfrnn.errors import UserError

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path(os.environ.get("TFRNN_SHARED", REPO.parent / "shared")) / "data" / "train"
PHASES = ("read", "decode", "png", "other")


def phase_shares(seconds: dict[str, float]) -> dict[str, float]:
    total = sum(seconds.get(name, 0.0) for name in PHASES) or 1.0
    return {name: seconds.get(name, 0.0) / total for name in PHASES}


def run_prepare(source: Source, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tfrnn-bench-prepare-") as out:
        start = time.perf_counter()
        outcome = prepare(source, out, workers=workers)
        wall = time.perf_counter() - start
    counts, seconds = outcome.manifest["counts"], outcome.manifest["seconds"]
    return {"workers": workers, "images": counts["images"], "tiles": counts["tiles"],
            "skipped": counts["images_skipped"], "wall_seconds": wall,
            "images_per_second": counts["images"] / wall,
            "tiles_per_second": counts["tiles"] / wall,
            "worker_seconds": seconds, "share": phase_shares(seconds),
            "cpu_seconds_per_image": seconds.get("cpu", 0.0) / max(1, counts["images_used"])}


def mosaics(source: Source, count: int, seed: int = 0) -> list[bytes]:
    """`count` 1280×720 JPEGs, each 3×3 native-resolution crops of the source's photos."""
    width, height = REFERENCE_SIZE
    cell = (-(-width // 3), height // 3)  # 427 x 240
    crops = []
    for item in source.items(0, len(source)):
        try:
            img, _ = decode_rgb(item.read())
        except (Skip, OSError):
            continue
        if img.size[0] >= cell[0] and img.size[1] >= cell[1]:
            left, top = (img.size[0] - cell[0]) // 2, (img.size[1] - cell[1]) // 2
            crops.append(img.crop((left, top, left + cell[0], top + cell[1])))
        if len(crops) == 9 * count:
            break
    if len(crops) < 9:
        raise UserError(f"{source.spec}: needs at least 9 photos of {cell[0]}x{cell[1]} or more")
    order = np.random.default_rng(seed).permutation(len(crops))
    out = []
    for m in range(count):
        canvas = Image.new("RGB", (width, height))
        for k in range(9):
            crop = crops[order[(9 * m + k) % len(crops)]]
            canvas.paste(crop, (k % 3 * cell[0], k // 3 * cell[1]))
        buf = io.BytesIO()
        canvas.save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def run_full_size(source: Source, count: int) -> dict[str, Any]:
    images = mosaics(source, count)
    settings = Settings()
    stats = Stats()
    start, start_cpu = time.perf_counter(), time.process_time()
    for i, data in enumerate(images):
        stats.add(mine_item(Item(f"mosaic{i}", data=data), settings))
    per_image = (time.perf_counter() - start) / count
    cpu_per_image = (time.process_time() - start_cpu) / count
    seconds = stats.seconds
    return {"images": count, "size": list(REFERENCE_SIZE), "tiles": stats.tiles,
            "seconds_per_image": per_image, "cpu_seconds_per_image": cpu_per_image,
            "phase_seconds_per_image": {name: value / count for name, value in seconds.items()},
            "share": phase_shares(seconds),
            "core_hours_per_million_images": cpu_per_image * 1e6 / 3600}


def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="tfrnn bench prepare", description=__doc__.split("\n")[0])
    parser.add_argument("--source", default=str(DEFAULT_SOURCE),
                        help="images to mine (any tfrnn prepare source) [%(default)s]")
    parser.add_argument("--limit", type=positive_int, help="use only the first N images")
    parser.add_argument("--workers", default="1,2", help="worker counts to try [%(default)s]")
    parser.add_argument("--full-size", type=int, default=20,
                        help="1280x720 mosaics to time on one core [%(default)s]")
    parser.add_argument("--json", default="runs/bench/prepare.json",
                        help="where to write the results [%(default)s]")
    args = parser.parse_args(argv)
    try:
        worker_counts = [int(w) for w in args.workers.split(",")]
    except ValueError:
        raise UserError(f"--workers: expected numbers like 1,2, not {args.workers!r}") from None
    source = open_source(args.source)
    if args.limit:
        source = source.slice(0, args.limit)
    import data_prep.records  # noqa: F401  (TensorFlow's import is not part of any timing)

    runs = []
    for workers in worker_counts:
        load = os.getloadavg()[0]
        run = run_prepare(source, workers)
        run["load_average_before"] = load
        runs.append(run)
        share = run["share"]
        print(f"workers={workers}: {run['images']} images ({run['skipped']} skipped) -> "
              f"{run['tiles']} tiles in {run['wall_seconds']:.1f} s: "
              f"{run['images_per_second']:.1f} images/s, {run['tiles_per_second']:.0f} tiles/s "
              f"(load average before: {load:.1f}); "
              f"{1000 * run['cpu_seconds_per_image']:.0f} ms CPU per image; worker time: "
              f"png {share['png']:.0%}, decode+resize "
              f"{share['decode']:.0%}, read {share['read']:.0%}, other {share['other']:.0%}")
    full = run_full_size(source, args.full_size) if args.full_size else None
    if full:
        share = full["share"]
        print(f"1280x720 (JPEG q90 mosaics, 1 process): {full['seconds_per_image'] * 1000:.0f} "
              f"ms/image wall, {full['cpu_seconds_per_image'] * 1000:.0f} ms CPU (png "
              f"{share['png']:.0%}, decode+resize {share['decode']:.0%}) -> "
              f"{full['core_hours_per_million_images']:.1f} core-hours (CPU) per million images")
    results = {"benchmark": "prepare", "source": source.describe(), "runs": runs,
               "full_size": full, "cpu_count": os.cpu_count(),
               "load_average": os.getloadavg(), "machine": platform.processor() or
               platform.machine(), "python": platform.python_version()}
    atomic.write_text(args.json, json.dumps(results, indent=1))
    print(f"wrote {args.json}")
    return 0
