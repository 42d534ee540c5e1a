"""Classic codecs through Pillow: every codec round-trips, sweeps behave, choices are checked."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tfrnn.bench import classic
from tfrnn.errors import UserError


@pytest.fixture(scope="module")
def photo(astronaut):
    return np.asarray(Image.fromarray(astronaut).resize((96, 64)))


@pytest.mark.parametrize("codec_id", list(classic.CODECS))
def test_every_codec_round_trips_and_rate_grows_with_setting(codec_id, photo):
    codec = classic.get_codec(codec_id)
    settings = (codec.settings[1], codec.settings[-1])
    low, high = classic.sweep(codec, photo, settings)
    assert low.decoded.shape == high.decoded.shape == photo.shape
    assert 0 < low.nbytes < high.nbytes
    assert np.abs(high.decoded.astype(int) - photo).mean() < np.abs(
        low.decoded.astype(int) - photo).mean()
    versions = classic.versions(codec)
    assert versions["pillow"] and len(versions) >= 2 and all(versions.values())


def test_jpeg_subsampling_is_what_it_says(photo):
    for codec_id, sampling in (("jpeg-420", "4:2:0"), ("jpeg-444", "4:4:4")):
        data = classic.encode(classic.CODECS[codec_id], Image.fromarray(photo), 75)
        from io import BytesIO

        from PIL import JpegImagePlugin

        with Image.open(BytesIO(data)) as img:
            assert {0: "4:4:4", 2: "4:2:0"}[JpegImagePlugin.get_sampling(img)] == sampling


def test_jpeg2000_hits_its_target_rate(photo):
    codec = classic.CODECS["jpeg2000"]
    (trial,) = classic.sweep(codec, photo, [1.0])
    assert trial.nbytes * 8 / (96 * 64) == pytest.approx(1.0, rel=0.1)
    assert classic.encode(codec, Image.fromarray(photo), 1.0)[:2] == b"\xff\x4f"  # raw codestream


def test_choose():
    chosen = classic.choose("jpeg-420,webp", ["webp=10,90"])
    assert chosen == {"jpeg-420": classic.CODECS["jpeg-420"].settings, "webp": (10.0, 90.0)}
    assert classic.choose("none", []) == {}
    sweeps = {"jpeg-420": (2, 3), "webp": (1, 2)}  # a benchmark's own defaults; flags still win
    assert classic.choose("jpeg-420,webp", ["webp=10"], sweeps) == {"jpeg-420": (2, 3),
                                                                   "webp": (10.0,)}
    with pytest.raises(UserError, match="unknown codec"):
        classic.choose("jpeg,webp", [])
    with pytest.raises(UserError, match=r"quality must be in \[1, 100\]"):
        classic.choose("jpeg-420", ["jpeg-420=0,50"])
    with pytest.raises(UserError, match="CODEC="):
        classic.choose("jpeg-420", ["webp=50"])
    with pytest.raises(UserError, match="comma-separated numbers"):
        classic.choose("webp", ["webp=a,b"])
