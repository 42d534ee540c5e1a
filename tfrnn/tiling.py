"""Tiles: coding images of any size in bounded memory (format version 3).

The recurrent codec's receptive field grows with every iteration, and its float32 states and
gates take about 1.1 kB per pixel coded at once (`NETWORK_BYTES_PER_PIXEL`, measured with the
shipped model: 1.6 GB peak for one 1024×1024 image): a whole 24-megapixel photo would need
~27 GB. So an image is cut into independent `tile` × `tile` tiles, as JPEG 2000 tiles and HEIF
grids do: the grid starts at the top-left corner; the last row and column of tiles are smaller
when `tile` does not divide the image. Each tile is coded exactly as an image of that size
would be (the codec pads it to a multiple of its stride by replicating its last row and
column, which is also what padding the whole image does), so the tiles' code maps tile the
whole image's code map when `tile` is a multiple of the stride. Tiles of one shape go through
the networks in batches of at most `BATCH_PIXELS` pixels: memory is bounded by a constant plus
the image itself, and time is linear in pixels.

`check_pixels` is the decompression-bomb guard (as Pillow's `MAX_IMAGE_PIXELS`), checked from a
header or an image's size before anything is allocated; `check_memory` refuses, in one line, a
job that needs more memory than the machine has available.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tfrnn.errors import UserError
from tfrnn.file_format import MAX_TILE

DEFAULT_TILE = 1024
BATCH_PIXELS = 1 << 20
NETWORK_BYTES_PER_PIXEL = 1200
DEFAULT_MAX_PIXELS = 1 << 28


@dataclass(frozen=True)
class Tile:
    """One tile: its position in raster order and its pixels in the image."""

    index: int
    y: int
    x: int
    height: int
    width: int

    def pixels(self, image):
        """This tile's pixels of an [H, W, ...] array."""
        return image[self.y: self.y + self.height, self.x: self.x + self.width]

    def cells(self, stride: int) -> tuple[slice, slice]:
        """This tile's rows and columns of the image's code map (`tile` a multiple of
        `stride`)."""
        y, x = self.y // stride, self.x // stride
        return (slice(y, y + -(-self.height // stride)), slice(x, x + -(-self.width // stride)))


def valid_tile(tile: int, stride: int) -> bool:
    """Whether `tile` is a tile size a codec of `stride` can code and a header can hold: 0
    (the whole image) or a multiple of the stride up to `MAX_TILE`."""
    return tile == 0 or (0 < tile <= MAX_TILE and tile % stride == 0)


def grid(height: int, width: int, tile: int) -> list[Tile]:
    """The tiles of a height × width image in raster order (one tile if `tile` is 0)."""
    if not tile:
        return [Tile(0, 0, 0, height, width)]
    tiles = []
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            tiles.append(Tile(len(tiles), y, x, min(tile, height - y), min(tile, width - x)))
    return tiles


def batches(tiles: list[Tile], batch_pixels: int = BATCH_PIXELS) -> list[list[Tile]]:
    """Tiles grouped by shape, each group cut into batches of at most `batch_pixels` pixels
    (at least one tile per batch)."""
    groups: dict[tuple[int, int], list[Tile]] = {}
    for t in tiles:
        groups.setdefault((t.height, t.width), []).append(t)
    out = []
    for (height, width), group in groups.items():
        size = max(1, batch_pixels // (height * width))
        out += [group[i: i + size] for i in range(0, len(group), size)]
    return out


def check_pixels(height: int, width: int, max_pixels: int, name: str) -> None:
    """UserError if a height × width image is beyond the pixel limit (`--max-pixels`)."""
    if height * width > max_pixels:
        raise UserError(f"{name}: {width}x{height} is {height * width / 1e6:.0f} megapixels, "
                        f"above the limit of {max_pixels / 1e6:.0f} (raise it with "
                        "--max-pixels if the image is trusted)")


def available_memory() -> int:
    """Bytes this process may still allocate: the kernel's MemAvailable, lowered by a cgroup
    (container) limit if there is one; a large number where neither can be read."""
    free = 1 << 62
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    cgroup = Path("/sys/fs/cgroup")
    try:
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            free = min(free, int(limit) - int((cgroup / "memory.current").read_text()))
    except (OSError, ValueError):
        pass
    return free


def check_memory(need: int, name: str, what: str) -> None:
    """UserError (one line) if `need` bytes exceed `available_memory()`; TFRNN_MEMORY_LIMIT
    (bytes) overrides what is available (tests, or a job that must leave room)."""
    have = int(os.environ.get("TFRNN_MEMORY_LIMIT") or available_memory())
    if need > have:
        raise UserError(f"{name}: {what} needs about {need / 2**30:.1f} GiB of memory; "
                        f"{have / 2**30:.1f} GiB are available")
