"""The per-image procedure of `tfrnn prepare` (no TensorFlow): ranking, tile counts, fitting."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from data_prep.decode import decode_rgb
from data_prep.sources import Item, open_source, sample_source
from data_prep.tiles import Settings, cut_tiles, fit_size, keep_count, mine_item
from tfrnn.errors import UserError


def png_bytes(array: np.ndarray, **save_args) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", **save_args)
    return buf.getvalue()


def test_kept_tiles_are_those_png_compresses_worst(astronaut):
    """Independent check on a real photo: Pillow PNG sizes of all 256 tiles, computed here."""
    result = mine_item(Item("astronaut", data=png_bytes(astronaut)), Settings(max_size=None))
    sizes = {}
    for y in range(0, 512, 32):
        for x in range(0, 512, 32):
            sizes[(y, x)] = len(png_bytes(astronaut[y:y + 32, x:x + 32]))
    raster = list(sizes)  # raster order breaks ties
    # largest PNG = lowest ratio = hardest; 256 tiles * 100 / 880 -> 29 kept
    expected = sorted(raster, key=lambda p: (-sizes[p], raster.index(p)))[:29]
    kept = [tuple(int(v) for v in p) for p in result.positions]
    assert kept == expected
    assert min(sizes[p] for p in kept) >= max(sizes[p] for p in raster if p not in kept)
    for (y, x), tile, ratio in zip(kept, result.tiles, result.ratios, strict=True):
        np.testing.assert_array_equal(tile, astronaut[y:y + 32, x:x + 32])
        assert ratio == pytest.approx(32 * 32 * 3 / sizes[(y, x)])


@pytest.mark.parametrize(("tiles", "kept"), [(880, 100), (150, 17), (256, 29), (4, 1),
                                             (3520, 400), (1, 1)])
def test_tile_count_rule(tiles, kept):
    assert keep_count(tiles, Settings()) == kept


def test_tile_count_rule_scales_with_tile_size():
    settings = Settings(tile_size=64, tiles_per_image=50)
    assert settings.reference_tiles == 20 * 11
    assert keep_count(220, settings) == 50


@pytest.mark.parametrize(("size", "fitted"), [
    ((1920, 1080), (1280, 720)), ((1080, 1920), (720, 1280)), ((4000, 3000), (960, 720)),
    ((481, 321), (481, 321)), ((1280, 720), (1280, 720)), ((5000, 40), (1280, 10))])
def test_fit_downscales_only_in_either_orientation(size, fitted):
    assert fit_size(size, (1280, 720)) == fitted


def test_large_photo_is_fitted_to_1280x720_and_keeps_100_tiles():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (900, 1600, 3), dtype=np.uint8)
    result = mine_item(Item("big", data=png_bytes(photo)), Settings())
    assert result.tiles.shape == (100, 32, 32, 3)
    assert result.positions[:, 0].max() <= 720 - 32 and result.positions[:, 1].max() <= 1280 - 32


def test_cut_tiles_is_raster_order_and_drops_the_remainder():
    image = np.arange(70 * 100 * 3, dtype=np.int64).reshape(70, 100, 3)
    tiles, positions = cut_tiles(image, 32)
    assert tiles.shape == (6, 32, 32, 3)
    assert positions.tolist() == [[0, 0], [0, 32], [0, 64], [32, 0], [32, 32], [32, 64]]
    np.testing.assert_array_equal(tiles[4], image[32:64, 32:64])


def test_thumbnail_is_the_centred_square_downscaled():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 100:] = 255  # left half black, right half white
    result = mine_item(Item("halves", data=png_bytes(image)), Settings(mode="thumbnails"))
    assert result.tiles.shape == (1, 32, 32, 3)
    thumb = result.tiles[0].astype(int)
    assert thumb[:, :14].max() <= 5 and thumb[:, 18:].min() >= 250


def test_exif_orientation_is_applied():
    rng = np.random.default_rng(1)
    stored = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    image, conversions = decode_rgb(png_bytes(stored, exif=exif))
    np.testing.assert_array_equal(np.asarray(image), np.rot90(stored, k=-1))
    assert conversions == ("exif-orientation",)


def test_sample_source_lists_the_photos_shipped_in_wheels():
    source = open_source("sample")
    ids = source.ids(0, len(source))
    assert {"skimage/astronaut.png", "skimage/rocket.jpg", "sklearn/china.jpg",
            "sklearn/flower.jpg", "matplotlib/grace_hopper.jpg"} <= set(ids)
    assert len(ids) == len(sample_source()) == 9


def test_missing_source_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        open_source(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="no images found"):
        open_source(str(tmp_path))
    with pytest.raises(UserError, match="no images found"):
        open_source(str(tmp_path / "*.jpg"))
