"""The tf.distribute strategy of a run and how a global batch is split across replicas.

- `default`: one device (the CPU, or the one GPU TensorFlow picks).
- `mirrored`: MirroredStrategy over every GPU of this host (or over `cpu_replicas` logical
  CPU devices, which runs the multi-replica code path on a machine without GPUs).
- `multi-worker`: MultiWorkerMirroredStrategy over the hosts of `TF_CONFIG`.
- `auto`: `mirrored` if the host has several GPUs, else `default`.

Every worker reads its own stream of tiles (seeded by its index) and feeds a global batch of
`batch_size / workers` tiles per step, split evenly over its local replicas.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import tensorflow as tf

from tfrnn.errors import UserError


@dataclass(frozen=True)
class Cluster:
    """This process's place in the run: strategy, replicas and worker index."""

    strategy: tf.distribute.Strategy
    name: str
    worker_index: int = 0
    workers: int = 1

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    @property
    def local_replicas(self) -> int:
        return self.replicas // self.workers

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0

    def local_batch(self, global_batch: int) -> int:
        """Tiles this worker reads per step; UserError unless the replicas divide the batch."""
        if global_batch % self.replicas:
            raise UserError(f"--batch-size {global_batch} does not split evenly over "
                            f"{self.replicas} replicas")
        return global_batch // self.workers

    def split(self, batch: tf.Tensor):
        """This worker's batch -> per-replica values (contiguous, equal slices)."""
        n = self.local_replicas

        def slice_for(ctx: tf.distribute.experimental.ValueContext):
            i = ctx.replica_id_in_sync_group % n
            size = tf.shape(batch)[0] // n
            return batch[i * size:(i + 1) * size]

        return self.strategy.experimental_distribute_values_from_function(slice_for)

    def smallest(self, value: int) -> int:
        """The smallest of the workers' `value`s: a collective, every worker must call it."""
        if self.workers == 1:
            return value

        def gather():
            local = tf.constant([value], tf.int64)
            return tf.distribute.get_replica_context().all_gather(local, axis=0)

        gathered = tf.function(lambda: self.strategy.run(gather))()
        return int(min(tf.reduce_min(v) for v in
                       self.strategy.experimental_local_results(gathered)))


def _multi_worker() -> tuple[tf.distribute.Strategy, int, int]:
    try:
        config = json.loads(os.environ.get("TF_CONFIG", ""))
        cluster, task = config["cluster"], config["task"]
    except (ValueError, KeyError, TypeError):
        raise UserError("--strategy multi-worker needs TF_CONFIG (JSON with cluster and "
                        "task)") from None
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    workers = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    index = int(task.get("index", 0))
    if task.get("type") == "worker" and "chief" in cluster:
        index += len(cluster["chief"])
    return strategy, index, workers


def make_cluster(name: str = "auto", cpu_replicas: int = 1) -> Cluster:
    """The strategy for `--strategy NAME`; call before TensorFlow touches any device.

    `cpu_replicas > 1` splits the CPU into that many logical devices and mirrors over them.
    """
    if cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
        except RuntimeError:
            raise UserError("--cpu-replicas: TensorFlow was already initialized in this "
                            "process") from None
        devices = [f"/cpu:{i}" for i in range(cpu_replicas)]
        return Cluster(tf.distribute.MirroredStrategy(devices), "mirrored")
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return Cluster(tf.distribute.get_strategy(), name)
    if name == "mirrored":
        return Cluster(tf.distribute.MirroredStrategy(), name)
    if name == "multi-worker":
        strategy, index, workers = _multi_worker()
        return Cluster(strategy, name, index, workers)
    raise UserError(f"unknown strategy {name!r}")
