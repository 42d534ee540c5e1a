"""Run the shard plan on this machine: images mined in worker processes, written in order."""

from __future__ import annotations

import itertools
import multiprocessing
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from tqdm import tqdm

from data_prep.shards import Shard, write_shard
from data_prep.sources import Item, Source
from data_prep.tiles import ImageResult, Settings, mine_item

Tag = TypeVar("Tag")
IN_FLIGHT_PER_WORKER = 4  # bounds memory when items carry their bytes (TFDS)


def _ignore_interrupts() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle (it stops cleanly between images)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def mine_in_order(tagged: Iterable[tuple[Tag, Item]], settings: Settings,
                  workers: int) -> Iterator[tuple[Tag, ImageResult]]:
    """`mine_item` over the items, in their order, on `workers` processes (1: in this one)."""
    if workers <= 1:
        for tag, item in tagged:
            yield tag, mine_item(item, settings)
        return
    # spawn: the parent has TensorFlow loaded, which is not fork-safe.
    context = multiprocessing.get_context("spawn")
    window: deque[tuple[Tag, Future]] = deque()
    with ProcessPoolExecutor(workers, mp_context=context,
                             initializer=_ignore_interrupts) as pool:
        try:
            for tag, item in tagged:
                window.append((tag, pool.submit(mine_item, item, settings)))
                if len(window) >= IN_FLIGHT_PER_WORKER * workers:
                    first, future = window.popleft()
                    yield first, future.result()
            while window:
                first, future = window.popleft()
                yield first, future.result()
        finally:
            for _, future in window:
                future.cancel()


def run(source: Source, pending: list[Shard], settings: Settings, out: str, *,
        workers: int, progress: bool) -> None:
    """Mine and write every pending shard; each shard is renamed into place when complete."""
    tagged = ((shard, item) for shard in pending for item in source.items(shard.start,
                                                                         shard.stop))
    total = sum(shard.stop - shard.start for shard in pending)
    with tqdm(total=total, unit="img", disable=not progress, dynamic_ncols=True,
              desc="mining") as bar:
        tiles = 0

        def counted(results: Iterable[tuple[Shard, ImageResult]]) -> Iterator[ImageResult]:
            nonlocal tiles
            for _, result in results:
                tiles += len(result.ratios)
                bar.set_postfix(tiles=tiles, refresh=False)
                bar.update()
                yield result

        mined = mine_in_order(tagged, settings, workers)
        for shard, group in itertools.groupby(mined, key=lambda pair: pair[0]):
            write_shard(out, shard, counted(group))
