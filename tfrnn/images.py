"""Reading any photo as uint8 RGB, and writing PNG atomically.

The networks code RGB directly (2016 paper, no chroma subsampling), so every input is
converted to 8-bit RGB: greyscale is replicated, alpha is composited on white, palette and
CMYK are converted, 16-bit is scaled down, and the EXIF orientation is applied.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tfrnn import atomic
from tfrnn.errors import UserError
from tfrnn.tiling import DEFAULT_MAX_PIXELS, check_pixels

# tfrnn applies its own limit (`max_pixels`, checked from the image's header before decoding),
# which a user may raise beyond Pillow's.
Image.MAX_IMAGE_PIXELS = None

ORIENTATION_TAG = 0x0112  # EXIF "Orientation"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".gif")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow image to 8-bit RGB (see module docstring for the rules)."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I") and arr.max() > 255 else 255.0
        arr = np.clip(np.round(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def rgb_conversions(img: Image.Image) -> tuple[str, ...]:
    """Name what `to_rgb` changes in `img`; call it before `img.load()`.

    Any of: "16-bit" (or "32-bit") samples, "cmyk", "palette", "greyscale", "alpha",
    "exif-orientation". Pillow opens 16-bit RGB as 8-bit "RGB", so the raw mode of the
    undecoded tiles is checked as well.
    """
    rawmodes = [args if isinstance(args, str) else str(args[0]) for *_, args in img.tile if args]
    found = []
    if img.mode.startswith("I;16") or any(";16" in raw for raw in rawmodes):
        found.append("16-bit")
    elif img.mode in ("I", "F"):
        found.append("32-bit")
    if img.mode == "CMYK":
        found.append("cmyk")
    if img.mode in ("P", "PA"):
        found.append("palette")
    if img.mode in ("1", "L", "LA", "La", "I", "F") or img.mode.startswith("I;16"):
        found.append("greyscale")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            img.mode == "P" and "transparency" in img.info):
        found.append("alpha")
    if img.getexif().get(ORIENTATION_TAG, 1) not in (None, 1):
        found.append("exif-orientation")
    return tuple(found)


def decode_image(data: bytes, name: str = "image",
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes into a uint8 [H, W, 3] array; UserError if unreadable or
    larger than `max_pixels` (checked before the pixels are decoded)."""
    if not data:
        raise UserError(f"{name}: empty file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            check_pixels(img.height, img.width, max_pixels, name)
            img.load()
            return np.asarray(to_rgb(img), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError) as e:
        raise UserError(f"{name}: not a readable image ({e.__class__.__name__}: {e})") from None


def read_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of a file; UserError (one line) if missing, a directory or unreadable."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None


def load_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as uint8 [H, W, 3]; UserError if missing, unreadable or larger
    than `max_pixels`."""
    return decode_image(read_bytes(path), str(path), max_pixels)


def image_size(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(height, width) of an image file from its header, without decoding the pixels;
    UserError if missing, unreadable or larger than `max_pixels`."""
    try:
        with Image.open(path) as img:
            check_pixels(img.height, img.width, max_pixels, str(path))
            return img.height, img.width
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a file") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise UserError(f"{path}: not a readable image ({e.__class__.__name__}: {e})") from None


def encode_png(image: np.ndarray, compress_level: int = 6) -> bytes:
    """Encode a uint8 [H, W, 3] (or [H, W]) array as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(
        buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a uint8 image as PNG, atomically."""
    atomic.write_bytes(path, encode_png(image))


# What `save_image` writes, by the file's extension: PNG and lossless WebP keep the pixels
# exactly; JPEG is a lossy re-encoding (quality 95, no chroma subsampling).
SAVE_FORMATS: dict[str, tuple[str, dict]] = {
    ".png": ("PNG", {"compress_level": 6}),
    ".webp": ("WEBP", {"lossless": True}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
}


def check_save_path(path: str | os.PathLike) -> None:
    """UserError unless `save_image` can write `path` (its extension names a format)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise UserError(f"{path}: cannot write {suffix or 'a name without an extension'}; "
                        f"name the output {', '.join(SAVE_FORMATS)}")


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a uint8 image atomically in the format its extension names (`SAVE_FORMATS`)."""
    check_save_path(path)
    fmt, options = SAVE_FORMATS[Path(path).suffix.lower()]
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format=fmt, **options)
    atomic.write_bytes(path, buf.getvalue())


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in `folder` (sorted); UserError if the folder is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such directory")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
