"""The `.tfrnn` container: a header, then one length-prefixed, checksummed chunk per iteration.

Layout (all integers big-endian; FORMAT.md is the full specification)::

    header   magic b"\\x89TFRNN\\r\\n" | version u8 | mode u8 | model id 16 bytes |
             height u32 | width u32 | CRC-32 of the preceding header bytes u32
    chunk t  iteration index u8 (= t, from 0) | payload length u32 | payload |
             CRC-32 of (index, length, payload) u32
    ...      the file ends exactly after its last chunk

The number of iterations is the number of chunks: it is not stored anywhere else, so a file cut
at a chunk boundary is itself a valid file with fewer iterations (the codec is progressive:
iteration t never depends on later ones), byte for byte the file that compressing with that
many iterations gives. A file that ends inside a chunk is reported as truncated; a damaged
byte fails a CRC; a file with no chunk is rejected.

Version 1 files code every cell in every iteration; version 2 files are spatially adaptive
(chunks 2.. start with an activity map, `tfrnn.adaptive`); the container is the same.
Only this module reads or writes the container; it needs no model (`tfrnn truncate` is fast).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from tfrnn.errors import UserError

MAGIC = b"\x89TFRNN\r\n"
VERSIONS = (1, 2)  # 2: spatially adaptive payloads
MODES = ("raw", "checkerboard", "raster")  # u8 code = position in this tuple
MODEL_ID_BYTES = 16
MAX_ITERATIONS = 255

_HEADER = struct.Struct(">8sBB16sII")
_CRC = struct.Struct(">I")
_CHUNK = struct.Struct(">BI")
HEADER_BYTES = _HEADER.size + _CRC.size
CHUNK_OVERHEAD = _CHUNK.size + _CRC.size


@dataclass(frozen=True)
class Header:
    """What a decoder needs besides the chunks: coding mode, model id, image size, and
    whether the payloads are spatially adaptive (format version 2)."""

    mode: str
    model_id: bytes
    height: int
    width: int
    adaptive: bool = False


@dataclass(frozen=True)
class Container:
    """A parsed file: the header and one payload per iteration."""

    header: Header
    payloads: tuple[bytes, ...]

    @property
    def iterations(self) -> int:
        return len(self.payloads)

    def sizes(self) -> list[int]:
        """File size in bytes when keeping the first k iterations, for k = 1 .. iterations."""
        out, size = [], HEADER_BYTES
        for payload in self.payloads:
            size += CHUNK_OVERHEAD + len(payload)
            out.append(size)
        return out

    def bpp(self, iterations: int | None = None) -> float:
        """Bits per pixel of the file (or of its first `iterations` iterations)."""
        k = self.iterations if iterations is None else iterations
        return 8.0 * self.sizes()[k - 1] / (self.header.height * self.header.width)


def write(header: Header, payloads: list[bytes] | tuple[bytes, ...]) -> bytes:
    """Serialize a header and the per-iteration payloads (at least one)."""
    if header.mode not in MODES:
        raise ValueError(f"unknown mode {header.mode!r}")
    if len(header.model_id) != MODEL_ID_BYTES:
        raise ValueError(f"model id must be {MODEL_ID_BYTES} bytes")
    if not 1 <= len(payloads) <= MAX_ITERATIONS:
        raise ValueError(f"a file holds 1 to {MAX_ITERATIONS} iterations, not {len(payloads)}")
    version = VERSIONS[1] if header.adaptive else VERSIONS[0]
    head = _HEADER.pack(MAGIC, version, MODES.index(header.mode), header.model_id,
                        header.height, header.width)
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
    (crc,) = _CRC.unpack_from(data, _HEADER.size)
    if crc != zlib.crc32(data[: _HEADER.size]):
        raise UserError(f"{name}: damaged header (checksum mismatch)")
    if version not in VERSIONS:
        raise UserError(f"{name}: format version {version}; this tfrnn reads versions "
                        f"{', '.join(map(str, VERSIONS))}")
    if mode >= len(MODES) or height == 0 or width == 0:
        raise UserError(f"{name}: invalid header (mode {mode}, size {width}x{height})")
    payloads, offset = [], HEADER_BYTES
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
    return Container(Header(MODES[mode], model_id, height, width, version == VERSIONS[1]),
                     tuple(payloads))


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
