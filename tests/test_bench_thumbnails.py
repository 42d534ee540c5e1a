"""The thumbnail benchmark: headerless sizes checked by independent marker searches, and a run."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from tfrnn.bench import classic, thumbnails
from tfrnn.bench.plots import contact_sheet
from tfrnn.bench.rdmath import bd_rate, common_range
from tfrnn.bench.results import Curve
from tfrnn.errors import UserError


@pytest.fixture(scope="module")
def thumb(astronaut):
    return thumbnails.make_thumbnail(astronaut[:, 50:], 32)


def save(image: np.ndarray, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, **options)
    return buf.getvalue()


def test_make_thumbnail(astronaut):
    out = thumbnails.make_thumbnail(astronaut[:300, :500], 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    centre = np.asarray(Image.fromarray(astronaut[:300, 100:400]).resize((32, 32),
                                                                         Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(out, centre)


@pytest.mark.parametrize("options", [{}, {"restart_marker_blocks": 1}])
def test_jpeg_entropy_bytes_single_scan(thumb, options):
    data = save(thumb, format="JPEG", quality=50, **options)
    sos = data.index(b"\xff\xda")
    header_end = sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")
    assert data.endswith(b"\xff\xd9")
    assert thumbnails.jpeg_entropy_bytes(data) == len(data) - header_end - 2
    if options:
        assert b"\xff\xd0" in data[header_end:]  # RST markers present and counted as data


def test_jpeg_entropy_bytes_progressive(thumb):
    baseline = thumbnails.jpeg_entropy_bytes(save(thumb, format="JPEG", quality=50))
    data = save(thumb, format="JPEG", quality=50, progressive=True)
    scans = data.count(b"\xff\xda")
    assert scans > 1
    total = thumbnails.jpeg_entropy_bytes(data)
    assert 0.7 * baseline < total < len(data) - 11 * scans


def test_webp_vp8_bytes(thumb):
    for q in (5, 50, 95):
        data = save(thumb, format="WEBP", quality=q)
        # 12 (RIFF) + 8 (chunk header) + 10 (frame header), + 1 pad byte after an odd chunk
        assert thumbnails.webp_vp8_bytes(data) in (len(data) - 30, len(data) - 31)
        assert thumbnails.webp_vp8_bytes(data) > 0


@pytest.mark.parametrize("tile_size", [None, (16, 16)])
def test_j2k_tile_data_bytes(thumb, tile_size):
    data = save(thumb, format="JPEG2000", quality_mode="dB", quality_layers=[30],
                irreversible=True, mct=1, no_jp2=True, tile_size=tile_size)
    # JPEG 2000 data never holds 0xFF followed by a byte > 0x8F, so markers can be searched for
    sots = [i for i in range(len(data) - 1) if data[i:i + 2] == b"\xff\x90"]
    sods = [i for i in range(len(data) - 1) if data[i:i + 2] == b"\xff\x93"]
    assert len(sots) == len(sods) == (4 if tile_size else 1)
    ends = sots[1:] + [len(data) - 2]
    want = sum(end - (sod + 2) for sod, end in zip(sods, ends, strict=True))
    assert thumbnails.j2k_tile_data_bytes(data) == want


def test_headerless_rejects_other_formats(thumb):
    png = save(thumb, format="PNG")
    for fn in (thumbnails.jpeg_entropy_bytes, thumbnails.webp_vp8_bytes,
               thumbnails.j2k_tile_data_bytes):
        with pytest.raises(ValueError):
            fn(png)
    with pytest.raises(ValueError, match="simple lossy"):
        thumbnails.webp_vp8_bytes(save(thumb, format="WEBP", lossless=True))


def test_bytes_at():
    curve = Curve("c", "ssim-rgb", np.array([10.0, 100.0, 1000.0]), np.array([0.5, 0.7, 0.9]),
                  "ours", "")
    assert thumbnails.bytes_at(curve, 0.7) == pytest.approx(100.0)
    assert thumbnails.bytes_at(curve, 0.8) == pytest.approx(math.sqrt(100 * 1000))
    assert math.isnan(thumbnails.bytes_at(curve, 0.95))


def test_run(tmp_path, astronaut):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.fromarray(np.rot90(astronaut, i)).save(images / f"p{i}.png")
    (images / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    out = tmp_path / "out"
    assert thumbnails.main(["--images", str(images), "--out", str(out), "--quality",
                            "jpeg-420=10,50,90", "--quality", "webp=10,50,90", "--quality",
                            "jpeg-444=10,50,90", "--quality", "jpeg2000-psnr=20,26,32",
                            "--ssim-targets", "0.7"]) == 0
    for cid in thumbnails.THUMBNAIL_CODECS:
        doc = json.loads((out / f"{cid}.json").read_text())
        res = doc["results"]
        assert doc["images"] == ["p0.png", "p1.png", "p2.png"]
        assert all(len(v) == 3 for v in res.values())
        assert all(0 < b < f for b, f in zip(res["bpp"], res["bpp-with-header"], strict=True))
        assert res["ssim-rgb"] == sorted(res["ssim-rgb"])
    summary = (out / "summary.md").read_text()
    assert "| 0.7 |" in summary and "BD-rate on SSIM" in summary
    curves = [Curve(c, "ssim-rgb", np.array(r["bytes"]), np.array(r["ssim-rgb"]), "ours", "")
              for c in ("jpeg-420", "webp") for r in [json.loads(
                  (out / f"{c}.json").read_text())["results"]]]
    lo, hi = common_range(curves)  # each BD-rate states the range it is over
    assert f"WebP, headerless {bd_rate(*curves):+.1f}% ({lo:.3f}–{hi:.3f})" in summary


def test_default_sweeps_are_fine_at_the_operating_points(tmp_path, astronaut):
    assert set(thumbnails.THUMBNAIL_SWEEPS) == set(thumbnails.THUMBNAIL_CODECS)
    for cid, sweep in thumbnails.THUMBNAIL_SWEEPS.items():
        classic.check_settings(classic.CODECS[cid], sweep)
    Image.fromarray(astronaut).save(tmp_path / "a.png")
    assert thumbnails.main(["--images", str(tmp_path), "--out", str(tmp_path / "out"),
                            "--codecs", "jpeg-420"]) == 0
    res = json.loads((tmp_path / "out" / "jpeg-420.json").read_text())["results"]
    assert res["quality"] == list(thumbnails.THUMBNAIL_SWEEPS["jpeg-420"])
    assert res["quality"][:29] == list(range(2, 31))  # every quality up to ~155 bytes


def test_avif_has_no_headerless_size(tmp_path):
    with pytest.raises(UserError, match="no headerless size for avif"):
        thumbnails.main(["--images", str(tmp_path), "--codecs", "jpeg-420,avif"])


def test_ssim_at_bytes_and_paper_table():
    curve = Curve("c", "ssim-rgb", np.array([32.0, 128.0]), np.array([0.5, 0.7]), "ours", "")
    assert thumbnails.ssim_at_bytes(curve, 64.0) == pytest.approx(0.6)  # halfway in log bytes
    assert math.isnan(thumbnails.ssim_at_bytes(curve, 16.0))
    table = thumbnails.paper_table({"c": curve})
    assert "| c | 0.600 | 0.700 |" in table
    theirs = Curve("t", "ssim-rgb", np.array([40.0, 100.0]), np.array([0.5, 0.6]), "ours", "")
    claim = thumbnails.claim_table({"c": curve, "t": theirs}, ["c"], ["t"])
    assert "| c | 64 | 0.600 | 100.0 (+36%) |" in claim  # 64 bytes where t needs 100: 36% saved
    assert "| c | 128 | 0.700 | n/a |" in claim  # beyond t's curve


def test_colour_table(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"results": {"bytes": [128.0, 32.0], "psnr-rgb": [24.0, 20.0],
                                            "colour-shift-rgb": [2.0, 8.0]}}))
    old = tmp_path / "old.json"  # a results file from before colour-shift-rgb
    old.write_text(json.dumps({"results": {"bytes": [16.0, 64.0], "psnr-rgb": [18.0, 21.0]}}))
    table = thumbnails.colour_table({"c": path, "old": old})
    assert "| c | 22.00 dB | 24.00 dB | 5.00 | 2.00 |" in table  # 64 B: halfway in log bytes
    assert "| old | 21.00 dB | n/a | n/a | n/a |" in table


def test_run_with_a_model_of_ours_on_held_out_photos(tmp_path, astronaut):
    import keras

    from tfrnn.bundle import Bundle, save_bundle
    from tfrnn.configs import FEED_FORWARD, thumb_conv_config
    from tfrnn.context_model import CheckerboardContextModel
    from tfrnn.model import RecurrentCodec

    keras.utils.set_random_seed(0)
    codec = RecurrentCodec(thumb_conv_config("t", 1 / 32, "tiny").replace(iterations=2))
    context = CheckerboardContextModel(bits=32)  # untrained: the entropy-coded plumbing only
    context(np.ones((2, 1, 2, 2, 32), np.float32))
    bundle = save_bundle(tmp_path / "tiny-thumb", Bundle(codec, context))
    residual = save_bundle(tmp_path / "tiny-residual", Bundle(RecurrentCodec(thumb_conv_config(
        "r", 1 / 32, "tiny", cell=FEED_FORWARD).replace(iterations=2))))  # no context model
    images = tmp_path / "photos"
    for i in range(3):
        (images / "sub").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.rot90(astronaut, i)[:200]).save(images / "sub" / f"p{i}.png")
    out = tmp_path / "out"
    assert thumbnails.main(["--images", str(images), "--held-out", "100", "--out", str(out),
                            "--codecs", "jpeg-420", "--quality", "jpeg-420=5,50,90",
                            "--models", f"{bundle},{residual}", "--ssim-targets", "0.5"]) == 0
    doc = json.loads((out / "tiny-thumb.json").read_text())
    res = doc["results"]
    assert doc["images"] == ["sub/p0.png", "sub/p1.png", "sub/p2.png"]
    assert res["bytes"] == [16.0, 32.0] and res["bpp"] == [0.125, 0.25]
    assert len(res["entropy-bytes"]) == 2 and 0 < res["entropy-bytes"][0] < res["entropy-bytes"][1]
    assert all(0 <= s <= 1 for s in res["ssim-rgb"])
    # entropy-coded bytes: the coder's payloads, not the file's framing (one length byte per
    # tile part in a version-3 chunk)
    from tfrnn import file_format
    from tfrnn.codec import load_codec

    tiny = load_codec(bundle)
    thumb = np.asarray(Image.fromarray(astronaut).resize((32, 32)))
    container = file_format.parse(tiny.compress_progressive(thumb)[0])
    assert container.header.version == 3
    assert thumbnails.sweep_model(tiny, thumb[None])[0]["entropy-bytes"] == list(
        np.cumsum([len(p) - 1 for p in container.payloads]))
    doc = json.loads((out / "tiny-residual.json").read_text())
    assert doc["model"]["config"] == "r" and doc["results"]["bytes"] == [16.0, 32.0]
    assert "entropy-bytes" not in doc["results"]
    summary = (out / "summary.md").read_text()
    assert "tiny-thumb (ours), headerless" in summary and "tiny-thumb (ours), entropy-coded" \
        in summary and "SSIM @ 64 B" in summary
    assert "| tiny-residual (ours), headerless |" in summary
    assert "| tiny-thumb (ours), headerless | n/a | n/a | n/a | n/a |" in summary  # 32 B at most
    assert "tiny-residual (ours), entropy-coded" not in summary
    ref = json.loads((out / "jpeg-420.json").read_text())["results"]
    lo, hi = (thumbnails.ssim_at_bytes(Curve("", "ssim-rgb", np.array(ref["bytes"]),
                                             np.array(ref["ssim-rgb"]), "ours", ""), b)
              for b in (64, 128))
    assert f"over one range, from its SSIM at 64 to its SSIM at 128 bytes ({lo:.3f}–{hi:.3f}" \
        in summary
    claim = summary[summary.index("The 2016 claim"):]  # ours against each classic codec
    assert "| tiny-residual (ours), headerless | 128 |" in claim
    assert claim.splitlines()[2].endswith("| JPEG 4:2:0, headerless |")
    assert (out / "ssim.png").stat().st_size > 0
    assert (out / "sheet.png").stat().st_size > 0
    assert all(len(r["colour-shift-rgb"]) == len(r["bytes"]) for r in (res, ref))
    with pytest.raises(UserError, match="no image is in the held-out 0%"):
        thumbnails.main(["--images", str(images), "--held-out", "0", "--out", str(out)])
    # the plot's legend: the iteration codes are bits before entropy coding
    curves, rows = thumbnails.model_curves(str(bundle), thumb[None], ["t"], "d", tmp_path / "c")
    assert curves["tiny-thumb"].coding == "raw"
    assert curves["tiny-thumb-entropy"].coding == "entropy-coded"
    # the sheet's reconstructions are the sweep's: the encoder's output at each iteration
    assert rows.bytes == [16.0, 32.0] and rows.recons.shape == (2, 1, 32, 32, 3)
    np.testing.assert_array_equal(rows.recons[:, 0], tiny.compress_progressive(thumb)[1])


def test_summary_says_n_a_for_a_curve_without_common_range():
    ref = Curve("r", "ssim-rgb", np.array([32.0, 128.0]), np.array([0.5, 0.7]), "JPEG", "")
    low = Curve("l", "ssim-rgb", np.array([32.0, 128.0]), np.array([0.2, 0.3]), "low", "")
    text = thumbnails.summary({"r": ref, "l": low}, "r", [0.6], 1, 32)
    assert "l n/a (no common range)" in text and "nan" not in text


def test_sheet_rows(tmp_path, astronaut):
    """The contact sheet: the reference codec nearest 64 and 128 bytes, and each model at the
    iterations that make them, where it has them."""
    thumbs = np.stack([thumbnails.make_thumbnail(np.rot90(astronaut, i), 64) for i in range(2)])
    sweep = thumbnails.sweep_thumbnails(classic.CODECS["jpeg-420"], thumbs, (2, 30, 90))
    reference = {"quality": [2, 30, 90], **sweep}
    recons = np.random.default_rng(0).integers(0, 256, (3, *thumbs.shape), np.uint8)
    rows = thumbnails.sheet_rows(thumbs, "jpeg-420", reference, [
        thumbnails.ModelRows("tiny", [64.0, 96.0, 128.0], recons),
        thumbnails.ModelRows("short", [16.0, 32.0], recons[:2])])  # reaches neither size
    labels = [label for label, _ in rows]
    assert labels[0] == "original" and labels[3:] == ["tiny\n64 B", "tiny\n128 B"]
    nearest = [int(np.argmin(np.abs(np.array(sweep["bytes"]) - b))) for b in (64, 128)]
    assert [label.split("\n")[0] for label in labels[1:3]] == [
        f"jpeg-420 quality {reference['quality'][i]}" for i in nearest]
    assert all(images.shape == thumbs.shape and images.dtype == np.uint8 for _, images in rows)
    np.testing.assert_array_equal(rows[3][1], recons[0])
    np.testing.assert_array_equal(rows[4][1], recons[2])
    contact_sheet(rows, tmp_path / "sheet.png", "t")
    with Image.open(tmp_path / "sheet.png") as img:
        assert img.size[0] > 2 * 64 * 4  # two thumbnails enlarged 4×, and the labels
