"""`tfrnn bench train`: training-step throughput against a dense matmul on the same machine.

For each configuration, with XLA off and on, at a global batch B of 32×32 tiles unrolled over
T iterations (default 32 and 16, the paper's setting), on the default strategy (or, with
`--cpu-replicas N`, mirrored over N logical CPU devices: the multi-replica step with its
gradient all-reduce, on a machine without GPUs):

- `step_seconds`: median (and best) wall time of `--steps` steps after one warm-up step that
  traces (and, with XLA, compiles) the step; tiles/s = B / median;
- `peak_rss_mb`: the process's peak resident memory during those steps (VmHWM, reset first);
- `gflop_per_step`: FLOPs of one step counted by TensorFlow's profiler (`float_operation`)
  on the traced step graph: the convolutions forward and both backward passes, matmuls and the
  element-wise ops TF registers FLOPs for (sigmoid and tanh are not counted), a multiply-add
  being 2 FLOPs. `analytic_gflop_per_step` = 3 × forward FLOPs (`tfrnn.model_stats`) × B × T,
  the usual forward + two backward passes, is printed beside it as a check;
- `gflops` = gflop_per_step / median step time, and `fraction_of_matmul`: that over the rate of
  a dense fp32 n×n matmul (median of repeats) measured right before and right after the steps;
- the input pipeline's own throughput (`data_prep.reader.make_dataset`, shuffle, flips,
  batching) in tiles/s, measured alone, next to the step's tiles/s.

The machine may be shared: the matmul is measured under the same load as the step, so the
fraction stays meaningful, while the absolute rates are only what this run saw.
"""

from __future__ import annotations

import json
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfrnn import atomic
from tfrnn.cli import ArgumentParser
from tfrnn.errors import UserError
from tfrnn.model import RecurrentCodec
from tfrnn.model_stats import step_flops
from tfrnn.training.distribute import Cluster, make_cluster
from tfrnn.training.step import TrainStep
from tfrnn.training.trainer import load_config


def reset_peak_memory() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_mb() -> float:
    """Peak resident memory (VmHWM; ru_maxrss where /proc is missing) in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Median GFLOP/s of a dense fp32 n×n by n×n matmul (2·n³ FLOPs) in TensorFlow."""
    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    b = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    matmul = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    float(matmul())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        float(matmul())
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def graph_flops(concrete_function) -> int:
    """FLOPs of a traced graph by TensorFlow's profiler (ops with registered FLOP counts)."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(concrete_function.graph,
                                             options=options).total_float_ops)


def bench_step(cluster: Cluster, config_name: str, batch_size: int, iterations: int,
               steps: int, xla: bool, matmul_n: int) -> dict:
    """One row: step time, tiles/s, peak memory, GFLOP/s and the matmul reference."""
    keras.utils.set_random_seed(0)
    with cluster.strategy.scope():
        codec = RecurrentCodec(load_config(config_name))
        optimizer = keras.optimizers.Adam(5e-4)
        optimizer.build(codec.trainable_variables)
    step = TrainStep(cluster, codec, None, "codec", optimizer, iterations, clip_norm=1.0,
                     xla=xla)
    tiles = tf.constant(np.random.default_rng(0).integers(
        0, 256, (batch_size, 32, 32, 3), dtype=np.uint8))
    reset = reset_peak_memory()
    start = time.perf_counter()
    float(step(tiles)["loss"])
    warmup = time.perf_counter() - start
    matmul_before = matmul_gflops(matmul_n)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        float(step(tiles)["loss"])
        times.append(time.perf_counter() - start)
    matmul_after = matmul_gflops(matmul_n)
    row = {"config": codec.codec_config.name, "xla": xla, "batch": batch_size,
           "replicas": cluster.replicas,
           "iterations": iterations,
           "weights": int(codec.count_params()), "warmup_seconds": warmup,
           "step_seconds": statistics.median(times), "step_seconds_best": min(times),
           "steps_timed": steps, "tiles_per_second": batch_size / statistics.median(times),
           "peak_rss_mb": peak_memory_mb(),
           "peak_rss_scope": "this step's run" if reset else "whole process",
           "matmul_gflops": (matmul_before + matmul_after) / 2, "matmul_n": matmul_n,
           "analytic_gflop_per_step": 3 * step_flops(codec) * batch_size * iterations / 1e9}
    if not xla:  # the same arithmetic either way; the XLA graph hides it in a compiled call
        row["gflop_per_step"] = graph_flops(step.concrete_function(tiles)) / 1e9
    return row


def pipeline_tiles_per_second(dirs: Sequence[str], batch_size: int, batches: int) -> dict:
    """Tiles/s of the training input pipeline alone (after its first batch)."""
    from data_prep.reader import make_dataset

    dataset = make_dataset(list(dirs), None, batch_size, shuffle_buffer=10_000, seed=0,
                           flips=True)
    iterator = iter(dataset)
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    seconds = time.perf_counter() - start
    return {"pipeline_tiles_per_second": batches * batch_size / seconds,
            "pipeline_batches": batches}


def sample_dataset(folder: str) -> str:
    """Prepare the photos shipped in wheels into `folder` (when no --data is given)."""
    from data_prep.prepare import prepare
    from data_prep.sources import sample_source

    prepare(sample_source(), folder, workers=1)
    return folder


def _print_row(row: dict) -> None:
    print(f"{row['config']:<22} xla={'on ' if row['xla'] else 'off'} "
          f"replicas {row['replicas']} "
          f"step {row['step_seconds']:7.2f} s (best {row['step_seconds_best']:.2f})  "
          f"{row['tiles_per_second']:7.1f} tiles/s  {row['gflop_per_step']:8.1f} GFLOP/step "
          f"({row['flop_count']})  {row['gflops']:6.1f} GFLOP/s = "
          f"{row['fraction_of_matmul']:5.1%} of matmul "
          f"({row['matmul_gflops']:.1f} GFLOP/s)  peak RSS {row['peak_rss_mb']:.0f} MB  "
          f"warm-up {row['warmup_seconds']:.0f} s", flush=True)


def main(argv: Sequence[str]) -> int:
    parser = ArgumentParser(prog="tfrnn bench train", description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="cpu-lstm-additive,paper-lstm-additive",
                        help="comma-separated configuration names (or JSON files)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per row")
    parser.add_argument("--xla", choices=("off", "on", "both"), default="both")
    parser.add_argument("--matmul-n", type=int, default=2048)
    parser.add_argument("--cpu-replicas", type=int, default=1,
                        help="mirror the step over N logical CPU devices (as `tfrnn train "
                        "--cpu-replicas`)")
    parser.add_argument("--data", action="append",
                        help="prepared tiles for the pipeline measurement (default: the "
                        "photos shipped in wheels, prepared into a temporary folder)")
    parser.add_argument("--pipeline-batches", type=int, default=200)
    parser.add_argument("--json", default="runs/bench/train.json", help="write results here")
    args = parser.parse_args(argv)
    if args.cpu_replicas < 1:
        raise UserError(f"--cpu-replicas must be at least 1, got {args.cpu_replicas}")
    cluster = make_cluster("mirrored" if args.cpu_replicas > 1 else "default",
                           args.cpu_replicas)  # before TensorFlow touches a device
    with tempfile.TemporaryDirectory() as tmp:
        dirs = args.data or [sample_dataset(str(Path(tmp) / "tiles"))]
        pipeline = pipeline_tiles_per_second(dirs, args.batch_size, args.pipeline_batches)
    print(f"input pipeline: {pipeline['pipeline_tiles_per_second']:.0f} tiles/s "
          f"(batch {args.batch_size}, {args.pipeline_batches} batches)", flush=True)
    xla_settings = {"off": [False], "on": [True], "both": [False, True]}[args.xla]
    rows = []
    for name in args.configs.split(","):
        counted = None
        for xla in xla_settings:
            row = bench_step(cluster, name.strip(), args.batch_size, args.iterations,
                             args.steps, xla, args.matmul_n)
            counted = row.get("gflop_per_step", counted)
            row["flop_count"] = "profiler" if counted is not None else "analytic"
            row["gflop_per_step"] = counted or row["analytic_gflop_per_step"]
            row["gflops"] = row["gflop_per_step"] / row["step_seconds"]
            row["fraction_of_matmul"] = row["gflops"] / row["matmul_gflops"]
            row["input_stalls"] = pipeline["pipeline_tiles_per_second"] < row["tiles_per_second"]
            rows.append(row)
            _print_row(row)
    result = {"name": "train", "pipeline": {**pipeline, "data": args.data or "sample photos"},
              "results": rows}
    atomic.write_text(args.json, json.dumps(result, indent=2))
    print(f"wrote {args.json}")
    return 0
