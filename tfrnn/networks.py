"""Encoder E, decoder D and the residual-scaling gain estimator (Toderici 2017, §2-3).

Both networks are recurrent: `call(x, states) -> (y, new_states)`, with the states carried
across iterations by the codec's loop. Layer sizes come from a `CodecConfig` (see configs.py,
which follows the reference layer table of DESIGN.md).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from tfrnn.cells import CELLS
from tfrnn.configs import FEED_FORWARD, CellSpec, CodecConfig
from tfrnn.feedforward import FeedForwardDecoder, FeedForwardEncoder


def _make_cell(cell_type: str, spec: CellSpec, name: str):
    return CELLS[cell_type](spec.units, kernel_size=spec.kernel, strides=spec.stride,
                            hidden_kernel_size=spec.hidden_kernel, transpose=spec.transpose,
                            name=name)


def _specs(specs) -> tuple[CellSpec, ...]:
    return tuple(s if isinstance(s, CellSpec) else CellSpec(**s) for s in specs)


class _RecurrentStack(keras.layers.Layer):
    """Common parts of E and D: the cell list, its states and the config round trip."""

    def __init__(self, cell: str, specs, **kwargs):
        super().__init__(**kwargs)
        self.cell_type = cell
        self.specs = _specs(specs)
        self.cells = [_make_cell(cell, s, f"rnn{i + 1}") for i, s in enumerate(self.specs)]

    def _initial_states(self, batch, height, width) -> tuple:
        states = []
        for spec, cell in zip(self.specs, self.cells, strict=True):
            states.append(cell.initial_state(batch, height, width))
            height, width = cell.output_size(height, width)
            height, width = height * spec.depth_to_space, width * spec.depth_to_space
        return tuple(states)

    def _run_cells(self, x, states):
        new_states = []
        for spec, cell, state in zip(self.specs, self.cells, states, strict=True):
            x, state = cell(x, state)
            if spec.depth_to_space > 1:
                x = tf.nn.depth_to_space(x, spec.depth_to_space)
            new_states.append(state)
        return x, tuple(new_states)

    def get_config(self):
        config = super().get_config()
        config.update(cell=self.cell_type, specs=[vars(s).copy() for s in self.specs])
        return config


@keras.saving.register_keras_serializable(package="tfrnn")
class Encoder(_RecurrentStack):
    """E: (space-to-depth block), a strided stem convolution, then strided recurrent cells."""

    def __init__(self, cell: str, specs, stem_filters: int = 64, stem_kernel: int = 3,
                 stem_stride: int = 2, block: int = 1, **kwargs):
        super().__init__(cell, specs, **kwargs)
        self.stem_filters, self.stem_kernel = int(stem_filters), int(stem_kernel)
        self.stem_stride, self.block = int(stem_stride), int(block)
        self.stem = keras.layers.Conv2D(self.stem_filters, self.stem_kernel,
                                        strides=self.stem_stride, padding="same", name="stem")

    def build(self, input_shape):
        shape = (None, None, None, input_shape[-1] * self.block * self.block)
        self.stem.build(shape)
        shape = (None, None, None, self.stem_filters)
        for spec, cell in zip(self.specs, self.cells, strict=True):
            cell.build(shape)
            shape = (None, None, None, spec.units)
        self.built = True

    def initial_states(self, images) -> tuple:
        """Zero states for padded model-space images [B, H, W, 3]."""
        shape = ops.shape(images)
        f = self.block * self.stem_stride
        return self._initial_states(shape[0], shape[1] // f, shape[2] // f)

    def call(self, x, states):
        if self.block > 1:
            x = tf.nn.space_to_depth(x, self.block)
        return self._run_cells(self.stem(x), states)

    def get_config(self):
        config = super().get_config()
        config.update(stem_filters=self.stem_filters, stem_kernel=self.stem_kernel,
                      stem_stride=self.stem_stride, block=self.block)
        return config


@keras.saving.register_keras_serializable(package="tfrnn")
class Decoder(_RecurrentStack):
    """D: a 1×1 convolution of the bits, recurrent cells with depth-to-space upsampling, then a
    1×1 convolution to RGB and tanh scaled to the model's pixel range [−0.5, 0.5]."""

    def __init__(self, cell: str, specs, filters: int = 512, block: int = 1, **kwargs):
        super().__init__(cell, specs, **kwargs)
        self.filters, self.block = int(filters), int(block)
        self.stem = keras.layers.Conv2D(self.filters, 1, name="stem")
        self.to_rgb = keras.layers.Conv2D(3 * self.block * self.block, 1, name="to_rgb")

    def build(self, input_shape):
        self.stem.build(input_shape)
        shape = (None, None, None, self.filters)
        for spec, cell in zip(self.specs, self.cells, strict=True):
            cell.build(shape)
            shape = (None, None, None, spec.units // (spec.depth_to_space ** 2))
        self.to_rgb.build(shape)
        self.built = True

    def initial_states(self, codes) -> tuple:
        """Zero states for one iteration's codes [B, h, w, bits]."""
        shape = ops.shape(codes)
        return self._initial_states(shape[0], shape[1], shape[2])

    def call(self, bits, states):
        x, states = self._run_cells(self.stem(bits), states)
        x = 0.5 * ops.tanh(self.to_rgb(x))
        if self.block > 1:
            x = tf.nn.depth_to_space(x, self.block)
        return x, states

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, block=self.block)
        return config


@keras.saving.register_keras_serializable(package="tfrnn")
class GainEstimator(keras.layers.Layer):
    """Residual-scaling gain g = ELU(f(x̂)) + 2 ≥ 1 from the reconstruction so far (2017 §2.2).

    f: five 3×3 stride-2 convolutions with ELU (the last one to a single channel), so one gain
    per 32×32 block, upsampled (nearest) to the image. The decoder sees x̂ too, so it computes
    the same gain. (One public reading of the paper: DESIGN.md marks it *check*.)
    """

    def __init__(self, filters: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.convs = [keras.layers.Conv2D(self.filters if i < 4 else 1, 3, strides=2,
                                          padding="same", name=f"conv{i + 1}")
                      for i in range(5)]

    def build(self, input_shape):
        shape = input_shape
        for conv in self.convs:
            conv.build(shape)
            shape = (None, None, None, conv.filters)
        self.built = True

    def call(self, reconstruction):
        x = reconstruction
        for conv in self.convs[:-1]:
            x = ops.elu(conv(x))
        gain = ops.elu(self.convs[-1](x)) + 2.0
        shape = ops.shape(reconstruction)
        gain = ops.repeat(ops.repeat(gain, 32, axis=1), 32, axis=2)
        return gain[:, : shape[1], : shape[2], :]

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters)
        return config


def build_networks(config: CodecConfig):
    """(encoder, decoder, gain estimator or None) for a configuration; a `feed-forward` one
    gets the staged networks of `tfrnn.feedforward`, one stage per iteration."""
    if config.cell == FEED_FORWARD:
        return (FeedForwardEncoder(config.encoder, config.iterations, config.stem_filters,
                                   config.stem_kernel, config.stem_stride, config.block,
                                   name="encoder"),
                FeedForwardDecoder(config.decoder, config.iterations, config.decoder_filters,
                                   config.block, name="decoder"),
                None)
    encoder = Encoder(config.cell, config.encoder, config.stem_filters, config.stem_kernel,
                      config.stem_stride, config.block, name="encoder")
    decoder = Decoder(config.cell, config.decoder, config.decoder_filters, config.block,
                      name="decoder")
    gain = (GainEstimator(config.gain_filters, name="gain")
            if config.framework == "residual-scaling" else None)
    return encoder, decoder, gain
