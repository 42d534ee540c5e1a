"""The training step: loss, gradients, the all-reduce across replicas, clipping and Adam.

One step of a global batch B on R replicas: every replica runs the codec on its B/R tiles and
takes the gradient of (its mean loss) / R, so that the sum over replicas is the gradient of
the mean loss over the global batch. The gradients are all-reduced once (summed, with the stop
flags in the same collective); the sum's global norm is clipped (the norm of the whole batch's
gradient, the same on every replica), and Adam applies the clipped sum as it is: the Keras
optimizer's own all-reduce is switched off (`take_summed_gradients`), so a step moves the
gradients over the network once, not twice.

Losses by stage:
- `codec`: Σ_t w_t · d(x, x̂_t), the codec unrolled over T iterations with the stochastic
  binarizer (Toderici 2017 §3) or, with `binarizer="sign"`, the sign bits it sends at
  inference (straight-through gradient either way); d is `loss` (`tfrnn.losses`: L1 for the
  2017 paper, L2 for the 2016 one, 1 − MS-SSIM, or Johnston 2018's SSIM-weighted L1).
- `context`: the entropy model's cross-entropy in bits per code bit on the codes of the frozen
  codec (`encode`, the sign binarizer: the codes an encoder really sends).
- `joint`: both at once; the codes reach the entropy model without a gradient, so the
  reconstruction objective is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from tfrnn.losses import per_iteration_loss, reconstruction_loss
from tfrnn.model import RecurrentCodec
from tfrnn.training.distribute import Cluster

SUM = tf.distribute.ReduceOp.SUM


def trainable_variables(stage: str, codec: RecurrentCodec, context_model) -> list:
    """The variables a stage updates (the codec is frozen in the `context` stage)."""
    variables = []
    if stage in ("codec", "joint"):
        variables += codec.trainable_variables
    if stage in ("context", "joint"):
        variables += context_model.trainable_variables
    return variables


def take_summed_gradients(optimizer: keras.optimizers.Optimizer) -> None:
    """Make `optimizer.apply` take gradients already summed over the replicas (in place).

    Keras 3's TensorFlow optimizer sums the gradients it gets in a replica context over the
    replicas (`_all_reduce_sum_gradients`; Keras 2's `experimental_aggregate_gradients=False`
    has no Keras 3 counterpart), so this optimizer's sum becomes the identity and the traced
    step keeps one all-reduce. `tests/test_multiworker.py` counts the collectives of the
    traced step, which catches a Keras that renames the method.
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer wraps one
    if not hasattr(inner, "_all_reduce_sum_gradients"):
        raise TypeError(f"{type(inner).__name__} does not all-reduce its gradients the way "
                        "Keras 3.6 does; see tfrnn.training.step.take_summed_gradients")
    vars(inner)["_all_reduce_sum_gradients"] = list  # an instance attribute, not tracked


class TrainStep:
    """`step(batch, stop)` -> metrics of one optimizer step on a global batch (uint8 tiles).

    Metrics (tensors): `loss`, `per_iteration` [T] (codec stages), `bits` (context stages),
    `grad_norm` (of the global-batch gradient, before clipping) and `stop` (true if any worker
    asked to stop: workers leave the loop at the same step).
    """

    def __init__(self, cluster: Cluster, codec: RecurrentCodec, context_model, stage: str,
                 optimizer: keras.optimizers.Optimizer, iterations: int,
                 iteration_weights: Sequence[float] | None = None, clip_norm: float = 0.0,
                 xla: bool = False, loss: str | None = None, binarizer: str = "stochastic"):
        self.cluster = cluster
        self.codec = codec
        self.context_model = context_model
        self.stage = stage
        self.optimizer = optimizer
        self.iterations = int(iterations)
        self.iteration_weights = (None if iteration_weights is None
                                  else [float(w) for w in iteration_weights])
        self.clip_norm = float(clip_norm)
        self.loss = loss or codec.codec_config.loss
        self.stochastic = binarizer == "stochastic"
        self.variables = trainable_variables(stage, codec, context_model)
        self.loss_scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        take_summed_gradients(optimizer)
        self._gradients = (tf.function(self._compute_gradients, jit_compile=True) if xla
                           else self._compute_gradients)
        self._step = tf.function(self._distributed_step)

    def __call__(self, batch, stop: bool = False) -> dict[str, tf.Tensor]:
        return self._step(batch, tf.constant(stop))

    def concrete_function(self, batch):
        """The traced step for batches like `batch` (for counting its FLOPs)."""
        return self._step.get_concrete_function(batch, tf.constant(False))

    def losses(self, images) -> dict[str, tf.Tensor]:
        """This replica's losses (means over its tiles), float32."""
        out = {}
        total = tf.constant(0.0)
        if self.stage in ("codec", "joint"):
            kind = self.loss
            reconstructions = self.codec(images, training=True, iterations=self.iterations,
                                         stochastic=self.stochastic)
            target = self.codec.to_model_space(images)
            out["per_iteration"] = tf.cast(
                per_iteration_loss(target, reconstructions, kind), tf.float32)
            total += reconstruction_loss(target, reconstructions, kind, self.iteration_weights)
        if self.stage in ("context", "joint"):
            codes = tf.cast(tf.stop_gradient(self.codec.encode(images, self.iterations)),
                            self.context_model.compute_dtype)
            out["bits"] = tf.cast(self.context_model.cross_entropy_bits(codes), tf.float32)
            total += out["bits"]
        out["loss"] = total
        return out

    def _compute_gradients(self, images):
        with tf.GradientTape() as tape:
            losses = self.losses(images)
            loss = losses["loss"] / self.cluster.replicas
            if self.loss_scaling:
                loss = self.optimizer.scale_loss(loss)
        grads = tape.gradient(loss, self.variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, self.variables,
                                                                     strict=True)]
        return losses, grads

    def _replica_step(self, images, stop):
        losses, grads = self._gradients(images)
        context = tf.distribute.get_replica_context()
        *total, stops = context.all_reduce(SUM, [*grads, tf.cast(stop, tf.float32)])
        norm = tf.linalg.global_norm(total)
        if self.loss_scaling:
            norm = norm / self.optimizer.dynamic_scale
        factor = tf.constant(1.0)
        if self.clip_norm > 0:
            factor = self.clip_norm / tf.maximum(norm, self.clip_norm)
        if self.loss_scaling:  # every replica sees a non-finite gradient, so all of them skip
            factor = tf.where(tf.math.is_finite(norm), factor, float("nan"))
        self.optimizer.apply([g * tf.cast(factor, g.dtype) for g in total], self.variables)
        out = {k: v / self.cluster.replicas for k, v in losses.items()}
        out["grad_norm"] = norm / self.cluster.replicas
        out["stop"] = stops / self.cluster.replicas
        return out

    def _distributed_step(self, batch, stop):
        strategy = self.cluster.strategy
        per_replica = strategy.run(self._replica_step, args=(self.cluster.split(batch), stop))
        out = {k: strategy.reduce(SUM, v, axis=None) for k, v in per_replica.items()}
        out["stop"] = out["stop"] > 0
        return out
