"""`tfrnn train`: train a codec (and its entropy model) from `tfrnn prepare` tiles."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tfrnn.errors import UserError
from tfrnn.losses import LOSSES
from tfrnn.training.options import (
    BINARIZERS,
    CONTEXT_KINDS,
    PRECISIONS,
    SCHEDULES,
    STAGES,
    STRATEGIES,
    TrainOptions,
)


def _data(value: str) -> tuple[str, float]:
    """DIR or DIR:WEIGHT (the last colon splits, so paths like gs://... keep theirs)."""
    path, sep, weight = value.rpartition(":")
    if sep and path and "/" not in weight:
        try:
            return path, float(weight)
        except ValueError:
            pass
    return value, 1.0


def _run_dir(value: str) -> Path:
    """A file-system path: checkpoints, bundle and logs are written with local file calls."""
    if "://" in value:
        raise UserError(f"--run-dir {value}: must be a file-system path (on several hosts a "
                        "shared one, e.g. the bucket mounted with gcsfuse), not a URL")
    return Path(value)


def _floats(value: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in value.split(","))
    except ValueError:
        raise UserError(f"--iteration-weights {value!r}: expected comma-separated numbers"
                        ) from None


def build_parser():
    from tfrnn.cli import ArgumentParser

    p = ArgumentParser(prog="tfrnn train", description=__doc__)
    d = TrainOptions.__dataclass_fields__
    p.add_argument("--data", action="append", type=_data, metavar="DIR[:WEIGHT]",
                   help="a `tfrnn prepare` output directory; repeat to mix several by weight "
                   "(required; a resumed run: its own)")
    p.add_argument("--config", help="a configuration name (`tfrnn configs`) or a JSON file of "
                   "one; default: that of --init-from or of the resumed run")
    p.add_argument("--run-dir", required=True, type=_run_dir,
                   help="RUN: checkpoints/, model/ (latest bundle), logs/ (TensorBoard)")
    p.add_argument("--steps", type=int,
                   help=f"total optimizer steps (default {d['steps'].default}; a resumed run: "
                   "its own, which a cosine or step schedule is fitted to; given, the run "
                   "continues up to it)")
    p.add_argument("--batch-size", type=int,
                   help=f"global batch (split over replicas and workers; default "
                   f"{d['batch_size'].default}; a resumed run: its own)")
    p.add_argument("--iterations", type=int, help="unrolled iterations (default: the config's)")
    p.add_argument("--iteration-weights", type=_floats, metavar="W1,W2,...",
                   help="loss weight of each iteration (default: all 1)")
    p.add_argument("--loss", choices=LOSSES,
                   help="distortion summed over iterations: l1 (2017), l2 (2016), ms-ssim "
                   "(needs patches of 21+ px; 5 scales from 161 px), ssim (one scale; 11+ px), "
                   "ssim-l1 (0.84 ssim + 0.16 l1, Zhao et al. 2017), ssim-mean-l1 (ssim + l1 of "
                   "8x8 block means), ssim-weighted-l1 (Johnston 2018); default: the config's; "
                   "a resumed run: its own")
    p.add_argument("--binarizer", choices=BINARIZERS,
                   help="the bits the codec trains on: stochastic (default; the papers' "
                   "samples) or sign (the bits inference sends, straight-through gradient); "
                   "a resumed run: its own")
    p.add_argument("--priming", type=int, metavar="N",
                   help="N extra encoder/decoder steps at the first iteration (Johnston "
                   "2018); sets the config's `priming`, also of an --init-from model")
    p.add_argument("--diffusion", type=int, metavar="N",
                   help="N extra steps at every later iteration (Johnston 2018)")
    p.add_argument("--diffusion-until", type=int, metavar="N",
                   help="diffusion steps at iterations 2 to N only (0: every later iteration)")
    p.add_argument("--lr", type=float,
                   help=f"Adam learning rate (default {d['lr'].default}; a resumed run: its own)")
    p.add_argument("--lr-schedule", choices=SCHEDULES,
                   help=f"default {d['lr_schedule'].default}; a resumed run: its own")
    p.add_argument("--lr-decay-steps", type=int,
                   help="exponential: steps per decay by --lr-decay-rate (default steps/4)")
    p.add_argument("--lr-decay-rate", type=float,
                   help=f"default {d['lr_decay_rate'].default}; a resumed run: its own")
    p.add_argument("--clip-norm", type=float, default=d["clip_norm"].default,
                   help="clip the global gradient norm (0: off)")
    p.add_argument("--xla", action="store_true", help="compile the step with XLA")
    p.add_argument("--mixed-precision", choices=PRECISIONS,
                   help="compute in float16 (with loss scaling) or bfloat16 (GPUs)")
    p.add_argument("--strategy", choices=STRATEGIES, default=d["strategy"].default,
                   help="auto: mirrored over several GPUs, else default")
    p.add_argument("--cpu-replicas", type=int, default=1,
                   help="split the CPU into N logical devices and mirror over them (tests the "
                   "multi-replica path without GPUs)")
    p.add_argument("--checkpoint-every", type=int, default=d["checkpoint_every"].default)
    p.add_argument("--keep", type=int, default=d["keep"].default, help="checkpoints kept")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --run-dir (starts it if it has no checkpoint)")
    p.add_argument("--eval-images", help="a folder of held-out images (e.g. Kodak)")
    p.add_argument("--eval-every", type=int, help="default: --checkpoint-every")
    p.add_argument("--eval-crop", type=int, default=d["eval_crop"].default,
                   help="centre crop of the held-out images (0: whole images)")
    p.add_argument("--eval-count", type=int, default=d["eval_count"].default,
                   help="held-out images used")
    p.add_argument("--log-every", type=int, default=d["log_every"].default)
    p.add_argument("--seed", type=int,
                   help=f"default {d['seed'].default}; a resumed run: its own")
    p.add_argument("--stage", choices=STAGES,
                   help="codec (default; a resumed run: its own); context: the entropy model "
                   "on a frozen codec; joint: both")
    p.add_argument("--context-kind", choices=CONTEXT_KINDS,
                   help="the context model the context and joint stages train: checkerboard "
                   "(parallel passes; default) or raster (sequential, BinaryRNN-like)")
    p.add_argument("--context-groups", type=int,
                   help=f"channel groups of a checkerboard context model (2·N passes; default "
                   f"{d['context_groups'].default})")
    p.add_argument("--context-filters", type=int,
                   help="width of the context model's prior features and within-iteration "
                   f"context (default {d['context_filters'].default})")
    p.add_argument("--context-memory", type=int,
                   help="channels of the context model's memory across iterations (default "
                   f"{d['context_memory'].default})")
    p.add_argument("--init-from", metavar="MODEL",
                   help="start from a bundle, a run directory or a pretrained name (its "
                   "config, or --config with cells of the same weights: lstm as ln-lstm; "
                   "or --config the same layers k times as wide: the model is widened "
                   "so that it computes what it did)")
    p.add_argument("--tile-size", type=int,
                   help=f"tile size the datasets must have (default {d['tile_size'].default}; "
                   "a resumed run: its own)")
    p.add_argument("--crop", type=int,
                   help="train on random crops of this size (a resumed run: its own)")
    p.add_argument("--no-flips", dest="flips", action="store_const", const=False,
                   help="no random left-right flips (a resumed run: its own)")
    p.add_argument("--shuffle-buffer", type=int,
                   help=f"default {d['shuffle_buffer'].default}; a resumed run: its own")
    return p


# Flags that, when not given, keep a resumed run's values: the learning-rate schedule and the
# step count it is fitted to (a resume must not silently change them) and the stage and input
# pipeline (a resume may not change them).
RESUMED_OPTIONS = ("steps", "lr", "lr_schedule", "lr_decay_steps", "lr_decay_rate", "stage",
                   "batch_size", "tile_size", "crop", "flips", "shuffle_buffer", "seed",
                   "context_kind", "context_groups", "context_filters", "context_memory")


def parse_options(argv: Sequence[str]) -> TrainOptions:
    """Options from flags. `--data` and the flags of `RESUMED_OPTIONS` not given keep a resumed
    run's values (its `run.json`), else the defaults (`--data` has none); a given one that
    differs from the run's stage or pipeline is refused by the trainer."""
    args = vars(build_parser().parse_args(list(argv)))
    run_file = Path(args["run_dir"]) / "run.json"
    before = {}
    if args["resume"] and run_file.is_file():
        try:
            before = json.loads(run_file.read_text()).get("options", {})
        except (OSError, ValueError):
            before = {}  # the trainer reports an unreadable run.json
    if args["data"] is None:
        if not before.get("data"):
            raise UserError("tfrnn train: --data is required (a --resume of a run with a "
                            "run.json takes the run's own)")
        args["data"] = [tuple(d) for d in before["data"]]
    args["data"] = tuple(args["data"])
    for key in RESUMED_OPTIONS:
        if args[key] is None:
            args[key] = before.get(key, TrainOptions.__dataclass_fields__[key].default)
    return TrainOptions(**args)


def main(argv: Sequence[str]) -> int:
    """`tfrnn train ...` (see --help)."""
    options = parse_options(argv)
    from tfrnn.training.trainer import train

    return train(options)
