"""Tiles: the grid, the batches, the pixel and memory guards, and bounded memory in a fresh
process at a size where whole-image coding would need far more."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tfrnn import tiling
from tfrnn.errors import UserError


def test_grid_covers_the_image_once_in_raster_order():
    tiles = tiling.grid(1000, 1100, 512)
    assert [(t.y, t.x, t.height, t.width) for t in tiles] == [
        (0, 0, 512, 512), (0, 512, 512, 512), (0, 1024, 512, 76),
        (512, 0, 488, 512), (512, 512, 488, 512), (512, 1024, 488, 76)]
    assert [t.index for t in tiles] == list(range(6))
    covered = np.zeros((1000, 1100), int)
    for t in tiles:
        t.pixels(covered)[...] += 1
    assert (covered == 1).all()
    assert tiling.grid(30, 40, 0) == [tiling.Tile(0, 0, 0, 30, 40)]
    assert tiles[5].cells(16) == (slice(32, 63), slice(64, 69))


def test_batches_hold_one_shape_and_respect_the_budget():
    tiles = tiling.grid(2000, 3000, 512)
    batches = tiling.batches(tiles, 1 << 20)
    assert sorted(t.index for b in batches for t in b) == list(range(len(tiles)))
    for batch in batches:
        assert len({(t.height, t.width) for t in batch}) == 1
        assert len(batch) == 1 or len(batch) * batch[0].height * batch[0].width <= 1 << 20
    assert max(len(b) for b in batches) == 4
    assert all(len(b) == 1 for b in tiling.batches(tiles, 1))


def test_pixel_and_memory_guards(monkeypatch):
    tiling.check_pixels(100, 100, 10_000, "x")
    with pytest.raises(UserError, match="x: 101x100 is 0 megapixels, above the limit"):
        tiling.check_pixels(100, 101, 10_000, "x")
    assert tiling.available_memory() > 0
    monkeypatch.setenv("TFRNN_MEMORY_LIMIT", str(1 << 30))
    tiling.check_memory(1 << 29, "x", "this")
    with pytest.raises(UserError, match="x: this needs about 2.0 GiB of memory; 1.0 GiB are "):
        tiling.check_memory(2 << 30, "x", "this")


def _child_peaks(cwd, runs: dict[str, list[str]]) -> dict[str, int]:
    """Run each `tfrnn bench memory` child action in turn in a fresh process (in `cwd`); the
    peak resident memory each reports."""
    peaks = {}
    for action, args in runs.items():
        done = subprocess.run([sys.executable, "-m", "tfrnn.bench.memory", "--child", action,
                               *args], cwd=cwd, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        peaks[action] = json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_bytes"]
    return peaks


PEAK_BOUND = 2.5 * 2**30  # bytes; coding 6 MP at once would need ~7 GiB with the shipped model


@pytest.mark.slow
def test_memory_stays_bounded_in_a_fresh_process(tmp_path, kodak_dir):
    """A 6-megapixel photo (6 tiles) compresses and decompresses with the shipped model under
    PEAK_BOUND, about half of what whole-image coding needs (`tiling.NETWORK_BYTES_PER_PIXEL`)."""
    from tfrnn.bench.memory import synthetic_photo
    from tfrnn.images import load_image, save_png

    photo = synthetic_photo(load_image(kodak_dir / "kodim05.png"), 6.0)
    save_png(tmp_path / "in.png", photo)
    assert photo.shape[0] * photo.shape[1] * tiling.NETWORK_BYTES_PER_PIXEL > 2 * PEAK_BOUND
    peaks = _child_peaks(tmp_path, {"compress": ["default", "1024", "in.png", "in.tfrnn", "2"],
                                    "decompress": ["default", "in.tfrnn", "out.png"]})
    assert load_image(tmp_path / "out.png").shape == photo.shape
    assert max(peaks.values()) < PEAK_BOUND, peaks


@pytest.mark.slow
def test_served_memory_stays_bounded_in_a_fresh_process(tmp_path, kodak_dir):
    """The same 6-megapixel photo through the shipped model's SavedModel (`serving_default`,
    then `decompress`), each signature in a fresh process, under PEAK_BOUND."""
    from tfrnn import cli
    from tfrnn.bench.memory import synthetic_photo
    from tfrnn.images import decode_image, encode_png, load_image

    photo = synthetic_photo(load_image(kodak_dir / "kodim05.png"), 6.0)
    (tmp_path / "in.png").write_bytes(encode_png(photo, compress_level=1))
    assert cli.run("export.cli:main", ["--checkpoint", "default", "--model-base-path",
                                       str(tmp_path / "serving"), "--name", "tfrnn"]) == 0
    model = str(tmp_path / "serving" / "tfrnn" / "1")
    peaks = _child_peaks(tmp_path, {"serve-compress": [model, "in.png", "codes.npz", "2"],
                                    "serve-decompress": [model, "codes.npz", "out.png"]})
    out = decode_image((tmp_path / "out.png").read_bytes())
    assert out.shape == photo.shape
    assert np.abs(out.astype(int) - photo).mean() < 20  # a real reconstruction
    assert max(peaks.values()) < PEAK_BOUND, peaks
