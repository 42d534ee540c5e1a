"""Training objectives: the distortion after every iteration, summed over iterations.

`kind` picks the distortion d_t of iteration t's reconstruction x̂_t against x (both in model
space, [−0.5, 0.5]):

- `l1`: mean |x − x̂_t|, Toderici 2017 §3 (the residual's L1);
- `l2`: mean (x − x̂_t)², Toderici 2016 §3;
- `ms-ssim`: 1 − MS-SSIM(x, x̂_t) on the RGB channels (Wang et al. 2003, the metric the papers
  report), with as many scales as the patch side allows (`ms_ssim_scales`) and the first weights
  of the five-scale set renormalized to sum to 1;
- `ssim`: 1 − SSIM(x, x̂_t) on the RGB channels (Wang et al. 2004, one scale: the metric the
  2016 paper reports for thumbnails, and `tfrnn bench thumbnails`' `ssim-rgb`);
- `ssim-l1`: α(1 − SSIM) + (1 − α)·mean |x − x̂_t| with α = 0.84, the mix of Zhao et al. 2017
  ("Loss Functions for Image Restoration with Neural Networks", IEEE TCI, §3.3, there with
  MS-SSIM and a Gaussian-weighted L1; here one-scale SSIM, which thumbnails allow, and plain L1):
  one-scale SSIM barely charges for a shift of a channel's mean in mid and bright tones
  (1 − SSIM < 0.005 for 10 levels there), which L1 does;
- `ssim-mean-l1`: (1 − SSIM) + mean |B(x) − B(x̂_t)|, where B averages each 8×8 block of each
  channel: ours, for SSIM-trained thumbnails whose colours drift. The L1 sees only the blocks'
  mean colours, the low frequencies that one-scale SSIM barely charges for, so it does not pull
  against SSIM on texture as a full L1 does;
- `ssim-weighted-l1`: Johnston et al. 2018 (arXiv 1703.10114), L1 whose pixels are weighted
  by how badly their 8×8 block is reconstructed in SSIM: each block's weight is 1 − SSIM of the
  block, divided by the image's mean weight (so the weights average 1), without a gradient
  through the weights (the block size and the normalization are our reading of the paper,
  whose text we could not check here).

The loss is Σ_t w_t · d_t (`iteration_weights`, default all 1: the papers' sum).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import tensorflow as tf
from keras import ops

from tfrnn.metrics import MS_SSIM_WEIGHTS, SSIM_FILTER_SIZE

LOSSES = ("l1", "l2", "ms-ssim", "ssim", "ssim-l1", "ssim-mean-l1", "ssim-weighted-l1")
SSIM_L1_ALPHA = 0.84  # Zhao et al. 2017, §3.3: the weight of the SSIM term in `ssim-l1`
SSIM_BLOCK = 8  # the blocks whose SSIM weighs the L1 (our reading of Johnston 2018)
# SSIM's stabilizing constants for a dynamic range of 1 (model space): (0.01 L)², (0.03 L)².
C1, C2 = 0.01**2, 0.03**2
SSIM_SIGMA = 1.5


def ms_ssim_scales(size: int) -> int:
    """Scales of MS-SSIM that a square patch of `size` px supports (at most 5; 0 if none):
    the coarsest scale must still hold one SSIM window (`tf.image.ssim_multiscale`)."""
    if size < SSIM_FILTER_SIZE:
        return 0
    free = (size - 1) // (SSIM_FILTER_SIZE - 1)
    return min(len(MS_SSIM_WEIGHTS), int(math.log2(free)) + 1)


def check_loss(kind: str, patch_size: int) -> None:
    """ValueError unless `kind` is known and trainable on patches of `patch_size` px."""
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}; choose from {', '.join(LOSSES)}")
    if kind in ("ssim", "ssim-l1", "ssim-mean-l1") and patch_size < SSIM_FILTER_SIZE:
        raise ValueError(f"{kind} needs patches of at least {SSIM_FILTER_SIZE} px (its window), "
                         f"not {patch_size}")
    if kind == "ms-ssim" and ms_ssim_scales(patch_size) < 2:
        raise ValueError(f"ms-ssim needs patches of at least {2 * SSIM_FILTER_SIZE - 1} px "
                         f"(two scales), not {patch_size}: train on larger tiles or crops")
    if kind in ("ssim-weighted-l1", "ssim-mean-l1") and patch_size % SSIM_BLOCK:
        raise ValueError(f"{kind} works on {SSIM_BLOCK}x{SSIM_BLOCK} blocks: the "
                         f"patch size {patch_size} must be a multiple of {SSIM_BLOCK}")


def _gaussian_window() -> tf.Tensor:
    """SSIM's 11-tap Gaussian (σ = 1.5) as a separable depthwise kernel pair for RGB."""
    x = tf.range(SSIM_FILTER_SIZE, dtype=tf.float32) - (SSIM_FILTER_SIZE - 1) / 2
    g = tf.exp(-(x * x) / (2 * SSIM_SIGMA**2))
    g = tf.tile((g / tf.reduce_sum(g))[:, None, None], [1, 3, 1])
    return tf.reshape(g, [SSIM_FILTER_SIZE, 1, 3, 1]), tf.reshape(g, [1, SSIM_FILTER_SIZE, 3, 1])


def _ssim_parts(x, y, local_mean):
    """SSIM's luminance and contrast-structure maps of model-space x against y (Wang et al.
    2004), local statistics taken by `local_mean` (a Gaussian window, or block averages). The
    pixels are shifted to [0, 1] first, as the metrics see them: luminance is not
    shift-invariant, and around 0 it would punish small errors of the mean many times over."""
    x, y = x + 0.5, y + 0.5
    mx, my = local_mean(x), local_mean(y)
    vx, vy = local_mean(x * x) - mx * mx, local_mean(y * y) - my * my
    cov = local_mean(x * y) - mx * my
    return (2 * mx * my + C1) / (mx * mx + my * my + C1), (2 * cov + C2) / (vx + vy + C2)


def _ms_ssim(target, reconstruction, scales: int | None = None):
    """MS-SSIM per image [B] of model-space RGB images (dynamic range 1), Wang et al. 2003,
    with `scales` scales (default: as many as the images hold; 1 is SSIM) and each scale's term
    floored at a small positive value before its power when there are several: the
    `tf.image.ssim_multiscale` form (a ReLU) has an infinite gradient where a term is 0."""
    if scales is None:
        scales = ms_ssim_scales(min(int(target.shape[1]), int(target.shape[2])))
    weights = MS_SSIM_WEIGHTS[:scales]
    rows, cols = _gaussian_window()
    blur = lambda x: tf.nn.depthwise_conv2d(
        tf.nn.depthwise_conv2d(x, rows, [1, 1, 1, 1], "VALID"), cols, [1, 1, 1, 1], "VALID")
    x, y = target, reconstruction
    value = 1.0
    for scale, weight in enumerate(weights):
        luminance, cs = _ssim_parts(x, y, blur)
        term = cs if scale < scales - 1 else cs * luminance
        term = tf.reduce_mean(term, axis=[1, 2])  # [B, 3]
        if scales > 1:  # one scale: SSIM itself, power 1, nothing to floor
            term = tf.maximum(term, 1e-4)
        value *= term ** (weight / sum(weights))
        if scale < scales - 1:
            x, y = (tf.nn.avg_pool2d(z, 2, 2, "VALID") for z in (x, y))
    return tf.reduce_mean(value, axis=-1)


def _block_means(x):
    """The mean of each `SSIM_BLOCK`×`SSIM_BLOCK` block of each channel, [B, H/8, W/8, C]."""
    return tf.nn.avg_pool2d(x, SSIM_BLOCK, SSIM_BLOCK, "VALID")


def _block_ssim_weights(target, reconstruction):
    """Johnston 2018's weights [B, H, W, 1]: 1 − SSIM of each 8×8 block (uniform window,
    mean over channels), normalized to mean 1 per image, constant inside each block."""
    luminance, cs = _ssim_parts(target, reconstruction, _block_means)
    weight = 1.0 - tf.reduce_mean(luminance * cs, axis=-1, keepdims=True)
    weight /= tf.reduce_mean(weight, axis=[1, 2, 3], keepdims=True) + 1e-12
    size = tf.shape(target)
    weight = tf.repeat(tf.repeat(weight, SSIM_BLOCK, axis=1), SSIM_BLOCK, axis=2)
    return tf.stop_gradient(weight[:, :size[1], :size[2]])


def per_iteration_loss(target, reconstructions, kind: str = "l1"):
    """d_t for each iteration (mean over the batch): shape [T]; `reconstructions` [T, B, ...]."""
    target = ops.cast(target, reconstructions.dtype)
    if kind in ("l1", "l2"):
        residuals = ops.expand_dims(target, 0) - reconstructions
        values = ops.abs(residuals) if kind == "l1" else ops.square(residuals)
        return ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)
    steps = tf.shape(reconstructions)[0]
    dims = [d if d is not None else tf.shape(reconstructions)[i + 2]
            for i, d in enumerate(reconstructions.shape[2:])]  # static sizes where known
    x = tf.reshape(tf.cast(reconstructions, tf.float32), [-1, *dims])  # [T·B, H, W, C]
    y = tf.tile(tf.cast(target, tf.float32), [steps, 1, 1, 1])
    if kind in ("ms-ssim", "ssim"):
        values = 1.0 - _ms_ssim(y, x, 1 if kind == "ssim" else None)
    elif kind == "ssim-l1":
        values = SSIM_L1_ALPHA * (1.0 - _ms_ssim(y, x, 1)) + (1.0 - SSIM_L1_ALPHA) * (
            tf.reduce_mean(tf.abs(y - x), axis=[1, 2, 3]))
    elif kind == "ssim-mean-l1":
        values = (1.0 - _ms_ssim(y, x, 1)) + tf.reduce_mean(
            tf.abs(_block_means(y) - _block_means(x)), axis=[1, 2, 3])
    elif kind == "ssim-weighted-l1":
        values = tf.reduce_mean(_block_ssim_weights(y, x) * tf.abs(y - x), axis=[1, 2, 3])
    else:
        raise ValueError(f"unknown loss {kind!r}; choose from {', '.join(LOSSES)}")
    return tf.reduce_mean(tf.reshape(values, [steps, -1]), axis=1)


def reconstruction_loss(target, reconstructions, kind: str = "l1",
                        iteration_weights: Sequence[float] | None = None):
    """Σ_t w_t · per_iteration_loss_t (the papers' loss when w_t = 1)."""
    losses = ops.cast(per_iteration_loss(target, reconstructions, kind), "float32")
    if iteration_weights is None:
        return ops.sum(losses)
    return ops.sum(losses * ops.convert_to_tensor(iteration_weights, "float32"))
