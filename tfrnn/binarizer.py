"""The binarizer B (Toderici 2016 §3.1; 2017 §2): 1×1 conv, tanh, then bits in {−1, +1}.

Training: stochastic, +1 with probability (1 + x)/2 else −1, the gradient passed straight
through (the expectation of the sample is x); or, with `stochastic=False` (`tfrnn train
--binarizer sign`), the inference bits sign(x) with the same straight-through gradient, as
Theis et al. 2017 (§2.1) round in the forward pass and pass the gradient through. Inference:
sign(x), with sign(0) = +1 so that every output is exactly ±1. Under a `tf.distribute`
strategy each replica draws its own noise (the replica id is mixed into the seed), so
replicas' samples are independent.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


def _replica_seed(seed_generator: keras.random.SeedGenerator) -> tf.Tensor:
    """The generator's next seed with this replica's id added to its first half (int32[2])."""
    context = tf.distribute.get_replica_context()
    replica = 0 if context is None else context.replica_id_in_sync_group
    seed = seed_generator.next() + tf.cast(tf.stack([replica, 0]), "int64")
    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)


def binarize(x, training: bool, seed_generator: keras.random.SeedGenerator | None = None,
             stochastic: bool = True):
    """Map x in [−1, 1] to {−1, +1}; if training, with a straight-through gradient and
    (`stochastic`) sampled bits."""
    if training and stochastic:
        if seed_generator is None:
            noise = keras.random.uniform(ops.shape(x), dtype=x.dtype)
        else:
            noise = tf.random.stateless_uniform(ops.shape(x), _replica_seed(seed_generator),
                                                dtype=x.dtype)
        bits = ops.where(noise < (1.0 + x) / 2.0, ops.ones_like(x), -ops.ones_like(x))
    else:
        bits = ops.where(x >= 0, ops.ones_like(x), -ops.ones_like(x))
        if not training:
            return bits
    return x + ops.stop_gradient(bits - x)


@keras.saving.register_keras_serializable(package="tfrnn")
class Binarizer(keras.layers.Layer):
    """Projects features to `bits` channels and binarizes them (one code per position)."""

    def __init__(self, bits: int = 32, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.bits = int(bits)
        self.seed = seed
        self.projection = keras.layers.Conv2D(self.bits, 1, use_bias=False, name="projection")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.projection.build(input_shape)
        self.built = True

    def latent(self, inputs):
        """The value in [−1, 1] that is binarized: tanh of the projection."""
        return ops.tanh(self.projection(inputs))

    def call(self, inputs, training: bool = False, stochastic: bool = True):
        return binarize(self.latent(inputs), bool(training), self.seed_generator,
                        bool(stochastic))

    def get_config(self):
        config = super().get_config()
        config.update(bits=self.bits, seed=self.seed)
        return config
