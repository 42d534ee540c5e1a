"""The 2016 thumbnail systems: size rules of the codec, and the shipped thumbnail models.

Tiny untrained models check what the codec accepts; the shipped `thumb-*` bundles (skipped if
absent; the LSTMs and the feed-forward residual autoencoder, the paper's yardstick) must
round-trip a held-out thumbnail bit-exactly; whether they beat headerless JPEG 4:2:0 in SSIM at
64 bytes on a fixed held-out sample (the 2016 paper's claim) is checked too: it holds for
`thumb-conv-ln-lstm-ssim-v2`, `-v3`, `-colour` and the two `-diffusion` models and is marked as
the known failure it is for the others; the `-diffusion` models are checked against the claim's
10% margin as well.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

from tfrnn import cli, file_format, metrics
from tfrnn.bench import classic, thumbnails
from tfrnn.bench.results import Curve
from tfrnn.bundle import PRETRAINED_DIR, Bundle, pretrained_names, save_bundle
from tfrnn.codec import load_codec
from tfrnn.configs import CellSpec, get_config, thumb_conv_config
from tfrnn.errors import UserError
from tfrnn.images import save_png
from tfrnn.model import RecurrentCodec

SHIPPED = tuple(name for name in pretrained_names() if name.startswith("thumb-"))
SAMPLE = 48  # held-out thumbnails in the fixed sample


@pytest.fixture(scope="module")
def tiny_bundles(tmp_path_factory) -> dict[str, str]:
    """Untrained 2-iteration bundles: a fully-connected and a conv/deconv thumbnail model."""
    keras.utils.set_random_seed(0)
    fc = get_config("thumb-fc-lstm").replace(
        name="test-fc", stem_filters=16, encoder=(CellSpec(16, 1, 1, 1),), bits=16,
        decoder_filters=16, decoder=(CellSpec(16, 1, 1, 1),), iterations=2)
    conv = thumb_conv_config("test-conv", 1 / 32, "tiny conv/deconv").replace(iterations=2)
    root = tmp_path_factory.mktemp("thumb-bundles")
    return {c.name: str(save_bundle(root / c.name, Bundle(RecurrentCodec(c))))
            for c in (fc, conv)}


def test_fully_connected_codes_32x32_only(tiny_bundles, astronaut, tmp_path, capsys):
    assert get_config("thumb-fc-lstm").fixed_size == 32
    assert get_config("thumb-conv-lstm-cpu").fixed_size is None
    codec = load_codec(tiny_bundles["test-fc"])
    icon = astronaut[100:132, 200:232]
    data = codec.compress(icon)
    assert len(file_format.parse(data).payloads[0]) == 2  # 16 bits, raw
    np.testing.assert_array_equal(codec.decompress(data), codec.encode(icon, 2)[1][-1])
    save_png(tmp_path / "wide.png", astronaut[:32, :64])
    code = cli.main(["compress", str(tmp_path / "wide.png"), "-o", str(tmp_path / "w.tfrnn"),
                     "--model", tiny_bundles["test-fc"]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "fully connected: it codes 32x32 images only, not 64x32" in err[0]
    assert not (tmp_path / "w.tfrnn").exists()


def test_conv_model_codes_any_size(tiny_bundles, astronaut, tmp_path, capsys):
    codec = load_codec(tiny_bundles["test-conv"])
    for shape in ((32, 32), (37, 50)):
        image = astronaut[:shape[0], :shape[1]]
        data, recons = codec.compress_progressive(image)
        np.testing.assert_array_equal(codec.decompress(data), recons[-1])
    save_png(tmp_path / "icon.png", astronaut[:32, :32])
    assert cli.main(["compress", str(tmp_path / "icon.png"), "-o", str(tmp_path / "icon.tfrnn"),
                     "--model", tiny_bundles["test-conv"]]) == 0, capsys.readouterr().err
    assert file_format.parse((tmp_path / "icon.tfrnn").read_bytes()).iterations == 2


# -- the shipped thumbnail models -------------------------------------------------------------

@pytest.fixture(scope="module")
def held_out_sample(train_dir) -> np.ndarray:
    """The first SAMPLE held-out photos of ../shared/data/train (10%, as the models were
    trained), as the benchmark's 32×32 thumbnails."""
    images = thumbnails.select_images(train_dir, 10.0)[:SAMPLE]
    return thumbnails.load_thumbnails(images, 32)[0]


@pytest.fixture(scope="module")
def jpeg_curve(held_out_sample) -> Curve:
    """Headerless JPEG 4:2:0's mean SSIM against bytes, as `tfrnn bench thumbnails` sweeps it."""
    codec = classic.CODECS["jpeg-420"]
    res = thumbnails.sweep_thumbnails(codec, held_out_sample,
                                      thumbnails.THUMBNAIL_SWEEPS["jpeg-420"])
    return Curve(codec.name, "ssim-rgb", np.asarray(res["bytes"]), np.asarray(res["ssim-rgb"]),
                 "ours", "held_out_sample")


@pytest.fixture(scope="module")
def ssim_at_64_bytes(held_out_sample):
    """name -> a shipped model's mean SSIM after 4 iterations (64 bytes of codes), each model
    encoded once for the tests that compare it with JPEG."""
    @functools.cache
    def at(name: str) -> float:
        codec = shipped(name)
        return float(np.mean(metrics.ssim_batch(held_out_sample, np.stack(
            [codec.encode(t, 4)[1][-1] for t in held_out_sample]))))
    return at


def shipped(name: str):
    if not (PRETRAINED_DIR / name / "model.json").is_file():
        pytest.skip(f"{name} not shipped")
    return load_codec(name)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_round_trips_a_held_out_thumbnail(name, held_out_sample):
    codec = shipped(name)
    assert f"`{codec.bundle.fingerprint}`" in (PRETRAINED_DIR / name / "MODEL_CARD.md").read_text()
    thumb = held_out_sample[0]
    for raw in (True, False):
        data, recons = codec.compress_progressive(thumb, raw=raw)
        for k in (1, 4, codec.max_iterations):
            np.testing.assert_array_equal(codec.decompress(data, iterations=k), recons[k - 1])
    raw4 = file_format.parse(codec.compress(thumb, iterations=4, raw=True))
    assert [len(p) for p in raw4.payloads] == [16] * 4  # 64 bytes of codes, headerless


# The 2016 claim's test: on the held-out thumbnails, only the SSIM-trained `-v2`, `-v3`,
# `-colour` and the `-diffusion` models are above headerless JPEG 4:2:0 at 64 bytes (MODEL_CARDs,
# bench/results/thumbnails-train-held-out-10/); the others are expected failures. Strict: a
# model that beats JPEG makes its marker fail, so that the marker goes.
AHEAD_OF_JPEG = ("thumb-conv-ln-lstm-ssim-v2", "thumb-conv-ln-lstm-ssim-v3",
                 "thumb-conv-ln-lstm-ssim-diffusion", "thumb-conv-ln-lstm-ssim-colour",
                 "thumb-conv-ln-lstm-ssim-diffusion-colour")
# ... and only the `-diffusion` models by the claim's margin on the 153 held-out photos (JPEG
# needs 15% and 14% more bytes for their SSIM; `-v3` 9%, level with the margin on this 48-photo
# sample).
MEETS_CLAIM_AT_64 = ("thumb-conv-ln-lstm-ssim-diffusion",
                     "thumb-conv-ln-lstm-ssim-diffusion-colour")
BEHIND_JPEG = pytest.mark.xfail(strict=True, reason="below JPEG 4:2:0 at 64 bytes (its card)")


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=() if n in AHEAD_OF_JPEG else BEHIND_JPEG) for n in SHIPPED])
def test_shipped_model_beats_headerless_jpeg_at_64_bytes(name, ssim_at_64_bytes, jpeg_curve):
    assert ssim_at_64_bytes(name) > thumbnails.ssim_at_bytes(jpeg_curve, 64.0)


@pytest.mark.parametrize("name", MEETS_CLAIM_AT_64)
def test_shipped_model_needs_10_percent_fewer_bytes_than_jpeg_at_64(name, ssim_at_64_bytes,
                                                                   jpeg_curve):
    """64 bytes of ours against 64 / 0.9 = 71.1 of headerless JPEG 4:2:0, on the same sample."""
    assert ssim_at_64_bytes(name) > thumbnails.ssim_at_bytes(jpeg_curve, 64.0 / 0.9)


@pytest.mark.parametrize("name", [n for n in SHIPPED if n.startswith("thumb-fc-")])
def test_fc_model_refuses_other_sizes_in_one_line(name, astronaut):
    with pytest.raises(UserError, match="codes 32x32 images only, not 48x32"):
        shipped(name).compress(astronaut[:32, :48])
