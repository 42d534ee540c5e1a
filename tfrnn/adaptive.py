"""Spatially adaptive files (format version 2): each code cell stops when its block is good enough.

The encoder (`RecurrentCodec.encode` with `stop_ratio`) stops a 16×16 block after the iteration
that brings its *block SNR* — its contrast over its squared error (`RecurrentCodec.block_error`),
in dB — to a target, and gives it codes of 0 from then on; the decoder keeps a stopped block's
reconstruction. Flat blocks, where errors show, get more iterations than busy ones at the same
target (Toderici 2016's remark on the convolutional codec; Johnston et al. 2018's "spatially
adaptive bit rates").

Payload layout: chunk 1 codes every cell. Chunk t ≥ 2 starts with its *activity map*: for each
cell that was active in iteration t − 1, in raster order, one flag, 1 if it is still active.
The flags are range-coded (`tfrnn.range_coding`) with one table for the whole map, the table
nearest their frequency: table index u8 | stream length u32 | stream. The iteration's payload
for the active cells only follows. The map is all a decoder needs besides the payloads: on the
encoder's side it follows from the codes (a stopped cell's codes are all 0, an active cell's ±1).
"""

from __future__ import annotations

import struct

import numpy as np
import tensorflow as tf
import tensorflow_compression_ops as tfc

from tfrnn.errors import UserError
from tfrnn.range_coding import LOOKUP, code_bits, quantize

MAP_HEAD = struct.Struct(">BI")


BLOCK_SNR_RANGE = (-30.0, 60.0)


def stop_ratio(block_snr: float) -> float:
    """`RecurrentCodec.encode`'s `stop_ratio` for a block SNR target in dB; UserError outside
    `BLOCK_SNR_RANGE`."""
    low, high = BLOCK_SNR_RANGE
    if not low <= block_snr <= high:
        raise UserError(f"block SNR must be between {low:g} and {high:g} dB, not {block_snr:g}")
    return 10.0 ** (-block_snr / 10.0)


def activity(codes: np.ndarray) -> np.ndarray:
    """Which cells each iteration codes: bool [T, h, w] for codes [T, h, w, bits]."""
    return np.any(np.asarray(codes) != 0, axis=-1)


def used_iterations(codes: np.ndarray) -> int:
    """Iterations up to the last one that still codes a cell (at least 1)."""
    coded = np.flatnonzero(activity(codes).any(axis=(1, 2)))
    return int(coded[-1]) + 1 if len(coded) else 1


def pack_map(previous: np.ndarray, current: np.ndarray) -> bytes:
    """The coded activity map of an iteration: `current` at the cells active in `previous`."""
    flags = current[previous]
    p = (flags.sum() + 0.5) / (len(flags) + 1.0)
    index = int(quantize(tf.constant(np.log(p / (1.0 - p)), tf.float32)))
    stream = code_bits(np.full(len(flags), index), flags)
    return MAP_HEAD.pack(index, len(stream)) + stream


def split_map(payload: bytes, previous: np.ndarray) -> tuple[np.ndarray, bytes]:
    """(active cells [h, w], the rest of the payload) from a chunk that starts with a map;
    UserError if the map is cut short or does not decode."""
    if len(payload) < MAP_HEAD.size:
        raise UserError("activity map cut short")
    index, size = MAP_HEAD.unpack_from(payload)
    end = MAP_HEAD.size + size
    count = int(previous.sum())
    if end > len(payload) or index >= len(LOOKUP):
        raise UserError("activity map damaged or cut short")
    handle = tfc.create_range_decoder(payload[MAP_HEAD.size:end], LOOKUP)
    handle, flags = tfc.entropy_decode_index(handle, np.full(count, index, np.int32), (count,),
                                             tf.int32)
    if not bool(tfc.entropy_decode_finalize(handle)):
        raise UserError("activity map does not decode")
    current = np.zeros_like(previous)
    current[previous] = flags.numpy().astype(bool)
    return current, payload[end:]
