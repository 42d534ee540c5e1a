"""`tfrnn bench rd`: results against an independent Pillow + TF computation, JSON shape, skips."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from tfrnn.bench import rd
from tfrnn.bench.results import RESULT_KEYS, read_results
from tfrnn.errors import UserError


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory, astronaut):
    """Two 200x176 photos, an unreadable file and an image too small for MS-SSIM."""
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(astronaut).resize((200, 176)).save(folder / "a.png")
    Image.fromarray(astronaut[::-1]).resize((176, 200)).save(folder / "b.png")
    (folder / "broken.png").write_bytes(b"not a png")
    Image.fromarray(astronaut).resize((64, 64)).save(folder / "tiny.png")
    return folder


def test_jpeg_on_two_kodak_images_matches_independent_pillow(kodak_dir, tmp_path):
    import tensorflow as tf

    qualities = (15, 75)
    assert rd.main(["--images", str(kodak_dir), "--limit", "2", "--codecs", "jpeg-420",
                    "--quality", "jpeg-420=15,75", "--jobs", "1", "--out", str(tmp_path)]) == 0
    res = read_results(tmp_path / "jpeg-420.json")["results"]
    paths = sorted(kodak_dir.glob("kodim*.png"))[:2]
    for i, q in enumerate(qualities):
        bpp, psnr, msssim = [], [], []
        for p in paths:
            original = Image.open(p).convert("RGB")
            buf = io.BytesIO()
            original.save(buf, format="JPEG", quality=q, subsampling="4:2:0")
            x = np.asarray(original, np.float64)
            y = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float64)
            bpp.append(8 * len(buf.getvalue()) / (x.shape[0] * x.shape[1]))
            psnr.append(10 * math.log10(255**2 / np.mean((x - y) ** 2)))
            msssim.append(float(tf.image.ssim_multiscale(tf.constant(x, tf.float32),
                                                         tf.constant(y, tf.float32), 255.0)))
        assert res["quality"][i] == q
        assert res["bpp"][i] == pytest.approx(np.mean(bpp), rel=1e-12)
        assert res["psnr-rgb"][i] == pytest.approx(np.mean(psnr), abs=1e-9)
        assert res["ms-ssim-rgb"][i] == pytest.approx(np.mean(msssim), abs=2e-5)
        assert res["ms-ssim-rgb-db"][i] == pytest.approx(-10 * math.log10(1 - np.mean(msssim)),
                                                         abs=2e-3)


def test_json_shape_per_image_and_skips(small_dir, tmp_path):
    assert rd.main(["--images", str(small_dir), "--codecs", "webp,jpeg2000", "--quality",
                    "webp=30,80", "--quality", "jpeg2000=0.5,1", "--jobs", "1", "--per-image",
                    "--out", str(tmp_path)]) == 0
    for codec_id, setting in (("webp", "quality"), ("jpeg2000", "target-bpp")):
        raw = json.loads((tmp_path / f"{codec_id}.json").read_text())
        assert isinstance(raw["name"], str) and "mean over images" in raw["description"]
        res = raw["results"]
        assert set(RESULT_KEYS) <= set(res) and setting in res
        assert all(len(v) == 2 for v in res.values())
        assert res["bpp"][0] < res["bpp"][1] and res["psnr-rgb"][0] < res["psnr-rgb"][1]
        assert raw["images"] == ["a.png", "b.png"]
        assert sorted(s["image"] for s in raw["skipped"]) == ["broken.png", "tiny.png"]
        assert "161" in next(s["reason"] for s in raw["skipped"] if s["image"] == "tiny.png")
        assert raw["versions"]["pillow"]
        per = raw["per_image"]
        assert sorted(per) == ["a.png", "b.png"]
        assert res["bpp"] == pytest.approx(np.mean([per[k]["bpp"] for k in per], axis=0))


def test_worker_processes_give_the_same_numbers(small_dir, tmp_path):
    args = ["--images", str(small_dir), "--codecs", "jpeg-444", "--quality", "jpeg-444=40"]
    assert rd.main([*args, "--jobs", "2", "--out", str(tmp_path / "pool")]) == 0
    assert rd.main([*args, "--jobs", "1", "--out", str(tmp_path / "inline")]) == 0
    pool = read_results(tmp_path / "pool" / "jpeg-444.json")["results"]
    inline = read_results(tmp_path / "inline" / "jpeg-444.json")["results"]
    for key in ("bpp", "psnr-rgb", "ms-ssim-rgb", "psnr-hvs"):
        assert pool[key] == pytest.approx(inline[key], abs=1e-6)


def test_bad_arguments(small_dir, tmp_path):
    base = ["--images", str(small_dir), "--out", str(tmp_path)]
    with pytest.raises(UserError, match="unknown codec"):
        rd.main([*base, "--codecs", "gif"])
    for flag in ("--iterations", "--block-snr", "--optimize"):
        with pytest.raises(UserError, match="need --model"):
            rd.main([*base, flag, "1,2"])
    with pytest.raises(UserError, match="nothing to run"):
        rd.main([*base, "--codecs", "none"])
    with pytest.raises(UserError, match="no such directory"):
        rd.main(["--images", str(tmp_path / "missing")])


def test_model_result_ids_do_not_collide():
    assert rd.model_result_id(None) == rd.model_result_id("default") == "tfrnn-default"
    assert rd.model_result_id("runs/mine") == rd.model_result_id("runs/mine/model") == "tfrnn-mine"
    assert rd.model_result_id("runs/a b/") == "tfrnn-a-b"


def test_tfrnn_model_by_truncation(small_dir, tmp_path):
    import tensorflow as tf

    from tfrnn.bundle import Bundle, save_bundle
    from tfrnn.file_format import truncate
    from tfrnn.model import RecurrentCodec

    net = RecurrentCodec("tiny-lstm-additive")  # untrained: only the plumbing is tested
    net.encode(tf.zeros((1, 32, 32, 3), tf.uint8), 1)
    model = str(save_bundle(tmp_path / "bundle", Bundle(net)))
    codec = rd.load_model(model)
    image = np.asarray(Image.open(small_dir / "a.png").convert("RGB"))
    trials = list(rd.model_sweep(model, image, (1, 2)))
    data = codec.compress(image, iterations=codec.max_iterations)
    assert [t.nbytes for t in trials] == [len(truncate(data, iterations=k)) for k in (1, 2)]
    assert trials[0].nbytes < trials[1].nbytes
    assert all(t.decoded.shape == image.shape for t in trials)
    np.testing.assert_array_equal(trials[1].decoded, codec.decompress(data, iterations=2))
    out = tmp_path / "out"
    assert rd.main(["--images", str(small_dir), "--codecs", "none", "--model", model,
                    "--iterations", "1,2", "--block-snr=-30,60", "--optimize", "1", "--jobs",
                    "1", "--out", str(out)]) == 0
    doc = read_results(out / "tfrnn-bundle.json")
    res = doc["results"]
    assert doc["id"] == "tfrnn-bundle" and doc["coding"] == "raw"  # no context model
    assert res["iterations"] == [1, 2] and res["bpp"][0] < res["bpp"][1]
    stop_at_once = read_results(out / "tfrnn-bundle-snr-30.json")  # one-iteration files
    never_stop = read_results(out / "tfrnn-bundle-snr60.json")  # all active: maps cost bytes
    assert stop_at_once["block_snr"] == -30 and stop_at_once["results"]["iterations"] == [1, 2]
    assert stop_at_once["results"]["bpp"] == [res["bpp"][0]] * 2
    low, high = never_stop["results"]["bpp"]
    assert low == res["bpp"][0] and high > res["bpp"][1]
    assert never_stop["results"]["ms-ssim-rgb"] == res["ms-ssim-rgb"]
    searched = read_results(out / "tfrnn-bundle-opt1.json")  # raw bits: same sizes
    assert searched["optimize"] == 1 and searched["results"]["bpp"] == res["bpp"]
    assert rd.main(["--images", str(small_dir), "--codecs", "none", "--model", model, "--raw",
                    "--iterations", "1", "--jobs", "1", "--out", str(out)]) == 0
    raw = read_results(out / "tfrnn-bundle-raw.json")
    assert raw["coding"] == "raw" and raw["results"]["bpp"] == res["bpp"][:1]
    with pytest.raises(UserError, match="--optimize"):
        rd.main(["--images", str(small_dir), "--model", model, "--optimize", "0"])
    with pytest.raises(UserError, match="--block-snr"):
        rd.main(["--images", str(small_dir), "--model", model, "--block-snr", "99"])
    with pytest.raises(UserError, match="--iterations"):
        rd.main(["--images", str(small_dir), "--model", model, "--iterations", "0,99"])
