"""Rate–distortion optimized encoding (`tfrnn compress --optimize N`): the encoder searches
each iteration's codes; the networks and the file format are unchanged.

The trained encoder proposes the bits of iteration t as sign(z_t), z_t in [−1, 1] the
binarizer's latent (`tfrnn.binarizer`). Trained for L1 (Toderici 2017, §3), that proposal is
not the best code for MS-SSIM at its rate. With N > 0 steps, z_t is refined by N steps of Adam
(the sign's gradient passed straight through, as in training), the decoder, the context model
and the earlier iterations' codes fixed, on

    L_t = D(x̂_t) + λ_t · R_t + D(x̂_{t+1})

- D = 1 − MS-SSIM on RGB (1 − SSIM below `MS_SSIM_MIN_SIDE`, as in `tfrnn.metrics`);
- R_t: the context model's code length of iteration t in bits per pixel (`code_length`, the
  cross entropy the context model is trained on); none for raw files, whose size is fixed;
- x̂_{t+1}: the next iteration decoded from the encoder's proposal for it. This one-step
  lookahead matters: a search on D(x̂_t) + λ_t·R_t alone leaves the decoder in states the next
  iterations serve badly (on kodim23 it lost MS-SSIM at equal rate from 0.35 bpp on);
- λ_t = `rate_weight` · (D(x̂_t) − D(x̂_{t+1})) / R_t at the proposal: what one more
  iteration buys per bpp on this image, so the search trades bits at the image's own slope.

Each iteration keeps the best bits it evaluated (the proposal among them); the encoder then
proposes the next iteration from their reconstruction. This is latent optimization at encode
time (Campos et al. 2019; Yang et al. 2020) applied to the recurrent codec's binary codes. It
costs N + 1 forward and backward passes per iteration: with N = 4, 668 s for the 8 iterations
of a 768×512 image on one CPU thread (`tfrnn bench rd --optimize 4`, two images at a time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfrnn.context_model import ContextModel, code_length
from tfrnn.metrics import MS_SSIM_MIN_SIDE
from tfrnn.model import RecurrentCodec

LEARNING_RATE = 0.1
RATE_WEIGHT = 5.0
ADAM_BETAS = (0.9, 0.999)


def _sign(z):
    return tf.where(z >= 0, 1.0, -1.0)


@dataclass
class SearchResult:
    """The codes kept [T, h, w, bits] (±1) and, per iteration, L_t of the encoder's proposal
    and of the codes kept."""

    codes: np.ndarray
    proposal_loss: list[float]
    loss: list[float]


class CodeSearch:
    """Searches the codes of one image at a time for `model` (and its `context_model`)."""

    def __init__(self, model: RecurrentCodec, context_model: ContextModel | None,
                 learning_rate: float = LEARNING_RATE, rate_weight: float = RATE_WEIGHT):
        self.model = model
        self.context_model = context_model
        self.learning_rate = learning_rate
        self.rate_weight = rate_weight
        self._propose = tf.function(model.propose, reduce_retracing=True)
        self._decode_step = tf.function(model.decode_step, reduce_retracing=True)
        self._evaluate = tf.function(self._losses, reduce_retracing=True)
        self._score = tf.function(self._terms, reduce_retracing=True)

    def _distortion(self, reconstruction, original, height, width, multiscale: bool):
        pixels = tf.clip_by_value((reconstruction[:, :height, :width] + 0.5) * 255.0, 0.0, 255.0)
        ssim = tf.image.ssim_multiscale if multiscale else tf.image.ssim
        return 1.0 - tf.reduce_mean(ssim(pixels, original, 255.0))

    def _terms(self, z, x, original, height, width, reconstruction, gain, enc_states,
               dec_states, prior, multiscale: bool, steps: int, next_steps: int):
        """D(x̂_t) + D(x̂_{t+1}), D(x̂_t), D(x̂_{t+1}) and R_t (0 without `prior`, the context
        model's features for iteration t) of the codes sign(z); `steps`, `next_steps`: the
        extra network steps of iterations t and t + 1."""
        model = self.model
        bits = z + tf.stop_gradient(_sign(z) - z)
        now, states = model.decode_step(bits, reconstruction, dec_states, gain, steps)
        features, next_gain, _ = model.propose(x, now, enc_states, next_steps)
        latent = model.binarizer.latent(features)
        proposal = latent + tf.stop_gradient(_sign(latent) - latent)
        following, _ = model.decode_step(proposal, now, states, next_gain, next_steps)
        d_now = self._distortion(now, original, height, width, multiscale)
        d_next = self._distortion(following, original, height, width, multiscale)
        rate = tf.zeros(())
        if prior is not None:
            logits = self.context_model.iteration_logits(prior, bits)
            rate = tf.reduce_sum(code_length(bits, logits)) / tf.cast(height * width, tf.float32)
        return d_now + d_next, d_now, d_next, rate

    def _losses(self, z, *inputs):
        """`_terms` and the gradients with respect to z of the distortion and of R_t."""
        prior = inputs[-4]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(z)
            distortion, d_now, d_next, rate = self._terms(z, *inputs)
        grad_d = tape.gradient(distortion, z)
        grad_r = tape.gradient(rate, z) if prior is not None else tf.zeros_like(z)
        return distortion, d_now, d_next, rate, grad_d, grad_r

    def search(self, image: np.ndarray, iterations: int, steps: int,
               rate: bool = True) -> SearchResult:
        """The codes of `iterations` iterations for a uint8 [H, W, 3] image; without `rate`
        (a raw file) or a context model, the search minimizes distortion only."""
        model = self.model
        context = self.context_model if rate else None
        height, width = image.shape[:2]
        multiscale = min(height, width) >= MS_SSIM_MIN_SIDE
        original = tf.constant(image[None], tf.float32)
        x = model.pad(model.to_model_space(image[None]))
        reconstruction, enc_states, dec_states = model.initial_state(x)
        size = (tf.constant(height), tf.constant(width))
        memory = None
        if context is not None:
            memory = context.initial_memory(1, x.shape[1] // model.stride,
                                            x.shape[2] // model.stride)
        codes, proposal_losses, losses = [], [], []
        for t in range(iterations):
            extra = model.extra_steps(t)
            features, gain, enc_states = self._propose(x, reconstruction, enc_states, extra)
            z = model.binarizer.latent(features).numpy()
            prior = None
            if context is not None:
                if t:
                    memory = context.advance(memory, tf.constant(codes[-1]))
                prior = context.features(memory)
            bits, proposal_loss, loss = self._search_iteration(
                z, steps, (x, original, *size, reconstruction, gain, enc_states, dec_states,
                           prior, multiscale, extra, model.extra_steps(t + 1)))
            codes.append(bits)
            proposal_losses.append(proposal_loss)
            losses.append(loss)
            reconstruction, dec_states = self._decode_step(tf.constant(bits), reconstruction,
                                                           dec_states, gain, extra)
        return SearchResult(np.stack(codes)[:, 0], proposal_losses, losses)

    def _search_iteration(self, z: np.ndarray, steps: int, inputs: tuple,
                          ) -> tuple[np.ndarray, float, float]:
        """The best sign(z) found by `steps` Adam steps on L_t from the proposal z, the
        proposal's L_t and the best L_t."""
        b1, b2 = ADAM_BETAS
        m = np.zeros_like(z)
        v = np.zeros_like(z)
        best, best_loss, lam = None, math.inf, 0.0
        for i in range(steps + 1):
            last = i == steps  # its gradients would never be used: evaluate the loss only
            values = [t.numpy() for t in (self._score if last else self._evaluate)(
                tf.constant(z), *inputs)]
            distortion, d_now, d_next, rate = values[:4]
            if i == 0 and rate > 0:
                lam = self.rate_weight * max(float(d_now - d_next), 0.0) / float(rate)
            loss = float(distortion + lam * rate)
            if i == 0:
                proposal_loss = loss
            if loss < best_loss:
                best, best_loss = np.where(z >= 0, 1.0, -1.0).astype(np.float32), loss
            if last:
                break
            grad_d, grad_r = values[4:]
            g = grad_d + lam * grad_r
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            step = (m / (1 - b1 ** (i + 1))) / (np.sqrt(v / (1 - b2 ** (i + 1))) + 1e-8)
            z = np.clip(z - self.learning_rate * step, -1.0, 1.0)
        return best, proposal_loss, best_loss
