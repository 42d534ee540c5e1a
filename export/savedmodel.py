"""The served model: a tf.Module whose tf.functions become the SavedModel's signatures.

Every signature runs all iterations inside one call (the codec's tf.while_loop with a tensor
iteration count), uses only stock TensorFlow ops and keeps no state between requests, so a
stock TensorFlow Serving binary can serve it. Tensor-level signatures are **batch-major**:
codes are float32 in {−1, +1} shaped [B, T, ceil(H/stride), ceil(W/stride), bits].

- `serving_default` (compress): `image_bytes` (PNG, JPEG, GIF or BMP), `iterations` ->
  `codes_bytes`, `height`, `width`, `iterations`, `code_shape` [T, h, w, bits], `tile_size`,
  `stride`, fingerprints;
- `decompress`: `codes_bytes`, `height`, `width`, `iterations` -> `image_bytes` (PNG),
  `tile_size`, `stride`, fingerprints;

both code the image as independent `tile_size` × `tile_size` tiles, one after another inside
the graph, exactly as `tfrnn compress` does (`tfrnn.tiling`), so a request's memory is bounded
by one tile's networks plus the image and its codes, whatever the image size; the tiles' codes
form the whole image's code map. The tensor-level signatures code the tensors they are given
as they are (the caller chooses their size):
- `encode`: `images` uint8 [B, H, W, 3], `iterations` -> `codes` [B, T, h, w, bits];
- `decode`: `codes` [B, T, h, w, bits], `height`, `width` -> `images` uint8 [B, H, W, 3];
- `bit_probabilities` (only with a context model): `codes` [B, T, h, w, bits] ->
  `probabilities` P(bit = +1) and `logits` of the float context model, same shape (teacher
  forcing: each bit given the codes before it), and `table_index` (int32), the range coder's
  table of each bit as the integer context model computes it (`tfrnn.integer_context`,
  bit-exact on every machine: FORMAT.md modes 3 and 4), with `table_probability`, that table's
  P(bit = +1); `context_kind` ("checkerboard" or "raster") and `context_groups` (the
  checkerboard's channel groups G, 0 for raster), which fix the coding order. A client with the
  range coder rebuilds `tfrnn compress`'s portable payloads from `table_index` exactly
  (checkerboard: one call gives every pass's tables; `export/client.py`).

`codes_bytes` holds the sign bits (+1 → 1, −1 → 0) of the codes [T, h, w, bits] in C order,
8 per byte, most significant bit first; each iteration fills whole bytes (bits % 8 == 0), so
the first k·h·w·bits/8 bytes are the first k iterations and `decompress` may decode fewer
iterations than the bytes hold (progressive decoding, Toderici 2017 §2). Per iteration this is
exactly the raw-mode payload of a `.tfrnn` file. The fingerprints (hex SHA-256) are
`model_fingerprint` (codec + context model, `Bundle.fingerprint`) and `codec_fingerprint`
(`RecurrentCodec.fingerprint`, whose first 16 bytes are a raw `.tfrnn` file's model id).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf

from tfrnn.integer_context import IntegerContextModel, integer_context_model
from tfrnn.model import RecurrentCodec
from tfrnn.range_coding import integer_table_index, table_probabilities
from tfrnn.tiling import DEFAULT_MAX_PIXELS, DEFAULT_TILE

MAX_SIDE = 1 << 20  # largest height or width a decoding request may name
_BIT_WEIGHTS = (128, 64, 32, 16, 8, 4, 2, 1)
_BYTE_STRINGS = tuple(bytes([i]) for i in range(256))


def pack_bits(codes: tf.Tensor) -> tf.Tensor:
    """Codes in {−1, +1} (any shape, size a multiple of 8) -> a scalar string, MSB first."""
    bits = tf.reshape(tf.cast(codes > 0, tf.int32), [-1, 8])
    values = tf.reduce_sum(bits * tf.constant(_BIT_WEIGHTS, tf.int32), axis=1)
    return tf.strings.reduce_join(tf.gather(tf.constant(_BYTE_STRINGS), values))


def unpack_bits(data: tf.Tensor) -> tf.Tensor:
    """uint8 bytes [N] -> float32 codes in {−1, +1} [8N] (inverse of `pack_bits`)."""
    shifts = tf.constant([7, 6, 5, 4, 3, 2, 1, 0], tf.int32)
    bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(tf.cast(data, tf.int32)[:, None],
                                                         shifts), 1)
    return tf.reshape(tf.cast(bits, tf.float32) * 2.0 - 1.0, [-1])


def _scalar(dtype: tf.DType, name: str) -> tf.TensorSpec:
    return tf.TensorSpec([], dtype, name=name)


@dataclass(frozen=True)
class _Networks:
    """Holds the Keras models out of the SavedModel's object graph (a plain object is not
    tracked): see `ServingModule`."""

    codec: RecurrentCodec
    context_model: keras.layers.Layer | None
    integer_model: IntegerContextModel | None


class ServingModule(tf.Module):
    """The codec (and optional context model) with one tf.function per served signature.

    The module tracks the tf.Variables inside the Keras 3 variables, not the Keras models:
    a Keras variable exports as a fresh copy that TF1-style loaders (TF Serving's Session,
    `saved_model_cli run`) never restore, while the traced functions read the inner variable.
    """

    def __init__(self, codec: RecurrentCodec, context_model: keras.layers.Layer | None,
                 max_iterations: int, fingerprint: str, tile: int = DEFAULT_TILE):
        super().__init__(name="tfrnn_serving")
        self._networks = _Networks(codec, context_model, None if context_model is None
                                   else integer_context_model(context_model))
        layers = [codec] + ([context_model] if context_model is not None else [])
        self.model_variables = [v.value for layer in layers for v in layer.variables]
        self.max_iterations = int(max_iterations)
        self.fingerprint = fingerprint
        self.codec_fingerprint = codec.fingerprint()
        self.stride = codec.stride
        self.bits = codec.codec_config.bits
        self.tile = 0 if codec.codec_config.fixed_size else int(tile)
        bits = self.bits
        codes_spec = tf.TensorSpec([None, None, None, None, bits], tf.float32, name="codes")
        self.compress = tf.function(self._compress, input_signature=[
            _scalar(tf.string, "image_bytes"), _scalar(tf.int32, "iterations")])
        self.decompress = tf.function(self._decompress, input_signature=[
            _scalar(tf.string, "codes_bytes"), _scalar(tf.int32, "height"),
            _scalar(tf.int32, "width"), _scalar(tf.int32, "iterations")])
        self.encode = tf.function(self._encode, input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.uint8, name="images"),
            _scalar(tf.int32, "iterations")])
        self.decode = tf.function(self._decode, input_signature=[
            codes_spec, _scalar(tf.int32, "height"), _scalar(tf.int32, "width")])
        if context_model is not None:
            self.bit_probabilities = tf.function(self._bit_probabilities,
                                                 input_signature=[codes_spec])

    @property
    def codec(self) -> RecurrentCodec:
        return self._networks.codec

    @property
    def context_model(self) -> keras.layers.Layer | None:
        return self._networks.context_model

    @property
    def integer_model(self) -> IntegerContextModel | None:
        return self._networks.integer_model

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """Signature name -> concrete function, as passed to `tf.saved_model.save`."""
        functions = {"serving_default": self.compress, "decompress": self.decompress,
                     "encode": self.encode, "decode": self.decode}
        if self.context_model is not None:
            functions["bit_probabilities"] = self.bit_probabilities
        return {name: f.get_concrete_function() for name, f in functions.items()}

    # -- checks that fail the request with InvalidArgument ------------------------------------

    def _checked_iterations(self, iterations):
        checks = [
            tf.debugging.assert_greater_equal(iterations, 1, message="iterations must be >= 1"),
            tf.debugging.assert_less_equal(
                iterations, self.max_iterations,
                message=f"iterations must be <= {self.max_iterations}, the maximum of this export"),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(iterations)

    @staticmethod
    def _checked_size(height, width):
        checks = [tf.debugging.assert_positive(height, message="height must be >= 1"),
                  tf.debugging.assert_positive(width, message="width must be >= 1"),
                  tf.debugging.assert_less_equal(tf.maximum(height, width), MAX_SIDE,
                                                 message=f"height and width must be <= {MAX_SIDE}"),
                  tf.debugging.assert_less_equal(
                      tf.cast(height, tf.int64) * tf.cast(width, tf.int64),
                      tf.constant(DEFAULT_MAX_PIXELS, tf.int64),
                      message=f"height x width must be <= {DEFAULT_MAX_PIXELS} pixels")]
        with tf.control_dependencies(checks):
            return tf.identity(height), tf.identity(width)

    def _code_size(self, height, width):
        """(h, w) of one iteration's codes for an image of height × width."""
        s = self.stride
        return (height + s - 1) // s, (width + s - 1) // s

    def _checked_codes(self, codes, height, width):
        height, width = self._checked_size(height, width)
        h, w = self._code_size(height, width)
        shape = tf.shape(codes)
        checks = [
            tf.debugging.assert_greater_equal(shape[1], 1, message="codes hold no iteration"),
            tf.debugging.assert_less_equal(
                shape[1], self.max_iterations,
                message=f"codes hold more than {self.max_iterations} iterations"),
            tf.debugging.assert_equal(
                shape[2:4], tf.stack([h, w]),
                message=f"codes do not match height and width (stride {self.stride})"),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(codes)

    def _tiled(self, height, width, code_one, channels: int, codes: bool):
        """Apply `code_one(y, x, th, tw)` to every tile in raster order and assemble the
        results: code maps [T, 1, h, w, bits] (`codes`) or an image [H, W, 3]. A tile's result
        is [T, 1, th', tw', C] or [th, tw, C]; tiles are concatenated along their width, then
        the rows of tiles along their height (TensorArrays of varying shapes)."""
        tile = self.tile if self.tile else tf.maximum(height, width)
        rows, columns = (height + tile - 1) // tile, (width + tile - 1) // tile
        # Move the axis to concatenate first, then back: width for a row, height for rows.
        to_w, from_w = ([3, 0, 1, 2, 4], [1, 2, 3, 0, 4]) if codes else ([1, 0, 2], [1, 0, 2])
        to_h, from_h = ([2, 0, 1, 3, 4], [1, 2, 0, 3, 4]) if codes else ([0, 1, 2], [0, 1, 2])

        def strip(r, strips):
            y = r * tile
            th = tf.minimum(tile, height - y)

            def one(c, parts):
                x = c * tile
                out = code_one(y, x, th, tf.minimum(tile, width - x))
                return c + 1, parts.write(c, tf.transpose(out, to_w))

            parts = tf.TensorArray(tf.float32 if codes else tf.uint8, size=columns,
                                   infer_shape=False)
            _, parts = tf.while_loop(lambda c, _: c < columns, one, (tf.constant(0), parts))
            row = tf.transpose(parts.concat(), from_w)
            return r + 1, strips.write(r, tf.transpose(row, to_h))

        strips = tf.TensorArray(tf.float32 if codes else tf.uint8, size=rows, infer_shape=False)
        _, strips = tf.while_loop(lambda r, _: r < rows, strip, (tf.constant(0), strips))
        out = tf.transpose(strips.concat(), from_h)
        if codes:
            return tf.ensure_shape(out, [None, None, None, None, self.bits])
        return tf.ensure_shape(out, [None, None, channels])

    def _layout(self) -> dict[str, tf.Tensor]:
        return {"tile_size": tf.constant(self.tile, tf.int32),
                "stride": tf.constant(self.stride, tf.int32)}

    def _fingerprints(self) -> dict[str, tf.Tensor]:
        return {"model_fingerprint": tf.constant(self.fingerprint),
                "codec_fingerprint": tf.constant(self.codec_fingerprint)}

    # -- the signatures -----------------------------------------------------------------------

    def _compress(self, image_bytes, iterations):
        iterations = self._checked_iterations(iterations)
        image = tf.io.decode_image(image_bytes, channels=3, dtype=tf.uint8,
                                   expand_animations=False)
        image = tf.ensure_shape(image, [None, None, 3])
        shape = tf.shape(image)

        def encode_tile(y, x, th, tw):
            return self.codec.encode(image[None, y:y + th, x:x + tw], iterations)

        codes = self._tiled(shape[0], shape[1], encode_tile, self.bits, codes=True)[:, 0]
        return {"codes_bytes": pack_bits(codes), "height": shape[0], "width": shape[1],
                "iterations": iterations, "code_shape": tf.shape(codes),
                **self._layout(), **self._fingerprints()}

    def _decompress(self, codes_bytes, height, width, iterations):
        iterations = self._checked_iterations(iterations)
        height, width = self._checked_size(height, width)
        h, w = self._code_size(height, width)
        data = tf.io.decode_raw(codes_bytes, tf.uint8)
        have = tf.cast(tf.size(data), tf.int64) * 8
        per_iteration = tf.cast(h, tf.int64) * tf.cast(w, tf.int64) * self.bits
        checks = [
            tf.debugging.assert_equal(
                have % per_iteration, tf.constant(0, tf.int64),
                message="codes_bytes is not a whole number of iterations for this height/width"),
            tf.debugging.assert_greater_equal(
                have, per_iteration * tf.cast(iterations, tf.int64),
                message="codes_bytes holds fewer iterations than asked"),
        ]
        with tf.control_dependencies(checks):
            need = tf.cast(per_iteration // 8, tf.int32) * iterations
            codes = tf.reshape(unpack_bits(data[:need]), [iterations, 1, h, w, self.bits])
        s = self.stride

        def decode_tile(y, x, th, tw):
            cells = codes[:, :, y // s:(y + th + s - 1) // s, x // s:(x + tw + s - 1) // s]
            return self.codec.decode(cells, th, tw)[0]

        image = self._tiled(height, width, decode_tile, 3, codes=False)
        return {"image_bytes": tf.io.encode_png(image), **self._layout(), **self._fingerprints()}

    def _encode(self, images, iterations):
        iterations = self._checked_iterations(iterations)
        codes = self.codec.encode(images, iterations)
        return {"codes": tf.transpose(codes, [1, 0, 2, 3, 4])}

    def _decode(self, codes, height, width):
        codes = self._checked_codes(codes, height, width)
        return {"images": self.codec.decode(tf.transpose(codes, [1, 0, 2, 3, 4]),
                                            height, width)}

    def _bit_probabilities(self, codes):
        checks = [tf.debugging.assert_greater_equal(tf.shape(codes)[1], 1,
                                                    message="codes hold no iteration")]
        with tf.control_dependencies(checks):
            time_major = tf.transpose(codes, [1, 0, 2, 3, 4])
        logits = tf.transpose(tf.cast(self.context_model.logits(time_major), tf.float32),
                              [1, 0, 2, 3, 4])
        integer = self.integer_model
        index = tf.transpose(integer_table_index(integer.logits(time_major), integer.logit_bits),
                             [1, 0, 2, 3, 4])
        table = tf.constant(table_probabilities(), tf.float32)
        return {"probabilities": tf.sigmoid(logits), "logits": logits, "table_index": index,
                "table_probability": tf.gather(table, index),
                "context_kind": tf.constant(integer.kind),
                "context_groups": tf.constant(getattr(integer, "groups", 0), tf.int32)}
