"""Every setting of a training run, validated before anything is read or written."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from tfrnn.errors import UserError

STAGES = ("codec", "context", "joint")
SCHEDULES = ("constant", "cosine", "exponential")
STRATEGIES = ("auto", "default", "mirrored", "multi-worker")
PRECISIONS = ("float16", "bfloat16")
# tfrnn.context_model.KINDS, spelled out so that parsing flags imports no TensorFlow
# (tests/test_training.py checks they agree); the first is the default.
CONTEXT_KINDS = ("checkerboard", "raster")
# The training binarizer (`tfrnn.binarizer`): sampled bits (the papers') or the sign bits.
BINARIZERS = ("stochastic", "sign")


@dataclass(frozen=True)
class TrainOptions:
    """A training run. `config=None` takes the configuration of `--init-from` or of the run.

    Defaults: Adam at 5e-4, the public PyTorch reproduction's setting (Toderici 2017 §3 names
    Adam without a rate); 32×32 tiles and L1 summed over iterations (§3); batch 32.
    `loss=None` takes the configuration's (`l1` for 2017, `l2` for 2016; `tfrnn.losses`);
    `binarizer=None` the papers' stochastic bits (a resumed run: its own).
    """

    data: tuple[tuple[str, float], ...]
    run_dir: Path
    config: str | None = None
    steps: int = 10000
    batch_size: int = 32
    iterations: int | None = None
    lr: float = 5e-4
    lr_schedule: str = "constant"
    lr_decay_steps: int | None = None
    lr_decay_rate: float = 0.5
    clip_norm: float = 1.0
    xla: bool = False
    mixed_precision: str | None = None
    strategy: str = "auto"
    cpu_replicas: int = 1
    checkpoint_every: int = 500
    keep: int = 5
    resume: bool = False
    eval_images: str | None = None
    eval_every: int | None = None
    eval_crop: int = 256
    eval_count: int = 8
    log_every: int = 20
    seed: int = 0
    iteration_weights: tuple[float, ...] | None = None
    loss: str | None = None
    binarizer: str | None = None
    priming: int | None = None
    diffusion: int | None = None
    diffusion_until: int | None = None
    stage: str = "codec"
    init_from: str | None = None
    tile_size: int = 32
    crop: int | None = None
    flips: bool = True
    shuffle_buffer: int = 10000
    context_kind: str = CONTEXT_KINDS[0]
    context_groups: int = 8
    context_filters: int = 64
    context_memory: int = 64

    def __post_init__(self):
        positive = {"--steps": self.steps, "--batch-size": self.batch_size,
                    "--checkpoint-every": self.checkpoint_every, "--keep": self.keep,
                    "--log-every": self.log_every, "--tile-size": self.tile_size,
                    "--cpu-replicas": self.cpu_replicas, "--shuffle-buffer": self.shuffle_buffer,
                    "--eval-count": self.eval_count, "--context-groups": self.context_groups,
                    "--context-filters": self.context_filters,
                    "--context-memory": self.context_memory}
        for flag, value in positive.items():
            if value < 1:
                raise UserError(f"{flag} must be at least 1, got {value}")
        for flag, value in (("--iterations", self.iterations), ("--eval-every", self.eval_every),
                            ("--lr-decay-steps", self.lr_decay_steps), ("--crop", self.crop)):
            if value is not None and value < 1:
                raise UserError(f"{flag} must be at least 1, got {value}")
        if not self.data:
            raise UserError("no training data: give --data DIR (a `tfrnn prepare` output)")
        for path, weight in self.data:
            if not weight > 0:
                raise UserError(f"--data {path}: weight must be positive, got {weight}")
        if not self.lr > 0:
            raise UserError(f"--lr must be positive, got {self.lr}")
        if not 0 < self.lr_decay_rate <= 1:
            raise UserError(f"--lr-decay-rate must be in (0, 1], got {self.lr_decay_rate}")
        if self.clip_norm < 0:
            raise UserError(f"--clip-norm must be >= 0 (0: off), got {self.clip_norm}")
        if self.eval_crop < 0:
            raise UserError(f"--eval-crop must be >= 0 (0: whole image), got {self.eval_crop}")
        if self.iteration_weights is not None:
            if any(not w >= 0 for w in self.iteration_weights):
                raise UserError("--iteration-weights must be finite and >= 0")
            if self.iterations is not None and len(self.iteration_weights) != self.iterations:
                raise UserError(f"--iteration-weights has {len(self.iteration_weights)} values "
                                f"for {self.iterations} iterations")
        if self.crop is not None and self.crop > self.tile_size:
            raise UserError(f"--crop {self.crop} is larger than the tiles ({self.tile_size})")
        if self.stage == "context" and self.init_from is None and not self.resume:
            raise UserError("--stage context trains on a frozen codec: give --init-from MODEL")
        if self.binarizer is not None and self.binarizer not in BINARIZERS:
            raise UserError(f"--binarizer must be one of {', '.join(BINARIZERS)}")
        if self.context_kind not in CONTEXT_KINDS:
            raise UserError(f"--context-kind must be one of {', '.join(CONTEXT_KINDS)}")
        if self.cpu_replicas > 1 and self.strategy not in ("mirrored", "auto"):
            raise UserError("--cpu-replicas needs --strategy mirrored")

    @property
    def patch_size(self) -> int:
        """Side of the training patches (random crops of the tiles, or the tiles)."""
        return self.crop or self.tile_size

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["run_dir"] = str(self.run_dir)
        d["data"] = [list(x) for x in self.data]
        return d
