"""Convolutional recurrent cells (Toderici et al. 2017, §3.1-3.2).

Every cell computes its gates from a convolution of the input (own kernel and stride; a
transposed convolution for the 2016 deconvolutional decoder) plus a convolution of the hidden
state (own, usually smaller, kernel, stride 1). Cells accept any spatial size: the state has
spatial size ceil(input / stride) (or input * stride when transposed).

Each cell is a Keras layer with `call(inputs, states) -> (output, new_states)` and
`initial_state(batch, height, width)`; the codec's iteration loop carries the states
across iterations.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

ConvState = tuple


class ConvRNNCell(keras.layers.Layer):
    """Shared parts: the input convolution, the hidden convolution and the state shapes.

    Args:
        units: channels of the hidden state.
        kernel_size: input-convolution kernel.
        strides: input-convolution stride (downsampling; upsampling when `transpose`).
        hidden_kernel_size: hidden-convolution kernel (stride 1).
        transpose: use a transposed input convolution (the 2016 deconv LSTM decoder).
    """

    gates: int = 1
    state_count: int = 1

    def __init__(self, units: int, kernel_size: int = 3, strides: int = 1,
                 hidden_kernel_size: int = 1, transpose: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.hidden_kernel_size = int(hidden_kernel_size)
        self.transpose = bool(transpose)
        conv = keras.layers.Conv2DTranspose if self.transpose else keras.layers.Conv2D
        self.input_conv = conv(self.input_channels(), self.kernel_size, strides=self.strides,
                               padding="same", use_bias=True, name="input_conv",
                               bias_initializer=self.bias_initializer())
        self.hidden_conv = keras.layers.Conv2D(self.hidden_channels(), self.hidden_kernel_size,
                                               padding="same", use_bias=False,
                                               name="hidden_conv")

    def input_channels(self) -> int:
        return self.gates * self.units

    def hidden_channels(self) -> int:
        return self.gates * self.units

    def bias_initializer(self):
        return "zeros"

    def build(self, input_shape):
        self.input_conv.build(input_shape)
        self.hidden_conv.build((None, None, None, self.units))
        self.built = True

    def output_size(self, height, width):
        """Spatial size of the state (and output) for an input of `height` × `width`."""
        if self.transpose:
            return height * self.strides, width * self.strides
        s = self.strides
        return (height + s - 1) // s, (width + s - 1) // s

    def initial_state(self, batch, height, width) -> ConvState:
        """Zero states for an input of spatial size `height` × `width`."""
        h, w = self.output_size(height, width)
        zeros = ops.zeros((batch, h, w, self.units), dtype=self.compute_dtype)
        return tuple(zeros for _ in range(self.state_count))

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, kernel_size=self.kernel_size, strides=self.strides,
                      hidden_kernel_size=self.hidden_kernel_size, transpose=self.transpose)
        return config


@keras.saving.register_keras_serializable(package="tfrnn")
class ConvLSTMCell(ConvRNNCell):
    """Convolutional LSTM; state (h, c). The forget-gate bias starts at 1."""

    gates = 4
    state_count = 2

    def bias_initializer(self):
        units = self.units

        def init(shape, dtype=None):
            return ops.concatenate([ops.zeros((units,), dtype), ops.ones((units,), dtype),
                                    ops.zeros((2 * units,), dtype)])

        return init

    def memory_output(self, c):
        """What the output gate lets out of the memory c: tanh(c)."""
        return ops.tanh(c)

    def call(self, inputs, states):
        h, c = states
        z = self.input_conv(inputs) + self.hidden_conv(h)
        i, f, o, g = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * self.memory_output(c)
        return h, (h, c)


@keras.saving.register_keras_serializable(package="tfrnn")
class NormalizedMemoryLSTMCell(ConvLSTMCell):
    """Convolutional LSTM whose memory is normalized before the output's tanh:
    h = o · tanh((c − mean c) / std c), mean and std over the channels at each position (the
    layer-normalized LSTM of Ba et al. 2016, arXiv 1607.06450, §3.1, applied to c only and
    without its learned gain and bias, so the weights are exactly those of `ConvLSTMCell`).
    c itself is carried unnormalized. Against the late-iteration plateau, where LSTM memories
    saturate (`bench/results/iteration-stats/`)."""

    epsilon = 1e-5

    def memory_output(self, c):
        mean = ops.mean(c, axis=-1, keepdims=True)
        variance = ops.var(c, axis=-1, keepdims=True)
        return ops.tanh((c - mean) * ops.rsqrt(variance + self.epsilon))


@keras.saving.register_keras_serializable(package="tfrnn")
class ConvGRUCell(ConvRNNCell):
    """Convolutional GRU (Cho et al. 2014); state (h,).

    z, r = σ(Wx∗x + Uh∗h); n = tanh(Wn∗x + Un∗(r⊙h)); h' = (1−z)⊙n + z⊙h.
    """

    gates = 3

    def build(self, input_shape):
        super().build(input_shape)
        self.candidate_conv = keras.layers.Conv2D(self.units, self.hidden_kernel_size,
                                                  padding="same", use_bias=False,
                                                  name="candidate_conv")
        self.candidate_conv.build((None, None, None, self.units))

    def hidden_channels(self) -> int:
        return 2 * self.units

    def gru(self, inputs, h):
        xz, xr, xn = ops.split(self.input_conv(inputs), 3, axis=-1)
        hz, hr = ops.split(self.hidden_conv(h), 2, axis=-1)
        z = ops.sigmoid(xz + hz)
        r = ops.sigmoid(xr + hr)
        n = ops.tanh(xn + self.candidate_conv(r * h))
        return (1.0 - z) * n + z * h

    def call(self, inputs, states):
        h = self.gru(inputs, states[0])
        return h, (h,)


@keras.saving.register_keras_serializable(package="tfrnn")
class ResidualGRUCell(ConvGRUCell):
    """The GRU-ResNet hybrid of Toderici 2017 §3.2: o_t = W_oh∗h_t + W_ox∗x_t.

    The state is the GRU's h_t; the output adds a learned projection of the input (same kernel
    and stride as the input convolution) to a projection of the new state.
    """

    def build(self, input_shape):
        super().build(input_shape)
        conv = keras.layers.Conv2DTranspose if self.transpose else keras.layers.Conv2D
        self.output_hidden = keras.layers.Conv2D(self.units, self.hidden_kernel_size,
                                                 padding="same", use_bias=False,
                                                 name="output_hidden")
        self.output_input = conv(self.units, self.kernel_size, strides=self.strides,
                                 padding="same", use_bias=True, name="output_input")
        self.output_hidden.build((None, None, None, self.units))
        self.output_input.build(input_shape)

    def call(self, inputs, states):
        h = self.gru(inputs, states[0])
        return self.output_hidden(h) + self.output_input(inputs), (h,)


@keras.saving.register_keras_serializable(package="tfrnn")
class AssociativeLSTMCell(ConvRNNCell):
    """Convolutional associative LSTM (Danihelka et al. 2016), used in Toderici 2017 §3.2.

    Holographic memory with complex values: `units` = 2 × complex size (real and imaginary
    halves). Gates i, f, o and the update u come from the convolutions; r_in, r_out are complex
    keys normalised to unit modulus per element. `copies` redundant memory copies use fixed
    channel permutations of the keys (seeded, so they are part of the config). State (h, c)
    with c holding all copies.
    """

    def __init__(self, units: int, copies: int = 2, **kwargs):
        if int(units) % 2:
            raise ValueError("AssociativeLSTMCell needs an even number of units")
        self.copies = int(copies)
        super().__init__(units, **kwargs)

    def input_channels(self) -> int:
        # i, f, o: units/2 real each; u, r_in, r_out: complex (units each).
        return 3 * (self.units // 2) + 3 * self.units

    def hidden_channels(self) -> int:
        return self.input_channels()

    def build(self, input_shape):
        super().build(input_shape)
        half = self.units // 2
        perms = [list(range(half))]
        rng = np.random.default_rng(1234)
        perms += [rng.permutation(half).tolist() for _ in range(self.copies - 1)]
        self._perms = perms

    def initial_state(self, batch, height, width) -> ConvState:
        h, w = self.output_size(height, width)
        return (ops.zeros((batch, h, w, self.units), dtype=self.compute_dtype),
                ops.zeros((batch, h, w, self.copies * self.units), dtype=self.compute_dtype))

    @staticmethod
    def _cmul(a, b):
        ar, ai = ops.split(a, 2, axis=-1)
        br, bi = ops.split(b, 2, axis=-1)
        return ops.concatenate([ar * br - ai * bi, ar * bi + ai * br], axis=-1)

    @staticmethod
    def _bound(z):
        zr, zi = ops.split(z, 2, axis=-1)
        modulus = ops.sqrt(zr * zr + zi * zi + 1e-12)
        d = ops.maximum(1.0, modulus)
        return ops.concatenate([zr / d, zi / d], axis=-1)

    def _permute(self, z, perm):
        zr, zi = ops.split(z, 2, axis=-1)
        return ops.concatenate([ops.take(zr, perm, axis=-1), ops.take(zi, perm, axis=-1)],
                               axis=-1)

    def call(self, inputs, states):
        h, c = states
        half = self.units // 2
        z = self.input_conv(inputs) + self.hidden_conv(h)
        i, f, o, u, r_in, r_out = ops.split(
            z, [half, 2 * half, 3 * half, 3 * half + self.units, 3 * half + 2 * self.units],
            axis=-1)
        i, f, o = ops.sigmoid(i), ops.sigmoid(f), ops.sigmoid(o)
        gi = ops.concatenate([i, i], axis=-1)
        gf = ops.concatenate([f, f], axis=-1)
        go = ops.concatenate([o, o], axis=-1)
        u = self._bound(u)
        r_in, r_out = self._bound(r_in), self._bound(r_out)
        cells = ops.split(c, self.copies, axis=-1)
        new_cells, read = [], 0.0
        for perm, cell in zip(self._perms, cells, strict=True):
            cell = gf * cell + self._cmul(self._permute(r_in, perm), gi * u)
            new_cells.append(cell)
            read = read + self._cmul(self._permute(r_out, perm), cell)
        h = go * self._bound(read / float(self.copies))
        return h, (h, ops.concatenate(new_cells, axis=-1))

    def get_config(self):
        config = super().get_config()
        config.update(copies=self.copies)
        return config


CELLS: dict[str, type[ConvRNNCell]] = {
    "lstm": ConvLSTMCell,
    "ln-lstm": NormalizedMemoryLSTMCell,
    "gru": ConvGRUCell,
    "residual-gru": ResidualGRUCell,
    "associative-lstm": AssociativeLSTMCell,
}
