"""Integer context models: the trained context models converted to integer arithmetic, so that
every machine computes the same table indices bit for bit (FORMAT.md, modes 3 and 4).

A float context model's logits differ in the last bits between CPUs, math libraries and
TensorFlow builds (summation order, fused kernels), and the range coder needs identical tables
on both sides. After Ballé, Johnston & Minnen, "Integer Networks for Data Compression with
Latent-Variable Models" (ICLR 2019, https://research.google/pubs/pub48934/): integer weights
and activations, accumulation that is exact, rounding every platform does the same way, and
the nonlinearities as lookup tables. Unlike the paper (trained integer networks) this is a
**post-training conversion** of a trained `CheckerboardContextModel` / `RasterContextModel`,
computed from the float32 weights with exact operations only (frexp, ldexp, round half to
even), so every machine derives the same integers:

- **activations** are integers A = round(a · 2^F), F = `FRACTION_BITS` (12); codes stay ±1, 0;
- **weights** per output channel c: the exponent e_c = `WEIGHT_BITS` − E_c, E_c the binary
  exponent of the channel's largest |w| (frexp: max|w| = m · 2^E_c, m in [0.5, 1)), and
  W = round(w · 2^e_c), so |W| ≤ 2^15; the bias B = round(b · 2^(f_in + e_c)), f_in the input's
  fraction bits (0 for codes, F otherwise);
- every activation is an integer held in a float64 tensor. A **convolution** sums the integer
  products in float64 (`tf.nn.conv2d` / `tf.matmul`): exact in any summation order, since the
  conversion proves Σ|W|·max|input| + |B| + 2^d/2 < 2^53 for every output channel (bounds
  propagated from the codes' |1| and the tables' range; a ValueError otherwise). The sum
  S + B at scale 2^(f_in + e_c) is **requantized** to scale 2^F with rounding half up:
  ⌊((S + B)·2^u + ⌊2^d/2⌋)·2^−d⌋, where k = f_in + e_c − F, u = max(0, −k), d = max(0, k).
  Adding integers below 2^53, scaling by powers of two and floor are exact in IEEE float64
  whatever the kernel, so no rounding ever depends on the platform; ReLU is max(0, ·);
- **sigmoid and tanh** are tables over the integer pre-activation x (scale 2^F), clipped to
  [−8·2^F, 8·2^F] (sigmoid) and [−5·2^F, 5·2^F] (tanh): round(σ(x/2^F)·2^F),
  round(tanh(x/2^F)·2^F), correctly rounded (`lookup_tables`);
- the **GRU** (`tfrnn.cells.ConvGRUCell`): Z = σ[Xz + Hz], R = σ[Xr + Hr],
  N = tanh[Xn + Cand(round(R·H / 2^F))], H' = N + round(Z·(H − N) / 2^F), each round(·/2^F)
  being ⌊(· + 2^(F−1))·2^−F⌋ (exact: products below 2^26); so |H| ≤ 2^F always;
- the **logits** come out as integers at scale 2^F; `tfrnn.range_coding.integer_table_index`
  maps them to the coder's table in int64.

Every op of the integer models is pinned to the CPU (a GPU's float64 convolution may use
inexact algorithms). Each kind is its own class (`IntegerCheckerboardContextModel`,
`IntegerRasterContextModel`) with the float class's interface (`initial_memory`, `advance`,
`features`, `iteration_logits`, `logits(codes)`; the raster kind's `logits_at`), activations
float64 integers; the checkerboard kind computes each pass only where it is used, by parts
(`parity_logits`, `hidden_features`, `anchor_sums`: sums of integers split into parts stay
exact, see `IntegerCheckerboardContextModel`). `integer_context_model(float_model)` converts
one. They are plain `tf.Module`s, not Keras
layers: they hold no variables and are never trained or saved (they are derived from the
float model whenever it is loaded).
"""

from __future__ import annotations

import decimal
import functools
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfrnn.cells import ConvGRUCell
from tfrnn.context_model import (
    PASS_KERNEL,
    CheckerboardContextModel,
    CheckerboardNetwork,
    ContextModel,
    ContextNetwork,
    MaskedConv2D,
    RasterContextModel,
    RasterNetwork,
)

FRACTION_BITS = 12
ONE = 1 << FRACTION_BITS
WEIGHT_BITS = 15
SIGMOID_RANGE = 8  # the sigmoid table covers pre-activations in [-8, 8]
TANH_RANGE = 5
EXACT = 1 << 53  # float64 sums of integers below this are exact in any order
DEVICE = "/CPU:0"
ALL = slice(None)  # every channel


def _on_cpu(method):
    """Run a method's ops on the CPU (module docstring)."""

    @functools.wraps(method)
    def wrapped(*args, **kwargs):
        with tf.device(DEVICE):
            return method(*args, **kwargs)

    return wrapped


# -- tables ----------------------------------------------------------------------------------------

def _correctly_rounded(values: np.ndarray, exact) -> np.ndarray:
    """round(values) as int64, `values` approximating f(x) to within 1e-9; entries within 1e-6
    of a half-integer are recomputed with `exact(i)` (a Decimal of f at index i, 40 digits),
    so the result is the correctly rounded f whatever the platform's exp."""
    out = np.round(values)
    for i in np.flatnonzero(np.abs(values - np.floor(values) - 0.5) < 1e-6):
        out[i] = float(exact(int(i)).to_integral_value(decimal.ROUND_HALF_EVEN))
    return out.astype(np.int64)


@functools.cache
def lookup_tables() -> tuple[np.ndarray, np.ndarray]:
    """(sigmoid, tanh) int64 tables: entry i is round(f((i − R·2^F) / 2^F) · 2^F), R the
    table's range (SIGMOID_RANGE, TANH_RANGE), for i in 0 .. 2·R·2^F."""
    context = decimal.Context(prec=40)

    def x(i: int, r: int) -> decimal.Decimal:
        return context.divide(decimal.Decimal(i - r * ONE), ONE)

    def sigmoid(i: int) -> decimal.Decimal:
        e = context.exp(-x(i, SIGMOID_RANGE))
        return context.divide(ONE, context.add(1, e))

    def tanh(i: int) -> decimal.Decimal:
        e = context.exp(context.multiply(-2, x(i, TANH_RANGE)))
        return context.divide(context.multiply(ONE, context.subtract(1, e)), context.add(1, e))

    s = np.arange(-SIGMOID_RANGE * ONE, SIGMOID_RANGE * ONE + 1) / ONE
    t = np.arange(-TANH_RANGE * ONE, TANH_RANGE * ONE + 1) / ONE
    return (_correctly_rounded(ONE / (1.0 + np.exp(-s)), sigmoid),
            _correctly_rounded(ONE * np.tanh(t), tanh))


def _constant(values: np.ndarray):
    """Integers of at most 24 bits (weights, table entries) as a float32 constant: exact, and
    half the size of float64 in a traced graph or SavedModel."""
    return tf.constant(np.asarray(values, np.float32))


def _float64(values):
    """float32 integers (a numpy array or a tensor) as float64, exactly."""
    return tf.cast(_constant(values) if isinstance(values, np.ndarray) else values, tf.float64)


def _lookup(table: np.ndarray, x):
    """table[clip(x) + R·2^F] for integer pre-activations x (float64) at scale 2^F."""
    r = (len(table) - 1) // 2
    index = tf.cast(tf.clip_by_value(x, -r, r) + r, tf.int32)
    return _float64(tf.gather(_constant(table), index))


def sigmoid(x):
    return _lookup(lookup_tables()[0], x)


def tanh(x):
    return _lookup(lookup_tables()[1], x)


def round_shift(x, bits: int = FRACTION_BITS):
    """round(x / 2^bits), halves up, for integers x (float64, |x| < 2^52): ⌊(x + 2^(bits−1))
    · 2^−bits⌋, exact (a power-of-two scaling of an integer below 2^53 never rounds)."""
    return tf.floor((x + float(1 << (bits - 1))) * (0.5 ** bits))


# -- layers ----------------------------------------------------------------------------------------

class IntegerConv:
    """A 'same' convolution (or, for one position, a matmul) of an integer input with integer
    weights, requantized to scale 2^F (module docstring).

    Args:
        kernel: float32 [k, k, in, out] (masked already for a causal convolution).
        bias: float32 [out], or None.
        input_bits: fraction bits of the input (0 for codes, F for activations).
        input_bound: max |input| per input channel (integers at the input's scale), [in].
        relu: apply max(0, ·) after requantizing.
    """

    def __init__(self, kernel: np.ndarray, bias: np.ndarray | None, input_bits: int,
                 input_bound: np.ndarray, relu: bool = False):
        kernel = np.asarray(kernel, np.float64)
        out = kernel.shape[-1]
        peak = np.max(np.abs(kernel.reshape(-1, out)), axis=0)
        exponent = WEIGHT_BITS - np.frexp(peak)[1]
        self.kernel = np.round(np.ldexp(kernel, exponent))
        scale = input_bits + exponent
        self.bias = (np.zeros(out) if bias is None
                     else np.round(np.ldexp(np.asarray(bias, np.float64), scale)))
        shift = scale - FRACTION_BITS
        self.up = np.ldexp(1.0, np.maximum(0, -shift))
        half = np.ldexp(1.0, np.maximum(0, shift)) / 2 * (shift > 0)
        self.offset = self.bias * self.up + half  # (S + B)·2^u + ⌊2^d/2⌋ = S·2^u + offset
        self.inverse_down = np.ldexp(1.0, -np.maximum(0, shift))
        self.relu = relu
        # The largest |S + B| + ⌊2^d/2⌋ per output channel, in Python integers (exact).
        weights = np.abs(self.kernel).reshape(-1, kernel.shape[-2], out).sum(axis=0)
        bound = (_integers(weights) * _integers(input_bound)[:, None]).sum(axis=0)
        bound = bound + _integers(np.abs(self.bias)) + _integers(half)
        if max(bound) >= EXACT:
            raise ValueError("integer context model: a convolution's sums could exceed 2^53 "
                             "(weights too large for exact float64 accumulation)")
        self.output_bound = bound * _integers(self.up) // _integers(2.0 * half
                                                                      + (shift <= 0)) + 1

    @classmethod
    def of(cls, layer, input_bits: int, input_bound: np.ndarray, relu: bool = False
           ) -> IntegerConv:
        """From a Keras Conv2D or `MaskedConv2D` (its masked kernel)."""
        kernel = layer.masked_kernel() if isinstance(layer, MaskedConv2D) else layer.kernel
        bias = getattr(layer, "bias", None)
        return cls(np.asarray(kernel), None if bias is None else np.asarray(bias), input_bits,
                   input_bound, relu)

    def requantize(self, total, outputs: slice = ALL):
        """⌊((S + B)·2^u + ⌊2^d / 2⌋)·2^−d⌋ of the sums S [..., out] (or of the `outputs`
        channels only): every step exact in float64 (see the bound)."""
        up = self.up[outputs]
        if np.any(up > 1):
            total = total * tf.constant(up)
        x = tf.floor((total + tf.constant(self.offset[outputs]))
                     * tf.constant(self.inverse_down[outputs]))
        return tf.maximum(x, 0.0) if self.relu else x

    def matrix(self, taps: list[tuple[int, int]], channels: int | None = None,
               outputs: slice = ALL) -> np.ndarray:
        """The kernel's integers at `taps` [(row, column), ...] for the first `channels` input
        channels (default all) and the `outputs` channels, as a matmul matrix
        [len(taps)·channels, outputs], tap-major: the layout of a gathered window
        (`checkerboard_windows`)."""
        kernel = np.stack([self.kernel[a, b] for a, b in taps])[:, :channels, outputs]
        return kernel.reshape(-1, kernel.shape[-1])

    @_on_cpu
    def __call__(self, x):
        """[N, h, w, out] at scale 2^F (integers in float64) from integers x [N, h, w, in]."""
        return self.requantize(tf.nn.conv2d(tf.cast(x, tf.float64), _float64(self.kernel),
                                             1, "SAME"))

    @_on_cpu
    def at(self, window):
        """The output [1, out] at one position from its causal window [1, k//2 + 1, k, in]
        (the rows above and the centre row; the masked-out entries are zero)."""
        rows = self.kernel.shape[0] // 2 + 1
        kernel = self.kernel[:rows].reshape(-1, self.kernel.shape[-1])
        return self.requantize(tf.matmul(tf.reshape(tf.cast(window, tf.float64), (1, -1)),
                                          _float64(kernel)))


class IntegerGRU:
    """`ConvGRUCell` in integers (module docstring); the state is at scale 2^F."""

    def __init__(self, cell: ConvGRUCell, input_bits: int, input_bound: np.ndarray):
        state = np.full(cell.units, ONE)
        self.units = cell.units
        self.input_conv = IntegerConv.of(cell.input_conv, input_bits, input_bound)
        self.hidden_conv = IntegerConv.of(cell.hidden_conv, FRACTION_BITS, state)
        self.candidate_conv = IntegerConv.of(cell.candidate_conv, FRACTION_BITS, state)

    @_on_cpu
    def __call__(self, inputs, states):
        """(h', (h',)) from the input and (h,), as the Keras cell's call."""
        h = states[0]
        xz, xr, xn = tf.split(self.input_conv(inputs), 3, axis=-1)
        hz, hr = tf.split(self.hidden_conv(h), 2, axis=-1)
        z = sigmoid(xz + hz)
        r = sigmoid(xr + hr)
        n = tanh(xn + self.candidate_conv(round_shift(r * h)))
        h = n + round_shift(z * (h - n))
        return h, (h,)


def _integers(values) -> np.ndarray:
    """Integer-valued numbers as Python integers (exact sums of any size)."""
    return np.array([int(v) for v in np.asarray(values).reshape(-1)], dtype=object).reshape(
        np.shape(values))


def _ones(channels: int) -> np.ndarray:
    return _integers(np.ones(channels))


# -- models ----------------------------------------------------------------------------------------

class IntegerContextModel(ContextNetwork, tf.Module):
    """The memory across iterations and the prior features, shared by both kinds; the
    computation is the float model's (`tfrnn.context_model.ContextNetwork`)."""

    kind = ""
    logit_bits = FRACTION_BITS  # the logits are integers at scale 2^logit_bits

    def __init__(self, model: ContextModel):
        super().__init__(name=f"integer_{model.kind}")
        self.bits, self.filters = model.bits, model.filters
        self.memory_units = model.memory_units
        self.memory = IntegerGRU(model.memory, 0, _ones(self.bits))
        self.prior = IntegerConv.of(model.prior, FRACTION_BITS,
                                    np.full(self.memory_units, ONE), relu=True)

    def initial_memory(self, batch, height, width):
        """The memory before iteration 0: zeros [batch, height, width, memory_units]."""
        return tf.zeros((batch, height, width, self.memory_units), tf.float64)

    @_on_cpu
    def logits(self, codes):
        """Integer logits (scale 2^F, in float64) [T, B, h, w, bits] of codes
        [T, B, h, w, bits] in ±1, each bit given the codes before it (teacher forcing), exactly
        as the coder computes them."""
        return self.teacher_forced_logits(tf.convert_to_tensor(codes, tf.float32))


class CheckerboardLayout(NamedTuple):
    """Where a checkerboard pass reads and writes, for one code-map size (`checkerboard_layout`).

    positions[p]: flat raster indices [M_p] of the positions of parity p ((i + j) % 2 = p), in
    raster order (the coding order); same[p]: for each of them, the list indices (into
    positions[p]; M_p past the image) of its neighbours at the kernel's same-parity taps
    [M_p, taps]; anchors: for each non-anchor position, the anchor list indices at the
    other-parity taps [M_1, taps]; order: for every position, its index in the two lists
    concatenated [h·w]."""

    positions: tuple
    same: tuple
    anchors: tf.Tensor
    order: tf.Tensor


def kernel_taps(kernel: int) -> tuple[list, list]:
    """A kernel's taps (row, column), same parity ((row + column) even) and other parity."""
    taps = [(a, b) for a in range(kernel) for b in range(kernel)]
    return [t for t in taps if sum(t) % 2 == 0], [t for t in taps if sum(t) % 2]


def checkerboard_layout(height, width, kernel: int) -> CheckerboardLayout:
    """The `CheckerboardLayout` of a height × width code map for a kernel × kernel 'same'
    convolution (output (i, j) reads input (i + a − r, j + b − r) at tap (a, b), r = kernel//2),
    computed with TensorFlow ops (any size, in a traced graph)."""
    r = kernel // 2
    flat = tf.reshape(tf.range(height)[:, None] + tf.range(width)[None, :], (-1,)) % 2
    positions, counts, rank = [], [], tf.zeros_like(flat)
    for p in (0, 1):
        here = tf.equal(flat, p)
        positions.append(tf.cast(tf.where(here)[:, 0], tf.int32))
        counts.append(tf.size(positions[p]))
        rank = tf.where(here, tf.cumsum(tf.cast(here, tf.int32)) - 1, rank)
    grid = tf.reshape(rank, (height, width))

    def neighbours(p: int, taps: list, q: int):
        # List indices of the parity-q neighbours of the parity-p positions (M_q outside).
        padded = tf.reshape(tf.pad(grid, [[r, r], [r, r]], constant_values=counts[q]), (-1,))
        i, j = positions[p] // width, positions[p] % width
        return tf.stack([tf.gather(padded, (i + a) * (width + 2 * r) + j + b)
                         for a, b in taps], axis=1)

    same, other = kernel_taps(kernel)
    return CheckerboardLayout(
        positions=tuple(positions), same=(neighbours(0, same, 0), neighbours(1, same, 1)),
        anchors=neighbours(1, other, 0),
        order=tf.where(tf.equal(flat, 0), rank, counts[0] + rank))


def checkerboard_windows(codes, neighbours):
    """Gathered windows [N·M, taps·C] (float64) of `codes` [N, M', C] of one parity at the
    list indices `neighbours` [M, taps] (index M' reads zeros): im2col at those positions."""
    shape = tf.shape(codes)
    padded = tf.concat([codes, tf.zeros((shape[0], 1, shape[2]), codes.dtype)], axis=1)
    windows = tf.gather(tf.cast(padded, tf.float64), neighbours, axis=1)
    return tf.reshape(windows, (-1, tf.shape(neighbours)[1] * shape[2]))


class IntegerCheckerboardContextModel(CheckerboardNetwork, IntegerContextModel):
    """`CheckerboardContextModel` in integers, computed at each pass's own positions only.

    Each pass's output is needed only at the positions of its parity p and for the channels
    of its group g, so the passes are computed there (`CheckerboardLayout`): the context
    convolution as a matmul of the gathered windows (im2col) over the taps and channels that
    can be nonzero (anchor passes read the anchors' earlier groups at the same-parity taps;
    the other passes read all the anchors' channels at the other-parity taps and the earlier
    groups of their own parity at the same-parity taps), the 1×1 convolutions as matmuls.
    What does not depend on the pass's codes is computed once per iteration: the features'
    share of every pass's hidden sums (`hidden_features`) and, once the anchors are known,
    their share of every non-anchor pass's context sums (`anchor_sums`).

    Exactly the integers of the whole convolutions (`CheckerboardNetwork.pass_logits` on this
    model's layers): a partial sum over some taps and channels, and the sum of two partial
    sums, are integers bounded by the whole convolution's bound (< 2^53), so float64 gives
    them exactly in any order, and requantization sees the same integer."""

    kind = "checkerboard"

    def __init__(self, model: CheckerboardContextModel):
        super().__init__(model)
        self.groups, self.passes = model.groups, model.passes
        self.pass_context = [IntegerConv.of(layer, 0, _ones(self.bits), relu=True)
                             for layer in model.pass_context]
        self.pass_hidden, self.pass_out = [], []
        for step in range(self.passes):
            bound = self.prior.output_bound
            if step:
                bound = np.concatenate([bound, self.pass_context[step - 1].output_bound])
            self.pass_hidden.append(IntegerConv.of(model.pass_hidden[step], FRACTION_BITS,
                                                   bound, relu=True))
            self.pass_out.append(IntegerConv.of(model.pass_out[step], FRACTION_BITS,
                                                self.pass_hidden[step].output_bound))
        self.kernel = PASS_KERNEL
        same, other = kernel_taps(PASS_KERNEL)
        g, f = self.groups, self.filters
        # Channels of the groups before group g: channel c is in group c·G // bits.
        self.channels = [-(-n * self.bits // g) for n in range(g + 1)]
        whole = [(0, 0)]
        self._features_kernel = [_float64(np.concatenate(
            [self.pass_hidden[p * g + n].matrix(whole, f) for n in range(g)], axis=1))
            for p in (0, 1)]
        self._anchor_kernel = _float64(np.concatenate(
            [self.pass_context[g + n - 1].matrix(other) for n in range(g)], axis=1))
        self._same_kernel = [None] + [_float64(self.pass_context[s - 1].matrix(
            same, self.channels[s % g])) for s in range(1, self.passes)]
        self._context_kernel = [None] + [_float64(self.pass_hidden[s].matrix(whole)[f:])
                                         for s in range(1, self.passes)]
        self._out_kernel = [_float64(self.pass_out[s].matrix(whole, outputs=self.group(s)))
                            for s in range(self.passes)]

    def group(self, step: int) -> slice:
        """The channels pass `step` codes."""
        g = step % self.groups
        return slice(self.channels[g], self.channels[g + 1])

    @_on_cpu
    def layout(self, height, width) -> CheckerboardLayout:
        return checkerboard_layout(height, width, self.kernel)

    @_on_cpu
    def hidden_features(self, features, layout: CheckerboardLayout) -> list:
        """Per parity p, the features' share of the hidden sums of its G passes
        [N·M_p, G·filters] (pass p·G + g in columns g·filters ...), from F [N, h, w, filters]."""
        flat = tf.reshape(features, (tf.shape(features)[0], -1, self.filters))
        return [tf.matmul(tf.reshape(tf.gather(flat, layout.positions[p], axis=1),
                                     (-1, self.filters)), self._features_kernel[p])
                for p in (0, 1)]

    @_on_cpu
    def anchor_sums(self, anchors, layout: CheckerboardLayout):
        """The anchors' share of the context sums of the G non-anchor passes [N·M_1, G·filters],
        from the anchors' codes [N, M_0, bits] (all known)."""
        return tf.matmul(checkerboard_windows(anchors, layout.anchors), self._anchor_kernel)

    @_on_cpu
    def parity_logits(self, step: int, hidden, known, anchors, layout: CheckerboardLayout):
        """Integer logits [N·M_p, channels of the pass's group] of pass `step` at the positions
        of its parity p, from `hidden_features(...)[p]`, `known` (the codes of parity p there
        [N, M_p, channels of the earlier groups]) and, for p = 1, `anchor_sums(...)`."""
        p, g = divmod(step, self.groups)
        f = self.filters
        total = hidden[:, g * f:(g + 1) * f]
        if step:
            context = anchors[:, g * f:(g + 1) * f] if p else 0.0
            if self.channels[g]:
                context += tf.matmul(checkerboard_windows(known, layout.same[p]),
                                     self._same_kernel[step])
            total += tf.matmul(self.pass_context[step - 1].requantize(context),
                               self._context_kernel[step])
        return self.pass_out[step].requantize(
            tf.matmul(self.pass_hidden[step].requantize(total), self._out_kernel[step]),
            self.group(step))

    @_on_cpu
    def iteration_logits(self, features, codes):
        """Teacher forcing (`CheckerboardNetwork.iteration_logits`), pass by pass at each
        pass's positions and channels."""
        shape = tf.shape(codes)
        layout = self.layout(shape[1], shape[2])
        flat = tf.reshape(codes, (shape[0], -1, self.bits))
        parity = [tf.gather(flat, layout.positions[p], axis=1) for p in (0, 1)]
        hidden = self.hidden_features(features, layout)
        anchors = self.anchor_sums(parity[0], layout)
        logits = []
        for p in (0, 1):
            passes = [self.parity_logits(p * self.groups + g, hidden[p],
                                         parity[p][..., :self.channels[g]], anchors, layout)
                      for g in range(self.groups)]
            logits.append(tf.reshape(tf.concat(passes, axis=-1), (shape[0], -1, self.bits)))
        return tf.reshape(tf.gather(tf.concat(logits, axis=1), layout.order, axis=1), shape)


class IntegerRasterContextModel(RasterNetwork, IntegerContextModel):
    """`RasterContextModel` in integers."""

    kind = "raster"

    def __init__(self, model: RasterContextModel):
        super().__init__(model)
        self.causal = IntegerConv.of(model.causal, 0, _ones(self.bits))
        self.row = IntegerGRU(model.row, FRACTION_BITS, np.concatenate(
            [self.prior.output_bound, self.causal.output_bound]))
        self.row_out = IntegerConv.of(model.row_out, FRACTION_BITS, np.full(self.filters, ONE))


INTEGER_MODELS: dict[type[ContextModel], type[IntegerContextModel]] = {
    CheckerboardContextModel: IntegerCheckerboardContextModel,
    RasterContextModel: IntegerRasterContextModel}


def integer_context_model(model: ContextModel) -> IntegerContextModel:
    """The integer model of a trained float context model (deterministic: the same weights
    give the same integers on every machine)."""
    return INTEGER_MODELS[type(model)](model)
