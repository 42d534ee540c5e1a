"""Training objective: distortion of the residual after every iteration, summed.

Toderici 2017 §3 uses L1 on the residuals summed over iterations; the 2016 paper used L2.
`iteration_weights` (default all 1) lets a schedule weigh iterations differently.
"""

from __future__ import annotations

from collections.abc import Sequence

from keras import ops


def per_iteration_loss(target, reconstructions, kind: str = "l1"):
    """Mean |r_t| (l1) or r_t² (l2) for each iteration: shape [T]; r_t = x − x̂_t."""
    residuals = ops.expand_dims(ops.cast(target, reconstructions.dtype), 0) - reconstructions
    values = ops.abs(residuals) if kind == "l1" else ops.square(residuals)
    return ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)


def reconstruction_loss(target, reconstructions, kind: str = "l1",
                        iteration_weights: Sequence[float] | None = None):
    """Σ_t w_t · per_iteration_loss_t (the paper's loss when w_t = 1)."""
    losses = ops.cast(per_iteration_loss(target, reconstructions, kind), "float32")
    if iteration_weights is None:
        return ops.sum(losses)
    return ops.sum(losses * ops.convert_to_tensor(iteration_weights, "float32"))
