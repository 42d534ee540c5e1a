"""Image quality metrics on 8-bit RGB, computed the way the papers' curves are computed.

Every function takes uint8 arrays [H, W, 3] (or batches [N, H, W, 3] where it says so) of the
original and the reconstruction; nothing is rescaled or converted to another colour space
except where stated (PSNR-HVS works on luma).

- PSNR: 10·log10(255² / MSE), the MSE over all pixels and all three channels; +inf if equal.
- SSIM: `tf.image.ssim` (Wang et al. 2004: 11×11 Gaussian window, σ = 1.5, k1 = 0.01,
  k2 = 0.03, max_val = 255), computed per channel and averaged over R, G, B.
- MS-SSIM: `tf.image.ssim_multiscale` with max_val = 255 and the standard five-scale weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333) of Wang et al. 2003, per channel and averaged over
  R, G, B ("MS-SSIM on RGB", as in Toderici et al. 2017, section 4). The fifth scale is the image
  downsampled 16× and must still hold the 11×11 window, so both sides must be at least
  `MS_SSIM_MIN_SIDE` = 161 px; smaller images (the 2016 paper's 32×32 thumbnails) are
  measured with SSIM instead, and `ms_ssim` raises ValueError for them.
- MS-SSIM (dB): −10·log10(1 − MS-SSIM), +inf if MS-SSIM = 1.
- Colour shift: the distance in 8-bit levels between the mean colours (the R, G and B means
  over the image) of original and reconstruction; what one-scale SSIM barely charges
  for in mid and bright tones.
- PSNR-HVS (Egiazarian et al. 2006; Toderici et al. 2017 report it beside MS-SSIM): computed by
  the `psnr-hvsm` package on BT.601 luma only, Y = 16 + 65.481 R' + 128.553 G' + 24.966 B'
  (R', G', B' in [0, 1]) rounded to 8-bit code values and divided by 255 (the package's
  `bt601ycbcr`, the conversion the
  reference implementation uses for colour images; TID2013 values are reproduced with it).
  The CSF-weighted DCT error is averaged over the whole 8×8 blocks of the image (a partial
  block at the right or bottom edge is ignored, as the reference code does) and
  PSNR-HVS = 10·log10(1 / that mean); +inf if it is 0 (the package itself reports 100 there).
  This is PSNR-HVS, not the masked PSNR-HVS-M.

TensorFlow is imported on first use, and each TF metric is one `tf.function` with an
input signature of unknown batch, height and width: traced once, whatever the image size.
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable

import numpy as np

MAX_VAL = 255.0
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_FILTER_SIZE = 11
# The coarsest of the 5 scales is ceil(side / 16) px and must hold the 11-px window.
MS_SSIM_MIN_SIDE = (SSIM_FILTER_SIZE - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1) + 1

METRICS = ("psnr-rgb", "ssim-rgb", "ms-ssim-rgb", "ms-ssim-rgb-db", "psnr-hvs")
# Peak memory `evaluate` adds per pixel of one reconstruction (whole-image float maps): 171
# bytes per pixel on a 3000x2000 pair, measured once with `tfrnn.bench.memory.peak_rss`.
EVALUATE_BYTES_PER_PIXEL = 180


def _as_batch(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected [H, W, 3] or [N, H, W, 3] RGB, got shape {images.shape}")
    return images


def _check_pair(original: np.ndarray, reconstructed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_batch(original), _as_batch(reconstructed)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"image sizes differ: {a.shape[1:3]} vs {b.shape[1:3]}")
    if len(a) != len(b):
        if len(a) != 1:
            raise ValueError(f"batch sizes differ: {len(a)} vs {len(b)}")
        a = np.broadcast_to(a, b.shape)
    return a, b


def psnr_batch(original: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
    """PSNR in dB of each reconstruction [N, H, W, 3] against one original or N originals."""
    a, b = _check_pair(original, reconstructed)
    diff = a.astype(np.float64) - b.astype(np.float64)
    mse = np.mean(np.square(diff), axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(MAX_VAL**2 / mse)


def colour_shift_batch(original: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
    """Euclidean distance in 8-bit levels between the mean R, G, B of each reconstruction
    [N, H, W, 3] and of its original (one original, or N)."""
    a, b = _check_pair(original, reconstructed)
    shift = a.mean(axis=(1, 2), dtype=np.float64) - b.mean(axis=(1, 2), dtype=np.float64)
    return np.sqrt(np.sum(np.square(shift), axis=-1))


def psnr(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """PSNR in dB between two uint8 RGB images; +inf if they are identical."""
    return float(psnr_batch(original, reconstructed)[0])


@functools.cache
def _tf_metrics() -> tuple[Callable, Callable]:
    import tensorflow as tf

    spec = tf.TensorSpec([None, None, None, 3], tf.uint8)

    @tf.function(input_signature=[spec, spec])
    def ssim_fn(a, b):
        return tf.image.ssim(tf.cast(a, tf.float32), tf.cast(b, tf.float32), max_val=MAX_VAL,
                             filter_size=SSIM_FILTER_SIZE)

    @tf.function(input_signature=[spec, spec])
    def ms_ssim_fn(a, b):
        return tf.image.ssim_multiscale(tf.cast(a, tf.float32), tf.cast(b, tf.float32),
                                        max_val=MAX_VAL, power_factors=MS_SSIM_WEIGHTS,
                                        filter_size=SSIM_FILTER_SIZE)

    return ssim_fn, ms_ssim_fn


def _structural(which: int, min_side: int, what: str, original: np.ndarray,
                reconstructed: np.ndarray) -> np.ndarray:
    a, b = _check_pair(original, reconstructed)
    if min(a.shape[1:3]) < min_side:
        raise ValueError(f"image is {a.shape[1]}x{a.shape[2]}; {what} needs both sides >= "
                         f"{min_side} px")
    return _tf_metrics()[which](a, b).numpy().astype(np.float64)


def ssim_batch(original: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
    """SSIM (mean over R, G, B) of each reconstruction; images need sides >= 11 px."""
    return _structural(0, SSIM_FILTER_SIZE, "SSIM", original, reconstructed)


def ms_ssim_batch(original: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
    """MS-SSIM (5 scales, mean over R, G, B) of each reconstruction; sides must be >= 161 px."""
    return _structural(1, MS_SSIM_MIN_SIDE, "MS-SSIM with 5 scales (use SSIM for small images)",
                       original, reconstructed)


def ssim(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """SSIM between two uint8 RGB images (mean over channels)."""
    return float(ssim_batch(original, reconstructed)[0])


def ms_ssim(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """MS-SSIM between two uint8 RGB images (mean over channels)."""
    return float(ms_ssim_batch(original, reconstructed)[0])


def ms_ssim_db(value: float | np.ndarray) -> float | np.ndarray:
    """MS-SSIM in dB: −10·log10(1 − MS-SSIM); +inf at 1."""
    with np.errstate(divide="ignore"):
        out = -10.0 * np.log10(1.0 - np.asarray(value, dtype=np.float64))
    return float(out) if np.ndim(out) == 0 else out


@functools.cache
def _psnr_hvsm() -> tuple[Callable, Callable]:
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints about missing PyTorch
        import psnr_hvsm
    backend = psnr_hvsm.BACKENDS.get("cpp", psnr_hvsm.BACKENDS["numpy"])
    return backend["bt601ycbcr"], backend["hvs_hvsm_mse"]


def psnr_hvs(original: np.ndarray, reconstructed: np.ndarray) -> float:
    """PSNR-HVS in dB on BT.601 luma over whole 8×8 blocks (see module docstring)."""
    a, b = _check_pair(original, reconstructed)
    if len(a) != 1:
        raise ValueError("psnr_hvs takes one image pair")
    h, w = (a.shape[1] // 8) * 8, (a.shape[2] // 8) * 8
    if h == 0 or w == 0:
        raise ValueError(f"image is {a.shape[1]}x{a.shape[2]}; PSNR-HVS needs sides >= 8 px")
    to_ycbcr, hvs_hvsm_mse = _psnr_hvsm()
    mse = float(hvs_hvsm_mse(to_ycbcr(a[0, :h, :w])[0], to_ycbcr(b[0, :h, :w])[0])[0])
    return float("inf") if mse == 0.0 else 10.0 * np.log10(1.0 / mse)


def evaluate(original: np.ndarray, reconstructions: np.ndarray) -> dict[str, np.ndarray]:
    """All of `METRICS` for each reconstruction [N, H, W, 3] of one original [H, W, 3].

    MS-SSIM (and its dB) is NaN for an image smaller than `MS_SSIM_MIN_SIDE`.
    """
    original = _as_batch(original)[0]
    recs = _as_batch(reconstructions)
    out = {
        "psnr-rgb": psnr_batch(original, recs),
        "ssim-rgb": ssim_batch(original, recs),
        "psnr-hvs": np.array([psnr_hvs(original, r) for r in recs]),
    }
    if min(original.shape[:2]) >= MS_SSIM_MIN_SIDE:
        out["ms-ssim-rgb"] = ms_ssim_batch(original, recs)
    else:
        out["ms-ssim-rgb"] = np.full(len(recs), np.nan)
    out["ms-ssim-rgb-db"] = np.asarray(ms_ssim_db(out["ms-ssim-rgb"]), dtype=np.float64)
    return {k: out[k] for k in METRICS}
