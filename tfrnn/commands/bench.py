"""`tfrnn bench KIND ...`: dispatch to one benchmark module's `main(argv)`."""

from __future__ import annotations

from collections.abc import Sequence

from tfrnn.cli import run
from tfrnn.errors import UserError

BENCHES: dict[str, tuple[str, str]] = {
    "rd": ("tfrnn.bench.rd:main", "rate-distortion of tfrnn models and classic codecs"),
    "thumbnails": ("tfrnn.bench.thumbnails:main", "the 2016 paper's 32x32 thumbnail benchmark"),
    "prepare": ("data_prep.bench:main", "tile-mining throughput"),
    "train": ("tfrnn.training.bench:main", "training-step throughput and GFLOP/s"),
    "entropy": ("tfrnn.bench.entropy:main", "entropy coding: bits saved, encode/decode time"),
    "model": ("tfrnn.bench.model:main", "weights, GFLOP and forward time per configuration"),
    "memory": ("tfrnn.bench.memory:main", "peak memory and s/MP of compress and decompress"),
    "iterations": ("tfrnn.bench.iterations:main",
                   "what each iteration does: residual, update, latents, bits"),
}


def main(argv: Sequence[str]) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        lines = ["usage: tfrnn bench KIND [ARGS...]", "", "kinds:"]
        lines += [f"  {name:<11} {help_}" for name, (_, help_) in BENCHES.items()]
        print("\n".join(lines))
        return 0
    if argv[0] not in BENCHES:
        raise UserError(f"unknown benchmark {argv[0]!r}; choose from {', '.join(BENCHES)}")
    return run(BENCHES[argv[0]][0], argv[1:])
