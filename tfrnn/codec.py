"""The codec for users: uint8 images <-> `.tfrnn` bytes with a trained model.

`load_codec(model)` loads a bundle (`tfrnn.bundle.load_bundle`: a bundle directory, a training
run directory, or a shipped pretrained name; `DEFAULT_MODEL` if None) and returns a `Codec`:

    codec.compress(image, iterations=K) -> bytes       # uint8 [H, W, 3], any size (tiled)
    codec.compress(image, block_snr=S) -> bytes       # spatially adaptive (`tfrnn.adaptive`)
    codec.compress(image, optimize=N) -> bytes        # codes searched N steps (`tfrnn.rdo`)
    codec.decompress(data, iterations=None) -> uint8 [H, W, 3]

Files are entropy-coded with the bundle's context model converted to integer arithmetic when
it has one (`tfrnn.integer_context`: the same table indices on every machine; raw bits
otherwise, or with `raw=True`); files made with the float model decode too. See FORMAT.md.
The header's model id is the first 16 bytes of the codec's fingerprint for raw files and of the
bundle's fingerprint (codec + context model) for entropy-coded files, so a file only decodes
with the weights that made it.
Images larger than one tile (`tfrnn.tiling`, default 1024×1024) are coded as independent tiles,
in batches of tiles of one shape, so memory is bounded whatever the image size (format
version 3). The networks run as `tf.function`s with shape-free input signatures: traced once,
whatever the tile size.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrnn import adaptive, file_format, rdo, tiling
from tfrnn.bundle import PRETRAINED_DIR, Bundle, load_bundle, pretrained_names
from tfrnn.errors import UserError
from tfrnn.integer_context import integer_context_model
from tfrnn.range_coding import EntropyCoder, entropy_coder, pack_bits, unpack_bits

DEFAULT_MODEL = "default"


def load_codec(model: str | os.PathLike | None = None) -> Codec:
    """A `Codec` for a bundle path, training run directory or pretrained name (default:
    the shipped `DEFAULT_MODEL`); UserError if there is no such model."""
    if model is None:
        if not (PRETRAINED_DIR / DEFAULT_MODEL / "model.json").is_file():
            raise UserError(f"no pretrained model is shipped yet ({DEFAULT_MODEL!r}); pass "
                            "--model with a bundle or a training run directory")
        model = DEFAULT_MODEL
    return Codec(load_bundle(model), name=str(model))


def shipped_model_for(container: file_format.Container) -> str | None:
    """The shipped pretrained model that made `container` (`DEFAULT_MODEL` tried first), so
    that a file decodes without `--model` whichever shipped model made it; None when none did
    (`load_codec(None)` then takes `DEFAULT_MODEL`, whose `check` says so). Raw files name
    the codec alone, whose fingerprint needs the weights: those models are loaded one by one
    until one matches."""
    header = container.header
    names = sorted(pretrained_names(), key=lambda name: (name != DEFAULT_MODEL, name))
    for name in names:
        found = _shipped_fingerprint(PRETRAINED_DIR / name, header.mode == "raw")
        if bytes.fromhex(found)[: file_format.MODEL_ID_BYTES] == header.model_id:
            return name
    return None


@functools.cache
def _shipped_fingerprint(path: Path, codec_only: bool) -> str:
    """A shipped bundle's fingerprint, or its codec's (which needs the weights loaded), once per
    process for a batch of files."""
    if codec_only:
        return load_bundle(path, with_context=False).codec.fingerprint()
    return json.loads((path / "model.json").read_text())["fingerprint"]


class Codec:
    """Compress and decompress images with one bundle (see the module docstring).

    `tile` (pixels, a multiple of the stride; 0: the whole image at once), `batch_pixels` (the
    pixels through the networks at once) and `max_pixels` (the largest image accepted, in both
    directions) may be changed after construction.
    """

    def __init__(self, bundle: Bundle, name: str | None = None):
        self.bundle = bundle
        self.model = bundle.codec
        config = self.model.codec_config
        self.name = name or config.name
        self.max_iterations = min(bundle.trained_iterations, file_format.MAX_ITERATIONS)
        self.bits = config.bits
        self.tile = 0 if config.fixed_size else tiling.DEFAULT_TILE
        self.batch_pixels = tiling.BATCH_PIXELS
        self.max_pixels = tiling.DEFAULT_MAX_PIXELS
        context = bundle.context_model
        self.coders: dict[str, EntropyCoder] = {}
        self.default_mode = "raw"
        if context is not None:
            # The float model decodes files made with it; files are written with its integer
            # conversion, bit-exact on every machine (FORMAT.md, modes 3 and 4).
            self.coders[context.kind] = entropy_coder(context)
            self.default_mode = f"{context.kind}-integer"
            self.coders[self.default_mode] = entropy_coder(integer_context_model(context))
        self.entropy_coder = self.coders.get(self.default_mode)
        self._model_ids = {"raw": bytes.fromhex(self.model.fingerprint())}
        for mode in self.coders:
            self._model_ids[mode] = bytes.fromhex(bundle.fingerprint)
        images = tf.TensorSpec((None, None, None, 3), tf.uint8)
        scalar = tf.TensorSpec((), tf.int32)
        self._encode = tf.function(
            lambda x, k, stop: self.model.encode(x, k, return_reconstructions=True,
                                                 stop_ratio=stop),
            input_signature=[images, scalar, tf.TensorSpec((), tf.float32)])
        codes = tf.TensorSpec((None, None, None, None, self.bits), tf.float32)
        self._decode = tf.function(self.model.decode, input_signature=[codes, scalar, scalar])
        self._decode_all = tf.function(
            lambda c, h, w: self.model.decode(c, h, w, all_iterations=True),
            input_signature=[codes, scalar, scalar])
        self.code_search = rdo.CodeSearch(self.model, context)

    def model_id(self, mode: str) -> bytes:
        return self._model_ids[mode][: file_format.MODEL_ID_BYTES]

    def _check_iterations(self, iterations: int) -> int:
        iterations = int(iterations)
        if not 1 <= iterations <= self.max_iterations:
            raise UserError(f"iterations must be 1 to {self.max_iterations} for model "
                            f"{self.name}, not {iterations}")
        return iterations

    def _mode(self, raw: bool) -> str:
        return "raw" if raw else self.default_mode

    def _tiles(self, height: int, width: int, tile: int, name: str) -> list[tiling.Tile]:
        """The tiles of an image, after the pixel limit and, when tiles are larger than a
        batch (untiled files), the memory they need."""
        tiling.check_pixels(height, width, self.max_pixels, name)
        tiles = tiling.grid(height, width, tile)
        largest = max(t.height * t.width for t in tiles)
        if largest > self.batch_pixels:
            tiling.check_memory(largest * tiling.NETWORK_BYTES_PER_PIXEL + 3 * height * width,
                                name, f"coding {width}x{height} as one tile")
        return tiles

    # -- compress ---------------------------------------------------------------------------

    def _check_image(self, image: np.ndarray, tile: int | None) -> tuple[np.ndarray, int]:
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
            raise UserError(f"expected a uint8 [H, W, 3] image, got {image.dtype} "
                            f"{list(image.shape)}")
        size = self.model.codec_config.fixed_size
        if size is not None and image.shape[:2] != (size, size):
            raise UserError(f"model {self.name} is fully connected: it codes {size}x{size} "
                            f"images only, not {image.shape[1]}x{image.shape[0]}")
        tile = self.tile if tile is None else int(tile)
        stride = self.model.stride
        if not tiling.valid_tile(tile, stride) or (tile and size is not None):
            raise UserError(f"tile size must be 0 (whole image) or a multiple of {stride} up to "
                            f"{file_format.MAX_TILE} for model {self.name}, not {tile}")
        return image, tile

    def _encode_tiles(self, image: np.ndarray, tiles: list[tiling.Tile], iterations: int,
                      block_snr: float | None, optimize: int, raw: bool):
        """Yield (tile, codes [T, h, w, bits], reconstructions [T, th, tw, 3]) for every tile,
        a batch of tiles of one shape at a time (see `encode`)."""
        if optimize < 0:
            raise UserError(f"optimize must be 0 or more steps, not {optimize}")
        if optimize and block_snr is not None:
            raise UserError("optimize and block_snr cannot be combined")
        stop = 0.0 if block_snr is None else adaptive.stop_ratio(block_snr)
        for batch in tiling.batches(tiles, self.batch_pixels):
            pixels = np.stack([t.pixels(image) for t in batch])
            if optimize:
                rate = not raw and self.entropy_coder is not None
                codes = np.stack([self.code_search.search(p, iterations, int(optimize),
                                                          rate=rate).codes for p in pixels], 1)
                recons = self._decode_all(codes, pixels.shape[1], pixels.shape[2])
            else:
                codes, recons = self._encode(pixels, iterations, stop)
                codes = codes.numpy()
            recons = recons.numpy()
            for i, t in enumerate(batch):
                yield t, codes[:, i], recons[:, i]

    def encode(self, image: np.ndarray, iterations: int, block_snr: float | None = None,
               optimize: int = 0, raw: bool = False,
               tile: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Codes [T, h, w, bits] (the whole image's code map, tile by tile) and the
        reconstruction after each iteration [T, H, W, 3].

        Codes are ±1; with `block_snr`, a block stops once its block SNR reaches that many dB
        (`tfrnn.adaptive`) and its later codes are 0; T then ends at the last iteration that
        still codes a block. With `optimize` = N > 0, each iteration's codes are searched for N
        steps (`tfrnn.rdo`; with the rate of the bundle's context model unless `raw`).
        `tile`: tile size (default `self.tile`).
        """
        image, tile = self._check_image(image, tile)
        iterations = self._check_iterations(iterations)
        height, width = image.shape[:2]
        tiles = self._tiles(height, width, tile, "image")
        codes = np.zeros((iterations,) + self.model.code_shape(1, height, width)[1:], np.float32)
        recons = np.zeros((iterations, height, width, 3), np.uint8)
        for t, tile_codes, tile_recons in self._encode_tiles(image, tiles, iterations,
                                                             block_snr, optimize, raw):
            codes[(slice(None),) + t.cells(self.model.stride)] = tile_codes
            recons[:, t.y: t.y + t.height, t.x: t.x + t.width] = tile_recons
        k = adaptive.used_iterations(codes)
        return codes[:k], recons[:k]

    def payloads(self, codes: np.ndarray, mode: str, adaptive_map: bool = False) -> list[bytes]:
        """One payload per iteration for one tile's codes [T, h, w, bits] in `mode`; with
        `adaptive_map`, the layout of spatially adaptive files (`tfrnn.adaptive`)."""
        active = adaptive.activity(codes)
        if mode == "raw":
            bodies = [pack_bits(bits[cells]) for bits, cells in zip(codes, active, strict=True)]
        else:
            bodies = self.coders[mode].encode(codes)
        if not adaptive_map:
            return bodies
        return [bodies[0]] + [adaptive.pack_map(active[t - 1], active[t]) + bodies[t]
                              for t in range(1, len(bodies))]

    def compress_progressive(self, image: np.ndarray, iterations: int | None = None,
                             raw: bool = False, block_snr: float | None = None,
                             optimize: int = 0, tile: int | None = None,
                             reconstructions: bool = True) -> tuple[bytes, np.ndarray | None]:
        """The file with `iterations` (default: all) and, with `reconstructions`, the
        reconstruction after each iteration [T, H, W, 3] (else None: memory stays bounded by
        the tiles): `file_format.truncate` gives any lower rate without re-encoding.
        With `block_snr` (dB), a spatially adaptive file; with `optimize`, codes searched that
        many steps per iteration (`tfrnn.rdo`; raw files search for distortion only); `tile`:
        tile size (default `self.tile`; 0: the whole image at once).
        """
        image, tile = self._check_image(image, tile)
        iterations = self._check_iterations(
            self.max_iterations if iterations is None else iterations)
        height, width = image.shape[:2]
        tiles = self._tiles(height, width, tile, "image")
        mode = self._mode(raw)
        adaptive_map = block_snr is not None
        recons = np.zeros((iterations, height, width, 3), np.uint8) if reconstructions else None
        parts = [[b""] * len(tiles) for _ in range(iterations)]  # [iteration][tile]
        used = 1
        for t, codes, tile_recons in self._encode_tiles(image, tiles, iterations, block_snr,
                                                        optimize, raw):
            used = max(used, adaptive.used_iterations(codes))
            for k, payload in enumerate(self.payloads(codes, mode, adaptive_map)):
                parts[k][t.index] = payload
            if recons is not None:
                recons[:, t.y: t.y + t.height, t.x: t.x + t.width] = tile_recons
        header = file_format.Header(mode, self.model_id(mode), height, width, adaptive_map,
                                    tile if len(tiles) > 1 else 0)
        if header.version < 3:
            payloads = [p[0] for p in parts[:used]]
        else:
            payloads = [file_format.join_tiles(p) for p in parts[:used]]
        data = file_format.write(header, payloads)
        return data, None if recons is None else recons[:used]

    def compress(self, image: np.ndarray, iterations: int | None = None,
                 raw: bool = False, block_snr: float | None = None, optimize: int = 0,
                 tile: int | None = None) -> bytes:
        """A `.tfrnn` file of a uint8 [H, W, 3] image with `iterations` (default: all)."""
        return self.compress_progressive(image, iterations, raw, block_snr, optimize, tile,
                                         reconstructions=False)[0]

    # -- decompress -------------------------------------------------------------------------

    def check(self, container: file_format.Container, name: str = "file") -> None:
        """UserError unless this codec can decode `container`: coding mode, model id, the
        iterations the model has, the tile size, the pixel limit and, for an untiled file
        larger than a batch, the memory it needs."""
        header = container.header
        mode = header.mode
        if mode not in self._model_ids:
            has = (f"a {self.default_mode} context model" if self.entropy_coder
                   else "no context model")
            raise UserError(f"{name}: entropy-coded with a {mode} context model; model "
                            f"{self.name} has {has}")
        if header.model_id != self.model_id(mode):
            raise UserError(f"{name}: made by another model (id {header.model_id.hex()}"
                            f"), not by {self.name} (id {self.model_id(mode).hex()})")
        if container.iterations > self.max_iterations:
            raise UserError(f"{name}: holds {container.iterations} iterations; model "
                            f"{self.name} has {self.max_iterations}")
        if not tiling.valid_tile(header.tile, self.model.stride):
            raise UserError(f"{name}: tile size {header.tile} is not a multiple of the "
                            f"model's stride {self.model.stride}")
        self._tiles(header.height, header.width, header.tile, name)

    def _tile_codes(self, container: file_format.Container, tile: tiling.Tile,
                    iterations: int) -> np.ndarray:
        """One tile's codes [iterations, h, w, bits] (±1; 0 where stopped)."""
        header = container.header
        _, h, w, bits = self.model.code_shape(1, tile.height, tile.width)
        payloads = [parts[tile.index] for parts in container.parts[:iterations]]
        active = np.ones((len(payloads), h, w), bool)
        for t in range(1, len(payloads) if header.adaptive else 0):
            try:
                active[t], payloads[t] = adaptive.split_map(payloads[t], active[t - 1])
            except UserError as e:
                raise UserError(f"iteration {t + 1}: {e}") from None
        if header.mode != "raw":
            return self.coders[header.mode].decode(payloads, h, w, active)
        codes = np.zeros((len(payloads), h, w, bits), np.float32)
        for t, payload in enumerate(payloads):
            try:
                codes[t][active[t]] = unpack_bits(payload, (int(active[t].sum()), bits))
            except UserError as e:
                raise UserError(f"iteration {t + 1}: {e} (not made by this model?)") from None
        return codes

    def _tile_error(self, container: file_format.Container, tile: tiling.Tile,
                    e: UserError) -> UserError:
        if container.header.tiles == 1:
            return e
        return UserError(f"tile {tile.index + 1} of {container.header.tiles}: {e}")

    def decode_codes(self, container: file_format.Container, iterations: int) -> np.ndarray:
        """The whole code map [iterations, h, w, bits] of a checked container, tile by tile."""
        header = container.header
        stride = self.model.stride
        codes = np.zeros((iterations,) + self.model.code_shape(1, header.height,
                                                                header.width)[1:], np.float32)
        for tile in tiling.grid(header.height, header.width, header.tile):
            try:
                codes[(slice(None),) + tile.cells(stride)] = self._tile_codes(container, tile,
                                                                              iterations)
            except UserError as e:
                raise self._tile_error(container, tile, e) from None
        return codes

    def decompress(self, data: bytes | file_format.Container, iterations: int | None = None,
                   name: str = "file") -> np.ndarray:
        """The uint8 [H, W, 3] image after `iterations` (default: all in the file), decoded a
        batch of tiles at a time."""
        container = data if isinstance(data, file_format.Container) else file_format.parse(
            data, name)
        self.check(container, name)
        k = container.iterations if iterations is None else int(iterations)
        if not 1 <= k <= container.iterations:
            raise UserError(f"{name}: holds {container.iterations} iterations; cannot decode {k}")
        header = container.header
        image = np.zeros((header.height, header.width, 3), np.uint8)
        tiles = tiling.grid(header.height, header.width, header.tile)
        for batch in tiling.batches(tiles, self.batch_pixels):
            codes = []
            for tile in batch:
                try:
                    codes.append(self._tile_codes(container, tile, k))
                except UserError as e:
                    raise UserError(f"{name}: {self._tile_error(container, tile, e)}") from None
            out = self._decode(np.stack(codes, 1), batch[0].height, batch[0].width).numpy()
            for tile, pixels in zip(batch, out, strict=True):
                image[tile.y: tile.y + tile.height, tile.x: tile.x + tile.width] = pixels
        return image
