"""Fit a context model on a few images held in memory, with the trainer's own step.

`tfrnn train --stage context` trains context models on TFRecord tiles; tests and
`tfrnn bench entropy --fit-steps` have a handful of images instead. Both use `TrainStep` in its
"context" stage (the codec frozen, the loss the context model's cross-entropy in bits per code
bit, Toderici et al. 2017 §3.4): only the source of the batches differs, random crops here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfrnn.context_model import DEFAULT_GROUPS, DEFAULT_KIND, ContextModel, make_context_model
from tfrnn.model import RecurrentCodec
from tfrnn.training.distribute import Cluster
from tfrnn.training.step import TrainStep


def fit_context_model(codec: RecurrentCodec, images: Sequence[np.ndarray], steps: int, *,
                      kind: str = DEFAULT_KIND, groups: int = DEFAULT_GROUPS,
                      context_model: ContextModel | None = None, iterations: int | None = None,
                      batch_size: int = 8, crop: int = 128, learning_rate: float = 1e-3,
                      seed: int = 0, log_every: int = 0,
                      ) -> tuple[ContextModel, dict[str, list[float]]]:
    """Train `context_model` (or a new one of `kind`) on the codes of the frozen `codec`.

    Every step codes `batch_size` random crop×crop windows of the images (uint8 [H, W, 3], any
    size; `crop` shrinks to the smallest image, in multiples of the codec's stride) with
    `iterations` (default: the codec's training iterations). Returns the model and
    {"step", "bits", "seconds"}: the loss every `log_every` steps and at the last step.
    """
    iterations = int(iterations or codec.codec_config.iterations)
    model = context_model or make_context_model(kind, bits=codec.codec_config.bits,
                                                groups=groups)
    arrays = [np.asarray(image, np.uint8) for image in images]
    crop = min([crop] + [min(a.shape[:2]) for a in arrays]) // codec.stride * codec.stride
    if crop < codec.stride:
        raise ValueError(f"images smaller than the codec's stride {codec.stride}")
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(model.trainable_variables)
    step = TrainStep(Cluster(tf.distribute.get_strategy(), "default"), codec, model, "context",
                     optimizer, iterations)
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"step": [], "bits": [], "seconds": []}
    start = time.perf_counter()
    for i in range(1, steps + 1):
        windows = []
        for k in rng.integers(len(arrays), size=batch_size):
            a = arrays[k]
            y, x = rng.integers(a.shape[0] - crop + 1), rng.integers(a.shape[1] - crop + 1)
            windows.append(a[y:y + crop, x:x + crop])
        bits = float(step(tf.constant(np.stack(windows)))["bits"])
        if i == steps or (log_every and i % log_every == 0):
            history["step"].append(i)
            history["bits"].append(bits)
            history["seconds"].append(time.perf_counter() - start)
    return model, history
