"""One image file's bytes -> 8-bit RGB, naming what was converted or why it is skipped.

A collection of millions of web images always holds some broken files: decoding never
raises anything but `Skip`, whose `kind` is one of `SKIP_KINDS`.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

from PIL import Image, UnidentifiedImageError

from tfrnn.images import rgb_conversions, to_rgb

Size = tuple[int, int]

SKIP_KINDS = ("unreadable", "zero-byte", "non-image", "truncated", "corrupt", "too-large",
              "tiny")


class Skip(Exception):
    """An input that yields no tiles; `kind` is one of SKIP_KINDS."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def decode_rgb(data: bytes,
               target: Callable[[Size], Size] | None = None) -> tuple[Image.Image, tuple[str, ...]]:
    """Decode to an RGB Pillow image (EXIF orientation applied) and the conversions made.

    `target(size)` is the (width, height) the caller will resize the image to; a JPEG is then
    decoded at the smallest DCT scale that still covers it (Pillow's `draft`), which is much
    faster for photos far larger than the target. `target` must not depend on orientation
    (swap-symmetric), because it sees the size before the EXIF rotation.
    """
    if not data:
        raise Skip("zero-byte", "empty file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise Skip("non-image", "not a recognised image format") from None
        except Image.DecompressionBombError as e:
            raise Skip("too-large", str(e)) from None
        except Exception as e:  # Pillow's plugins raise many types on broken headers
            raise Skip("corrupt", f"{e.__class__.__name__}: {e}") from None
        with img:
            try:
                conversions = rgb_conversions(img)
                if target is not None and img.format == "JPEG":
                    img.draft(None, target(img.size))
                img.load()
                return to_rgb(img), conversions
            except Image.DecompressionBombError as e:
                raise Skip("too-large", str(e)) from None
            except Exception as e:  # see above
                kind = "truncated" if "truncated" in str(e).lower() else "corrupt"
                raise Skip(kind, f"{e.__class__.__name__}: {e}") from None
