"""`tfrnn train` on a tiny codec and a tiny prepared dataset (CPU, a few seconds per run)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tfrnn.binarizer
import tfrnn.training.step
from tfrnn.binarizer import binarize as BINARIZE
from tfrnn.bundle import load_bundle
from tfrnn.cli import main as tfrnn_main
from tfrnn.configs import CellSpec, get_config

TESTS = Path(__file__).resolve().parent
COMMON = ["--batch-size", "8", "--shuffle-buffer", "64", "--lr", "3e-3"]


def sign_binarize(x, training, seed_generator=None, stochastic=True):
    """Every binarizer deterministic (sign, straight-through gradient): no noise to split."""
    return BINARIZE(x, training, stochastic=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory, astronaut) -> dict[str, Path]:
    """Photos, their 32×32 and 16×16 tiles (written by `tfrnn prepare`) and a tiny config."""
    from data_prep.prepare import prepare
    from data_prep.sources import open_source
    from data_prep.tiles import Settings

    root = tmp_path_factory.mktemp("training")
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        y, x = rng.integers(0, 512 - 96, 2)
        Image.fromarray(astronaut[y:y + 96, x:x + 128]).save(photos / f"p{i}.png")
    out = {"photos": photos}
    for size in (32, 16):
        out[f"tiles{size}"] = root / f"tiles{size}"
        prepare(open_source(str(photos)), str(out[f"tiles{size}"]),
                Settings(tile_size=size, tiles_per_image=20, max_size=None),
                images_per_shard=3, workers=1)
    for name, width in (("tiny", 16), ("other", 8)):
        config = get_config("cpu-lstm-additive").replace(
            name=name, stem_filters=8, encoder=(CellSpec(width, 3, 2, 1),) * 3, bits=8,
            decoder_filters=16, decoder=(CellSpec(16, 3, 1, 1, 2), CellSpec(16, 3, 1, 1, 2),
                                         CellSpec(16, 3, 1, 3, 2), CellSpec(16, 3, 1, 3, 2)),
            iterations=3)
        out[name] = root / f"{name}.json"
        out[name].write_text(json.dumps(config.to_dict()))
    return out


def train_args(data, run_dir, *extra) -> list[str]:
    return ["--data", str(data["tiles32"]), "--config", str(data["tiny"]),
            "--run-dir", str(run_dir), *COMMON, *map(str, extra)]


def train(*argv) -> int:
    return tfrnn_main(["train", *map(str, argv)])


def scalars(log_dir: Path, tag: str) -> dict[int, float]:
    out = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    out[event.step] = float(tf.make_ndarray(value.tensor))
    return out


def tags(log_dir: Path) -> set[str]:
    return {value.tag for path in log_dir.glob("events.out.tfevents.*")
            for event in tf.compat.v1.train.summary_iterator(str(path))
            for value in event.summary.value}


def weights(run_dir: Path) -> list[np.ndarray]:
    return load_bundle(run_dir).codec.get_weights()


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory) -> Path:
    """100 uninterrupted steps with held-out evaluation; keeps the last 2 checkpoints."""
    run = tmp_path_factory.mktemp("reference") / "run"
    status = train(*train_args(data, run, "--steps", 100, "--log-every", 5,
                               "--checkpoint-every", 25, "--keep", 2,
                               "--eval-images", data["photos"], "--eval-crop", 48,
                               "--eval-count", 2, "--eval-every", 50))
    assert status == 0
    return run


def test_loss_falls_and_everything_is_logged(reference):
    losses = scalars(reference / "logs", "loss/total")
    assert sorted(losses) == list(range(5, 101, 5))
    values = [losses[s] for s in sorted(losses)]
    assert np.mean(values[-3:]) < 0.85 * np.mean(values[:3])
    logged = tags(reference / "logs")
    for tag in ("loss/iteration_01", "loss/iteration_03", "learning_rate", "grad_norm",
                "speed/steps_per_sec", "speed/tiles_per_sec", "eval/psnr_db/iter_01",
                "eval/psnr_db/iter_03", "eval/ssim/iter_03", "eval/reconstructions"):
        assert tag in logged
    assert sorted(scalars(reference / "logs", "eval/psnr_db/iter_03")) == [50, 100]
    assert tf.train.latest_checkpoint(str(reference / "checkpoints")).endswith("ckpt-100")
    assert sorted(p.name for p in (reference / "checkpoints").glob("*.index")) == [
        "ckpt-100.index", "ckpt-75.index"]
    bundle = load_bundle(reference)
    assert bundle.metadata["step"] == 100 and bundle.codec.codec_config.name == "tiny"
    assert json.loads((reference / "run.json").read_text())["config"]["name"] == "tiny"


def test_sigterm_checkpoint_then_resume_matches_uninterrupted_run(data, reference, tmp_path):
    run = tmp_path / "run"
    args = train_args(data, run, "--steps", 1000, "--log-every", 1, "--checkpoint-every", 1000)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "tfrnn", "train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("step 3/"):
            proc.send_signal(signal.SIGTERM)
            break
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    stopped = [line for line in out.splitlines() if line.startswith("SIGTERM: stopped at step")]
    assert len(stopped) == 1, out
    step = int(stopped[0].split()[4].rstrip(";"))
    assert 3 <= step < 100
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith(f"ckpt-{step}")
    assert load_bundle(run).metadata["step"] == step

    assert train(*train_args(data, run, "--steps", 100, "--resume")) == 0
    for a, b in zip(weights(run), weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)


DETERMINISTIC = ["--steps", 4, "--log-every", 1, "--checkpoint-every", 4]


@pytest.fixture(scope="module")
def one_replica(data, tmp_path_factory) -> Path:
    """4 steps on the default strategy, graph mode, deterministic binarizer."""
    run = tmp_path_factory.mktemp("one") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tfrnn.binarizer, "binarize", sign_binarize)
        assert train(*train_args(data, run, *DETERMINISTIC)) == 0
    return run


def assert_same_run(run: Path, expected: Path) -> None:
    """Same losses (rtol 1e-5) and weights (atol 3e-5, ~1% of one Adam step at lr 3e-3)."""
    loss, loss_expected = (scalars(r / "logs", "loss/total") for r in (run, expected))
    assert sorted(loss) == sorted(loss_expected) == [1, 2, 3, 4]
    np.testing.assert_allclose([loss[s] for s in range(1, 5)],
                               [loss_expected[s] for s in range(1, 5)], rtol=1e-5)
    for a, b in zip(weights(run), weights(expected), strict=True):
        np.testing.assert_allclose(a, b, atol=3e-5)


def deterministic_train(*args) -> list[str]:
    """The command line of a `tfrnn train` process with the sign binarizer."""
    script = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import tfrnn.binarizer, "
              "test_training; tfrnn.binarizer.binarize = test_training.sign_binarize; "
              "from tfrnn.cli import main; sys.exit(main(['train', *sys.argv[1:]]))")
    return [sys.executable, "-c", script, *map(str, args)]


def test_two_replicas_match_one(data, one_replica, tmp_path):
    """The mirrored path (2 logical CPUs, 4 tiles each) gives the one-replica result."""
    two = tmp_path / "two"
    result = subprocess.run(
        deterministic_train(*train_args(data, two, *DETERMINISTIC, "--strategy", "mirrored",
                                        "--cpu-replicas", 2)),
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stderr
    assert "on 2 replica(s), mirrored strategy" in result.stdout
    assert_same_run(two, one_replica)


def test_xla_step_matches_the_graph_step(data, one_replica, tmp_path, monkeypatch):
    monkeypatch.setattr(tfrnn.binarizer, "binarize", sign_binarize)
    run = tmp_path / "xla"
    assert train(*train_args(data, run, *DETERMINISTIC, "--xla")) == 0
    assert_same_run(run, one_replica)


def test_nan_stops_and_keeps_the_last_good_checkpoint(data, tmp_path, monkeypatch, capsys):
    calls = tf.Variable(0)
    real_loss = tfrnn.training.step.reconstruction_loss

    def poisoned(*args, **kwargs):
        calls.assign_add(1)
        return tf.where(calls >= 5, float("nan"), real_loss(*args, **kwargs))

    monkeypatch.setattr(tfrnn.training.step, "reconstruction_loss", poisoned)
    run = tmp_path / "run"
    assert train(*train_args(data, run, "--steps", 10, "--checkpoint-every", 2)) == 3
    message = capsys.readouterr().err.strip().splitlines()
    assert len(message) == 1 and "not finite at step 5" in message[0]
    assert "ckpt-4" in message[0]
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith("ckpt-4")
    bundle = load_bundle(run)
    assert bundle.metadata["step"] == 4
    assert all(np.isfinite(w).all() for w in bundle.codec.get_weights())

    monkeypatch.undo()  # the way out the message suggests: resume with a lower rate
    assert train(*train_args(data, run, "--steps", 6, "--log-every", 1, "--resume",
                             "--lr", "1e-3")) == 0
    assert scalars(run / "logs", "learning_rate") == pytest.approx({5: 1e-3, 6: 1e-3})


def test_bad_input_is_one_line_and_overwrites_nothing(data, reference, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    no_run_json = tmp_path / "no_run_json"
    shutil.copytree(reference, no_run_json)
    (no_run_json / "run.json").unlink()
    before = {run: snapshot(run) for run in (reference, copy, no_run_json)}
    new = tmp_path / "new"
    cases = {
        "no such dataset directory": {"--data": tmp_path / "missing"},
        "empty directory": {"--data": empty},
        "tiles are 16x16, not 32x32": {"--data": data["tiles16"]},
        "unknown config 'nope'": {"--config": "nope"},
        "holds an earlier run": {"--run-dir": reference},
        "holds config tiny": {"--run-dir": copy, "--resume": None, "--config": data["other"]},
        "does not fit": {"--run-dir": no_run_json, "--resume": None, "--config": data["other"]},
        "trained with --batch-size 8, not 16": {"--run-dir": copy, "--resume": None,
                                                "--batch-size": 16},
        "--crop 48 is larger than the tiles": {"--crop": 48},
        "--batch-size must be at least 1": {"--batch-size": 0},
        "--loss: ms-ssim needs patches of at least 21 px": {"--loss": "ms-ssim", "--crop": 16},
        "invalid choice: 'huber'": {"--loss": "huber"},
        "invalid choice: 'soft'": {"--binarizer": "soft"},
        "priming and diffusion are 0 to 8 extra steps": {"--priming": 9},
        "diffusion_until is 0": {"--diffusion-until": 4},
        "must be a file-system path": {"--run-dir": "gs://bucket/run"},
    }
    for expected, changes in cases.items():
        argv = train_args(data, new, "--steps", 2)
        for flag, value in changes.items():
            if value is None:
                argv.append(flag)
            elif flag in argv:
                argv[argv.index(flag) + 1] = str(value)
            else:
                argv += [flag, str(value)]
        assert tfrnn_main(["train", *argv]) == 2, expected
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err, (expected, err)
    assert not new.exists()
    assert {run: snapshot(run) for run in before} == before


def test_loss_flag_trains_the_named_objective_and_a_resume_keeps_it(data, tmp_path, capsys):
    run = tmp_path / "msssim"
    assert train(*train_args(data, run, "--loss", "ms-ssim", "--steps", 6, "--log-every", 2,
                             "--lr", "1e-3")) == 0
    assert "3 iterations, ms-ssim loss" in capsys.readouterr().out
    assert json.loads((run / "run.json").read_text())["options"]["loss"] == "ms-ssim"
    assert "objective" in tags(run / "logs")
    first = scalars(run / "logs", "loss/iteration_01")
    assert all(0 < v < 1 for v in first.values())  # 1 − MS-SSIM, not an L1 of pixels
    assert train(*train_args(data, run, "--resume", "--steps", 8, "--lr", "1e-3")) == 0
    assert "ms-ssim loss" in capsys.readouterr().out
    l1 = tmp_path / "ssim-l1"
    assert train(*train_args(data, l1, "--loss", "ssim-weighted-l1", "--binarizer", "sign",
                             "--steps", 2)) == 0
    assert "ssim-weighted-l1 loss, sign bits" in capsys.readouterr().out
    assert train(*train_args(data, l1, "--resume", "--steps", 3)) == 0
    assert "ssim-weighted-l1 loss, sign bits" in capsys.readouterr().out


def test_priming_fine_tunes_a_model_that_had_none(data, reference, tmp_path):
    run = tmp_path / "primed"
    assert train("--data", data["tiles32"], "--init-from", reference, "--run-dir", run,
                 *COMMON, "--priming", 2, "--diffusion", 1, "--diffusion-until", 3,
                 "--steps", 2) == 0
    config = load_bundle(run).codec.codec_config
    assert (config.priming, config.diffusion, config.diffusion_until, config.name) == (
        2, 1, 3, "tiny")


def test_a_model_is_fine_tuned_as_a_cell_with_the_same_weights(data, reference, tmp_path,
                                                               capsys):
    ln = json.loads(Path(data["tiny"]).read_text()) | {"cell": "ln-lstm", "name": "tiny-ln"}
    config = tmp_path / "tiny-ln.json"
    config.write_text(json.dumps(ln))
    run = tmp_path / "ln"
    assert train("--data", data["tiles32"], "--config", config, "--init-from", reference,
                 "--run-dir", run, *COMMON, "--steps", 1, "--lr", "1e-9") == 0
    bundle = load_bundle(run)
    assert bundle.codec.codec_config.cell == "ln-lstm"
    for a, b in zip(bundle.codec.get_weights(), weights(reference), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)  # started from the lstm's weights
    gru = json.loads(Path(data["tiny"]).read_text()) | {"cell": "gru"}
    config.write_text(json.dumps(gru))  # other weights: refused in one line
    capsys.readouterr()
    assert train("--data", data["tiles32"], "--config", config, "--init-from", reference,
                 "--run-dir", tmp_path / "gru", *COMMON, "--steps", 1) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "they differ" in err


def test_a_model_is_widened_into_the_same_layers_twice_as_wide(data, reference, tmp_path,
                                                              capsys):
    tiny = json.loads(Path(data["tiny"]).read_text())
    wide = tiny | {"name": "tiny-wide", "stem_filters": 16, "decoder_filters": 32,
                   "encoder": [s | {"units": 2 * s["units"]} for s in tiny["encoder"]],
                   "decoder": [s | {"units": 2 * s["units"]} for s in tiny["decoder"]]}
    config = tmp_path / "tiny-wide.json"
    config.write_text(json.dumps(wide))
    run = tmp_path / "wide"
    capsys.readouterr()
    assert train("--data", data["tiles32"], "--config", config, "--init-from", reference,
                 "--run-dir", run, *COMMON, "--steps", 1, "--lr", "1e-9") == 0
    assert "widened 2x to tiny-wide" in capsys.readouterr().out
    images = np.asarray(Image.open(next(data["photos"].glob("*.png"))))[None, :64, :64]
    narrow, widened = load_bundle(reference).codec, load_bundle(run).codec
    assert widened.codec_config.name == "tiny-wide"
    np.testing.assert_array_equal(narrow.encode(images, 3).numpy(),
                                  widened.encode(images, 3).numpy())
    # the context model sees only the bits: a widened model keeps --init-from's
    context = tmp_path / "context"
    assert train(*train_args(data, context, "--stage", "context", "--init-from", reference,
                             "--steps", 2)) == 0
    wide_context = tmp_path / "wide-context"
    assert train("--data", data["tiles32"], "--config", config, "--init-from", context,
                 "--run-dir", wide_context, *COMMON, "--stage", "context", "--steps", 1,
                 "--lr", "1e-9") == 0
    for a, b in zip(load_bundle(wide_context).context_model.get_weights(),
                    load_bundle(context).context_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("kind,flags,widths", [
    ("checkerboard", ("--context-groups", 2, "--context-filters", 24, "--context-memory", 8),
     (24, 8)),
    ("raster", (), (64, 64))])
def test_context_stage_trains_the_entropy_model_on_the_frozen_codec(data, reference, tmp_path,
                                                                    kind, flags, widths):
    run = tmp_path / "context"
    assert train(*train_args(data, run, "--stage", "context", "--init-from", reference,
                             "--context-kind", kind, *flags,
                             "--steps", 20, "--log-every", 5, "--checkpoint-every", 20)) == 0
    bundle = load_bundle(run)
    assert bundle.context_model is not None and bundle.context_model.kind == kind
    assert getattr(bundle.context_model, "groups", 2) == 2
    assert (bundle.context_model.filters, bundle.context_model.memory_units) == widths
    for a, b in zip(bundle.codec.get_weights(), weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    bits = scalars(run / "logs", "loss/bits_per_code_bit")
    assert sorted(bits) == [5, 10, 15, 20]
    assert bits[20] < bits[5] < 1.2


def test_joint_stage_under_float16_loss_scaling(data, reference, tmp_path):
    run = tmp_path / "joint"
    assert train(*train_args(data, run, "--stage", "joint", "--init-from", reference,
                             "--mixed-precision", "float16", "--steps", 3,
                             "--log-every", 1)) == 0
    bundle = load_bundle(run)
    assert bundle.context_model is not None
    assert all(np.isfinite(w).all() for w in bundle.codec.get_weights())
    assert set(scalars(run / "logs", "loss/bits_per_code_bit")) == {1, 2, 3}


def test_bench_train_reports_what_it_measured(data, tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["bench", "train", "--configs", data["tiny"], "--batch-size", 4, "--iterations", 2,
            "--steps", 2, "--xla", "off", "--matmul-n", 256, "--data", data["tiles32"],
            "--pipeline-batches", 5, "--json", out]
    assert tfrnn_main([str(a) for a in argv]) == 0
    result = json.loads(out.read_text())
    (row,) = result["results"]
    assert row["flop_count"] == "profiler"
    assert row["gflop_per_step"] == pytest.approx(row["analytic_gflop_per_step"], rel=0.05)
    assert row["gflops"] == pytest.approx(row["gflop_per_step"] / row["step_seconds"])
    assert row["fraction_of_matmul"] == pytest.approx(row["gflops"] / row["matmul_gflops"])
    assert row["peak_rss_mb"] > 0 and row["tiles_per_second"] > 0
    assert result["pipeline"]["pipeline_tiles_per_second"] > 0
    assert "of matmul" in capsys.readouterr().out


def test_context_kinds_of_the_flags_are_the_models():
    from tfrnn.context_model import KINDS
    from tfrnn.training.options import CONTEXT_KINDS

    assert CONTEXT_KINDS == KINDS


def test_resume_keeps_the_runs_learning_rate_unless_given(tmp_path):
    import json

    from tfrnn.commands.train import parse_options
    from tfrnn.training.options import TrainOptions

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps(
        {"options": {"lr": 3e-4, "lr_schedule": "cosine", "lr_decay_rate": 0.5, "steps": 70}}))
    base = ["--data", str(tmp_path), "--run-dir", str(run)]
    resumed = parse_options([*base, "--resume"])
    assert (resumed.lr, resumed.lr_schedule, resumed.steps) == (3e-4, "cosine", 70)
    assert parse_options([*base, "--resume", "--lr", "1e-3"]).lr == 1e-3
    assert parse_options([*base, "--resume", "--steps", "90"]).steps == 90  # continue further
    fresh = parse_options(base)
    assert (fresh.lr, fresh.lr_schedule) == (5e-4, "constant")
    assert fresh.steps == TrainOptions.__dataclass_fields__["steps"].default


def test_resume_takes_the_runs_data_unless_given(tmp_path):
    import json

    from tfrnn.commands.train import parse_options
    from tfrnn.errors import UserError

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"options": {"data": [["a", 1.0], ["b", 0.5]]}}))
    resumed = parse_options(["--run-dir", str(run), "--resume"])
    assert resumed.data == (("a", 1.0), ("b", 0.5))
    assert parse_options(["--run-dir", str(run), "--resume", "--data", "c"]).data == (("c", 1.0),)
    for argv in (["--run-dir", str(run)], ["--run-dir", str(tmp_path / "new"), "--resume"]):
        with pytest.raises(UserError, match="--data is required"):
            parse_options(argv)


def test_resume_keeps_the_runs_stage_and_pipeline_unless_given(tmp_path):
    import json

    from tfrnn.commands.train import parse_options
    from tfrnn.training.options import TrainOptions

    run = tmp_path / "run"
    run.mkdir()
    kept = {"stage": "context", "batch_size": 8, "tile_size": 144, "crop": 128, "flips": False,
            "shuffle_buffer": 50, "seed": 7, "context_kind": "raster", "context_groups": 4,
            "context_filters": 32, "context_memory": 16}
    (run / "run.json").write_text(json.dumps({"options": kept}))
    base = ["--data", str(tmp_path), "--run-dir", str(run)]
    resumed = parse_options([*base, "--resume"])
    assert {k: getattr(resumed, k) for k in kept} == kept
    assert parse_options([*base, "--resume", "--seed", "3"]).seed == 3  # the trainer refuses it
    fresh = parse_options(base)
    defaults = TrainOptions.__dataclass_fields__
    assert all(getattr(fresh, k) == defaults[k].default for k in kept)
    assert parse_options([*base, "--no-flips"]).flips is False


def test_feed_forward_residual_autoencoder_trains_every_stage(data, tmp_path, capsys):
    """The 2016 yardstick (`tfrnn.feedforward`) through `tfrnn train`: each step moves every
    stage's weights; more iterations than stages is a one-line error."""
    from tfrnn.configs import FEED_FORWARD, thumb_conv_config

    config = thumb_conv_config("tiny-ff", 1 / 32, "tiny", cell=FEED_FORWARD).replace(
        iterations=2)
    path = tmp_path / "ff.json"
    path.write_text(json.dumps(config.to_dict()))
    run = tmp_path / "run"
    argv = ["--data", data["tiles32"], "--config", path, *COMMON]
    assert train(*argv, "--run-dir", run, "--steps", 2) == 0
    before = load_bundle(run).codec
    assert train(*argv, "--run-dir", run, "--steps", 4, "--resume") == 0
    after = load_bundle(run).codec
    assert after.codec_config.cell == FEED_FORWARD
    for old, new in zip(before.encoder.weights + before.decoder.weights,
                        after.encoder.weights + after.decoder.weights, strict=True):
        assert new.shape[0] == 2
        assert all(np.any(new.numpy()[s] != old.numpy()[s]) for s in range(2)), new.path
    capsys.readouterr()
    assert train(*argv, "--steps", 2, "--iterations", 3, "--run-dir", tmp_path / "r3") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tiny-ff has 2 stages (one per iteration), not 3" in err[0]
