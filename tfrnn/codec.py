"""The codec for users: uint8 images <-> `.tfrnn` bytes with a trained model.

`load_codec(model)` loads a bundle (`tfrnn.bundle.load_bundle`: a bundle directory, a training
run directory, or a shipped pretrained name; `DEFAULT_MODEL` if None) and returns a `Codec`:

    codec.compress(image, iterations=K) -> bytes       # uint8 [H, W, 3], any size
    codec.compress(image, block_snr=S) -> bytes       # spatially adaptive (`tfrnn.adaptive`)
    codec.compress(image, optimize=N) -> bytes        # codes searched N steps (`tfrnn.rdo`)
    codec.decompress(data, iterations=None) -> uint8 [H, W, 3]

Files are entropy-coded with the bundle's context model when it has one (raw bits otherwise,
or with `raw=True`); see FORMAT.md. The header's model id is the first 16 bytes of the codec's
fingerprint for raw files and of the bundle's fingerprint (codec + context model) for
entropy-coded files, so a file only decodes with the weights that made it.
The networks run as `tf.function`s with shape-free input signatures: traced once, whatever the
image size.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrnn import adaptive, file_format, rdo
from tfrnn.bundle import PRETRAINED_DIR, Bundle, load_bundle
from tfrnn.errors import UserError
from tfrnn.range_coding import entropy_coder, pack_bits, unpack_bits

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
    names = sorted((p.parent.name for p in PRETRAINED_DIR.glob("*/model.json")),
                   key=lambda name: (name != DEFAULT_MODEL, name))
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
    """Compress and decompress images with one bundle (see the module docstring)."""

    def __init__(self, bundle: Bundle, name: str | None = None):
        self.bundle = bundle
        self.model = bundle.codec
        config = self.model.codec_config
        self.name = name or config.name
        # The iterations the model was trained with (the trainer records them), else the config's.
        trained = int(bundle.metadata.get("iterations") or config.iterations)
        self.max_iterations = min(trained, file_format.MAX_ITERATIONS)
        self.bits = config.bits
        context = bundle.context_model
        self.entropy_coder = entropy_coder(context) if context is not None else None
        self.default_mode = context.kind if context is not None else "raw"
        self._model_ids = {"raw": bytes.fromhex(self.model.fingerprint())}
        if context is not None:
            self._model_ids[context.kind] = bytes.fromhex(bundle.fingerprint)
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

    # -- compress ---------------------------------------------------------------------------

    def encode(self, image: np.ndarray, iterations: int, block_snr: float | None = None,
               optimize: int = 0, raw: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Codes [T, h, w, bits] and the reconstruction after each iteration [T, H, W, 3].

        Codes are ±1; with `block_snr`, a block stops once its block SNR reaches that many dB
        (`tfrnn.adaptive`) and its later codes are 0; T then ends at the last iteration that
        still codes a block. With `optimize` = N > 0, each iteration's codes are searched for N
        steps (`tfrnn.rdo`; with the rate of the bundle's context model unless `raw`).
        """
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
            raise UserError(f"expected a uint8 [H, W, 3] image, got {image.dtype} "
                            f"{list(image.shape)}")
        size = self.model.codec_config.fixed_size
        if size is not None and image.shape[:2] != (size, size):
            raise UserError(f"model {self.name} is fully connected: it codes {size}x{size} "
                            f"images only, not {image.shape[1]}x{image.shape[0]}")
        iterations = self._check_iterations(iterations)
        if optimize < 0:
            raise UserError(f"optimize must be 0 or more steps, not {optimize}")
        if optimize:
            if block_snr is not None:
                raise UserError("optimize and block_snr cannot be combined")
            codes = self.code_search.search(image, iterations, int(optimize),
                                        rate=not raw and self.entropy_coder is not None).codes
            recons = self._decode_all(codes[:, None], image.shape[0], image.shape[1])
            return codes, recons.numpy()[:, 0]
        stop = 0.0 if block_snr is None else adaptive.stop_ratio(block_snr)
        codes, recons = self._encode(image[None], iterations, stop)
        codes, recons = codes.numpy()[:, 0], recons.numpy()[:, 0]
        k = adaptive.used_iterations(codes)
        return codes[:k], recons[:k]

    def payloads(self, codes: np.ndarray, mode: str, adaptive_map: bool = False) -> list[bytes]:
        """One payload per iteration of codes [T, h, w, bits] in `mode`; with `adaptive_map`,
        the layout of spatially adaptive files (`tfrnn.adaptive`)."""
        active = adaptive.activity(codes)
        if mode == "raw":
            bodies = [pack_bits(bits[cells]) for bits, cells in zip(codes, active, strict=True)]
        else:
            bodies = self.entropy_coder.encode(codes)
        if not adaptive_map:
            return bodies
        return [bodies[0]] + [adaptive.pack_map(active[t - 1], active[t]) + bodies[t]
                              for t in range(1, len(bodies))]

    def compress_progressive(self, image: np.ndarray, iterations: int | None = None,
                             raw: bool = False, block_snr: float | None = None,
                             optimize: int = 0) -> tuple[bytes, np.ndarray]:
        """The file with `iterations` (default: all) and the reconstruction after each
        iteration [T, H, W, 3]: `file_format.truncate` gives any lower rate without re-encoding.
        With `block_snr` (dB), a spatially adaptive file (format version 2); with `optimize`,
        codes searched that many steps per iteration (`tfrnn.rdo`; raw files search for
        distortion only).
        """
        codes, recons = self.encode(
            image, self.max_iterations if iterations is None else iterations, block_snr,
            optimize, raw)
        mode = self._mode(raw)
        adaptive_map = block_snr is not None
        header = file_format.Header(mode, self.model_id(mode), image.shape[0], image.shape[1],
                                    adaptive_map)
        return file_format.write(header, self.payloads(codes, mode, adaptive_map)), recons

    def compress(self, image: np.ndarray, iterations: int | None = None,
                 raw: bool = False, block_snr: float | None = None, optimize: int = 0) -> bytes:
        """A `.tfrnn` file of a uint8 [H, W, 3] image with `iterations` (default: all)."""
        return self.compress_progressive(image, iterations, raw, block_snr, optimize)[0]

    # -- decompress -------------------------------------------------------------------------

    def check(self, container: file_format.Container, name: str = "file") -> None:
        """UserError unless this codec can decode `container` (coding mode and model id)."""
        mode = container.header.mode
        if mode not in self._model_ids:
            has = (f"a {self.default_mode} context model" if self.entropy_coder
                   else "no context model")
            raise UserError(f"{name}: entropy-coded with a {mode} context model; model "
                            f"{self.name} has {has}")
        if container.header.model_id != self.model_id(mode):
            raise UserError(f"{name}: made by another model (id {container.header.model_id.hex()}"
                            f"), not by {self.name} (id {self.model_id(mode).hex()})")

    def decode_codes(self, container: file_format.Container, iterations: int) -> np.ndarray:
        """Codes [iterations, h, w, bits] from a checked container (±1; 0 where stopped)."""
        header = container.header
        _, h, w, bits = self.model.code_shape(1, header.height, header.width)
        payloads = list(container.payloads[:iterations])
        active = np.ones((len(payloads), h, w), bool)
        for t in range(1, len(payloads) if header.adaptive else 0):
            try:
                active[t], payloads[t] = adaptive.split_map(payloads[t], active[t - 1])
            except UserError as e:
                raise UserError(f"iteration {t + 1}: {e}") from None
        if header.mode != "raw":
            return self.entropy_coder.decode(payloads, h, w, active)
        codes = np.zeros((len(payloads), h, w, bits), np.float32)
        for t, payload in enumerate(payloads):
            try:
                codes[t][active[t]] = unpack_bits(payload, (int(active[t].sum()), bits))
            except UserError as e:
                raise UserError(f"iteration {t + 1}: {e} (not made by this model?)") from None
        return codes

    def decompress(self, data: bytes | file_format.Container, iterations: int | None = None,
                   name: str = "file") -> np.ndarray:
        """The uint8 [H, W, 3] image after `iterations` (default: all in the file)."""
        container = data if isinstance(data, file_format.Container) else file_format.parse(
            data, name)
        self.check(container, name)
        k = container.iterations if iterations is None else int(iterations)
        if not 1 <= k <= container.iterations:
            raise UserError(f"{name}: holds {container.iterations} iterations; cannot decode {k}")
        try:
            codes = self.decode_codes(container, k)
        except UserError as e:
            raise UserError(f"{name}: {e}") from None
        header = container.header
        return self._decode(codes[:, None], header.height, header.width).numpy()[0]
