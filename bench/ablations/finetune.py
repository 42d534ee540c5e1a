"""The fine-tuning loop behind the sign-bit and per-iteration-weight runs of
bench/results/iteration-stats/ and bench/results/sign-bits/: `tfrnn train`'s codec step
(Adam, global-norm clipping, the loss summed over iterations) without checkpoints, logging
the mean per-iteration loss every 50 steps.

    python finetune.py MODE OUT STEPS LR [INIT [ITERATIONS [WEIGHTS]]]

MODE `sign` trains on the sign bits (`tfrnn train --binarizer sign`), `stoch` on the stochastic
samples; WEIGHTS `uniform` (Σ_t d_t) or `log` (Σ_t d_t / stop_gradient(d_t), the gradient of
Σ_t log d_t, scaled by the mean d). INIT names a thumbnail model (then L2 on
`runs/data/thumbs-train`, batch 32, clip 1) or another model (MS-SSIM on 128-px crops of
`runs/data-144`, batch 8, clip 0.5). Seed 7. The runs were made before `--binarizer` existed,
with the binarizer's call replaced by the same function (`binarize(..., stochastic=False)`).
"""

import sys
import time

import keras
import numpy as np
import tensorflow as tf

from data_prep.reader import make_dataset
from tfrnn.bundle import Bundle, load_bundle, save_bundle
from tfrnn.losses import per_iteration_loss


def training_data(thumb: bool):
    """The runs' batches: thumbnails (batch 32) or 128-px crops of 144-px tiles (batch 8)."""
    if thumb:
        return make_dataset(["runs/data/thumbs-train"], [1.0], 32, tile_size=32, seed=7,
                            flips=True)
    return make_dataset(["runs/data-144"], [1.0], 8, tile_size=144, seed=7, crop=128,
                        flips=True)


def fit(step, dataset, steps: int) -> None:
    """Run `step` (batch -> per-iteration losses) `steps` times, printing the mean losses of
    every 50 steps."""
    start, window = time.time(), []
    for i, images in enumerate(dataset.take(steps)):
        window.append(step(images).numpy())
        if (i + 1) % 50 == 0:
            m = np.mean(window, 0)
            window = []
            print(f"step {i + 1} {time.time() - start:.0f}s loss {m.sum():.4f} "
                  f"it1 {m[0]:.4f} it4 {m[3]:.4f} it8 {m[7]:.4f} "
                  f"it12 {m[min(11, len(m) - 1)]:.4f} itT {m[-1]:.4f}", flush=True)


def make_step(forward, target, variables, optimizer, kind: str, clip: float,
              weights: str = "uniform"):
    """A traced step: `forward(images)` -> reconstructions [T, ...], the per-iteration `kind`
    losses against `target(images)` summed (`weights` uniform) or each divided by its own
    value (log), clipped gradients applied; it returns the per-iteration losses."""

    @tf.function
    def step(images):
        with tf.GradientTape() as tape:
            per = per_iteration_loss(target(images), forward(images), kind)
            if weights == "log":
                loss = tf.reduce_sum(per / tf.stop_gradient(per)) * tf.stop_gradient(
                    tf.reduce_mean(per))
            else:
                loss = tf.reduce_sum(per)
        grads, _ = tf.clip_by_global_norm(tape.gradient(loss, variables), clip)
        optimizer.apply(grads, variables)
        return per

    return step


def main() -> None:
    mode, out, steps, lr = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    init = sys.argv[5] if len(sys.argv) > 5 else "default"
    iterations = int(sys.argv[6]) if len(sys.argv) > 6 else 8
    weights = sys.argv[7] if len(sys.argv) > 7 else "uniform"
    thumb = "thumb" in init
    kind, clip = ("l2", 1.0) if thumb else ("ms-ssim", 0.5)
    keras.utils.set_random_seed(7)
    bundle = load_bundle(init)
    codec = bundle.codec
    step = make_step(lambda images: codec(images, training=True, iterations=iterations,
                                          stochastic=mode == "stoch"),
                     codec.to_model_space, codec.trainable_variables,
                     keras.optimizers.Adam(lr), kind, clip, weights)
    fit(step, training_data(thumb), steps)
    save_bundle(out, Bundle(codec, bundle.context_model, dict(bundle.metadata, note=mode)))


if __name__ == "__main__":
    main()
