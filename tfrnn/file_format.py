"""The `.tfrnn` container: a header, then one length-prefixed, checksummed chunk per iteration.

Layout (all integers big-endian; FORMAT.md is the full specification)::

    header   magic b"\\x89TFRNN\\r\\n" | version u8 | mode u8 | model id 16 bytes |
             height u32 | width u32 | [version 3: tile u16 | flags u8] |
             CRC-32 of the preceding header bytes u32
    chunk t  iteration index u8 (= t, from 0) | payload length u32 | payload |
             CRC-32 of (index, length, payload) u32
    ...      the file ends exactly after its last chunk

The number of iterations is the number of chunks: it is not stored anywhere else, so a file cut
at a chunk boundary is itself a valid file with fewer iterations (the codec is progressive:
iteration t never depends on later ones), byte for byte the file that compressing with that
many iterations gives. A file that ends inside a chunk is reported as truncated; a damaged
byte fails a CRC; a file with no chunk is rejected.

Version 1 files code every cell in every iteration; version 2 files are spatially adaptive
(chunks 2.. start with an activity map, `tfrnn.adaptive`). Version 3 files are cut into tiles
of `tile` × `tile` pixels coded independently (`tfrnn.tiling`); each chunk's payload is then
one part per tile in raster order, each prefixed by its length (unsigned LEB128); flag bit 0
says spatially adaptive. Version 3 also carries the integer (portable) entropy-coding modes.
`write` picks the oldest version that can hold a file, so a file that needs nothing new is
byte for byte what earlier releases wrote.
Only this module reads or writes the container; it needs no model (`tfrnn truncate` is fast).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from tfrnn.errors import UserError

MAGIC = b"\x89TFRNN\r\n"
VERSIONS = (1, 2, 3)  # 2: spatially adaptive payloads; 3: tiles, flags, integer modes
# u8 code = position in this tuple; versions 1 and 2 hold the first three only
MODES = ("raw", "checkerboard", "raster", "checkerboard-integer", "raster-integer")
LEGACY_MODES = MODES[:3]
ADAPTIVE_FLAG = 1
MODEL_ID_BYTES = 16
MAX_ITERATIONS = 255

_HEADER = struct.Struct(">8sBB16sII")
_TILING = struct.Struct(">HB")  # version 3: tile size, flags
_CRC = struct.Struct(">I")
_CHUNK = struct.Struct(">BI")
HEADER_BYTES = _HEADER.size + _CRC.size  # versions 1 and 2
HEADER_BYTES_V3 = HEADER_BYTES + _TILING.size
MAX_TILE = (1 << 16) - 1
CHUNK_OVERHEAD = _CHUNK.size + _CRC.size


@dataclass(frozen=True)
class Header:
    """What a decoder needs besides the chunks: coding mode, model id, image size, whether
    the payloads are spatially adaptive, and the tile size (0: the image is one tile)."""

    mode: str
    model_id: bytes
    height: int
    width: int
    adaptive: bool = False
    tile: int = 0

    @property
    def tile_grid(self) -> tuple[int, int]:
        """Rows and columns of tiles."""
        if not self.tile:
            return 1, 1
        return -(-self.height // self.tile), -(-self.width // self.tile)

    @property
    def tiles(self) -> int:
        rows, columns = self.tile_grid
        return rows * columns

    @property
    def version(self) -> int:
        """The oldest format version that holds this header (see the module docstring)."""
        if self.mode in LEGACY_MODES and self.tiles == 1:
            return 2 if self.adaptive else 1
        return 3

    @property
    def size(self) -> int:
        """Bytes of the header in the file."""
        return HEADER_BYTES_V3 if self.version == 3 else HEADER_BYTES


@dataclass(frozen=True)
class Container:
    """A parsed file: the header, one payload per iteration and, for each iteration, that
    payload split into one part per tile (a version 1 or 2 payload is its only part)."""

    header: Header
    payloads: tuple[bytes, ...]
    parts: tuple[tuple[bytes, ...], ...] = ()

    def __post_init__(self):
        if not self.parts:  # one tile: each payload is its only part
            object.__setattr__(self, "parts", tuple((p,) for p in self.payloads))

    @property
    def iterations(self) -> int:
        return len(self.payloads)

    def sizes(self) -> list[int]:
        """File size in bytes when keeping the first k iterations, for k = 1 .. iterations."""
        out, size = [], self.header.size
        for payload in self.payloads:
            size += CHUNK_OVERHEAD + len(payload)
            out.append(size)
        return out

    def bpp(self, iterations: int | None = None) -> float:
        """Bits per pixel of the file (or of its first `iterations` iterations)."""
        k = self.iterations if iterations is None else iterations
        return 8.0 * self.sizes()[k - 1] / (self.header.height * self.header.width)


def _varint(n: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant first, high bit = more follows."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def join_tiles(parts: list[bytes] | tuple[bytes, ...]) -> bytes:
    """A version 3 chunk payload from one part per tile (raster order)."""
    return b"".join(_varint(len(p)) + p for p in parts)


def split_tiles(payload: bytes, tiles: int) -> tuple[bytes, ...]:
    """Inverse of `join_tiles`; UserError unless `payload` is exactly `tiles` framed parts."""
    parts, offset = [], 0
    while offset < len(payload):
        length = shift = 0
        while True:
            if offset >= len(payload) or shift > 28:
                raise UserError("tile lengths damaged")
            byte = payload[offset]
            offset += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if offset + length > len(payload) or len(parts) == tiles:
            raise UserError(f"holds more or longer tile parts than its {tiles} tiles")
        parts.append(payload[offset: offset + length])
        offset += length
    if len(parts) != tiles:
        raise UserError(f"holds {len(parts)} tile parts, the header's size needs {tiles}")
    return tuple(parts)


def write(header: Header, payloads: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Serialize a header and the per-iteration payloads (at least one; for version 3, each
    made by `join_tiles`), in the oldest version that holds them (`Header.version`)."""
    if header.mode not in MODES:
        raise ValueError(f"unknown mode {header.mode!r}")
    if len(header.model_id) != MODEL_ID_BYTES:
        raise ValueError(f"model id must be {MODEL_ID_BYTES} bytes")
    if not 1 <= len(payloads) <= MAX_ITERATIONS:
        raise ValueError(f"a file holds 1 to {MAX_ITERATIONS} iterations, not {len(payloads)}")
    if not 0 <= header.tile <= MAX_TILE:
        raise ValueError(f"tile size must be 0 to {MAX_TILE}, not {header.tile}")
    version = header.version
    head = _HEADER.pack(MAGIC, version, MODES.index(header.mode), header.model_id,
                        header.height, header.width)
    if version == 3:
        head += _TILING.pack(header.tile, ADAPTIVE_FLAG if header.adaptive else 0)
    parts = [head, _CRC.pack(zlib.crc32(head))]
    for t, payload in enumerate(payloads):
        chunk_head = _CHUNK.pack(t, len(payload))
        parts += [chunk_head, payload, _CRC.pack(zlib.crc32(payload, zlib.crc32(chunk_head)))]
    return b"".join(parts)


def parse(data: bytes, name: str = "file") -> Container:
    """Check and split a file; UserError (one line, starting with `name`) if it is not a
    complete, undamaged tfrnn file."""
    if not data:
        raise UserError(f"{name}: empty file")
    if not MAGIC.startswith(data[: len(MAGIC)]):
        raise UserError(f"{name}: not a tfrnn file")
    if len(data) < HEADER_BYTES:
        raise UserError(f"{name}: truncated inside the header ({len(data)} bytes)")
    _, version, mode, model_id, height, width = _HEADER.unpack_from(data)
    if version not in VERSIONS:
        raise UserError(f"{name}: format version {version}; this tfrnn reads versions "
                        f"{', '.join(map(str, VERSIONS))}")
    tile, flags, offset = 0, 0, _HEADER.size
    if version == 3:
        if len(data) < HEADER_BYTES_V3:
            raise UserError(f"{name}: truncated inside the header ({len(data)} bytes)")
        tile, flags = _TILING.unpack_from(data, offset)
        offset += _TILING.size
    (crc,) = _CRC.unpack_from(data, offset)
    if crc != zlib.crc32(data[:offset]):
        raise UserError(f"{name}: damaged header (checksum mismatch)")
    modes = MODES if version == 3 else LEGACY_MODES
    if mode >= len(modes) or height == 0 or width == 0 or flags & ~ADAPTIVE_FLAG:
        raise UserError(f"{name}: invalid header (mode {mode}, size {width}x{height}, "
                        f"flags {flags})")
    header = Header(MODES[mode], model_id, height, width,
                    version == 2 or bool(flags & ADAPTIVE_FLAG), tile)
    payloads, offset = [], offset + _CRC.size
    while offset < len(data):
        t = len(payloads)
        if offset + _CHUNK.size > len(data):
            raise UserError(f"{name}: truncated inside iteration {t + 1}'s chunk header")
        index, length = _CHUNK.unpack_from(data, offset)
        end = offset + _CHUNK.size + length + _CRC.size
        if end > len(data):
            raise UserError(f"{name}: truncated or damaged: iteration {t + 1}'s chunk needs "
                            f"{end - offset} bytes, {len(data) - offset} remain")
        (crc,) = _CRC.unpack_from(data, end - _CRC.size)
        if crc != zlib.crc32(data[offset: end - _CRC.size]):
            raise UserError(f"{name}: damaged data in iteration {t + 1} (checksum mismatch)")
        if index != t:
            raise UserError(f"{name}: chunk {t + 1} is labelled iteration {index + 1}")
        payloads.append(data[offset + _CHUNK.size: end - _CRC.size])
        offset = end
    if not payloads:
        raise UserError(f"{name}: no iterations (the file holds only a header)")
    if version < 3:
        return Container(header, tuple(payloads))
    parts = []
    for t, payload in enumerate(payloads):
        try:
            parts.append(split_tiles(payload, header.tiles))
        except UserError as e:
            raise UserError(f"{name}: iteration {t + 1}: {e}") from None
    return Container(header, tuple(payloads), tuple(parts))


def truncate(data: bytes, iterations: int, name: str = "file") -> bytes:
    """The same file keeping only its first `iterations` iterations (a prefix of `data`)."""
    container = parse(data, name)
    if not 1 <= iterations <= container.iterations:
        raise UserError(f"{name}: cannot keep {iterations} iterations; the file holds "
                        f"{container.iterations}")
    return data[: container.sizes()[iterations - 1]]


def iterations_for_bpp(container: Container, bpp: float) -> int:
    """The most iterations whose file fits in `bpp` bits per pixel (at least 1)."""
    fits = [k for k in range(1, container.iterations + 1) if container.bpp(k) <= bpp]
    return max(fits, default=1)
