"""Run the shard plan as an Apache Beam pipeline (Dataflow, Flink, Spark or DirectRunner).

The same `mine_item` and `write_shard` as the local runner, so both give identical shards.
The plan (each pending shard with its slice of the source) is written to a file beside the
output and read with ReadFromText, so a million-image job does not embed its file list in
the pipeline graph. Images are spread over workers one by one and regrouped by shard.
"""

from __future__ import annotations

import base64
import pickle
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from data_prep import storage
from data_prep.shards import BEAM_PLAN_PREFIX, Shard, write_shard
from data_prep.sources import Item, Source
from data_prep.tiles import ImageResult, Settings, mine_item
from tfrnn.errors import UserError

RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner")


def import_beam() -> Any:
    """`apache_beam`, or a one-line UserError saying how to install it."""
    try:
        import apache_beam
    except ImportError:
        raise UserError("Beam runners need Apache Beam: pip install 'apache-beam==2.61.0' "
                        "(or the tfrnn[beam] extra)") from None
    return apache_beam


def _shard_items(line: str) -> Iterator[tuple[int, tuple[Shard, int, Item]]]:
    shard, source = pickle.loads(base64.b64decode(line))
    for i, item in enumerate(source.items(0, len(source))):
        yield shard.index, (shard, i, item)


def _mine(element: tuple[int, tuple[Shard, int, Item]],
          settings: Settings) -> tuple[int, tuple[Shard, int, ImageResult]]:
    key, (shard, i, item) = element
    return key, (shard, i, mine_item(item, settings))


def _write(element: tuple[int, Iterable[tuple[Shard, int, ImageResult]]], out: str) -> str:
    ordered = sorted(element[1], key=lambda value: value[1])
    shard = ordered[0][0]
    write_shard(out, shard, (result for _, _, result in ordered))
    return shard.name


def write_plan(source: Source, pending: list[Shard], out: str) -> str:
    """Write the plan file (a line per pending shard) beside the output; returns its path."""
    plan_path = storage.join(out, f"{BEAM_PLAN_PREFIX}{uuid.uuid4().hex}.tmp")
    lines = [base64.b64encode(pickle.dumps((shard, source.slice(shard.start, shard.stop))))
             for shard in pending]
    storage.write_atomic(plan_path, b"\n".join(lines) + b"\n")
    return plan_path


def build(pipeline, plan_path: str, settings: Settings, out: str) -> None:
    """Add the steps that mine and write the shards of the plan at `plan_path`."""
    beam = import_beam()
    _ = (pipeline
         | "ReadPlan" >> beam.io.ReadFromText(plan_path)
         | "SpreadShards" >> beam.Reshuffle()
         | "ListImages" >> beam.FlatMap(_shard_items)
         | "SpreadImages" >> beam.Reshuffle()
         | "Mine" >> beam.Map(_mine, settings)
         | "ByShard" >> beam.GroupByKey()
         | "Write" >> beam.Map(_write, out))


def run(source: Source, pending: list[Shard], settings: Settings, out: str, *,
        runner: str, pipeline_args: Sequence[str]) -> None:
    """Mine and write every pending shard with Beam's `runner`; blocks until the job ends."""
    beam = import_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    if runner == "DataflowRunner" and not storage.is_url(out):
        raise UserError(f"{out}: DataflowRunner workers cannot write there; give --out gs://...")
    plan_path = write_plan(source, pending, out)
    try:
        options = PipelineOptions(list(pipeline_args), runner=runner)
        with beam.Pipeline(options=options) as pipeline:
            build(pipeline, plan_path, settings, out)
    finally:
        storage.remove(plan_path)
