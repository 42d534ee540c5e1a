"""The .tfrnn container: round trip, progressive truncation, and every kind of damage."""

from __future__ import annotations

import struct

import pytest

from tfrnn import file_format
from tfrnn.errors import UserError
from tfrnn.file_format import CHUNK_OVERHEAD, HEADER_BYTES, Header

HEADER = Header("checkerboard", bytes(range(16)), height=48, width=64)
PAYLOADS = [b"first iteration", b"", b"\x00\xff" * 7, b"last"]


@pytest.fixture()
def data() -> bytes:
    return file_format.write(HEADER, PAYLOADS)


def test_round_trip(data):
    container = file_format.parse(data)
    assert container.header == HEADER
    assert list(container.payloads) == PAYLOADS
    assert container.iterations == len(PAYLOADS)
    assert len(data) == HEADER_BYTES + sum(CHUNK_OVERHEAD + len(p) for p in PAYLOADS)


def test_every_chunk_boundary_is_a_valid_lower_rate_file(data):
    sizes = file_format.parse(data).sizes()
    assert sizes[-1] == len(data)
    for k, size in enumerate(sizes, start=1):
        cut = file_format.truncate(data, k)
        assert cut == data[:size] == file_format.write(HEADER, PAYLOADS[:k])
        assert list(file_format.parse(cut).payloads) == PAYLOADS[:k]


def test_truncate_refuses_impossible_counts(data):
    for k in (0, len(PAYLOADS) + 1):
        with pytest.raises(UserError, match="holds 4"):
            file_format.truncate(data, k)


def test_cut_anywhere_else_is_reported_truncated(data):
    boundaries = set(file_format.parse(data).sizes())
    for n in range(1, len(data)):
        if n in boundaries:
            continue
        with pytest.raises(UserError) as e:
            file_format.parse(data[:n], "f.tfrnn")
        message = str(e.value)
        assert message.startswith("f.tfrnn: ")
        assert "truncated" in message or "no iterations" in message, message
        assert "\n" not in message


def test_every_single_bit_flip_is_detected(data):
    for i in range(len(data)):
        for bit in range(8):
            damaged = bytearray(data)
            damaged[i] ^= 1 << bit
            with pytest.raises(UserError):
                file_format.parse(bytes(damaged))


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a tfrnn file"),
    (b"hello world, this is a text file, not an image at all", "not a tfrnn file"),
    (file_format.MAGIC[:5], "truncated inside the header"),
])
def test_empty_foreign_and_short_files(content, message):
    with pytest.raises(UserError, match=message):
        file_format.parse(content)


def test_header_only_file_is_rejected(data):
    with pytest.raises(UserError, match="no iterations"):
        file_format.parse(data[:HEADER_BYTES])


def _with_header(version: int = 1, mode: int = 1, height: int = 48) -> bytes:
    import zlib

    head = struct.pack(">8sBB16sII", file_format.MAGIC, version, mode, bytes(16), height, 64)
    return head + struct.pack(">I", zlib.crc32(head))


def test_version_2_is_the_spatially_adaptive_layout(data):
    adaptive = Header("raw", bytes(16), height=48, width=64, adaptive=True)
    written = file_format.write(adaptive, PAYLOADS)
    assert data[8] == 1 and written[8] == 2
    assert file_format.parse(written).header == adaptive
    assert file_format.parse(data).header.adaptive is False


def test_unknown_version_mode_and_zero_size():
    with pytest.raises(UserError, match="format version 4; this tfrnn reads versions 1, 2, 3"):
        file_format.parse(_with_header(version=4))
    with pytest.raises(UserError, match="invalid header"):
        file_format.parse(_with_header(mode=9))
    with pytest.raises(UserError, match="invalid header"):  # integer modes need version 3
        file_format.parse(_with_header(mode=3))
    with pytest.raises(UserError, match="invalid header"):
        file_format.parse(_with_header(height=0))


def test_chunks_out_of_order_are_rejected():
    import zlib

    chunk_head = struct.pack(">BI", 1, 3)
    chunk = chunk_head + b"abc" + struct.pack(">I", zlib.crc32(b"abc", zlib.crc32(chunk_head)))
    with pytest.raises(UserError, match="labelled iteration 2"):
        file_format.parse(_with_header() + chunk)


def test_bpp_and_iterations_for_bpp(data):
    container = file_format.parse(data)
    pixels = HEADER.height * HEADER.width
    assert container.bpp() == pytest.approx(8 * len(data) / pixels)
    for k, size in enumerate(container.sizes(), start=1):
        assert file_format.iterations_for_bpp(container, 8 * size / pixels) == k
        assert file_format.iterations_for_bpp(container, 8 * size / pixels + 1e-9) == k
    assert file_format.iterations_for_bpp(container, 1e-6) == 1
    assert file_format.iterations_for_bpp(container, 1e6) == len(PAYLOADS)


def test_write_refuses_bad_input():
    with pytest.raises(ValueError):
        file_format.write(HEADER, [])
    with pytest.raises(ValueError):
        file_format.write(Header("raw", b"short", 1, 1), [b""])
    with pytest.raises(ValueError):
        file_format.write(Header("zip", bytes(16), 1, 1), [b""])


# -- version 3: tiles and integer modes ---------------------------------------------------------

TILED = Header("checkerboard-integer", bytes(range(16)), height=1000, width=600, adaptive=True,
               tile=512)
TILE_PARTS = [[b"a" * 200, b"", b"c", b"d" * 3], [b"", b"", b"", b""], [b"x", b"y", b"z", b"w"]]


@pytest.fixture()
def tiled() -> bytes:
    return file_format.write(TILED, [file_format.join_tiles(p) for p in TILE_PARTS])


def test_version_3_round_trip_and_prefixes(tiled):
    assert tiled[8] == 3 and TILED.tile_grid == (2, 2)
    container = file_format.parse(tiled)
    assert container.header == TILED
    assert [list(p) for p in container.parts] == TILE_PARTS
    for k, size in enumerate(container.sizes(), start=1):
        assert file_format.truncate(tiled, k) == tiled[:size]
        assert [list(p) for p in file_format.parse(tiled[:size]).parts] == TILE_PARTS[:k]


def test_version_3_every_single_bit_flip_is_detected(tiled):
    for i in range(len(tiled)):
        damaged = bytearray(tiled)
        damaged[i] ^= 1 << (i % 8)
        with pytest.raises(UserError):
            file_format.parse(bytes(damaged))


def test_only_files_that_need_it_are_version_3():
    small = Header("raw", bytes(16), height=500, width=500, tile=512)
    assert small.version == 1 and small.size == HEADER_BYTES
    assert Header("raw", bytes(16), 500, 500, adaptive=True, tile=512).version == 2
    assert Header("raw", bytes(16), 500, 513, tile=512).version == 3
    assert Header("raster-integer", bytes(16), 5, 5).version == 3
    data = file_format.write(small, [b"abc"])
    assert file_format.parse(data).header == Header("raw", bytes(16), 500, 500)  # tile not kept


@pytest.mark.parametrize("parts, message", [
    ([b"a", b"b", b"c"], "holds 3 tile parts, the header's size needs 4"),
    ([b"a", b"b", b"c", b"d", b"e"], "holds more or longer tile parts"),
])
def test_tile_parts_must_match_the_header(parts, message):
    data = file_format.write(TILED, [file_format.join_tiles(parts)])
    with pytest.raises(UserError, match=f"iteration 1: {message}"):
        file_format.parse(data)


def test_tile_lengths_that_point_past_the_chunk_are_rejected():
    with pytest.raises(UserError, match="more or longer"):
        file_format.split_tiles(b"\x05abc", 1)
    with pytest.raises(UserError, match="damaged"):
        file_format.split_tiles(b"\xff\xff\xff\xff\xff\xff", 1)
    long = b"q" * 300
    assert file_format.split_tiles(file_format.join_tiles([long, b""]), 2) == (long, b"")
