"""tfrnn.metrics against known values and against TensorFlow / psnr-hvsm called directly."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from PIL import Image

from tfrnn import metrics


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


@pytest.fixture(scope="module")
def pair(astronaut):
    return astronaut, jpeg(astronaut, 20)


def test_identical_images():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (200, 180, 3), dtype=np.uint8)
    assert metrics.psnr(img, img) == math.inf
    assert metrics.psnr_hvs(img, img) == math.inf
    assert metrics.ms_ssim(img, img) == pytest.approx(1.0, abs=1e-6)
    assert metrics.ssim(img, img) == pytest.approx(1.0, abs=1e-6)
    assert metrics.ms_ssim_db(1.0) == math.inf


def test_psnr_hand_computed():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[1, 2, 0] = 10  # MSE = 100 / 48
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 * 48 / 100), abs=1e-12)
    assert metrics.psnr(a + 5, a) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)


def test_colour_shift_hand_computed():
    a = np.full((2, 4, 4, 3), 100, np.uint8)
    b = a.copy()
    b[0, ..., 0] += 3
    b[0, ..., 1] -= 4  # mean shift (3, -4, 0): 5 levels
    b[1, :2] = 0
    b[1, 2:] = 200  # a different image with the same mean colour
    np.testing.assert_allclose(metrics.colour_shift_batch(a, b), [5.0, 0.0], atol=1e-12)
    assert metrics.psnr_batch(a, b)[1] < 10  # which PSNR charges for


def test_ms_ssim_db():
    assert metrics.ms_ssim_db(0.9) == pytest.approx(10.0)
    assert metrics.ms_ssim_db(np.array([0.99, 0.999])) == pytest.approx([20.0, 30.0])


def test_ms_ssim_and_ssim_match_tensorflow_directly(pair):
    import tensorflow as tf

    a, b = pair
    fa, fb = tf.constant(a, tf.float32), tf.constant(b, tf.float32)
    want_ms = float(tf.image.ssim_multiscale(fa, fb, max_val=255.0))
    want = float(tf.image.ssim(fa, fb, max_val=255.0))
    assert metrics.ms_ssim(a, b) == pytest.approx(want_ms, abs=1e-5)
    assert metrics.ssim(a, b) == pytest.approx(want, abs=1e-5)
    assert 0.8 < want_ms < 0.999


def test_tf_metrics_traced_once_for_all_sizes(pair):
    a, b = pair
    metrics.ms_ssim(a, b)
    metrics.ms_ssim(a[:300, :200], b[:300, :200])
    metrics.ms_ssim_batch(a[:170], np.stack([b[:170], a[:170]]))
    assert metrics._tf_metrics()[1].experimental_get_tracing_count() == 1


def test_ms_ssim_size_limit(pair):
    a, b = pair
    side = metrics.MS_SSIM_MIN_SIDE
    assert side == 161
    assert 0 < metrics.ms_ssim(a[:side, :side], b[:side, :side]) < 1
    with pytest.raises(ValueError, match="161"):
        metrics.ms_ssim(a[: side - 1], b[: side - 1])
    small = metrics.evaluate(a[:32, :32], b[None, :32, :32])
    assert math.isnan(small["ms-ssim-rgb"][0]) and 0 < small["ssim-rgb"][0] < 1


def test_psnr_hvs_matches_package(pair):
    with contextlib.redirect_stdout(io.StringIO()):
        from psnr_hvsm import bt601ycbcr
        from psnr_hvsm.numpy import psnr_hvs_hvsm
    a, b = pair
    with np.errstate(invalid="ignore"):  # the package's NumPy backend divides 0 by 0 on flat blocks
        want = float(psnr_hvs_hvsm(bt601ycbcr(a)[0], bt601ycbcr(b)[0])[0])
    assert metrics.psnr_hvs(a, b) == pytest.approx(want, abs=1e-9)
    assert metrics.psnr_hvs(a, jpeg(a, 5)) < want < metrics.psnr_hvs(a, jpeg(a, 80))
    # only whole 8x8 blocks count: a change in the last 3 columns of a 203-px-wide image is unseen
    c = a[:200, :203].copy()
    d = c.copy()
    d[:, 200:] = 0
    assert metrics.psnr_hvs(c, d) == math.inf


def test_evaluate_batch(pair):
    a, b = pair
    out = metrics.evaluate(a, np.stack([b, a]))
    assert list(out) == list(metrics.METRICS)
    assert out["psnr-rgb"][1] == math.inf and out["psnr-rgb"][0] == pytest.approx(
        metrics.psnr(a, b))
    assert out["ms-ssim-rgb-db"][0] == pytest.approx(metrics.ms_ssim_db(out["ms-ssim-rgb"][0]))


def test_bad_input():
    with pytest.raises(TypeError):
        metrics.psnr(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="sizes differ"):
        metrics.psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))
