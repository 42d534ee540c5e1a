"""Turning one iteration's bits into bytes and back: range coding with a context model, or raw.

Range coding uses tensorflow-compression-ops (`create_range_encoder`, `entropy_encode_index`,
...): every bit is coded with one of `LEVELS` two-symbol tables, picked by quantizing the
context model's logit of P(bit = +1) on a uniform grid over [−LOGIT_RANGE, LOGIT_RANGE]
(`quantize`). A uniform grid in the logit spends its levels where −log2 p changes fastest; with
256 levels the rounding costs well under 0.1 % of the bits. The encoder and the decoder compute
the logits with the same traced functions on the same inputs (batch 1, same shapes, +0.0 for
bits not known yet), so they pick the same tables and decoding reproduces the bits exactly —
on one machine: float logits differ in their last bits between machines. The integer context
models (`tfrnn.integer_context`) give integer logits that every machine computes exactly;
`integer_table_index` maps them to the same tables in int64 (`IntegerCheckerboardCoder`,
`IntegerRasterCoder`; FORMAT.md modes 3 and 4).

One range-coder stream per iteration, followed by a 2-byte check of the bits it holds (the low
16 bits of the CRC-32 of the packed bits): if a machine computed the context model differently
from the encoder's, decoding fails with a clear error instead of returning a wrong image.

Raw mode packs the bits (MSB first, in [h, w, bits] order) with no model.
"""

from __future__ import annotations

import contextlib
import functools
import struct
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_compression_ops as tfc

from tfrnn.context_model import (
    RASTER_KERNEL,
    CheckerboardContextModel,
    ContextModel,
    RasterContextModel,
    pass_masks,
)
from tfrnn.errors import UserError
from tfrnn.integer_context import (
    IntegerCheckerboardContextModel,
    IntegerContextModel,
    IntegerRasterContextModel,
)

LEVELS = 256
LOGIT_RANGE = 12.0
PRECISION = 16
CHECK = struct.Struct(">H")


def table_probabilities() -> np.ndarray:
    """P(bit = +1) of each table, [LEVELS] (the sigmoid of the grid of logits)."""
    grid = np.linspace(-LOGIT_RANGE, LOGIT_RANGE, LEVELS)
    return 1.0 / (1.0 + np.exp(-grid))


def lookup_table() -> np.ndarray:
    """The coder's CDF tables, int32 [LEVELS, 4]: precision, then the CDF of symbols 0 (bit −1)
    and 1 (bit +1) scaled to 2^PRECISION, each symbol getting at least 1/2^PRECISION."""
    top = 1 << PRECISION
    minus = np.clip(np.round((1.0 - table_probabilities()) * top), 1, top - 1)
    return np.stack([np.full(LEVELS, PRECISION), np.zeros(LEVELS), minus,
                     np.full(LEVELS, top)], axis=1).astype(np.int32)


LOOKUP = lookup_table()


def quantize(logits):
    """Table index (int32) of each logit: the nearest grid point of the clipped logit."""
    scaled = (tf.clip_by_value(logits, -LOGIT_RANGE, LOGIT_RANGE) + LOGIT_RANGE) * (
        (LEVELS - 1) / (2.0 * LOGIT_RANGE))
    return tf.cast(tf.round(scaled), tf.int32)


def integer_table_index(logits, fraction_bits: int):
    """Table index (int32) of integer logits at scale 2^fraction_bits (an integer context
    model's, `tfrnn.integer_context`), in int64 only: with L = LOGIT_RANGE·2^fraction_bits and
    c the logit clipped to [−L, L], ((c + L)·2·(LEVELS − 1) + 2L) // (4L), i.e. the nearest
    grid point, halves up."""
    span = int(LOGIT_RANGE) << fraction_bits
    clipped = tf.clip_by_value(tf.cast(logits, tf.int64), -span, span)
    index = tf.math.floordiv((clipped + span) * (2 * (LEVELS - 1)) + 2 * span,
                             tf.constant(4 * span, tf.int64))
    return tf.cast(index, tf.int32)


def code_bits(index: np.ndarray, bits: np.ndarray) -> bytes:
    """Range-code bits (±1, or 0/1) with table `index` (same shape) into one stream."""
    handle = tfc.create_range_encoder([], LOOKUP)
    symbols = (np.asarray(bits) > 0).astype(np.int32).reshape(-1)
    handle = tfc.entropy_encode_index(handle, np.asarray(index, np.int32).reshape(-1), symbols)
    return tfc.entropy_encode_finalize(handle).numpy()


def bits_check(bits: np.ndarray) -> bytes:
    """2-byte check of ±1 bits: low 16 bits of the CRC-32 of the packed bits."""
    return CHECK.pack(zlib.crc32(pack_bits(bits)) & 0xFFFF)


# -- raw mode -------------------------------------------------------------------------------------

def pack_bits(bits: np.ndarray) -> bytes:
    """Raw mode: ±1 bits [h, w, bits] packed 8 per byte, MSB first, in C order."""
    return np.packbits(np.asarray(bits).reshape(-1) > 0).tobytes()


def unpack_bits(payload: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """Inverse of `pack_bits`: float32 ±1 of `shape`; UserError if the length is wrong."""
    count = int(np.prod(shape))
    if len(payload) != (count + 7) // 8:
        raise UserError(f"raw payload has {len(payload)} bytes, expected {(count + 7) // 8}")
    bits = np.unpackbits(np.frombuffer(payload, np.uint8), count=count)
    return (bits.astype(np.float32) * 2.0 - 1.0).reshape(shape)


# -- with a context model -------------------------------------------------------------------------

class EntropyCoder:
    """Codes the iterations of one image (batch 1) with a context model; one subclass per kind
    (`CheckerboardCoder`, `RasterCoder`; `entropy_coder(model)` picks it).

    `encode(codes [T, h, w, bits]) -> [bytes]` and `decode([bytes], h, w) -> codes`; iteration t
    depends only on iterations < t, so the first k payloads decode alone. `timings` accumulates
    seconds spent in the networks ("network"), in the range coder ("range_coding") and, for the
    decoders that interleave both in one traced function (raster; integer checkerboard), in
    that function ("fused_decode"). The integer models' coders (`IntegerCheckerboardCoder`,
    `IntegerRasterCoder`) differ in `state_dtype` and `_table_index`; the integer checkerboard
    coder also computes its passes its own way. `network_functions` names the traced
    functions that hold only networks (an XLA back-end may compile them: `tfrnn.bench.portable`).
    """

    network_functions: tuple[str, ...] = ("_advance", "_features")

    state_dtype = tf.float32  # of the model's memory and prior features

    def __init__(self, model: ContextModel | IntegerContextModel):
        self.model = model
        self.kind = model.kind
        self.timings: dict[str, float] = defaultdict(float)
        memory = tf.TensorSpec((1, None, None, model.memory_units), self.state_dtype)
        self._codes_spec = tf.TensorSpec((1, None, None, model.bits), tf.float32)
        self._features_spec = tf.TensorSpec((1, None, None, model.filters), self.state_dtype)
        self._advance = tf.function(model.advance, input_signature=[memory, self._codes_spec])
        self._features = tf.function(model.features, input_signature=[memory])

    def _table_index(self, logits):
        """Table indices (int32) of the model's logits."""
        return quantize(logits)

    @contextlib.contextmanager
    def _timed(self, key: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.timings[key] += time.perf_counter() - start

    def _encode_iteration(self, features, bits: np.ndarray,
                          active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(table indices, bits) of the active cells of one iteration, in coding order."""
        raise NotImplementedError

    def _decode_iteration(self, features, stream: bytes, active: np.ndarray) -> np.ndarray | None:
        """Bits [h, w, bits] of the cells where `active` [h, w] (0 elsewhere), or None if the
        stream does not decode."""
        raise NotImplementedError

    def _encode_stream(self, memory, bits: np.ndarray) -> bytes:
        """The stream of one iteration's bits [h, w, bits]; cells whose bits are all 0
        (stopped, `tfrnn.adaptive`) are not coded."""
        active = np.any(bits != 0, axis=-1)
        with self._timed("network"):
            features = self._features(memory)
        index, ordered = self._encode_iteration(features, bits, active)
        with self._timed("range_coding"):
            return code_bits(index, ordered)

    # -- all iterations ---------------------------------------------------------------------------

    def encode(self, codes: np.ndarray) -> list[bytes]:
        """One payload per iteration for codes [T, h, w, bits] (float32, ±1; 0 for the
        cells a spatially adaptive encoder stopped, which are not coded)."""
        codes = np.asarray(codes, np.float32)
        memory = self.model.initial_memory(1, codes.shape[1], codes.shape[2])
        previous = np.zeros((1,) + codes.shape[1:], np.float32)
        payloads = []
        for bits in codes:
            with self._timed("network"):
                memory = self._advance(memory, previous)
            payloads.append(self._encode_stream(memory, bits) + bits_check(bits))
            previous = bits[None]
        return payloads

    def decode(self, payloads: list[bytes], height: int, width: int,
               active: np.ndarray | None = None) -> np.ndarray:
        """Codes [T, height, width, bits] (the code-map size) from `encode`'s payloads, only
        for the cells where `active` [T, height, width] (default: all; 0 elsewhere);
        UserError naming the iteration if one does not decode to the bits it was made from."""
        if active is None:
            active = np.ones((len(payloads), height, width), bool)
        memory = self.model.initial_memory(1, height, width)
        previous = np.zeros((1, height, width, self.model.bits), np.float32)
        out = []
        for t, payload in enumerate(payloads):
            if len(payload) < CHECK.size:
                raise UserError(f"iteration {t + 1}: payload too short")
            with self._timed("network"):
                memory = self._advance(memory, previous)
                features = self._features(memory)
            bits = self._decode_iteration(features, payload[:-CHECK.size], active[t])
            if bits is None or bits_check(bits) != payload[-CHECK.size:]:
                raise UserError(f"iteration {t + 1}: entropy decoding failed (the context model "
                                "computed different probabilities than when it was encoded)")
            out.append(bits)
            previous = bits[None]
        return np.stack(out)


class CheckerboardCoder(EntropyCoder):
    """The checkerboard kind's coder: one network evaluation per pass, the passes' bits range
    coded in pass order (one traced function serves every pass)."""

    model: CheckerboardContextModel
    network_functions = ("_advance", "_features", "_pass")

    def __init__(self, model: CheckerboardContextModel):
        super().__init__(model)
        self._pass = tf.function(self._pass_index, input_signature=[
            tf.TensorSpec((), tf.int32), self._features_spec, self._codes_spec])

    def _pass_index(self, step, features, known):
        """Table indices [h, w, bits] of checkerboard pass `step` (one traced function)."""
        branches = [functools.partial(self.model.pass_logits, s, features, known)
                    for s in range(self.model.passes)]
        return self._table_index(tf.switch_case(step, branches))[0]

    def _encode_iteration(self, features, bits, active):
        indices, ordered_bits = [], []
        known = np.zeros_like(bits)
        for step, mask in enumerate(checkerboard_masks(*bits.shape, self.model.groups)):
            with self._timed("network"):
                index = self._pass(step, features, known[None]).numpy()
            mask = mask & active[..., None]
            indices.append(index[mask])
            ordered_bits.append(bits[mask])
            known = np.where(mask, bits, known)
        return np.concatenate(indices), np.concatenate(ordered_bits)

    def _decode_iteration(self, features, stream, active):
        return decode_passes(stream, checkerboard_masks(*active.shape, self.model.bits,
                                                        self.model.groups),
                             active, self.model.bits,
                             lambda step, codes: self._pass(step, features, codes[None]).numpy(),
                             self._timed)


def decode_passes(stream: bytes, masks: Sequence[np.ndarray], active: np.ndarray, bits: int,
                  tables: Callable[[int, np.ndarray], np.ndarray],
                  timed: Callable[[str], contextlib.AbstractContextManager] | None = None
                  ) -> np.ndarray | None:
    """One iteration's bits [h, w, bits] (0 where not `active` [h, w]) range-decoded pass by
    pass from `stream`, or None if it does not decode: pass `step` (its bits `masks[step]`)
    takes its table indices from `tables(step, codes)` [h, w, bits], codes holding the bits
    of the earlier passes (0 elsewhere). `timed(key)` times the "network" and "range_coding"
    parts."""
    timed = timed or (lambda key: contextlib.nullcontext())
    codes = np.zeros(active.shape + (bits,), np.float32)
    with timed("range_coding"):
        handle = tfc.create_range_decoder(stream, LOOKUP)
    for step, mask in enumerate(masks):
        mask = mask & active[..., None]
        with timed("network"):
            index = tables(step, codes)[mask]
        with timed("range_coding"):
            handle, symbols = tfc.entropy_decode_index(handle, index, index.shape, tf.int32)
            codes[mask] = symbols.numpy() * 2.0 - 1.0
    with timed("range_coding"):
        ok = bool(tfc.entropy_decode_finalize(handle))
    return codes if ok else None


class RasterCoder(EntropyCoder):
    """The raster kind's coder: one network step per position, identical on both sides; the
    decoder range-decodes inside the same traced loop."""

    model: RasterContextModel

    def __init__(self, model: RasterContextModel):
        super().__init__(model)
        self._raster_encode = tf.function(self._raster_encode_loop, input_signature=[
            self._features_spec, tf.TensorSpec((None, None, model.bits), tf.float32)])
        self._raster_decode = tf.function(self._raster_decode_loop, input_signature=[
            self._features_spec, tf.TensorSpec((), tf.string),
            tf.TensorSpec((None, None), tf.bool)])

    def _raster_loop(self, features, take, aux):
        """Visit positions in raster order; `take(aux, n, index) -> (aux, bits ±1 [bits])`
        supplies position n's bits (known when encoding, range-decoded when decoding).
        Returns (codes [h, w, bits], table indices [h·w, bits], aux)."""
        model, r = self.model, RASTER_KERNEL // 2
        shape = tf.shape(features)
        height, width = shape[1], shape[2]
        known = tf.zeros((height + r, width + 2 * r, model.bits), tf.float32)
        fresh = tf.zeros((1, 1, 1, model.filters), self.state_dtype)
        indices = tf.TensorArray(tf.int32, size=height * width)

        def body(n, known, state, aux, indices):
            i, j = n // width, n % width
            state = tf.where(tf.equal(j, 0), fresh, state)
            window = tf.slice(known, (i, j, 0), (r + 1, 2 * r + 1, model.bits))[None]
            logits, state = model.logits_at(features[:, i:i + 1, j:j + 1], window, state)
            index = self._table_index(tf.reshape(logits, (model.bits,)))
            aux, bits = take(aux, n, index)
            known = tf.tensor_scatter_nd_update(known, [[i + r, j + r]], bits[None])
            return n + 1, known, state, aux, indices.write(n, index)

        _, known, _, aux, indices = tf.while_loop(
            lambda n, *_: n < height * width, body, (tf.constant(0), known, fresh, aux, indices))
        return known[r:, r:-r], indices.stack(), aux

    def _raster_encode_loop(self, features, codes):
        flat = tf.reshape(codes, (-1, self.model.bits))
        _, indices, _ = self._raster_loop(
            features, lambda aux, n, index: (aux, flat[n]), tf.constant(0))
        return indices

    def _raster_decode_loop(self, features, stream, active):
        flat_active = tf.reshape(active, (-1,))

        def decode(handle, index):
            handle, symbols = tfc.entropy_decode_index(handle, index, [self.model.bits],
                                                       tf.int32)
            return handle, tf.cast(symbols, tf.float32) * 2.0 - 1.0

        def take(handle, n, index):
            return tf.cond(flat_active[n], lambda: decode(handle, index),
                           lambda: (handle, tf.zeros((self.model.bits,), tf.float32)))

        handle = tfc.create_range_decoder(stream, LOOKUP)
        codes, _, handle = self._raster_loop(features, take, handle)
        return codes, tfc.entropy_decode_finalize(handle)

    def _encode_iteration(self, features, bits, active):
        with self._timed("network"):
            index = self._raster_encode(features, bits).numpy()
        return index[active.reshape(-1)], bits[active]

    def _decode_iteration(self, features, stream, active):
        with self._timed("fused_decode"):
            codes, ok = self._raster_decode(features, tf.constant(stream), active)
        return codes.numpy() if bool(ok) else None


def coding_order(values: np.ndarray, active: np.ndarray, groups: int | None) -> np.ndarray:
    """One iteration's per-bit values [h, w, bits] (bits or table indices) in the order its
    coder codes them, active cells [h, w] only: pass by pass for the checkerboard kind (its
    `groups`), raster order for the raster kind (None)."""
    if groups is None:
        return values[active].reshape(-1)
    return np.concatenate([values[m & active[..., None]]
                           for m in checkerboard_masks(*values.shape, groups)])


@functools.lru_cache(maxsize=4)
def checkerboard_masks(height: int, width: int, bits: int, groups: int
                       ) -> tuple[np.ndarray, ...]:
    """`tfrnn.context_model.pass_masks` as read-only numpy arrays (computed once per size)."""
    masks = tuple(m.numpy() for m in pass_masks(height, width, bits, groups))
    for m in masks:
        m.flags.writeable = False
    return masks


def payloads_from_table_indices(codes: np.ndarray, index: np.ndarray,
                                groups: int | None) -> list[bytes]:
    """The payloads `encode(codes)` writes, from every bit's table index [T, h, w, bits]
    computed at once by teacher forcing (an integer model's logits through
    `integer_table_index`, or the served `table_index`): what a client with the range coder
    writes. `groups` as in `coding_order`."""
    active = np.any(codes != 0, axis=-1)
    return [code_bits(coding_order(index[t], active[t], groups),
                      coding_order(codes[t], active[t], groups)) + bits_check(codes[t])
            for t in range(len(codes))]


class IntegerCoding:
    """What the integer models' coders change: memory and features are integers in float64,
    and the table indices come from the integer logits in int64 (`integer_table_index`):
    bit-exact on every machine."""

    state_dtype = tf.float64
    model: IntegerContextModel

    def _table_index(self, logits):
        return integer_table_index(logits, self.model.logit_bits)


class IntegerCheckerboardCoder(IntegerCoding, EntropyCoder):
    """The coder of `IntegerCheckerboardContextModel` (header mode 3): the bits in the order
    of `CheckerboardCoder` (`coding_order`), each pass computed at its own positions only.

    Encoding computes an iteration's tables at once by teacher forcing (`iteration_logits`:
    each pass from the true codes of the earlier ones). Decoding runs one traced function per
    iteration (`_decode_passes`): the 2·G passes and their range decoding in one graph, the
    features' share of every pass computed once, and the anchors' share of the non-anchor
    passes once the anchors are decoded."""

    model: IntegerCheckerboardContextModel
    network_functions = ("_advance", "_features", "_tables", "_hidden_features",
                         "_anchor_sums", "_parity_logits")

    def __init__(self, model: IntegerCheckerboardContextModel):
        super().__init__(model)
        self._tables = tf.function(self._iteration_tables,
                                   input_signature=[self._features_spec, self._codes_spec])
        self._hidden_features = tf.function(model.hidden_features)
        self._anchor_sums = tf.function(model.anchor_sums)
        self._parity_logits = tf.function(model.parity_logits)
        self._decode_passes = tf.function(self._decode_loop, input_signature=[
            self._features_spec, tf.TensorSpec((), tf.string),
            tf.TensorSpec((None, None), tf.bool)])

    def _iteration_tables(self, features, codes):
        """Table indices [h, w, bits] of one iteration's codes [1, h, w, bits]."""
        return self._table_index(self.model.iteration_logits(features, codes))[0]

    def _encode_iteration(self, features, bits, active):
        with self._timed("network"):
            index = self._tables(features, bits[None]).numpy()
        groups = self.model.groups
        return coding_order(index, active, groups), coding_order(bits, active, groups)

    def _decode_loop(self, features, stream, active):
        """(codes [h, w, bits], whether the stream decoded) of one iteration."""
        model = self.model
        shape = tf.shape(active)
        layout = model.layout(shape[0], shape[1])
        hidden = self._hidden_features(features, layout)
        flat = tf.reshape(active, (-1,))
        handle = tfc.create_range_decoder(stream, LOOKUP)
        anchors, decoded = None, []
        for p in (0, 1):
            here = tf.gather(flat, layout.positions[p])
            where, count = tf.cast(tf.where(here), tf.int32), tf.size(layout.positions[p])
            blocks = []
            for g in range(model.groups):
                step = p * model.groups + g
                known = tf.concat([tf.zeros((count, 0))] + blocks, axis=1)[None]
                index = tf.boolean_mask(self._table_index(self._parity_logits(
                    step, hidden[p], known, anchors, layout)), here)
                handle, symbols = tfc.entropy_decode_index(handle, index, tf.shape(index),
                                                           tf.int32)
                width = model.group(step).stop - model.group(step).start
                blocks.append(tf.scatter_nd(where, tf.cast(symbols, tf.float32) * 2.0 - 1.0,
                                            tf.stack([count, width])))
            decoded.append(tf.concat(blocks, axis=1))
            if p == 0:
                anchors = self._anchor_sums(decoded[0][None], layout)
        codes = tf.gather(tf.concat(decoded, axis=0), layout.order)
        return (tf.reshape(codes, (shape[0], shape[1], model.bits)),
                tfc.entropy_decode_finalize(handle))

    def _decode_iteration(self, features, stream, active):
        with self._timed("fused_decode"):
            codes, ok = self._decode_passes(features, tf.constant(stream), active)
        return codes.numpy() if bool(ok) else None


class IntegerRasterCoder(IntegerCoding, RasterCoder):
    """`RasterCoder` for `IntegerRasterContextModel` (header mode 4)."""


CODERS: dict[type, type[EntropyCoder]] = {
    CheckerboardContextModel: CheckerboardCoder, RasterContextModel: RasterCoder,
    IntegerCheckerboardContextModel: IntegerCheckerboardCoder,
    IntegerRasterContextModel: IntegerRasterCoder}


def entropy_coder(model: ContextModel | IntegerContextModel) -> EntropyCoder:
    """The coder of `model`'s kind and arithmetic (float, or integer: `tfrnn.integer_context`)."""
    return CODERS[type(model)](model)
