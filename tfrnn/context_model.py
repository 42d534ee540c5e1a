"""Context (entropy) models: P(bit = +1) for every code bit (Toderici et al. 2017, §3.4).

Codes are the codec's ±1 bits, `[T, B, h, w, bits]`. Every model predicts the bits of iteration
t from two contexts:

- **across iterations**: a memory carried over the iterations, a convolutional GRU whose input
  at iteration t is the code of iteration t−1 (zeros at t = 0), as in the paper's progressive
  entropy coder; a 3×3 convolution of the memory gives the prior features F_t;
- **within the iteration**, one of two kinds:
  - `"raster"`: the paper's BinaryRNN reading. A 7×7 convolution masked so that position
    (i, j) sees only positions before it in raster order (PixelCNN mask A: the three rows above
    and the three positions to the left) and a GRU running along each row from left to right
    (reset at every row) over [F, masked conv]. Decoding is sequential: one network step per
    position.
  - `"checkerboard"`: 2·G parallel passes. The anchors ((i + j) even) come first, then the
    other positions; within each, the channels in G groups (`groups`, default 8, i.e. 4 bits
    per group). Pass s predicts its bits from F and a 5×5 convolution of all bits of earlier
    passes (zeros elsewhere); pass 0 from F alone. An iteration decodes in 2·G network
    evaluations. Channel groups matter: on codes of a partly trained cpu-lstm-additive codec
    (200 fitting steps, 4 Kodak images), G = 1, 2, 4, 8 gave 0.485, 0.424, 0.383, 0.358 bits
    per bit, the raster model 0.466 (measured once, not kept:
    bench/results/entropy/README.md).

The raster model predicts all bits of one position together (independently given the context).
Each kind is its own class (`CheckerboardContextModel`, `RasterContextModel`) behind one
interface: `logits(codes)` / `probabilities(codes)` compute every probability at once from the
true codes (teacher forcing) with standard TensorFlow ops only, for training and for serving;
`cross_entropy_bits(codes)` is the training loss. Each kind's coder (`tfrnn.range_coding`:
`CheckerboardCoder`, `RasterCoder`, made by `entropy_coder(model)`) gives it `encode` and
`decode`, driving the same layers one pass (checkerboard) or one position (raster) at a time;
the coders hold the range coder's custom ops, which the served SavedModels must not contain.
What each kind computes from its layers lives in `CheckerboardNetwork` / `RasterNetwork`, shared
with the integer models of `tfrnn.integer_context` (the same network in integer arithmetic).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from tfrnn.cells import ConvGRUCell

DEFAULT_KIND = "checkerboard"
RASTER_KERNEL = 7
PASS_KERNEL = 5
DEFAULT_GROUPS = 8


def pass_masks(height, width, bits: int, groups: int) -> list:
    """The checkerboard passes' bits: boolean [height, width, bits] each, in coding order
    (anchors then the other positions; channel groups in order within each)."""
    i = tf.range(height)[:, None, None]
    j = tf.range(width)[None, :, None]
    channel = tf.range(bits)[None, None, :]
    group = channel * groups // bits
    masks = []
    for parity in (0, 1):
        for g in range(groups):
            masks.append(tf.logical_and(tf.equal((i + j) % 2, parity), tf.equal(group, g)))
    return masks


def code_length(codes, logits):
    """−log2 P(actual bit) of ±1 `codes` under `logits` of P(bit = +1), per bit."""
    return tf.nn.softplus(-codes * logits) / math.log(2.0)


def causal_mask(kernel: int, channels_in: int, channels_out: int) -> np.ndarray:
    """PixelCNN mask A for a kernel×kernel convolution: 1 strictly before the centre in raster
    order (rows above, then the left part of the centre row), 0 at and after it."""
    mask = np.zeros((kernel, kernel, channels_in, channels_out), np.float32)
    c = kernel // 2
    mask[:c] = 1.0
    mask[c, :c] = 1.0
    return mask


@keras.saving.register_keras_serializable(package="tfrnn")
class MaskedConv2D(keras.layers.Layer):
    """A 'same' convolution whose kernel is multiplied by `causal_mask` (raster-scan causal)."""

    def __init__(self, filters: int, kernel_size: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.kernel_size
        self.kernel = self.add_weight(shape=(k, k, channels, self.filters),
                                      initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")
        self.mask = tf.constant(causal_mask(k, channels, self.filters))
        self.built = True

    def masked_kernel(self):
        return self.kernel * self.mask

    def call(self, inputs):
        return tf.nn.conv2d(inputs, self.masked_kernel(), 1, "SAME") + self.bias

    def at(self, window):
        """The output at one position from its causal window [1, k//2 + 1, k, channels]
        (rows above and the centre row; the masked-out entries must be zero)."""
        rows = self.kernel_size // 2 + 1
        kernel = tf.reshape(self.masked_kernel()[:rows], (-1, self.filters))
        return tf.matmul(tf.reshape(window, (1, -1)), kernel) + self.bias

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size)
        return config


def _conv(filters: int, kernel: int, name: str, activation=None) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(filters, kernel, padding="same", activation=activation, name=name)


class ContextNetwork:
    """What a context model computes from its layers, whatever their arithmetic: shared by the
    float models here and the integer models (`tfrnn.integer_context`), whose layers have the
    same names and calls (`memory(codes, (state,)) -> (state, (state,))`, `prior(memory)`, ...).
    """

    bits: int
    filters: int

    def advance(self, memory, previous_codes):
        """The memory for iteration t from the memory of t−1 and the codes of t−1."""
        return self.memory(previous_codes, (memory,))[0]

    def features(self, memory):
        """Prior features F_t [B, h, w, filters] from the memory of iteration t."""
        return self.prior(memory)

    def teacher_forced_logits(self, codes):
        """Logits [T, B, h, w, bits] of every bit given the true codes [T, B, h, w, bits] (±1):
        the memory scanned over the iterations, then each iteration's `iteration_logits`."""
        shape = tf.shape(codes)
        previous = tf.concat([tf.zeros_like(codes[:1]), codes[:-1]], axis=0)
        start = self.initial_memory(shape[1], shape[2], shape[3])
        memories = tf.scan(self.advance, previous, initializer=start)
        features = self.features(tf.reshape(memories, tf.concat(
            [[-1], tf.shape(memories)[2:]], axis=0)))
        flat = tf.reshape(codes, tf.concat([[-1], shape[2:]], axis=0))
        return tf.reshape(self.iteration_logits(features, flat), shape)

    def iteration_logits(self, features, codes):
        """Teacher-forced logits for one iteration's codes [N, h, w, bits] (±1) from its prior
        features F [N, h, w, filters]."""
        raise NotImplementedError


class CheckerboardNetwork(ContextNetwork):
    """The checkerboard kind's passes (module docstring)."""

    groups: int

    def pass_logits(self, step: int, features, known):
        """Pass `step`: logits at every bit (only the pass's own are used) from F and `known`,
        the codes of the earlier passes with zeros elsewhere."""
        x = features
        if step:
            x = tf.concat([features, self.pass_context[step - 1](known)], axis=-1)
        return self.pass_out[step](self.pass_hidden[step](x))

    def iteration_logits(self, features, codes):
        shape = tf.shape(codes)
        known = tf.zeros_like(codes)
        logits = None
        for step, mask in enumerate(pass_masks(shape[1], shape[2], self.bits, self.groups)):
            out = self.pass_logits(step, features, known)  # the passes partition the bits
            logits = out if logits is None else tf.where(mask, out, logits)
            known = tf.where(mask, codes, known)
        return logits


class RasterNetwork(ContextNetwork):
    """The raster kind's causal convolution and row GRU (module docstring)."""

    def row_input(self, features, causal):
        return tf.concat([features, causal], axis=-1)

    def row_step(self, row_input, state):
        """One step of the row GRU on [N, h, 1, 2·filters]: (logits [N, h, 1, bits], state)."""
        state = self.row(row_input, (state,))[0]
        return self.row_out(state), state

    def logits_at(self, features, window, state):
        """Sequential step at one position: F there [1, 1, 1, filters], its causal window of
        codes [1, 4, 7, bits] and the row state [1, 1, 1, filters] -> (logits, state)."""
        causal = tf.reshape(self.causal.at(window), (1, 1, 1, self.filters))
        return self.row_step(self.row_input(features, causal), state)

    def iteration_logits(self, features, codes):
        """Teacher-forced raster logits for [N, h, w, ·]: the row GRU scanned over columns."""
        x = self.row_input(features, self.causal(codes))
        columns = tf.transpose(x, (2, 0, 1, 3))[:, :, :, None, :]  # [w, N, h, 1, C]
        shape = tf.shape(x)
        state = tf.zeros((shape[0], shape[1], 1, self.filters), x.dtype)
        zeros = tf.zeros((shape[0], shape[1], 1, self.bits), x.dtype)

        def step(carry, column):
            return self.row_step(column, carry[1])

        logits, _ = tf.scan(step, columns, initializer=(zeros, state))
        return tf.transpose(logits[:, :, :, 0, :], (1, 2, 0, 3))


@keras.saving.register_keras_serializable(package="tfrnn")
class ContextModel(ContextNetwork, keras.Model):
    """P(bit = +1) of every code bit: the memory across iterations, shared by both kinds; each
    kind (`CheckerboardContextModel`, `RasterContextModel`) adds its context within an
    iteration (`iteration_logits`). Build one with `make_context_model(kind, ...)`.

    Args:
        bits: code channels per position (the codec's `bits`).
        filters: width of the prior features and the within-iteration context.
        memory_units: channels of the across-iteration GRU memory.

    `ContextModel.from_config` builds the subclass a config's `kind` names, so model.json files
    written before the kinds had their own classes load unchanged.
    """

    kind = ""

    def __init__(self, bits: int = 32, filters: int = 64, memory_units: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.bits, self.filters, self.memory_units = int(bits), int(filters), int(memory_units)
        self.memory = ConvGRUCell(self.memory_units, kernel_size=3, hidden_kernel_size=3,
                                  name="memory")
        self.prior = _conv(self.filters, 3, "prior", "relu")
        self.memory.build((None, None, None, self.bits))
        self.prior.build((None, None, None, self.memory_units))

    # -- across iterations ----------------------------------------------------------------------

    def initial_memory(self, batch, height, width):
        """The memory before iteration 0: zeros [batch, height, width, memory_units]."""
        return tf.zeros((batch, height, width, self.memory_units), self.compute_dtype)

    # -- teacher-forced, all at once ------------------------------------------------------------

    def call(self, codes):
        """Logits of P(bit = +1) [T, B, h, w, bits] for codes [T, B, h, w, bits] in ±1."""
        return self.teacher_forced_logits(tf.convert_to_tensor(codes, self.compute_dtype))

    def logits(self, codes):
        """Logits of P(bit = +1) [T, B, h, w, bits] (the same as calling the model)."""
        return self(codes)

    def probabilities(self, codes):
        """P(bit = +1) [T, B, h, w, bits] given the codes before each bit (teacher forcing)."""
        return tf.sigmoid(self(codes))

    def bits_per_code(self, codes):
        """−log2 P(actual bit) for every bit, [T, B, h, w, bits]."""
        codes = tf.convert_to_tensor(codes, self.compute_dtype)
        return code_length(codes, self(codes))

    def cross_entropy_bits(self, codes):
        """The training loss: mean bits per code bit (1.0 = no saving over raw bits)."""
        return tf.reduce_mean(self.bits_per_code(codes))

    def get_config(self):
        return {"kind": self.kind, "bits": self.bits, "filters": self.filters,
                "memory_units": self.memory_units, "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        kind = config.pop("kind", DEFAULT_KIND)
        if cls is ContextModel:
            return make_context_model(kind, **config)
        return cls(**config)


@keras.saving.register_keras_serializable(package="tfrnn")
class CheckerboardContextModel(CheckerboardNetwork, ContextModel):
    """The checkerboard kind: 2·`groups` parallel passes per iteration (module docstring)."""

    kind = "checkerboard"

    def __init__(self, bits: int = 32, filters: int = 64, memory_units: int = 64,
                 groups: int = DEFAULT_GROUPS, **kwargs):
        super().__init__(bits, filters, memory_units, **kwargs)
        if not 1 <= int(groups) <= self.bits:
            raise ValueError(f"groups must be 1 to {self.bits}, not {groups}")
        self.groups = int(groups)
        f = self.filters
        self.passes = 2 * self.groups
        self.pass_context = [_conv(f, PASS_KERNEL, f"pass{s}_context", "relu")
                             for s in range(1, self.passes)]
        self.pass_hidden = [_conv(f, 1, f"pass{s}_hidden", "relu") for s in range(self.passes)]
        self.pass_out = [_conv(self.bits, 1, f"pass{s}_out") for s in range(self.passes)]
        for s in range(self.passes):
            if s:
                self.pass_context[s - 1].build((None, None, None, self.bits))
            self.pass_hidden[s].build((None, None, None, 2 * f if s else f))
            self.pass_out[s].build((None, None, None, f))
        self.built = True

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="tfrnn")
class RasterContextModel(RasterNetwork, ContextModel):
    """The raster kind (BinaryRNN reading): a causal 7×7 convolution and a GRU along each row;
    all bits of a position at once, one position after another (module docstring).

    `groups` is accepted and ignored: configs written before the kinds had their own classes
    carry it for both kinds.
    """

    kind = "raster"

    def __init__(self, bits: int = 32, filters: int = 64, memory_units: int = 64,
                 groups: int | None = None, **kwargs):
        super().__init__(bits, filters, memory_units, **kwargs)
        f = self.filters
        self.causal = MaskedConv2D(f, RASTER_KERNEL, name="causal")
        # A GRU along the row: 1×1 convolutions on [N, h, 1, C] act per position.
        self.row = ConvGRUCell(f, kernel_size=1, hidden_kernel_size=1, name="row")
        self.row_out = _conv(self.bits, 1, "row_out")
        self.causal.build((None, None, None, self.bits))
        self.row.build((None, None, None, 2 * f))
        self.row_out.build((None, None, None, f))
        self.built = True


CONTEXT_MODELS: dict[str, type[ContextModel]] = {
    "checkerboard": CheckerboardContextModel, "raster": RasterContextModel}
KINDS = tuple(CONTEXT_MODELS)


def make_context_model(kind: str = DEFAULT_KIND, **kwargs) -> ContextModel:
    """A new context model of `kind` ("checkerboard" or "raster"); kwargs go to its class."""
    if kind not in CONTEXT_MODELS:
        raise ValueError(f"unknown context model kind {kind!r}; choose from {KINDS}")
    return CONTEXT_MODELS[kind](**kwargs)

