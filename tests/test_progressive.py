"""The progressive property on a real photo, after a short training run of the tiny config."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrnn.losses import reconstruction_loss
from tfrnn.model import RecurrentCodec

ITERATIONS = 4


def mean_abs_error(codec: RecurrentCodec, image: np.ndarray) -> list[float]:
    """Mean absolute pixel error after each of ITERATIONS iterations (inference path)."""
    _, recons = codec.encode(image[None], ITERATIONS, return_reconstructions=True)
    diff = np.abs(recons.numpy()[:, 0].astype(np.float64) - image.astype(np.float64))
    return diff.reshape(ITERATIONS, -1).mean(axis=1).tolist()


@pytest.mark.slow
def test_error_falls_with_each_iteration_after_training(astronaut):
    tf.random.set_seed(0)
    keras.utils.set_random_seed(0)
    codec = RecurrentCodec("tiny-lstm-additive")
    train, held_out = astronaut[:, :384], astronaut[128:384, 384:]
    before = mean_abs_error(codec, held_out)
    optimizer = keras.optimizers.Adam(1e-3, clipnorm=0.5)
    rng = np.random.default_rng(0)

    @tf.function
    def step(tiles):
        with tf.GradientTape() as tape:
            loss = reconstruction_loss(codec.to_model_space(tiles),
                                       codec(tiles, training=True, iterations=ITERATIONS))
        grads = tape.gradient(loss, codec.trainable_weights)
        optimizer.apply_gradients(zip(grads, codec.trainable_weights, strict=True))
        return loss

    for _ in range(300):
        ys, xs = rng.integers(0, train.shape[0] - 32, 16), rng.integers(0, train.shape[1] - 32, 16)
        tiles = [train[y:y + 32, x:x + 32] for y, x in zip(ys, xs, strict=True)]
        step(tf.constant(np.stack(tiles)))
    after = mean_abs_error(codec, held_out)
    assert all(b < a for a, b in zip(after, after[1:], strict=False)), after
    assert after[0] < before[0] and after[-1] < min(before), (before, after)
