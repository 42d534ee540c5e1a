"""The recurrent codec: encoder E, binarizer B, decoder D and the iteration loop.

One iteration (Toderici 2017, §2):
    b_t = B(E_t(r_{t−1})),   x̂_t = D_t(b_t) + γ·x̂_{t−1},   r_t = x − x̂_t,   r_0 = x, x̂_0 = 0.
Frameworks: one-shot (γ = 0), additive (γ = 1), and residual scaling (§2.2): the encoder sees
r_{t−1}·g_t and the decoder adds D_t(b_t)/g_t, with g_t = G(x̂_{t−1}) computable on both sides.
E and D are recurrent, their states carried across iterations, so one trained network serves
every iteration count (variable rate without retraining).

Spatially adaptive rate (Toderici 2016 notes that a convolutional codec can spend more
iterations where the image is busy; Johnston et al. 2018 do it as "spatially adaptive bit
rates"): at inference a code cell (one stride × stride block) may stop. A stopped cell's codes
are 0 instead of ±1, and `decode_step` keeps the reconstruction of every block whose codes are
all 0, so the decoder reads the stop map from the codes themselves. `encode` with `stop_ratio`
> 0 stops a block after the iteration that brings its error below `stop_ratio` times its
contrast (`block_error`); with 0 (the default) every block runs every iteration and the codes
are exactly the non-adaptive ones.

Pixels enter as uint8 RGB and are mapped to [−0.5, 0.5]. Any H×W works: the image is padded
(edge replication) to a multiple of the total stride and the output is cropped back.
"""

from __future__ import annotations

import functools
import hashlib
import json

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfrnn.binarizer import Binarizer
from tfrnn.configs import CodecConfig, get_config
from tfrnn.networks import build_networks


def hash_weights(h, weights) -> None:
    """Feed each weight's path and float32 bytes, in order, to the hash object `h`."""
    for w in weights:
        h.update(w.path.encode())
        h.update(np.ascontiguousarray(np.asarray(w.numpy(), dtype=np.float32)).tobytes())


@keras.saving.register_keras_serializable(package="tfrnn")
class RecurrentCodec(keras.Model):
    """A progressive image codec defined by a `CodecConfig` (or its name or dict)."""

    def __init__(self, config: CodecConfig | dict | str, **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, str):
            config = get_config(config)
        elif isinstance(config, dict):
            config = CodecConfig.from_dict(config)
        self.codec_config = config
        self.encoder, self.decoder, self.gain = build_networks(config)
        self.binarizer = Binarizer(config.bits, name="binarizer")
        self.encoder.build((None, None, None, 3))
        self.binarizer.build((None, None, None, config.encoder[-1].units))
        self.decoder.build((None, None, None, config.bits))
        if self.gain is not None:
            self.gain.build((None, None, None, 3))
        self.built = True

    @property
    def stride(self) -> int:
        return self.codec_config.stride

    # -- pixels <-> model space -------------------------------------------------------------

    def to_model_space(self, images):
        """uint8 (or float in [0, 255]) images -> floats in [−0.5, 0.5]."""
        return ops.cast(images, self.compute_dtype) / 255.0 - 0.5

    @staticmethod
    def to_uint8(x):
        """Model-space floats -> uint8 pixels (rounded, clipped)."""
        return tf.cast(tf.round(tf.clip_by_value((tf.cast(x, tf.float32) + 0.5) * 255.0,
                                                 0.0, 255.0)), tf.uint8)

    def pad(self, x):
        """Pad [B, H, W, C] to a multiple of the stride by replicating the last row/column."""
        shape = tf.shape(x)
        s = self.stride
        rows = tf.minimum(tf.range((shape[1] + s - 1) // s * s), shape[1] - 1)
        cols = tf.minimum(tf.range((shape[2] + s - 1) // s * s), shape[2] - 1)
        return tf.gather(tf.gather(x, rows, axis=1), cols, axis=2)

    def code_shape(self, batch, height, width):
        """Shape of one iteration's codes for images of `height` × `width`."""
        s = self.stride
        return (batch, (height + s - 1) // s, (width + s - 1) // s, self.codec_config.bits)

    # -- one iteration ------------------------------------------------------------------------

    def extra_steps(self, t: int) -> int:
        """Extra network steps of iteration t (0-based): `priming` at the first, `diffusion` at
        the later ones (up to iteration `diffusion_until`, 1-based, when it is set)."""
        c = self.codec_config
        if t == 0:
            return c.priming
        return c.diffusion if not c.diffusion_until or t < c.diffusion_until else 0

    def _iterate(self, body, state, iterations):
        """`state` after iteration 1 carried through iterations 2 … `iterations` (a tensor) by
        `body(*state, steps=extra steps)`, whose first element is t: one traced loop per run
        of iterations with the same extra steps."""
        until = self.codec_config.diffusion_until
        for start, end in ((1, until), (until, None)) if until else ((1, None),):
            limit = iterations if end is None else tf.minimum(iterations, end)
            state = tf.while_loop(lambda t, *_, limit=limit: t < limit,
                                  functools.partial(body, steps=self.extra_steps(start)), state)
        return state

    @staticmethod
    def _run(network, inputs, states, steps: int):
        """`network` applied 1 + `steps` times to the same inputs; the last output, states."""
        for _ in range(steps + 1):
            out, states = network(inputs, states)
        return out, states

    def decode_step(self, bits, reconstruction, states, gain=None, steps: int = 0):
        """x̂_t from b_t and x̂_{t−1} (the framework's update); returns (x̂_t, states).
        `steps`: the iteration's extra network steps (`extra_steps`).

        Blocks whose codes are all 0 (stopped, see the module docstring) keep x̂_{t−1}.
        """
        out, states = self._run(self.decoder, bits, states, steps)
        framework = self.codec_config.framework
        if framework == "residual-scaling":
            if gain is None:
                gain = self.gain(reconstruction)
            out = out / gain
        if framework != "one-shot":
            out = reconstruction + out
        s = self.stride
        active = ops.any(ops.not_equal(bits, 0), axis=-1, keepdims=True)
        active = ops.repeat(ops.repeat(active, s, axis=1), s, axis=2)
        return ops.where(active, out, reconstruction), states

    def propose(self, x, reconstruction, enc_states, steps: int = 0):
        """The encoder's half of an iteration: (features for the binarizer, the gain g_t or
        None, encoder states)."""
        residual = x - reconstruction
        gain = None
        if self.gain is not None:
            gain = self.gain(reconstruction)
            residual = residual * gain
        features, enc_states = self._run(self.encoder, residual, enc_states, steps)
        return features, gain, enc_states

    def step(self, x, reconstruction, enc_states, dec_states, training: bool = False,
             active=None, steps: int = 0, stochastic: bool = True):
        """One full iteration: returns (b_t, x̂_t, encoder states, decoder states).

        `active` (1 or 0 per code cell, [B, h, w, 1]) zeroes the codes of stopped cells;
        `stochastic=False` trains on the sign bits (see `tfrnn.binarizer`).
        """
        features, gain, enc_states = self.propose(x, reconstruction, enc_states, steps)
        bits = self.binarizer(features, training=training, stochastic=stochastic)
        if active is not None:
            bits = bits * active
        reconstruction, dec_states = self.decode_step(bits, reconstruction, dec_states, gain,
                                                      steps)
        return bits, reconstruction, enc_states, dec_states

    def block_error(self, x, reconstruction):
        """Each code cell's squared error over its contrast, [B, h, w, 1] (uint8 scale):
        MSE over the block and R, G, B, divided by σ² + C2, σ² the variance over the block of
        each pixel's mean of R, G, B and C2 = (0.03·255)², SSIM's contrast constant. Like
        1 − SSIM's contrast-structure term, it lets busy blocks, where errors are masked, stop
        at a larger MSE than flat ones."""
        original = tf.cast(self.to_uint8(x), tf.float32)
        error = tf.square(tf.cast(self.to_uint8(reconstruction), tf.float32) - original)
        s = self.stride
        mse = tf.nn.avg_pool2d(tf.reduce_mean(error, -1, keepdims=True), s, s, "VALID")
        grey = tf.reduce_mean(original, -1, keepdims=True)
        mean = tf.nn.avg_pool2d(grey, s, s, "VALID")
        variance = tf.nn.avg_pool2d(tf.square(grey), s, s, "VALID") - tf.square(mean)
        return mse / (tf.maximum(variance, 0.0) + (0.03 * 255.0) ** 2)

    def initial_state(self, x):
        """(x̂_0 = 0, encoder states, decoder states) for padded model-space images x."""
        shape = tf.shape(x)
        codes = tf.zeros(self.code_shape(shape[0], shape[1], shape[2]), x.dtype)
        return (tf.zeros_like(x), self.encoder.initial_states(x),
                self.decoder.initial_states(codes))

    # -- training -----------------------------------------------------------------------------

    def call(self, images, training: bool = False, iterations: int | None = None,
             stochastic: bool = True):
        """Reconstructions in model space after each iteration: [T, B, H, W, 3].

        Unrolled in Python (static T) for training; compare with `to_model_space(images)`.
        `stochastic`: the training binarizer samples its bits (else sign bits, straight-through).
        """
        iterations = int(iterations or self.codec_config.iterations)
        x = self.to_model_space(images)
        shape = tf.shape(x)
        x = self.pad(x)
        reconstruction, enc_states, dec_states = self.initial_state(x)
        outputs = []
        for t in range(iterations):
            _, reconstruction, enc_states, dec_states = self.step(
                x, reconstruction, enc_states, dec_states, training=training,
                steps=self.extra_steps(t), stochastic=stochastic)
            outputs.append(reconstruction[:, : shape[1], : shape[2], :])
        return ops.stack(outputs)

    # -- inference: any iteration count (a tensor), one traced loop ----------------------------

    def encode(self, images, iterations, return_reconstructions: bool = False,
               stop_ratio=0.0):
        """Codes in {−1, +1} for uint8 images [B, H, W, 3]: float32 [T, B, h, w, bits].

        With `return_reconstructions`, also the uint8 reconstruction after each iteration
        ([T, B, H, W, 3]), exactly what `decode` of the first t codes gives. With `stop_ratio`
        > 0, a block stops once its `block_error` is below it; its later codes are 0.
        """
        x = self.to_model_space(images)
        shape = tf.shape(x)
        x = self.pad(x)
        reconstruction, enc_states, dec_states = self.initial_state(x)
        xs = tf.shape(x)
        active = tf.ones((xs[0], xs[1] // self.stride, xs[2] // self.stride, 1), x.dtype)
        codes = tf.TensorArray(tf.float32, size=iterations, element_shape=None)
        recons = tf.TensorArray(tf.uint8, size=iterations if return_reconstructions else 0)

        def body(t, reconstruction, enc_states, dec_states, active, codes, recons, steps):
            bits, reconstruction, enc_states, dec_states = self.step(
                x, reconstruction, enc_states, dec_states, training=False, active=active,
                steps=steps)
            keep = self.block_error(x, reconstruction) >= tf.cast(stop_ratio, tf.float32)
            active = active * tf.cast(keep, active.dtype)
            codes = codes.write(t, tf.cast(bits, tf.float32))
            if return_reconstructions:
                recons = recons.write(
                    t, self.to_uint8(reconstruction[:, : shape[1], : shape[2], :]))
            return t + 1, reconstruction, enc_states, dec_states, active, codes, recons

        start = body(tf.constant(0), reconstruction, enc_states, dec_states, active, codes,
                     recons, steps=self.extra_steps(0))
        _, _, _, _, _, codes, recons = self._iterate(body, start, iterations)
        if return_reconstructions:
            return codes.stack(), recons.stack()
        return codes.stack()

    def decode(self, codes, height, width, all_iterations: bool = False):
        """uint8 images [B, height, width, 3] from codes [T, B, h, w, bits] (T ≥ 1).

        With `all_iterations`, the reconstruction after every iteration: [T, B, H, W, 3].
        """
        codes = tf.cast(codes, self.compute_dtype)
        shape = tf.shape(codes)
        iterations = shape[0]
        s = self.stride
        x_shape = (shape[1], shape[2] * s, shape[3] * s, 3)
        reconstruction = tf.zeros(x_shape, self.compute_dtype)
        dec_states = self.decoder.initial_states(codes[0])
        recons = tf.TensorArray(tf.uint8, size=iterations if all_iterations else 0)

        def body(t, reconstruction, dec_states, recons, steps):
            reconstruction, dec_states = self.decode_step(codes[t], reconstruction, dec_states,
                                                          steps=steps)
            if all_iterations:
                recons = recons.write(t, self.to_uint8(reconstruction[:, :height, :width, :]))
            return t + 1, reconstruction, dec_states, recons

        start = body(tf.constant(0), reconstruction, dec_states, recons,
                     steps=self.extra_steps(0))
        _, reconstruction, _, recons = self._iterate(body, start, iterations)
        if all_iterations:
            return recons.stack()
        return self.to_uint8(reconstruction[:, :height, :width, :])

    # -- identity and serialization -----------------------------------------------------------

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the configuration and every weight: identifies a trained model."""
        h = hashlib.sha256(json.dumps(self.codec_config.to_dict(), sort_keys=True).encode())
        hash_weights(h, self.weights)
        return h.hexdigest()

    def get_config(self):
        return {"config": self.codec_config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
