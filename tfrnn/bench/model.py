"""`tfrnn bench model`: weights, forward GFLOP per 32×32 tile per iteration, and forward time
per iteration on a full image (default 768×512, Kodak's size) for each configuration."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfrnn import atomic
from tfrnn.cli import ArgumentParser
from tfrnn.configs import get_config
from tfrnn.model import RecurrentCodec
from tfrnn.model_stats import step_flops


def time_forward(codec: RecurrentCodec, height: int, width: int, iterations: int,
                 repeats: int) -> dict:
    """Seconds per iteration of `encode` (E + B + D per iteration) and of `decode` (D only)."""
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (1, height, width, 3),
                                                          dtype=np.uint8))
    encode = tf.function(lambda x, t: codec.encode(x, t))
    decode = tf.function(lambda c: codec.decode(c, height, width))
    codes = encode(image, tf.constant(iterations))  # trace and warm up
    decode(codes)
    result = {}
    for name, fn, arg in (("encode", encode, (image, tf.constant(iterations))),
                          ("decode", decode, (codes,))):
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            np.asarray(fn(*arg))
            best = min(best, time.perf_counter() - start)
        result[f"{name}_seconds_per_iteration"] = best / iterations
    return result


def main(argv: Sequence[str]) -> int:
    parser = ArgumentParser(prog="tfrnn bench model", description=__doc__)
    parser.add_argument("--configs", default="cpu-lstm-additive,paper-lstm-additive",
                        help="comma-separated configuration names")
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--iterations", type=int, default=4, help="iterations timed per call")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many calls")
    parser.add_argument("--no-timing", action="store_true", help="only weights and GFLOP")
    parser.add_argument("--output", help="write the results as JSON here")
    args = parser.parse_args(argv)
    rows = []
    for name in args.configs.split(","):
        codec = RecurrentCodec(get_config(name.strip()))
        row = {"config": codec.codec_config.name, "weights": int(codec.count_params()),
               "gflop_per_tile_iteration": step_flops(codec) / 1e9}
        if not args.no_timing:
            row.update(image=f"{args.width}x{args.height}",
                       **time_forward(codec, args.height, args.width, args.iterations,
                                      args.repeats))
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.output:
        atomic.write_text(args.output, json.dumps({"name": "model", "results": rows}, indent=2))
    return 0
