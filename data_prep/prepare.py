"""`prepare`: plan the shards, run the pending ones (locally or on Beam), write the manifest."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from typing import Any

from data_prep import manifest, storage
from data_prep.shards import load_stats, make_plan, remove_leftovers
from data_prep.sources import Source
from data_prep.tiles import Settings
from tfrnn.errors import UserError

DEFAULT_IMAGES_PER_SHARD = 500  # ~155 MB of 32x32 tiles at 100 tiles per image


@dataclasses.dataclass
class Outcome:
    manifest: dict[str, Any]
    shards_reused: int
    shards_written: int
    images_mined: int
    seconds: float


def prepare(source: Source, out: str, settings: Settings | None = None, *,
            images_per_shard: int = DEFAULT_IMAGES_PER_SHARD, workers: int | None = None,
            runner: str = "local", pipeline_args: Sequence[str] = (),
            progress: bool = False) -> Outcome:
    """Mine `source` into shards under `out`, reusing complete ones; return what was done.

    `workers` (local runner) defaults to every core. The manifest is removed while shards
    change and written last, so `out` is a readable dataset exactly when it exists.
    """
    settings = settings or Settings()
    start = time.perf_counter()
    if storage.exists(out) and not storage.isdir(out):
        raise UserError(f"{out}: exists and is not a directory")
    storage.makedirs(out)
    plan = make_plan(source, settings, images_per_shard)
    remove_leftovers(out)
    pending = [shard for shard in plan if load_stats(out, shard) is None]
    if pending:
        storage.remove(storage.join(out, manifest.MANIFEST))
        if runner == "local":
            from data_prep import local

            local.run(source, pending, settings, out, workers=workers or os.cpu_count() or 1,
                      progress=progress)
        else:
            from data_prep import beam_pipeline

            beam_pipeline.run(source, pending, settings, out, runner=runner,
                              pipeline_args=pipeline_args)
    done = []
    for shard in plan:
        stats = load_stats(out, shard)
        if stats is None:
            raise UserError(f"{storage.join(out, shard.name)}: the {runner} run did not write "
                            "this shard")
        done.append((shard, stats))
    result = manifest.build(source, settings, images_per_shard, done)
    manifest.write(out, result)
    remove_leftovers(out, plan)
    return Outcome(result, len(plan) - len(pending), len(pending),
                   sum(shard.stop - shard.start for shard in pending),
                   time.perf_counter() - start)
