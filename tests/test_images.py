"""Any input becomes uint8 RGB; unreadable input is a one-line UserError."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tfrnn.errors import UserError
from tfrnn.images import decode_image, encode_png, load_image, save_image, save_png


def encoded(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "I;16", "CMYK", "1"])
def test_modes_are_converted_to_rgb(mode):
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    img = Image.new(mode, (9, 5))
    out = decode_image(encoded(img, fmt))
    assert out.dtype == np.uint8 and out.shape == (5, 9, 3)


def test_greyscale_is_replicated_and_alpha_composited_on_white():
    grey = Image.fromarray(np.full((4, 4), 77, np.uint8), mode="L")
    np.testing.assert_array_equal(decode_image(encoded(grey)), 77)
    clear = Image.new("RGBA", (4, 4), (10, 20, 30, 0))
    np.testing.assert_array_equal(decode_image(encoded(clear)), 255)


def test_sixteen_bit_is_scaled():
    arr = np.full((3, 3), 65535, np.uint16)
    out = decode_image(encoded(Image.fromarray(arr), "TIFF"))
    np.testing.assert_array_equal(out, 255)


def test_exif_orientation_applied():
    img = Image.new("RGB", (6, 2))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° on display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert decode_image(buf.getvalue()).shape == (6, 2, 3)


def test_png_round_trip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    save_png(tmp_path / "x.png", arr)
    np.testing.assert_array_equal(load_image(tmp_path / "x.png"), arr)
    np.testing.assert_array_equal(decode_image(encode_png(arr)), arr)
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]  # no temporary left behind


@pytest.mark.parametrize("name,fmt,exact", [
    ("x.png", "PNG", True), ("x.webp", "WEBP", True), ("x.JPG", "JPEG", False),
    ("x.jpeg", "JPEG", False)])
def test_save_image_writes_the_format_its_extension_names(tmp_path, name, fmt, exact):
    arr = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    save_image(tmp_path / name, arr)
    with Image.open(tmp_path / name) as img:
        assert img.format == fmt
    assert np.array_equal(load_image(tmp_path / name), arr) == exact


@pytest.mark.parametrize("name", ["x.gif", "x"])
def test_save_image_refuses_other_names(tmp_path, name):
    with pytest.raises(UserError, match="cannot write"):
        save_image(tmp_path / name, np.zeros((2, 2, 3), np.uint8))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("content,message", [
    (b"", "empty file"), (b"not an image", "not a readable"), (None, "no such file")])
def test_bad_input_is_one_line_user_error(tmp_path, content, message):
    path = tmp_path / "bad.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message) as info:
        load_image(path)
    assert "\n" not in str(info.value)


def test_truncated_png_is_user_error(tmp_path):
    data = encode_png(np.zeros((64, 64, 3), np.uint8) + 3)
    with pytest.raises(UserError):
        decode_image(data[: len(data) // 2])
