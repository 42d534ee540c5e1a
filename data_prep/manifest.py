"""`dataset.json`: what a prepared dataset holds; written last, atomically.

A directory without it is unfinished (or being rewritten) and the reader refuses it.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from data_prep import storage
from data_prep.shards import Shard
from data_prep.sources import Source
from data_prep.stats import Stats
from data_prep.tiles import Settings
from tfrnn import __version__
from tfrnn.errors import UserError

MANIFEST = "dataset.json"


def build(source: Source, settings: Settings, images_per_shard: int,
          shards: list[tuple[Shard, Stats]]) -> dict[str, Any]:
    from data_prep.records import FEATURES, FORMAT, FORMAT_VERSION

    total = Stats.total(stats for _, stats in shards)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool": {"name": "tfrnn", "version": __version__},
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "tile_size": settings.tile_size,
        "source": source.describe(),
        "settings": {**settings.to_json(), "images_per_shard": images_per_shard},
        "features": sorted(FEATURES),
        "counts": {"images": total.images, "images_used": total.images_used,
                   "images_skipped": total.images - total.images_used, "tiles": total.tiles},
        "skipped": total.skipped,
        "converted": total.converted,
        "png_ratio": total.ratio_summary(),
        "seconds": total.seconds,
        "shards": [{"file": shard.name, "images": stats.images, "tiles": stats.tiles}
                   for shard, stats in shards],
    }


def write(out: str, manifest: dict[str, Any]) -> None:
    storage.write_atomic(storage.join(out, MANIFEST), json.dumps(manifest, indent=1).encode())


def read(folder: str) -> dict[str, Any]:
    """Load and check a dataset's manifest; UserError (one line) if there is none or it is bad."""
    from data_prep.records import FORMAT, FORMAT_VERSION

    if not storage.isdir(folder):
        raise UserError(f"{folder}: no such dataset directory")
    path = storage.join(folder, MANIFEST)
    if not storage.exists(path):
        if not storage.listdir(folder):
            raise UserError(f"{folder}: empty directory, not a prepared dataset "
                            "(run tfrnn prepare)")
        raise UserError(f"{folder}: no {MANIFEST} (not a prepared dataset, or preparation "
                        "did not finish: rerun tfrnn prepare to resume)")
    try:
        manifest = json.loads(storage.read_bytes(path))
        ok = manifest.get("format") == FORMAT
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        raise UserError(f"{path}: not a tfrnn tile manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{path}: format version {manifest.get('format_version')}, this tfrnn "
                        f"reads {FORMAT_VERSION} (prepare the dataset again)")
    return manifest
