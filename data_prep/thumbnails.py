"""32×32 thumbnails for the 2016 paper's systems: augmentation and the held-out split.

Toderici et al. 2016 (§4) train on millions of thumbnails; a small collection gives one per
photo. So a photo may give several: the first is always the paper's thumbnail (the centred
square crop, downscaled), each further one a random square crop whose side is a random choice
of `scales` times the photo's short side, downscaled with Pillow's antialiased Lanczos filter,
and mirrored left-right with probability 1/2 when `flips` is on. The draws are seeded by the
photo's id, so a rerun (or a resumed one) gives the same thumbnails.

Held-out split: a photo is held out when the first 8 bytes of SHA-256 of its id (for a folder,
its path relative to the folder), read as a number below 2**64, fall under `percent` % of that
range. It depends on the name alone, so `tfrnn prepare --split train` and `tfrnn bench
thumbnails --held-out` agree on any machine, whatever else is in the folder.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from PIL import Image

SPLITS = ("all", "train", "held-out")


def held_out(name: str, percent: float) -> bool:
    """Whether the photo called `name` is in the held-out `percent` % (see module docstring)."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return digest < percent / 100 * 2 ** 64


def in_split(name: str, split: str, percent: float) -> bool:
    """Whether `name` belongs to `split`: all, train (not held out) or held-out."""
    return split == "all" or held_out(name, percent) == (split == "held-out")


def square_thumbnail(img: Image.Image, size: int, box: tuple[int, int, int] | None = None,
                     flip: bool = False) -> np.ndarray:
    """The square (left, top, side) of `img` (default: the centred one) as size×size uint8."""
    if box is None:
        w, h = img.size
        side = min(w, h)
        box = ((w - side) // 2, (h - side) // 2, side)
    left, top, side = box
    out = img.resize((size, size), Image.Resampling.LANCZOS,
                     box=(left, top, left + side, top + side))
    if flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(out)


def thumbnails(img: Image.Image, name: str, size: int, count: int,
               scales: tuple[float, ...], flips: bool) -> np.ndarray:
    """`count` thumbnails of one photo, uint8 [count, size, size, 3] (see module docstring).

    Crops are never smaller than size×size pixels of the decoded photo (no upscaling).
    """
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8],
                                               "big"))
    w, h = img.size
    out = [square_thumbnail(img, size)]
    for _ in range(count - 1):
        side = max(size, min(min(w, h), round(float(rng.choice(scales)) * min(w, h))))
        left, top = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        out.append(square_thumbnail(img, size, (left, top, side),
                                    flip=flips and bool(rng.integers(0, 2))))
    return np.stack(out)


def source_size(size: tuple[int, int], thumb: int, scales: tuple[float, ...]
                ) -> tuple[int, int]:
    """Decode size (JPEG draft target) keeping the smallest crop at least thumb×thumb pixels."""
    scale = min(1.0, thumb / min(scales) / min(size))
    return math.ceil(size[0] * scale), math.ceil(size[1] * scale)
