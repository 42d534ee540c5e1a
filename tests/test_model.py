"""The codec: bits per iteration, ±1 codes, frameworks, determinism, any size, save/load."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrnn import cli
from tfrnn.binarizer import binarize
from tfrnn.configs import CELL_TYPES, CONFIGS, EXTRA_STEP_FIELDS, FRAMEWORKS, get_config
from tfrnn.errors import UserError
from tfrnn.model import RecurrentCodec
from tfrnn.model_stats import step_flops


@pytest.fixture(scope="module")
def tiny():
    return RecurrentCodec("tiny-lstm-additive")


def random_images(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("height,width", [(1, 1), (16, 16), (17, 33), (31, 48), (50, 7)])
def test_bits_per_iteration(tiny, height, width):
    codes = tiny.encode(random_images((1, height, width, 3)), 2).numpy()
    per_iteration = codes[0].size
    assert per_iteration == -(-height // 16) * -(-width // 16) * 32
    assert per_iteration == tiny.codec_config.bits_per_iteration(height, width)
    assert set(np.unique(codes)) <= {-1.0, 1.0}


def test_binarizer_inference_is_sign_and_training_is_unbiased():
    x = tf.constant([[-1.0, -0.3, 0.0, 0.2, 1.0]])
    np.testing.assert_array_equal(binarize(x, training=False).numpy(),
                                  [[-1, -1, 1, 1, 1]])
    values = tf.fill((200_000,), 0.4)
    with tf.GradientTape() as tape:
        tape.watch(values)
        sample = binarize(values, training=True, seed_generator=keras.random.SeedGenerator(1))
    assert set(np.unique(sample.numpy())) == {-1.0, 1.0}
    assert abs(float(tf.reduce_mean(sample)) - 0.4) < 0.01  # E[b] = x
    np.testing.assert_array_equal(tape.gradient(sample, values).numpy(), 1.0)  # straight through
    with tf.GradientTape() as tape:
        tape.watch(x)
        signs = binarize(x, training=True, stochastic=False)  # `tfrnn train --binarizer sign`
    np.testing.assert_array_equal(signs.numpy(), [[-1, -1, 1, 1, 1]])
    np.testing.assert_array_equal(tape.gradient(signs, x).numpy(), 1.0)


def test_sign_bits_train_the_reconstruction_inference_makes(tiny):
    images = random_images((2, 32, 48, 3))
    trained = tiny(images, training=True, iterations=3, stochastic=False)
    np.testing.assert_allclose(trained.numpy(), tiny(images, iterations=3).numpy(), atol=1e-6)
    sampled = tiny(images, training=True, iterations=3)
    assert np.abs(sampled.numpy() - trained.numpy()).max() > 1e-3


REPLICA_NOISE = """
import sys
import numpy as np
import tensorflow as tf
import os
import subprocess
import sys

import keras
from tfrnn.binarizer import binarize

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    generator = keras.random.SeedGenerator(7)
x = tf.zeros((4096,))

@tf.function
def step():
    return strategy.run(lambda: binarize(x, training=True, seed_generator=generator))

a, b = (t.numpy() for t in strategy.experimental_local_results(step()))
assert set(np.unique(a)) == set(np.unique(b)) == {-1.0, 1.0}
print("agree", float(np.mean(a == b)))
"""


def test_replicas_draw_independent_binarizer_noise():
    """Under MirroredStrategy (2 logical CPUs) the replicas' samples of the same input differ:
    about half of the bits agree, as for independent draws (all of them would if they shared a
    stream)."""
    result = subprocess.run([sys.executable, "-c", REPLICA_NOISE], capture_output=True,
                            text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    agree = float(result.stdout.split("agree")[-1])
    assert 0.45 < agree < 0.55


def test_determinism_same_weights_same_codes(tiny):
    images = random_images((2, 40, 56, 3), seed=3)
    first = tiny.encode(images, 3).numpy()
    clone = RecurrentCodec(tiny.codec_config)
    clone.set_weights(tiny.get_weights())
    np.testing.assert_array_equal(first, tiny.encode(images, 3).numpy())
    np.testing.assert_array_equal(first, clone.encode(images, 3).numpy())


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_decode_matches_encoder_reconstructions(framework):
    codec = RecurrentCodec(f"tiny-gru-{framework}")
    images = random_images((1, 35, 20, 3), seed=5)
    codes, recons = codec.encode(images, 4, return_reconstructions=True)
    assert tuple(recons.shape) == (4, 1, 35, 20, 3)
    for t in (1, 2, 4):
        np.testing.assert_array_equal(codec.decode(codes[:t], 35, 20).numpy(),
                                      recons[t - 1].numpy())
    np.testing.assert_array_equal(codec.decode(codes, 35, 20, all_iterations=True).numpy(),
                                  recons.numpy())


def test_call_matches_frameworks_and_any_iteration_count(tiny):
    images = random_images((2, 32, 32, 3), seed=7)
    outputs = tiny(images, iterations=5)
    assert tuple(outputs.shape) == (5, 2, 32, 32, 3)
    codes = tiny.encode(images, tf.constant(5))
    assert tuple(codes.shape) == (5, 2, 2, 2, 32)
    np.testing.assert_array_equal(
        tiny.to_uint8(outputs[-1]).numpy(), tiny.decode(codes, 32, 32).numpy())


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_save_load_identical_outputs(tmp_path, cell):
    codec = RecurrentCodec(f"tiny-{cell}-residual-scaling")
    images = random_images((1, 32, 48, 3), seed=11)
    expected = codec(images, iterations=2).numpy()
    path = tmp_path / "codec.keras"
    codec.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.codec_config == codec.codec_config
    np.testing.assert_array_equal(loaded(images, iterations=2).numpy(), expected)
    assert loaded.fingerprint() == codec.fingerprint()


@pytest.mark.parametrize("name,bits", [("thumb-fc-lstm", 128), ("thumb-fc-ln-lstm", 128),
                                       ("thumb-conv-lstm", 128),
                                       ("thumb-conv-lstm-cpu", 128),
                                       ("thumb-conv-ln-lstm-cpu", 128),
                                       ("thumb-conv-residual-cpu", 128)])
def test_thumbnail_systems_emit_128_bits_per_32x32(name, bits):
    config = get_config(name)
    assert config.bits_per_iteration(32, 32) == bits
    assert config.loss == "l2"  # the 2016 paper's objective


def test_thumbnail_fc_lstm_runs():
    small = get_config("thumb-fc-lstm").replace(stem_filters=16, decoder_filters=16)
    codec = RecurrentCodec(small)
    codes = codec.encode(random_images((3, 32, 32, 3)), 2)
    assert tuple(codes.shape) == (2, 3, 1, 1, 128)
    assert tuple(codec.decode(codes, 32, 32).shape) == (3, 32, 32, 3)


def test_every_named_config_is_consistent():
    assert len(CONFIGS) == 3 * len(CELL_TYPES) * len(FRAMEWORKS) + 7  # + thumb-*
    for config in CONFIGS.values():
        assert config.stride in (16, 32)
        assert type(config).from_dict(config.to_dict()) == config
    with pytest.raises(UserError, match="unknown config"):
        get_config("nope")


def test_configs_command_lists_everything(capsys):
    assert cli.main(["configs"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in CONFIGS)
    assert cli.main(["configs", "bogus"]) == 2
    assert "unknown config" in capsys.readouterr().err


def test_priming_and_diffusion_run_extra_steps_and_stay_decodable():
    """Johnston 2018 priming (first iteration) and diffusion (later ones), and diffusion up to
    an iteration only: same weights, other codes; `encode`, `decode` and training's `call`
    agree; 0 leaves the config as it was."""
    plain = RecurrentCodec("tiny-lstm-additive")
    assert not set(EXTRA_STEP_FIELDS) & set(plain.codec_config.to_dict())  # old files unchanged
    images = random_images((1, 32, 48, 3), seed=3)
    reference = plain.encode(images, 5).numpy()
    everywhere = plain.codec_config.replace(priming=1, diffusion=1)
    for config, steps in ((plain.codec_config.replace(priming=2), [2, 0, 0, 0, 0]),
                          (everywhere, [1, 1, 1, 1, 1]),
                          (everywhere.replace(diffusion_until=3), [1, 1, 1, 0, 0])):
        codec = RecurrentCodec(config)
        codec.set_weights(plain.get_weights())
        assert [codec.extra_steps(t) for t in range(5)] == steps
        codes, recons = codec.encode(images, 5, return_reconstructions=True)
        changed = [not np.array_equal(codes[t], reference[t]) for t in range(5)]
        assert changed[0] and changed[2]  # primed first iteration; diffusion or state later
        np.testing.assert_array_equal(codec.decode(codes, 32, 48, all_iterations=True),
                                      recons.numpy())
        for t in (2, 5):  # iteration counts inside and past the diffused ones
            np.testing.assert_array_equal(codec.decode(codes[:t], 32, 48), recons[t - 1])
        np.testing.assert_array_equal(codec.to_uint8(codec(images, iterations=5)),
                                      recons.numpy())
        assert RecurrentCodec(config.to_dict()).codec_config == config
    diffused = RecurrentCodec(everywhere)
    diffused.set_weights(plain.get_weights())
    until = RecurrentCodec(everywhere.replace(diffusion_until=3))
    until.set_weights(plain.get_weights())
    a, b = diffused.encode(images, 5).numpy(), until.encode(images, 5).numpy()
    assert np.array_equal(a[:3], b[:3]) and not np.array_equal(a[3:], b[3:])
    with pytest.raises(UserError, match="priming and diffusion are 0 to 8"):
        plain.codec_config.replace(priming=9)
    for bad in ({"diffusion_until": 3}, {"diffusion": 1, "diffusion_until": 1}):
        with pytest.raises(UserError, match="diffusion_until is 0"):
            plain.codec_config.replace(**bad)
    flops = [step_flops(until, t=t) for t in (0, 1, 3)]  # FLOPs follow the extra steps
    assert flops[0] == flops[1] > flops[2] == step_flops(plain, t=1)  # primed, diffused, plain
