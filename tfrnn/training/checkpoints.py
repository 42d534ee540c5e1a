"""The run directory: `run.json`, `checkpoints/` (tf.train.CheckpointManager), `model/`, `logs/`.

A checkpoint holds every variable of the codec (the binarizer's seed state included), of the
context model and of the optimizer (but its learning rate, which the flags set), the step, and
the position of the tf.data iterator (its shuffle buffer too), so `--resume` continues exactly
where the run stopped. TensorFlow writes
the checkpoint files first and then replaces the `checkpoint` index file atomically: a crash
mid-save leaves the previous checkpoint as the latest. `model/` is the latest bundle
(`tfrnn.bundle.save_bundle`, atomic), rewritten at every checkpoint.

On several workers every worker saves (worker k > 0 into `checkpoints/worker-k/`, its own data
position); only the chief writes `model/`, `logs/` and `run.json`. A worker lost mid-save
leaves the workers' latest checkpoints at different steps, so a resumed job restores the
newest step every worker holds (`Checkpoints.steps`, agreed by `Trainer.run`).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import tensorflow as tf

from tfrnn.atomic import write_text
from tfrnn.bundle import Bundle, save_bundle
from tfrnn.errors import UserError

RUN_FORMAT = "tfrnn-run"
RUN_VERSION = 1


class RunDirectory:
    """Paths and metadata of a training run directory."""

    def __init__(self, path: str | Path, worker_index: int = 0):
        self.path = Path(path)
        self.worker_index = worker_index
        self.checkpoints = self.path / "checkpoints"
        if worker_index:
            self.checkpoints = self.checkpoints / f"worker-{worker_index}"
        self.model = self.path / "model"
        self.logs = self.path / "logs"
        self.run_file = self.path / "run.json"

    def latest_checkpoint(self) -> str | None:
        return tf.train.latest_checkpoint(str(self.checkpoints))

    def read_run(self) -> dict | None:
        """The run's `run.json`, or None for a new run; UserError if unreadable."""
        if not self.run_file.is_file():
            return None
        try:
            info = json.loads(self.run_file.read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"{self.run_file}: unreadable ({e})") from None
        if info.get("format") != RUN_FORMAT or info.get("version") != RUN_VERSION:
            raise UserError(f"{self.run_file}: not a tfrnn training run")
        return info

    def write_run(self, config: dict, stage: str, options: dict) -> None:
        info = {"format": RUN_FORMAT, "version": RUN_VERSION, "config": config, "stage": stage,
                "created": datetime.datetime.now(datetime.UTC).isoformat(
                    timespec="seconds"),
                "options": options}
        write_text(self.run_file, json.dumps(info, indent=2))

    def check_start(self, resume: bool) -> dict | None:
        """Refuse to start over an earlier run without `--resume`; returns its run.json.

        Workers other than the chief look only at their own checkpoints (the chief may be
        writing run.json at this moment).
        """
        info = self.read_run() if self.worker_index == 0 else None
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"--run-dir {self.path}: exists and is not a directory")
        if not resume and (info is not None or self.latest_checkpoint() is not None):
            raise UserError(f"{self.path}: holds an earlier run; pass --resume to continue "
                            "it, or choose another --run-dir")
        return info


def _by_index(variables) -> dict[str, tf.Variable]:
    """Checkpoint keys by position: layer names may be uniquified differently per process."""
    return {f"v{i:04d}": getattr(v, "value", v) for i, v in enumerate(variables)}


class Checkpoints:
    """Save and restore a run's state; `save` also rewrites the `model/` bundle (chief)."""

    def __init__(self, run: RunDirectory, codec, context_model, optimizer, step: tf.Variable,
                 iterator, keep: int, metadata: dict):
        self.run = run
        self.codec = codec
        self.context_model = context_model
        self.step = step
        self.metadata = metadata
        # The learning rate comes from the flags, so a resumed run may change it.
        slots = [v for v in optimizer.variables if v.name != "learning_rate"]
        objects = {"codec": _by_index(codec.variables), "optimizer": _by_index(slots),
                   "step": step, "data": iterator}
        if context_model is not None:
            objects["context"] = _by_index(context_model.variables)
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(run.checkpoints),
                                                  max_to_keep=keep, step_counter=step)

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    def steps(self) -> list[int]:
        """Steps of the kept checkpoints, oldest first (their files are `ckpt-STEP`)."""
        return [int(path.rsplit("-", 1)[1]) for path in self.manager.checkpoints]

    def restore(self, step: int | None = None) -> int:
        """Restore the checkpoint of `step` (default: the latest); returns its step.

        UserError if this run keeps no checkpoint of `step` or it does not fit the model.
        """
        path = self.latest
        if step is not None:
            path = next((p for p, s in zip(self.manager.checkpoints, self.steps(),
                                           strict=True) if s == step), None)
            if path is None:
                raise UserError(f"{self.run.checkpoints}: no checkpoint of step {step} (it "
                                f"keeps steps {self.steps()}); the workers' checkpoints do "
                                "not match")
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(f"{path}: does not fit this model, optimizer and data pipeline "
                            f"({first})") from None
        return int(self.step.numpy())

    def save(self) -> str:
        """Write a checkpoint at the current step (and the bundle, on the chief)."""
        path = self.manager.save(checkpoint_number=self.step)
        if self.run.worker_index == 0:
            self.save_bundle()
        return path

    def save_bundle(self) -> Path:
        metadata = {**self.metadata, "step": int(self.step.numpy())}
        return save_bundle(self.run.model, Bundle(self.codec, self.context_model, metadata))
