"""Thumbnail augmentation and the held-out split of `tfrnn prepare --mode thumbnails`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from data_prep import thumbnails
from tfrnn import cli as tfrnn_cli


def test_held_out_share_and_splits_partition():
    names = [f"photos/img_{i:05d}.jpg" for i in range(4000)]
    held = [n for n in names if thumbnails.held_out(n, 10)]
    assert 0.085 < len(held) / len(names) < 0.115
    assert not any(thumbnails.held_out(n, 0) for n in names)
    assert all(thumbnails.held_out(n, 100) for n in names)
    # a larger share holds out a superset: raising it never moves a photo into training
    assert set(held) < {n for n in names if thumbnails.held_out(n, 20)}
    for n in names[:200]:
        assert thumbnails.in_split(n, "all", 10)
        assert thumbnails.in_split(n, "train", 10) != thumbnails.in_split(n, "held-out", 10)


def test_thumbnails_are_reproducible_crops_first_centred(astronaut):
    img = Image.fromarray(astronaut[:300])  # 512x300: the centred square is x 106..406
    out = thumbnails.thumbnails(img, "a.png", 32, 6, (0.5, 1.0), flips=True)
    assert out.shape == (6, 32, 32, 3) and out.dtype == np.uint8
    centred = img.resize((32, 32), Image.Resampling.LANCZOS, box=(106, 0, 406, 300))
    np.testing.assert_array_equal(out[0], np.asarray(centred))
    np.testing.assert_array_equal(out, thumbnails.thumbnails(img, "a.png", 32, 6, (0.5, 1.0),
                                                             flips=True))
    other = thumbnails.thumbnails(img, "b.png", 32, 6, (0.5, 1.0), flips=True)
    assert not np.array_equal(out[1:], other[1:])
    assert len({t.tobytes() for t in out}) == 6


def test_full_scale_crops_of_a_square_photo_are_the_thumbnail_or_its_mirror(astronaut):
    img = Image.fromarray(astronaut)
    out = thumbnails.thumbnails(img, "square", 32, 12, (1.0,), flips=True)
    mirrored = [np.array_equal(t, out[0][:, ::-1]) for t in out[1:]]
    assert all(np.array_equal(t, out[0]) or m for t, m in zip(out[1:], mirrored, strict=True))
    assert any(mirrored) and not all(mirrored)
    same = thumbnails.thumbnails(img, "square", 32, 4, (1.0,), flips=False)
    assert all(np.array_equal(t, same[0]) for t in same)


def test_prepare_splits_by_name_and_records_the_settings(tmp_path, astronaut):
    photos = tmp_path / "photos"
    photos.mkdir()
    names = [f"p{i}.png" for i in range(8)]
    for i, name in enumerate(names):
        Image.fromarray(astronaut[20 * i:20 * i + 200, 30 * i:30 * i + 260]).save(photos / name)
    held = {n for n in names if thumbnails.held_out(n, 40)}
    assert 0 < len(held) < len(names)
    flags = ["--mode", "thumbnails", "--held-out-percent", "40", "--no-progress",
             "--workers", "1"]
    assert tfrnn_cli.main(["prepare", str(photos), "-o", str(tmp_path / "train"), *flags,
                           "--split", "train", "--thumbnails-per-image", "3",
                           "--scales", "0.5,1", "--flips"]) == 0
    train = json.loads((tmp_path / "train" / "dataset.json").read_text())
    assert train["counts"]["tiles"] == 3 * (len(names) - len(held))
    assert train["skipped"]["other-split"]["count"] == len(held)
    assert train["settings"]["thumbnails_per_image"] == 3
    assert train["settings"]["scales"] == [0.5, 1.0] and train["settings"]["flips"] is True
    assert train["settings"]["split"] == "train"
    assert tfrnn_cli.main(["prepare", str(photos), "-o", str(tmp_path / "held"), *flags,
                           "--split", "held-out"]) == 0
    counts = json.loads((tmp_path / "held" / "dataset.json").read_text())["counts"]
    assert counts["tiles"] == counts["images_used"] == len(held)


@pytest.mark.parametrize(("flags", "message"), [
    (["--scales", "0.5,2"], "scales must be in (0, 1]"),
    (["--scales", "half"], "expected numbers like 0.5,1"),
    (["--thumbnails-per-image", "0"], "--thumbnails-per-image"),
    (["--held-out-percent", "120"], "held-out percent must be in [0, 100]"),
    (["--split", "test"], "invalid choice"),
])
def test_bad_thumbnail_flags_are_one_line(flags, message, capsys):
    assert tfrnn_cli.main(["prepare", "sample", "-o", "x", "--mode", "thumbnails",
                           *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
