"""`tfrnn train --strategy multi-worker`: two real worker processes on 127.0.0.1, a worker
killed mid-run and the job resumed, and the one gradient all-reduce of the traced step."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import test_training as single

import tfrnn.binarizer
import tfrnn.training.data

data = single.data  # the same tiny dataset and configs (a fixture of this module too)
STEPS = 30
MULTI_WORKER = ["--strategy", "multi-worker", "--steps", STEPS, "--log-every", 1,
                "--checkpoint-every", 10]
LOSS_RTOL = 1e-5  # the loss of every step, against one process on the same global batch
WEIGHT_ATOL = 1e-4  # final weights after 30 Adam steps at lr 3e-3 (3% of one step)
LOST_WAIT = 60  # seconds the surviving worker may take to stop once its peer is killed


def free_ports(n: int) -> list[int]:
    """n TCP ports on 127.0.0.1 free at this moment."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_workers(data, runs: list[Path], logs: Path, *args) -> list[subprocess.Popen]:
    """One `tfrnn train` process per run directory, worker i with its TF_CONFIG; stdout and
    stderr go to logs/worker-i.out and .err."""
    logs.mkdir(parents=True, exist_ok=True)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(len(runs))]}
    procs = []
    for i, run in enumerate(runs):
        config = {"cluster": cluster, "task": {"type": "worker", "index": i}}
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": json.dumps(config)}
        with open(logs / f"worker-{i}.out", "w") as out, open(logs / f"worker-{i}.err",
                                                              "w") as err:
            procs.append(subprocess.Popen(
                single.deterministic_train(*single.train_args(data, run, *MULTI_WORKER, *args)),
                env=env, stdout=out, stderr=err))
    return procs


def wait_all(procs: list[subprocess.Popen], timeout: float = 240) -> list[int]:
    try:
        return [proc.wait(timeout=timeout) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def output(logs: Path, i: int, kind: str = "out") -> str:
    return (logs / f"worker-{i}.{kind}").read_text()


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def two_workers(data, tmp_path_factory) -> dict[str, Path]:
    """30 uninterrupted steps on two workers, each with its own run directory (as on hosts
    without a shared file system): the chief's `chief/`, worker 1's `worker/`."""
    root = tmp_path_factory.mktemp("two_workers")
    runs = {"chief": root / "chief", "worker": root / "worker", "logs": root / "logs"}
    status = wait_all(start_workers(data, [runs["chief"], runs["worker"]], runs["logs"]))
    assert status == [0, 0], output(runs["logs"], 0, "err")[-3000:]
    return runs


@pytest.fixture(scope="module")
def one_process(data, tmp_path_factory) -> Path:
    """The same 30 steps in one process whose batch of 8 is worker 0's 4 tiles then worker 1's
    4 (each worker reads its own stream), on the default strategy."""
    run = tmp_path_factory.mktemp("one_process") / "run"
    real = tfrnn.training.data.training_dataset

    def both_workers(options, batch_size, worker_index=0):
        halves = [real(options, batch_size // 2, k) for k in (0, 1)]
        return tf.data.Dataset.zip(*halves).map(lambda a, b: tf.concat([a, b], 0))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tfrnn.binarizer, "binarize", single.sign_binarize)
        patch.setattr(tfrnn.training.data, "training_dataset", both_workers)
        assert single.train(*single.train_args(data, run, "--steps", STEPS, "--log-every", 1,
                                               "--checkpoint-every", 10)) == 0
    return run


def test_two_workers_train_like_one_process_and_only_the_chief_writes(two_workers,
                                                                      one_process):
    chief, worker, logs = two_workers["chief"], two_workers["worker"], two_workers["logs"]
    for i in (0, 1):
        assert "on 2 replica(s), multi-worker strategy" in output(logs, i)
    # The chief writes run.json, the bundle, the TensorBoard events and its checkpoints;
    # worker 1 only its own checkpoints (its data position), under checkpoints/worker-1.
    written = files(chief)
    assert {"run.json", "model/model.json", "checkpoints/ckpt-30.index"} <= set(written)
    assert any(name.startswith("logs/events.out.tfevents") for name in written)
    assert not any(name.startswith("checkpoints/worker-") for name in written)
    theirs = files(worker)
    assert "checkpoints/worker-1/ckpt-30.index" in theirs
    assert all(name.startswith("checkpoints/worker-1/") for name in theirs), theirs

    losses = single.scalars(chief / "logs", "loss/total")
    expected = single.scalars(one_process / "logs", "loss/total")
    assert sorted(losses) == sorted(expected) == list(range(1, STEPS + 1))
    np.testing.assert_allclose([losses[s] for s in expected], list(expected.values()),
                               rtol=LOSS_RTOL)
    printed = [[line for line in output(logs, i).splitlines() if line.startswith("step ")]
               for i in (0, 1)]
    assert [line.split()[3] for line in printed[0]] == [line.split()[3] for line in printed[1]]
    for a, b in zip(single.weights(chief), single.weights(one_process), strict=True):
        np.testing.assert_allclose(a, b, atol=WEIGHT_ATOL)


@pytest.mark.slow
def test_a_killed_worker_stops_the_job_and_resume_ends_where_it_would_have(data, two_workers,
                                                                          tmp_path):
    """Both workers share one run directory (a shared file system in a real job). The killed
    run aims at 1000 steps and checkpoints every step, so it cannot finish before the kill
    and the workers' newest checkpoints may differ by one step."""
    run, logs = tmp_path / "run", tmp_path / "logs"
    chief, other = start_workers(data, [run, run], logs, "--steps", 1000,
                                 "--checkpoint-every", 1)
    try:
        deadline = time.monotonic() + 600
        while "step 12/" not in output(logs, 0):
            assert chief.poll() is None, output(logs, 0, "err")[-3000:]
            assert time.monotonic() < deadline, "no step 12 in 10 minutes"
            time.sleep(0.05)
        other.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        status = chief.wait(timeout=LOST_WAIT)
        waited = time.monotonic() - killed
    finally:
        wait_all([chief, other], timeout=1)
    assert status == 4, output(logs, 0, "err")[-3000:]
    message = [line for line in output(logs, 0, "err").splitlines()
               if line.startswith("tfrnn train:")]
    assert len(message) == 1 and "lost contact with another worker" in message[0], message
    assert "restart every worker with --resume" in message[0]
    assert "Traceback" not in output(logs, 0, "err")
    print(f"the chief stopped {waited:.1f} s after its peer was killed")

    status = wait_all(start_workers(data, [run, run], tmp_path / "resumed", "--resume"))
    assert status == [0, 0], output(tmp_path / "resumed", 0, "err")[-3000:]
    resumed = output(tmp_path / "resumed", 0).splitlines()[0]
    step = int(resumed.split(" at step ")[1].split()[0])
    assert 11 <= step < STEPS, resumed  # the newest step both workers had saved
    assert f"at step {step} " in output(tmp_path / "resumed", 1).splitlines()[0]
    for a, b in zip(single.weights(run), single.weights(two_workers["chief"]), strict=True):
        np.testing.assert_array_equal(a, b)
    losses = single.scalars(run / "logs", "loss/total")
    uninterrupted = single.scalars(two_workers["chief"] / "logs", "loss/total")
    assert [losses[s] for s in range(step + 1, STEPS + 1)] == [
        uninterrupted[s] for s in range(step + 1, STEPS + 1)]


def collectives() -> None:
    """Print, as JSON, the all-reduces in the traced step on 2 logical CPUs (run alone: the
    logical devices must be set before TensorFlow starts)."""
    import keras

    from tfrnn.configs import CellSpec, get_config
    from tfrnn.model import RecurrentCodec
    from tfrnn.training.distribute import make_cluster
    from tfrnn.training.step import TrainStep

    cluster = make_cluster("mirrored", cpu_replicas=2)
    config = get_config("cpu-lstm-additive").replace(
        name="tiny", stem_filters=8, encoder=(CellSpec(8, 3, 2, 1),) * 3, bits=8,
        decoder_filters=8, decoder=(CellSpec(8, 3, 1, 1, 2),) * 4, iterations=2)
    found = {}
    for name in ("adam", "loss-scaled adam"):
        with cluster.strategy.scope():
            codec = RecurrentCodec(config)
            optimizer = keras.optimizers.Adam(1e-3)
            if name != "adam":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            optimizer.build(codec.trainable_variables)
        step = TrainStep(cluster, codec, None, "codec", optimizer, 2, clip_norm=1.0)
        graph = step.concrete_function(tf.zeros((4, 32, 32, 3), tf.uint8)).graph
        found[name] = {
            "weights": int(sum(np.prod(v.shape) for v in codec.trainable_variables)),
            "all_reduces": [op.inputs[0].shape.num_elements() for op in graph.get_operations()
                            if op.type.startswith("CollectiveReduce")]}
    print(json.dumps(found))


def test_one_gradient_all_reduce_per_step():
    """One collective per replica, carrying every gradient (and the stop flag) once."""
    script = (f"import sys; sys.path.insert(0, {str(single.TESTS)!r}); "
              "import test_multiworker; test_multiworker.collectives()")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    for name, row in found.items():
        assert row["all_reduces"] == [row["weights"] + 1] * 2, (name, row)
