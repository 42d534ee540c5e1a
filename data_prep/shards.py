"""The shard plan: which images go to which shard file, and writing one shard safely.

Images are assigned to shards by position in the source's fixed order (shard k holds images
[k·n, (k+1)·n)). A shard is complete when its stats file exists and carries the shard's
fingerprint (settings, source, tool version and the ids of its images); the TFRecord is
written under a temporary name and renamed before the stats file is written, so a rerun
redoes exactly the shards that are missing, unfinished or stale.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Iterable

from data_prep import storage
from data_prep.sources import Source
from data_prep.stats import Stats
from data_prep.tiles import ImageResult, Settings
from tfrnn import __version__

SHARD_FILE = re.compile(r"^tiles-(\d{5})-of-(\d{5})\.(tfrecord|stats\.json)$")
BEAM_PLAN_PREFIX = ".beam-plan-"
TEMPORARY_PREFIXES = (".tiles-", ".dataset.json.", BEAM_PLAN_PREFIX)


@dataclasses.dataclass(frozen=True)
class Shard:
    index: int
    count: int
    start: int
    stop: int
    fingerprint: str

    @property
    def name(self) -> str:
        return f"tiles-{self.index:05d}-of-{self.count:05d}.tfrecord"

    @property
    def stats_name(self) -> str:
        return self.name.removesuffix(".tfrecord") + ".stats.json"


def make_plan(source: Source, settings: Settings, images_per_shard: int) -> list[Shard]:
    """Split the source's images into consecutive shards of `images_per_shard`."""
    from data_prep.records import FORMAT_VERSION

    count = math.ceil(len(source) / images_per_shard)
    common = json.dumps({"tool": __version__, "format": FORMAT_VERSION,
                         "settings": settings.to_json(), "source": source.identity()},
                        sort_keys=True)
    plan = []
    for index in range(count):
        start, stop = index * images_per_shard, min(len(source), (index + 1) * images_per_shard)
        digest = hashlib.sha256(common.encode())
        for id_ in source.ids(start, stop):
            digest.update(b"\0" + id_.encode())
        plan.append(Shard(index, count, start, stop, digest.hexdigest()))
    return plan


def load_stats(out: str, shard: Shard) -> Stats | None:
    """The stats of a complete shard, or None if it must be (re)done."""
    path = storage.join(out, shard.stats_name)
    if not storage.exists(path) or not storage.exists(storage.join(out, shard.name)):
        return None
    try:
        data = json.loads(storage.read_bytes(path))
        if data["fingerprint"] != shard.fingerprint:
            return None
        return Stats.from_json(data["stats"])
    except (ValueError, KeyError, TypeError):
        return None


def write_shard(out: str, shard: Shard, results: Iterable[ImageResult]) -> Stats:
    """Write the shard's tiles (in the order given), then its stats file; return the stats."""
    import tensorflow as tf

    from data_prep.records import serialize

    stats = Stats()
    with storage.atomic_output(storage.join(out, shard.name)) as tmp, \
            tf.io.TFRecordWriter(tmp) as writer:
        for result in results:
            stats.add(result)
            for tile, ratio, position in zip(result.tiles, result.ratios, result.positions,
                                             strict=True):
                writer.write(serialize(tile, float(ratio), result.source_id, position))
    data = {"shard": shard.name, "fingerprint": shard.fingerprint, "stats": stats.to_json()}
    storage.write_atomic(storage.join(out, shard.stats_name),
                         json.dumps(data, indent=1).encode())
    return stats


def remove_leftovers(out: str, plan: list[Shard] | None = None) -> list[str]:
    """Delete unfinished temporary files and, given a plan, shard files not in it."""
    keep = {name for shard in plan for name in (shard.name, shard.stats_name)} if plan else set()
    removed = []
    for name in storage.listdir(out):
        ours_tmp = storage.is_temporary(name) and name.startswith(TEMPORARY_PREFIXES)
        stale = plan is not None and SHARD_FILE.match(name) and name not in keep
        if ours_tmp or stale:
            storage.remove(storage.join(out, name))
            removed.append(name)
    return removed
