"""The 2016 paper's feed-forward residual autoencoder: E and D with their own weights per stage.

Toderici et al. 2016 (arXiv 1511.06085, §3 "Image compression framework" and "Feed-forward
convolutional/deconvolutional residual encoder") chain residual autoencoders F_t =
D_t(B(E_t(·))): stage t codes the residual r_{t−1} that the stages before it left, and, having
no memory, predicts that residual itself, so the reconstruction is the sum of the stages'
outputs (our `additive` framework). Each stage is its own autoencoder (no recurrence, no weight
sharing across stages: Baig et al. 2017, arXiv 1709.08855, §2, write stage s as M_s(· | Θ_s)
with its own Θ_s). It is the paper's yardstick for claim (3): the recurrent networks, one set
of weights for every iteration, are at least as efficient as purpose-trained stages.

Here E and D have the interface of the recurrent networks (`call(x, states) -> (y, states)`),
their only state being the stage index, so the codec's loop, training, files and benchmarks
serve both. Every convolution holds one kernel and bias per stage (`StagedConv2D`); the
binarizer's 1×1 projection (`tfrnn.binarizer`, bits × features weights, no bias) is the one
layer shared by the stages. Hidden layers use tanh; D ends in a 1×1 convolution to RGB with
tanh scaled to [−0.5, 0.5], as the recurrent decoder.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops

from tfrnn.configs import CellSpec


@keras.saving.register_keras_serializable(package="tfrnn")
class StagedConv2D(keras.layers.Layer):
    """A "same"-padded convolution (or transposed convolution, upsampling by `strides`) with
    one kernel and bias per stage: `call(x, stage)` applies stage `stage`'s (0-based)."""

    def __init__(self, filters: int, kernel_size: int = 3, strides: int = 1,
                 transpose: bool = False, stages: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.strides, self.transpose, self.stages = int(strides), bool(transpose), int(stages)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.kernel_size
        # Glorot-uniform within each stage (Keras's own would count the stages in the fans).
        limit = math.sqrt(6.0 / (k * k * (channels + self.filters)))
        pair = (self.filters, channels) if self.transpose else (channels, self.filters)
        self.kernel = self.add_weight(
            name="kernel", shape=(self.stages, k, k, *pair),
            initializer=keras.initializers.RandomUniform(-limit, limit))
        self.bias = self.add_weight(name="bias", shape=(self.stages, self.filters),
                                    initializer="zeros")
        self.built = True

    def call(self, x, stage):
        kernel = ops.cast(self.kernel[stage], x.dtype)
        if self.transpose:
            y = ops.conv_transpose(x, kernel, self.strides, padding="same")
        else:
            y = ops.conv(x, kernel, self.strides, padding="same")
        return y + ops.cast(self.bias[stage], x.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      transpose=self.transpose, stages=self.stages)
        return config


class _StagedStack(keras.layers.Layer):
    """Common parts of the staged E and D: the layers, the stage state, the config."""

    def __init__(self, specs, stages: int, block: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.specs = tuple(s if isinstance(s, CellSpec) else CellSpec(**s) for s in specs)
        self.stages, self.block = int(stages), int(block)

    def _staged(self, spec: CellSpec, name: str) -> StagedConv2D:
        return StagedConv2D(spec.units, spec.kernel, spec.stride, spec.transpose, self.stages,
                            name=name)

    def initial_states(self, _inputs) -> tuple:
        """The state before stage 1: stage index 0."""
        return (tf.constant(0, tf.int32),)

    def _run_layers(self, x, stage):
        for spec, layer in zip(self.specs, self.convs, strict=True):
            x = ops.tanh(layer(x, stage))
            if spec.depth_to_space > 1:
                x = tf.nn.depth_to_space(x, spec.depth_to_space)
        return x

    def _build_layers(self, channels: int) -> None:
        for spec, layer in zip(self.specs, self.convs, strict=True):
            layer.build((None, None, None, channels))
            channels = spec.units // spec.depth_to_space ** 2

    def get_config(self):
        config = super().get_config()
        config.update(specs=[vars(s).copy() for s in self.specs], stages=self.stages,
                      block=self.block)
        return config


@keras.saving.register_keras_serializable(package="tfrnn")
class FeedForwardEncoder(_StagedStack):
    """E_t: (space-to-depth block), a strided stem convolution, then strided convolutions;
    tanh after each; stage t's weights at stage t."""

    def __init__(self, specs, stages: int, stem_filters: int = 64, stem_kernel: int = 3,
                 stem_stride: int = 2, block: int = 1, **kwargs):
        super().__init__(specs, stages, block, **kwargs)
        self.stem_filters, self.stem_kernel = int(stem_filters), int(stem_kernel)
        self.stem_stride = int(stem_stride)
        self.stem = self._staged(CellSpec(self.stem_filters, self.stem_kernel,
                                          self.stem_stride), "stem")
        self.convs = [self._staged(s, f"conv{i + 1}") for i, s in enumerate(self.specs)]

    def build(self, input_shape):
        self.stem.build((None, None, None, input_shape[-1] * self.block ** 2))
        self._build_layers(self.stem_filters)
        self.built = True

    def call(self, x, states):
        (stage,) = states
        if self.block > 1:
            x = tf.nn.space_to_depth(x, self.block)
        return self._run_layers(ops.tanh(self.stem(x, stage)), stage), (stage + 1,)

    def get_config(self):
        config = super().get_config()
        config.update(stem_filters=self.stem_filters, stem_kernel=self.stem_kernel,
                      stem_stride=self.stem_stride)
        return config


@keras.saving.register_keras_serializable(package="tfrnn")
class FeedForwardDecoder(_StagedStack):
    """D_t: a 1×1 convolution of the bits, (transposed) convolutions with tanh, then a 1×1
    convolution to RGB and tanh scaled to [−0.5, 0.5]: stage t's prediction of r_{t−1}."""

    def __init__(self, specs, stages: int, filters: int = 512, block: int = 1, **kwargs):
        super().__init__(specs, stages, block, **kwargs)
        self.filters = int(filters)
        self.stem = self._staged(CellSpec(self.filters, 1), "stem")
        self.convs = [self._staged(s, f"deconv{i + 1}") for i, s in enumerate(self.specs)]
        self.to_rgb = self._staged(CellSpec(3 * self.block ** 2, 1), "to_rgb")

    def build(self, input_shape):
        self.stem.build(input_shape)
        self._build_layers(self.filters)
        last = self.specs[-1]
        self.to_rgb.build((None, None, None, last.units // last.depth_to_space ** 2))
        self.built = True

    def call(self, bits, states):
        (stage,) = states
        x = self._run_layers(ops.tanh(self.stem(bits, stage)), stage)
        x = 0.5 * ops.tanh(self.to_rgb(x, stage))
        if self.block > 1:
            x = tf.nn.depth_to_space(x, self.block)
        return x, (stage + 1,)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters)
        return config
