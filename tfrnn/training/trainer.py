"""The training loop: set up a run, step, log, checkpoint, evaluate; stop cleanly.

- Nothing is written before every input has been checked (data, config, run directory).
- Checkpoints every `checkpoint_every` steps, at the end, and on SIGTERM/SIGINT (the step in
  flight finishes first; a second signal interrupts at once). `--resume` restores step,
  weights, optimizer, binarizer noise and data position: the run continues as if never stopped.
- A non-finite loss (or gradient, in float32) stops the run with a message and without saving,
  so the latest checkpoint is the last good one; with float16 loss scaling an overflowing
  gradient only skips the step, and only a loss that stays non-finite stops the run.
- On several workers, a worker that dies makes the step's collective fail on the others
  (within seconds on a lost connection): they stop with a message and exit status 4, and the
  job resumes when every worker is restarted with `--resume` (from the newest step all of
  them saved).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfrnn.configs import EXTRA_STEP_FIELDS, FEED_FORWARD, CodecConfig, get_config
from tfrnn.errors import UserError
from tfrnn.losses import check_loss
from tfrnn.model import RecurrentCodec
from tfrnn.training.checkpoints import Checkpoints, RunDirectory
from tfrnn.training.distribute import Cluster, make_cluster
from tfrnn.training.options import BINARIZERS, TrainOptions
from tfrnn.training.step import TrainStep, trainable_variables
from tfrnn.training.summaries import Evaluator, Summaries
from tfrnn.widen import widen, width_factor

NAN_EXIT = 3
WORKER_LOST_EXIT = 4
# What a step's collective raises when a peer worker dies or the connection to it drops.
WORKER_LOST = (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.AbortedError,
               tf.errors.DeadlineExceededError)
FLOAT16_BAD_STEPS = 20  # consecutive non-finite losses tolerated under float16 loss scaling


def load_config(name: str) -> CodecConfig:
    """A registered configuration, or a JSON file of one (as `tfrnn configs NAME` prints)."""
    if name.endswith(".json") or Path(name).is_file():
        try:
            return CodecConfig.from_dict(json.loads(Path(name).read_text()))
        except (OSError, ValueError, TypeError) as e:
            raise UserError(f"--config {name}: not a readable configuration ({e})") from None
    return get_config(name)


def resolve_config(options: TrainOptions, run_info: dict | None, init_config: CodecConfig | None
                   ) -> CodecConfig:
    """The run's configuration; UserError if --config, the run and --init-from disagree."""
    given = load_config(options.config) if options.config else None
    steps = {k: v for k in EXTRA_STEP_FIELDS if (v := getattr(options, k)) is not None}
    if steps:  # extra steps change no weight: a model may be fine-tuned with them
        given, init_config = (c and c.replace(**steps) for c in (given, init_config))
    candidates = [("--config", given), ("--init-from", init_config)]
    if run_info is not None:
        candidates.insert(0, (f"{options.run_dir}", CodecConfig.from_dict(run_info["config"])))
    known = [(where, c) for where, c in candidates if c is not None]
    if not known:
        raise UserError("give --config NAME (see `tfrnn configs`) or --init-from MODEL")
    where, config = known[0]
    for other, c in known[1:]:
        if c.to_dict() != config.to_dict() and not (
                other == "--init-from" and (config.shares_weights_with(c)
                                            or width_factor(c, config))):
            raise UserError(f"{where} holds config {config.name}, {other} is {c.name}: "
                            "they differ")
    return config


# Options the saved data position (and the stage's variables) depend on.
PIPELINE_OPTIONS = ("stage", "data", "batch_size", "tile_size", "crop", "flips",
                    "shuffle_buffer", "seed", "context_kind", "context_groups", "context_filters",
                    "context_memory")


def _same_model(a, b) -> bool:
    """Whether two context models have the same class and configuration (name aside)."""
    def config(m):
        return {k: v for k, v in m.get_config().items() if k != "name"}

    return type(a) is type(b) and config(a) == config(b)


def check_same_pipeline(options: TrainOptions, run_info: dict) -> None:
    """UserError unless a resumed run keeps the stage and the input pipeline of its run."""
    before, now = dict(run_info.get("options", {})), options.to_dict()
    for d in (before, now):
        if "data" in d:  # local paths compare absolute (gs://... as given)
            d["data"] = [[p if "://" in p else os.path.abspath(p), w] for p, w in d["data"]]
    for key in PIPELINE_OPTIONS:
        if key in before and before[key] != now[key]:
            flag = "--" + key.replace("_", "-")
            raise UserError(f"{options.run_dir} was trained with {flag} {before[key]}, not "
                            f"{now[key]}: a resumed run keeps its stage and input pipeline")


@contextlib.contextmanager
def precision(policy: str | None) -> Iterator[None]:
    """Keras mixed-precision policy (`mixed_float16` / `mixed_bfloat16`) for the block."""
    previous = keras.mixed_precision.dtype_policy()
    if policy:
        keras.mixed_precision.set_dtype_policy(f"mixed_{policy}")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


class StopSignals:
    """SIGTERM/SIGINT set `signum`; the loop saves and stops. A second one interrupts."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def make_optimizer(options: TrainOptions) -> keras.optimizers.Optimizer:
    """Adam with the learning-rate schedule; wrapped for loss scaling under float16."""
    schedules = keras.optimizers.schedules
    lr: float | schedules.LearningRateSchedule = options.lr
    if options.lr_schedule == "cosine":
        lr = schedules.CosineDecay(options.lr, decay_steps=options.steps, alpha=0.01)
    elif options.lr_schedule == "exponential":
        lr = schedules.ExponentialDecay(
            options.lr, decay_steps=options.lr_decay_steps or max(1, options.steps // 4),
            decay_rate=options.lr_decay_rate)
    optimizer = keras.optimizers.Adam(lr)
    if options.mixed_precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _log(message: str) -> None:
    print(message, flush=True)


def _finite(variables) -> bool:
    return all(bool(np.isfinite(v.numpy()).all()) for v in variables)


class Window:
    """Means of the step metrics since the last progress line, and the training time
    (checkpoints and evaluations excluded)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.excluded = 0.0
        self.steps = 0
        self.timed_steps = 0
        self.sums: dict[str, np.ndarray] = {}

    def add(self, values: dict[str, np.ndarray], timed: bool = True) -> None:
        self.steps += 1
        self.timed_steps += timed
        for key in ("loss", "per_iteration", "bits", "grad_norm"):
            if key in values:
                self.sums[key] = self.sums.get(key, 0.0) + values[key].astype(np.float64)

    def means(self) -> dict:
        return {k: (v / self.steps).tolist() for k, v in self.sums.items()}

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.excluded


class Trainer:
    """One training run (see the module docstring); `run()` returns the exit status."""

    def __init__(self, options: TrainOptions, cluster: Cluster):
        from tfrnn.bundle import load_bundle
        from tfrnn.training.data import training_dataset

        self.options = options
        self.cluster = cluster
        self.run_dir = RunDirectory(options.run_dir, cluster.worker_index)
        run_info = self.run_dir.check_start(options.resume)
        init = load_bundle(options.init_from) if options.init_from else None
        config = resolve_config(options, run_info, init.codec.codec_config if init else None)
        if run_info is not None:
            check_same_pipeline(options, run_info)
        if options.patch_size % config.stride:
            raise UserError(f"training patches of {options.patch_size} px are not a multiple "
                            f"of the stride {config.stride} of {config.name}")
        before = run_info["options"] if run_info else {}  # a resumed run keeps its objective
        self.iterations = (options.iterations or before.get("iterations")
                           or config.iterations)
        if config.cell == FEED_FORWARD and self.iterations > config.iterations:
            raise UserError(f"{config.name} has {config.iterations} stages (one per "
                            f"iteration), not {self.iterations}")
        self.iteration_weights = options.iteration_weights or before.get("iteration_weights")
        self.loss = options.loss or before.get("loss") or config.loss
        self.binarizer = options.binarizer or before.get("binarizer") or BINARIZERS[0]
        try:
            check_loss(self.loss, options.patch_size)
        except ValueError as e:
            raise UserError(f"--loss: {e}") from None
        if self.iteration_weights and len(self.iteration_weights) != self.iterations:
            raise UserError(f"--iteration-weights has {len(self.iteration_weights)} values "
                            f"for {self.iterations} iterations")
        self.config = config
        self.global_batch = options.batch_size
        local_batch = cluster.local_batch(options.batch_size)
        keras.utils.set_random_seed(options.seed)  # tf.data seeds pair with the global seed
        self.dataset = training_dataset(options, local_batch, cluster.worker_index)
        self.evaluator = (Evaluator(options.eval_images, self.iterations, options.eval_crop,
                                    options.eval_count)
                          if options.eval_images and cluster.is_chief else None)
        self._build(init)
        self.run_info = run_info

    def _build(self, init) -> None:
        options = self.options
        with self.cluster.strategy.scope():
            keras.utils.set_random_seed(options.seed)
            self.codec = RecurrentCodec(self.config)
            self.context_model = None
            if options.stage != "codec":
                from tfrnn.context_model import make_context_model

                try:
                    self.context_model = make_context_model(
                        options.context_kind, bits=self.config.bits,
                        groups=options.context_groups, filters=options.context_filters,
                        memory_units=options.context_memory)
                except ValueError as e:
                    raise UserError(f"--context-groups: {e}") from None
            factor = init and width_factor(init.codec.codec_config, self.config)
            if factor:
                widen(init.codec, self.codec, options.seed)
                _log(f"--init-from {init.codec.codec_config.name}, widened {factor}x to "
                     f"{self.config.name}: it computes what the narrow codec did "
                     "(Net2WiderNet)")
            elif init is not None:
                self.codec.set_weights(init.codec.get_weights())
            if (init is not None and self.context_model is not None
                    and init.context_model is not None):
                if _same_model(init.context_model, self.context_model):
                    self.context_model.set_weights(init.context_model.get_weights())
                else:
                    c = init.context_model
                    _log(f"--init-from's context model ({c.kind}, {c.filters} filters, "
                         f"{c.memory_units} memory units) is not the {options.context_kind} "
                         "model asked for: a new one is trained")
            self.optimizer = make_optimizer(options)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.variables = trainable_variables(options.stage, self.codec, self.context_model)
            self.optimizer.build(self.variables)
        self.iterator = iter(self.dataset)
        metadata = {"config": self.config.name, "stage": options.stage,
                    "iterations": self.iterations, "run": str(options.run_dir)}
        self.checkpoints = Checkpoints(self.run_dir, self.codec, self.context_model,
                                       self.optimizer, self.step, self.iterator, options.keep,
                                       metadata)
        self.train_step = TrainStep(self.cluster, self.codec, self.context_model, options.stage,
                                    self.optimizer, self.iterations, self.iteration_weights,
                                    options.clip_norm, options.xla, self.loss, self.binarizer)

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> int:
        options, chief = self.options, self.cluster.is_chief
        start = 0
        steps = self.checkpoints.steps()
        latest = steps[-1] if steps else None
        if self.cluster.workers > 1:  # the newest step every worker saved
            agreed = self.cluster.smallest(-1 if latest is None else latest)
            if agreed < 0 and latest is not None:
                raise UserError(f"{self.run_dir.checkpoints}: holds checkpoints, but another "
                                "worker has none: the workers' checkpoints do not match")
            latest = None if agreed < 0 else agreed
        if latest is not None:
            start = self.checkpoints.restore(latest)
            _log(f"resumed {options.run_dir} at step {start} ({self.run_dir.checkpoints})")
        if chief and self.run_info is None:
            self.run_dir.write_run(self.config.to_dict(), options.stage, options.to_dict())
        self.summaries = Summaries(self.run_dir.logs if chief else None)
        try:
            with StopSignals() as signals:
                return self._loop(start, signals)
        finally:
            self.summaries.close()

    def _loop(self, start: int, signals: StopSignals) -> int:
        options = self.options
        step = saved = start
        bad_steps = 0
        if step >= options.steps:
            _log(f"{options.run_dir}: already at step {step} of {options.steps}")
            return 0
        objective = (f", {self.loss} loss, {self.binarizer} bits"
                     if options.stage != "context" else "")
        _log(f"training {self.config.name} ({options.stage}) on {self.cluster.replicas} "
             f"replica(s), {self.cluster.name} strategy: steps {step + 1}..{options.steps}, "
             f"batch {self.global_batch}, {self.iterations} iterations{objective}")
        self.summaries.text(step, "objective", f"{options.stage} stage{objective}, "
                            f"{self.iterations} iterations, {options.patch_size} px patches")
        window = Window()
        while step < options.steps:
            try:
                batch = next(self.iterator)
            except tf.errors.OpError as e:
                raise UserError(f"reading the training tiles failed before step {step + 1}: "
                                f"{e.message.strip().splitlines()[0]}") from None
            try:
                metrics = self.train_step(batch, signals.signum is not None)
            except WORKER_LOST as e:
                if self.cluster.workers == 1:
                    raise
                return self._worker_lost(step + 1, e)
            values = {k: v.numpy() for k, v in metrics.items()}
            loss = float(values["loss"])
            finite = math.isfinite(loss)
            if options.mixed_precision != "float16":
                finite = finite and math.isfinite(float(values["grad_norm"]))
            bad_steps = 0 if finite else bad_steps + 1
            if bad_steps and (options.mixed_precision != "float16"
                              or bad_steps >= FLOAT16_BAD_STEPS):
                return self._diverged(step + 1, loss)
            step += 1
            self.step.assign(step)
            if step == start + 1:
                _log(f"first step (tracing included) took {window.seconds():.1f} s")
                window = Window()
                window.add(values, timed=False)
            elif finite:
                window.add(values)
            if window.steps and (step % options.log_every == 0 or step == options.steps):
                self._report(step, window)
                window = Window()
            pause = time.perf_counter()
            if values["stop"] or step % options.checkpoint_every == 0 or step == options.steps:
                if not _finite(self.variables):
                    return self._diverged(step, loss)
                path = self.checkpoints.save()
                saved = step
                if values["stop"]:
                    signum = signals.signum or signal.SIGTERM
                    _log(f"{signal.Signals(signum).name}: stopped at step {step}; checkpoint "
                         f"{path}; continue with --resume")
                    return 128 + signum
            if self.evaluator and (step % (options.eval_every or options.checkpoint_every) == 0
                                   or step == options.steps):
                self._evaluate(step)
            window.excluded += time.perf_counter() - pause
        _log(f"done: step {step}; checkpoint step {saved}; model {self.run_dir.model}")
        return 0

    def _diverged(self, step: int, loss: float) -> int:
        latest = self.checkpoints.latest
        where = (f"the last good checkpoint is {latest}" if latest
                 else "no checkpoint was written")
        print(f"tfrnn train: loss or gradient is not finite at step {step} (loss {loss}); "
              f"stopped without saving; {where}; try a lower --lr or a --clip-norm",
              file=sys.stderr, flush=True)
        return NAN_EXIT

    def _worker_lost(self, step: int, error: tf.errors.OpError) -> int:
        latest = self.checkpoints.latest
        where = f"this worker's last checkpoint is {latest}" if latest else "no checkpoint yet"
        reason = error.message.strip().splitlines()[0] if error.message.strip() else ""
        print(f"tfrnn train: lost contact with another worker at step {step} "
              f"({type(error).__name__}: {reason}); stopped; {where}; restart every worker "
              "with --resume", file=sys.stderr, flush=True)
        return WORKER_LOST_EXIT

    def _report(self, step: int, window: Window) -> None:
        means = window.means()
        lr = float(tf.convert_to_tensor(self.optimizer.learning_rate))
        scalars = {"loss/total": means["loss"], "learning_rate": lr,
                   "grad_norm": means["grad_norm"]}
        speed = ""
        if window.timed_steps:
            rate = window.timed_steps / max(window.seconds(), 1e-9)
            scalars.update({"speed/steps_per_sec": rate,
                            "speed/tiles_per_sec": rate * self.global_batch})
            eta = time.strftime("%H:%M:%S", time.gmtime(
                min((self.options.steps - step) / max(rate, 1e-9), 8.6e6)))
            speed = f"  {rate:.2f} step/s  {rate * self.global_batch:.0f} tiles/s  eta {eta}"
        for t, value in enumerate(means.get("per_iteration", ())):
            scalars[f"loss/iteration_{t + 1:02d}"] = value
        if "bits" in means:
            scalars["loss/bits_per_code_bit"] = means["bits"]
        self.summaries.scalars(step, scalars)
        bits = f"  bits {means['bits']:.4f}" if "bits" in means else ""
        _log(f"step {step}/{self.options.steps}  loss {means['loss']:.5f}{bits}  "
             f"lr {lr:.2e}{speed}")

    def _evaluate(self, step: int) -> None:
        scalars, strip = self.evaluator(self.codec, self.context_model)
        self.summaries.scalars(step, scalars)
        shown = ", ".join(str(t) for t in (1, 2, 4, 8, 16) if t <= self.iterations)
        self.summaries.image(step, "eval/reconstructions", strip,
                             f"original, then after {shown} iterations")
        last = f"{self.iterations:02d}"
        name = self.evaluator.structural
        _log(f"eval step {step}: PSNR {scalars['eval/psnr_db/iter_01']:.2f} dB after 1 "
             f"iteration, {scalars[f'eval/psnr_db/iter_{last}']:.2f} dB after "
             f"{self.iterations}; {name} {scalars[f'eval/{name}/iter_{last}']:.4f}")


def train(options: TrainOptions) -> int:
    """Run `tfrnn train` with these options; the exit status."""
    cluster = make_cluster(options.strategy, options.cpu_replicas)
    with precision(options.mixed_precision):
        return Trainer(options, cluster).run()
