"""Size and cost of a configuration: weights, forward FLOPs per 32×32 tile per iteration."""

from __future__ import annotations

import tensorflow as tf

from tfrnn.configs import CodecConfig
from tfrnn.model import RecurrentCodec


def step_flops(codec: RecurrentCodec, height: int = 32, width: int = 32, t: int = 1) -> int:
    """Forward FLOPs of inference iteration t (0-based; by default the second, which runs the
    diffusion steps if there are any) — encoder, binarizer, decoder, gain — for one image of
    `height` × `width`, counted by TensorFlow's profiler on the traced graph (a multiply-add
    counts as 2 FLOPs; element-wise ops are counted where TF registers them)."""
    x = tf.zeros((1, height, width, 3))

    @tf.function
    def one_step(x):
        recon, enc, dec = codec.initial_state(x)
        return codec.step(x, recon, enc, dec, training=False, steps=codec.extra_steps(t))

    graph = one_step.get_concrete_function(x).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph, options=opts).total_float_ops)


def model_stats(config: CodecConfig) -> dict:
    """{'weights': count, 'gflop_per_tile_iteration': forward GFLOP for a 32×32 tile}."""
    codec = RecurrentCodec(config)
    return {"weights": int(codec.count_params()),
            "gflop_per_tile_iteration": step_flops(codec) / 1e9}
