"""Classic codecs through Pillow, in memory: JPEG 4:2:0 and 4:4:4, WebP, JPEG 2000, AVIF.

Each codec is swept over one setting (its quality, or a target rate for JPEG 2000) with the
encoder's defaults otherwise, so the curves are what a user of the library gets:

- JPEG (libjpeg-turbo): `quality`, chroma 4:2:0 or 4:4:4, baseline with the standard Huffman
  tables (Pillow's defaults: no `optimize`, no `progressive`).
- WebP (libwebp): lossy `quality`, `method` 4 (the cwebp default).
- JPEG 2000 (OpenJPEG): raw codestream (`.j2k`, no JP2 boxes), 9/7 irreversible wavelet with the
  irreversible colour transform (`irreversible=True, mct=1`: the lossy configuration; Pillow's
  defaults are the lossless 5/3 wavelet without colour transform), one quality layer at a target
  rate: the setting is the target bpp, passed as the compression ratio 24 / bpp. OpenJPEG's
  rate control counts its ~150-byte headers, so tiny images use `jpeg2000-psnr` instead: the
  same coder with one layer at a target PSNR in dB.
- AVIF (libavif with libaom): `quality`, chroma 4:4:4 (the networks and BPG 4:4:4, the anchor, code
  full-resolution chroma), speed 6 (Pillow's default), one thread per encode (the bench is
  parallel over images instead).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL
from PIL import Image, features

from tfrnn.errors import UserError


@dataclass(frozen=True)
class Trial:
    """One encode/decode of one image at one setting."""

    setting: float
    nbytes: int
    encode_s: float
    decode_s: float
    decoded: np.ndarray


@dataclass(frozen=True)
class ClassicCodec:
    """A Pillow codec and its sweep: `options(setting)` gives the `Image.save` keywords."""

    id: str
    name: str
    format: str
    feature: str
    setting: str
    settings: tuple[float, ...]
    bounds: tuple[float, float]
    options: Callable[[float], dict[str, Any]]


def _jpeg(subsampling: int) -> Callable[[float], dict[str, Any]]:
    return lambda q: {"quality": int(q), "subsampling": subsampling}


CODECS: dict[str, ClassicCodec] = {c.id: c for c in (
    ClassicCodec("jpeg-420", "JPEG 4:2:0", "JPEG", "jpg", "quality",
                 (5, 10, 20, 30, 40, 50, 60, 70, 80, 90), (1, 100), _jpeg(2)),
    ClassicCodec("jpeg-444", "JPEG 4:4:4", "JPEG", "jpg", "quality",
                 (5, 10, 20, 30, 40, 50, 60, 70, 80, 90), (1, 100), _jpeg(0)),
    ClassicCodec("webp", "WebP", "WEBP", "webp", "quality",
                 (0, 10, 20, 30, 40, 50, 60, 70, 80, 90), (0, 100),
                 lambda q: {"quality": int(q), "method": 4}),
    ClassicCodec("jpeg2000", "JPEG 2000", "JPEG2000", "jpg_2000", "target bpp",
                 (0.0625, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0), (0.01, 23.9),
                 lambda b: {"quality_mode": "rates", "quality_layers": [24.0 / b],
                            "irreversible": True, "mct": 1, "no_jp2": True}),
    ClassicCodec("jpeg2000-psnr", "JPEG 2000 (PSNR target)", "JPEG2000", "jpg_2000",
                 "target PSNR", (16, 18, 20, 22, 24, 26, 28, 30, 33, 36), (1, 100),
                 lambda db: {"quality_mode": "dB", "quality_layers": [float(db)],
                             "irreversible": True, "mct": 1, "no_jp2": True}),
    ClassicCodec("avif", "AVIF 4:4:4", "AVIF", "avif", "quality",
                 (10, 20, 30, 40, 50, 60, 70, 80, 90), (0, 100),
                 lambda q: {"quality": int(q), "subsampling": "4:4:4", "speed": 6,
                            "max_threads": 1}),
)}


RD_CODECS = ("jpeg-420", "jpeg-444", "webp", "jpeg2000", "avif")


def get_codec(codec_id: str) -> ClassicCodec:
    """The codec called `codec_id`; UserError naming the choices if there is none."""
    if codec_id not in CODECS:
        raise UserError(f"unknown codec {codec_id!r}; choose from {', '.join(CODECS)}")
    codec = CODECS[codec_id]
    if not features.check(codec.feature):
        raise UserError(f"{codec.name}: this Pillow build has no {codec.feature} support")
    return codec


def check_settings(codec: ClassicCodec, settings: Sequence[float]) -> tuple[float, ...]:
    """`settings` as a tuple, or UserError if one is outside the codec's range."""
    lo, hi = codec.bounds
    bad = [s for s in settings if not lo <= s <= hi]
    if bad or not settings:
        raise UserError(f"{codec.id}: {codec.setting} must be in [{lo:g}, {hi:g}], got "
                        f"{', '.join(f'{s:g}' for s in bad) or 'nothing'}")
    return tuple(settings)


def parse_numbers(text: str, what: str, kind: type = float) -> tuple:
    """Text like "1,2,3" as a tuple of `kind`; UserError naming `what` if it is not."""
    try:
        values = tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserError(f"{what}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise UserError(f"{what}: empty list")
    return values


def choose(codecs: str, overrides: Sequence[str],
           sweeps: Mapping[str, tuple[float, ...]] | None = None) -> dict[str, tuple[float, ...]]:
    """Codec id -> sweep from "--codecs a,b" ("none" for no codec) and "--quality a=1,2" flags.

    A codec's sweep is `sweeps[id]` where given, else its own `settings`."""
    ids = [] if codecs.strip() == "none" else [c.strip() for c in codecs.split(",") if c.strip()]
    chosen = {cid: (sweeps or {}).get(cid, get_codec(cid).settings) for cid in ids}
    for spec in overrides:
        cid, sep, values = spec.partition("=")
        if not sep or cid not in chosen:
            raise UserError(f"--quality {spec!r}: expected CODEC=Q1,Q2,... for one of "
                            f"{', '.join(chosen) or 'the chosen codecs'}")
        chosen[cid] = parse_numbers(values, f"--quality {cid}")
    return {cid: check_settings(CODECS[cid], s) for cid, s in chosen.items()}


def versions(codec: ClassicCodec) -> dict[str, str]:
    """Library versions behind `codec` (Pillow's `features.version`, plus AV1 codecs for AVIF)."""
    out = {"pillow": PIL.__version__}
    if codec.feature == "jpg" and features.check("libjpeg_turbo"):
        out["libjpeg-turbo"] = str(features.version("libjpeg_turbo"))
    out[{"jpg": "libjpeg", "webp": "libwebp", "jpg_2000": "openjpeg",
         "avif": "libavif"}[codec.feature]] = str(features.version(codec.feature))
    if codec.feature == "avif":
        from PIL import _avif

        out["av1"] = str(_avif.codec_versions())
    return out


def label(codec: ClassicCodec) -> str:
    """The codec's name with its main library and version, e.g. "WebP (libwebp 1.5.0)"."""
    library, version = list(versions(codec).items())[1]
    return f"{codec.name} ({library} {version})"


def encode(codec: ClassicCodec, image: Image.Image, setting: float) -> bytes:
    """Encode an RGB Pillow image with `codec` at `setting`, in memory."""
    buf = io.BytesIO()
    image.save(buf, format=codec.format, **codec.options(setting))
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    """Decode bytes of any of the codecs to uint8 [H, W, 3]."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def sweep(codec: ClassicCodec, image: np.ndarray, settings: Sequence[float]) -> Iterator[Trial]:
    """Encode and decode `image` (uint8 [H, W, 3]) at every setting, timing both; one trial
    at a time, so that a consumer holds one decoded image at once."""
    pil = Image.fromarray(image)
    for setting in settings:
        t0 = time.perf_counter()
        data = encode(codec, pil, setting)
        t1 = time.perf_counter()
        decoded = decode(data)
        t2 = time.perf_counter()
        yield Trial(float(setting), len(data), t1 - t0, t2 - t1, decoded)
