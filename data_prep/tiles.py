"""The per-image procedure: fit, cut into tiles, rank by PNG ratio, keep the hardest.

Toderici et al. 2017, "high entropy" training set: each 1280×720 image is cut into
non-overlapping 32×32 tiles and the 100 tiles with the lowest PNG compression ratio are kept.
The 2016 paper trains on whole images downscaled to 32×32 (`mode="thumbnails"`; augmentation
and the held-out split in `data_prep.thumbnails`). Everything
here runs in worker processes (local pool or Beam), so it imports neither TensorFlow nor Beam.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
from PIL import Image

from data_prep import thumbnails as thumbs
from data_prep.decode import Size, Skip, decode_rgb
from data_prep.sources import Item
from data_prep.thumbnails import SPLITS
from tfrnn.images import encode_png

MODES = ("tiles", "thumbnails")
REFERENCE_SIZE: Size = (1280, 720)  # the paper's image size, for the tile-count rule


@dataclasses.dataclass(frozen=True)
class Settings:
    """How each image becomes tiles (defaults: the 2017 paper)."""

    mode: str = "tiles"
    tile_size: int = 32
    tiles_per_image: int = 100
    max_size: Size | None = REFERENCE_SIZE  # fit inside (either orientation); None = native
    png_level: int = 6  # zlib level of the PNG used for ranking (Pillow's default)
    # thumbnails mode (data_prep.thumbnails): per photo, crop scales, flips, held-out split
    thumbnails_per_image: int = 1
    scales: tuple[float, ...] = (1.0,)
    flips: bool = False
    split: str = "all"
    held_out_percent: float = 10.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {self.split!r}")
        if not 0 <= self.held_out_percent <= 100:
            raise ValueError(f"held-out percent must be in [0, 100], not {self.held_out_percent}")
        if self.thumbnails_per_image < 1 or not self.scales or not all(
                0 < s <= 1 for s in self.scales):
            raise ValueError("thumbnails per image must be at least 1 and crop scales in (0, 1]")
        if self.tile_size < 1 or self.tiles_per_image < 1 or not 0 <= self.png_level <= 9:
            raise ValueError(f"invalid settings {self}")
        if self.max_size is not None and min(self.max_size) < self.tile_size:
            raise ValueError(f"max size {self.max_size} is smaller than one tile")

    @property
    def reference_tiles(self) -> int:
        """Tiles in a 1280×720 image: 40 × 22 = 880 for 32×32 tiles."""
        return (REFERENCE_SIZE[0] // self.tile_size) * (REFERENCE_SIZE[1] // self.tile_size)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["max_size"] = list(self.max_size) if self.max_size else None
        if self.mode == "thumbnails":
            out["scales"] = list(self.scales)
        else:  # tiles ignore them: leave tile datasets' fingerprints as they were
            for key in ("thumbnails_per_image", "scales", "flips", "split", "held_out_percent"):
                del out[key]
        out["reference_size"] = list(REFERENCE_SIZE)
        out["reference_tiles"] = self.reference_tiles
        return out


@dataclasses.dataclass
class ImageResult:
    """What one image contributed: kept tiles (hardest first), or why it was skipped."""

    source_id: str
    tiles: np.ndarray  # uint8 [K, T, T, 3]
    ratios: np.ndarray  # float64 [K], raw bytes / PNG bytes
    positions: np.ndarray  # int64 [K, 2], (y, x) of each tile in the fitted image
    conversions: tuple[str, ...] = ()
    skip: str | None = None
    detail: str = ""
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)


def fit_size(size: Size, box: Size | None) -> Size:
    """Downscale (never upscale) `size` to fit `box` in either orientation, keeping aspect."""
    if box is None:
        return size
    long_side, short_side = max(box), min(box)
    scale = min(1.0, long_side / max(size), short_side / min(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def keep_count(n_tiles: int, settings: Settings) -> int:
    """Tiles kept from an image with `n_tiles` tiles: the paper's 100 per 880, pro rata.

    keep = clamp(round(tiles_per_image · n_tiles / reference_tiles), 1, n_tiles), rounding
    halves up; a 1280×720 image keeps 100, a 481×321 one (150 tiles) keeps 17.
    """
    share = settings.tiles_per_image * n_tiles / settings.reference_tiles
    return min(n_tiles, max(1, math.floor(share + 0.5)))


def cut_tiles(image: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping tile×tile tiles on a grid from the top-left corner, in raster order.

    Returns tiles [N, tile, tile, C] and their (y, x) positions [N, 2]; a remainder narrower
    than a tile at the right and bottom edges is dropped.
    """
    rows, cols = image.shape[0] // tile, image.shape[1] // tile
    grid = image[:rows * tile, :cols * tile].reshape(rows, tile, cols, tile, -1)
    tiles = np.ascontiguousarray(grid.swapaxes(1, 2)).reshape(rows * cols, tile, tile, -1)
    ys, xs = np.meshgrid(np.arange(rows) * tile, np.arange(cols) * tile, indexing="ij")
    return tiles, np.stack([ys.ravel(), xs.ravel()], axis=1).astype(np.int64)


def png_ratio(tile: np.ndarray, level: int = 6) -> float:
    """Raw bytes / lossless PNG bytes: low means hard to compress (high entropy)."""
    return tile.nbytes / len(encode_png(tile, compress_level=level))


def hardest(ratios: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the `keep` lowest ratios, lowest first; ties go to the earlier tile."""
    return np.argsort(ratios, kind="stable")[:keep]


def _skipped(item: Item, kind: str, detail: str, tile: int, **extra: Any) -> ImageResult:
    return ImageResult(item.id, np.zeros((0, tile, tile, 3), np.uint8), np.zeros(0),
                       np.zeros((0, 2), np.int64), skip=kind, detail=detail, **extra)


def mine_item(item: Item, settings: Settings) -> ImageResult:
    """Read, decode and mine one image; broken inputs come back as skipped results.

    `seconds` splits the wall time into read, decode (including the resize), png (ranking's
    PNG encodes) and other, and holds the thread's CPU time as cpu.
    """
    tile = settings.tile_size
    start, start_cpu = time.perf_counter(), time.thread_time()
    try:
        data = item.read()
    except OSError as e:
        return _skipped(item, "unreadable", f"{e.__class__.__name__}: {e}", tile)
    read_done = time.perf_counter()
    thumbnails = settings.mode == "thumbnails"
    if thumbnails and not thumbs.in_split(item.id, settings.split, settings.held_out_percent):
        return _skipped(item, "other-split", f"not in the {settings.split} split", tile)
    if thumbnails:
        target = lambda size: thumbs.source_size(size, tile, settings.scales)
    else:
        target = lambda size: fit_size(size, settings.max_size)
    try:
        img, conversions = decode_rgb(data, target)
    except Skip as e:
        return _skipped(item, e.kind, e.detail, tile)
    size = img.size if thumbnails else fit_size(img.size, settings.max_size)
    if min(size) < tile:
        return _skipped(item, "tiny", f"{size[0]}x{size[1]} is smaller than a tile", tile,
                        conversions=conversions)
    if thumbnails:
        tiles = thumbs.thumbnails(img, item.id, tile, settings.thumbnails_per_image,
                                  settings.scales, settings.flips)
        positions = np.zeros((len(tiles), 2), np.int64)
    else:
        if size != img.size:
            img = img.resize(size, Image.Resampling.LANCZOS)
        tiles, positions = cut_tiles(np.asarray(img), tile)
    decode_done = time.perf_counter()
    ratios = np.array([png_ratio(t, settings.png_level) for t in tiles])
    png_done = time.perf_counter()
    keep = len(tiles) if thumbnails else keep_count(len(tiles), settings)
    order = np.arange(keep) if thumbnails else hardest(ratios, keep)
    result = ImageResult(item.id, tiles[order], ratios[order], positions[order], conversions)
    end = time.perf_counter()
    result.seconds = {"read": read_done - start, "decode": decode_done - read_done,
                      "png": png_done - decode_done, "other": end - png_done,
                      "cpu": time.thread_time() - start_cpu}
    return result
