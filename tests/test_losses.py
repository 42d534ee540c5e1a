"""Training objectives (`tfrnn.losses`): (MS-)SSIM against TensorFlow's and the benchmarks',
the SSIM-weighted L1."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfrnn.losses import (
    LOSSES,
    SSIM_BLOCK,
    _block_ssim_weights,
    _ms_ssim,
    check_loss,
    ms_ssim_scales,
    per_iteration_loss,
    reconstruction_loss,
)
from tfrnn.metrics import MS_SSIM_WEIGHTS, ssim_batch


def model_space(images: np.ndarray) -> tf.Tensor:
    return tf.constant(images / 255.0 - 0.5, tf.float32)


@pytest.fixture(scope="module")
def pair(astronaut):
    """A 176×176 photo crop and a noisy copy (uint8)."""
    image = astronaut[100:276, 150:326]
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 15, image.shape), 0, 255)
    return image, noisy.astype(np.uint8)


@pytest.mark.parametrize(("size", "scales"), [(10, 0), (11, 1), (21, 2), (32, 2), (80, 3),
                                              (81, 4), (128, 4), (160, 4), (161, 5), (512, 5)])
def test_ms_ssim_scales_is_what_tensorflow_accepts(size, scales):
    assert ms_ssim_scales(size) == scales


@pytest.mark.parametrize("size", [176, 96, 48])
@pytest.mark.parametrize("distortion", ["noise", "brighter"])
def test_ms_ssim_matches_tensorflow_where_no_term_is_clipped(pair, size, distortion):
    image, noisy = (x[None, :size, :size] for x in pair)
    if distortion == "brighter":  # luminance differs: pixels must be shifted to [0, 1]
        noisy = np.clip(image.astype(np.int16) + 40, 0, 255).astype(np.uint8)
    weights = MS_SSIM_WEIGHTS[:ms_ssim_scales(size)]
    expected = tf.image.ssim_multiscale(tf.constant(image, tf.float32),
                                        tf.constant(noisy, tf.float32), 255.0,
                                        power_factors=[w / sum(weights) for w in weights])
    ours = _ms_ssim(model_space(image), model_space(noisy))
    assert 0.5 < float(ours[0]) < 0.999
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), atol=1e-3)


@pytest.mark.parametrize("size", [32, 176])
def test_ssim_loss_is_one_minus_the_benchmarks_ssim(pair, size):
    image, noisy = (x[None, :size, :size] for x in pair)
    blurred = ((image.astype(np.float32) + np.roll(image, 1, axis=2)) / 2).astype(np.uint8)
    recon = tf.stack([model_space(noisy), model_space(blurred)])
    losses = per_iteration_loss(model_space(image), recon, "ssim").numpy()
    expected = [1 - ssim_batch(image, r)[0] for r in (noisy, blurred)]
    assert 0.01 < expected[1] < expected[0] < 0.9
    np.testing.assert_allclose(losses, expected, atol=2e-3)


def test_ms_ssim_gradient_is_finite_where_a_scale_term_is_negative(pair):
    image = model_space(pair[0][None])
    inverted = tf.Variable(-image)  # anti-correlated: every contrast-structure term < 0
    with tf.GradientTape() as tape:
        loss = 1.0 - _ms_ssim(image, inverted)
    assert np.isfinite(tape.gradient(loss, inverted).numpy()).all()
    tf_version = tf.Variable(-image)
    with tf.GradientTape() as tape:
        tf_loss = 1.0 - tf.image.ssim_multiscale(image + 0.5, tf_version + 0.5, 1.0)
    grad = tape.gradient(tf_loss, tf_version)
    assert grad is None or not np.isfinite(grad.numpy()).all()  # why we do not use it


def test_ssim_weights_favour_the_worse_blocks_and_average_one(pair):
    image, noisy = pair
    mixed = image.copy()
    mixed[:, :88] = noisy[:, :88]  # left half noisy, right half exact
    weights = _block_ssim_weights(model_space(image[None]), model_space(mixed[None])).numpy()
    assert weights.shape == (1, 176, 176, 1)
    assert weights.mean() == pytest.approx(1.0, abs=1e-5)
    assert weights[0, :, :88].mean() == pytest.approx(2.0, abs=1e-3)  # the exact half is 0
    assert weights[0, :, :88].min() > 0 and weights[0, :, 88:].max() < 1e-6
    block = weights[0, :SSIM_BLOCK, :SSIM_BLOCK]
    assert np.all(block == block[0, 0])  # constant inside each 8×8 block


def test_ssim_weighted_l1_is_l1_times_the_block_weights(pair):
    image, noisy = (model_space(x[None]) for x in pair)
    recon = tf.stack([noisy, image * 0.5])  # two iterations
    losses = per_iteration_loss(image, recon, "ssim-weighted-l1").numpy()
    for t in range(2):
        w = _block_ssim_weights(image, recon[t])
        assert losses[t] == pytest.approx(float(tf.reduce_mean(w * tf.abs(image - recon[t]))),
                                          rel=1e-5)


def test_ssim_l1_is_the_mix_and_charges_a_shift_of_the_mean(pair):
    image = model_space(64 + pair[0][None] * 0.75)  # mid and bright tones: 64..255
    shifted = image + 0.04  # 10 levels on every channel: what one-scale SSIM barely sees there
    recon = tf.stack([shifted, image * 0.5])
    ssim, l1, mix = (per_iteration_loss(image, recon, k).numpy()
                     for k in ("ssim", "l1", "ssim-l1"))
    np.testing.assert_allclose(mix, 0.84 * ssim + 0.16 * l1, rtol=1e-5)
    assert ssim[0] < 0.005 and l1[0] == pytest.approx(0.04, rel=1e-4)
    assert mix[0] > 2 * 0.84 * ssim[0]  # most of the mix's charge for the shift is its L1


def test_ssim_mean_l1_charges_block_means_only(pair):
    image = model_space(64 + pair[0][None] * 0.75)
    shifted = image + 0.04  # every block's mean 10 levels off
    # a zero-mean pattern inside every 8x8 block: the block means are untouched
    pattern = tf.constant(np.tile([[0.05, -0.05], [-0.05, 0.05]], (88, 88))[None, :, :, None],
                          tf.float32)
    textured = image + pattern
    ssim, mix = (per_iteration_loss(image, tf.stack([shifted, textured]), k).numpy()
                 for k in ("ssim", "ssim-mean-l1"))
    assert mix[0] == pytest.approx(ssim[0] + 0.04, rel=1e-4)
    assert mix[1] == pytest.approx(ssim[1], abs=1e-6)  # texture: SSIM's business alone


@pytest.mark.parametrize("kind", LOSSES)
def test_every_loss_falls_as_the_reconstruction_improves(pair, kind):
    image = model_space(pair[0][None].repeat(2, 0))
    noise = tf.random.stateless_normal(image.shape, [1, 2], stddev=0.1)
    recon = tf.stack([image + noise * s for s in (1.0, 0.5, 0.1)])
    losses = per_iteration_loss(image, recon, kind).numpy()
    assert losses.shape == (3,) and losses[0] > losses[1] > losses[2] > 0
    total = reconstruction_loss(image, recon, kind, [1.0, 0.0, 2.0])
    assert float(total) == pytest.approx(losses[0] + 2 * losses[2], rel=1e-5)


@pytest.mark.parametrize(("kind", "size", "message"), [
    ("ms-ssim", 16, "at least 21 px"), ("ssim", 10, "at least 11 px"),
    ("ssim-l1", 10, "ssim-l1 needs patches of at least 11 px"),
    ("ssim-weighted-l1", 36, "multiple of 8"), ("ssim-mean-l1", 36, "multiple of 8"),
    ("huber", 32, "unknown loss")])
def test_check_loss_refuses_what_cannot_train(kind, size, message):
    with pytest.raises(ValueError, match=message):
        check_loss(kind, size)
    check_loss("ms-ssim", 32)
    check_loss("ssim", 11)
    check_loss("ssim-weighted-l1", 32)
