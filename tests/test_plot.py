"""BD-rate over one common range, AUC, the anchor loaders, results JSON round trip and
`tfrnn plot` output."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from tfrnn.bench import rdmath
from tfrnn.bench.results import (
    RESULT_KEYS,
    Curve,
    curve_from_results,
    load_anchors,
    read_anchor_txt,
    read_results,
    write_results,
)
from tfrnn.commands import plot
from tfrnn.errors import UserError


def curve(bpp, value, name="c", kind="ours") -> Curve:
    return Curve(name, "psnr-rgb", np.asarray(bpp, float), np.asarray(value, float), kind, "",
                 name)


SYNTH = curve([0.1, 0.25, 0.5, 1.0, 2.0], [24.0, 27.0, 30.0, 33.5, 37.0])


def test_bd_rate_against_itself_and_scaled():
    assert rdmath.bd_rate(SYNTH, SYNTH) == pytest.approx(0.0, abs=1e-9)
    cheaper = curve(SYNTH.bpp * 0.9, SYNTH.value)
    assert rdmath.bd_rate(SYNTH, cheaper) == pytest.approx(-10.0, abs=1e-6)
    assert rdmath.bd_rate(cheaper, SYNTH) == pytest.approx(100 / 0.9 - 100, abs=1e-6)
    apart = curve([1, 2], [50, 60])
    assert math.isnan(rdmath.bd_rate(SYNTH, apart))


def test_bd_rate_over_a_stated_range():
    cheaper = curve(SYNTH.bpp * 0.9, SYNTH.value)
    assert rdmath.bd_rate(SYNTH, cheaper, (27.0, 33.5)) == pytest.approx(-10.0, abs=1e-6)
    # A curve that does not cover the range has no BD-rate, even where it overlaps the other.
    short = curve([0.25, 0.5], [27.0, 30.0])
    assert math.isnan(rdmath.bd_rate(SYNTH, short, (27.0, 33.5)))
    assert math.isfinite(rdmath.bd_rate(SYNTH, short))  # over the two curves' own overlap
    assert rdmath.common_range([SYNTH, short, cheaper]) == (27.0, 30.0)
    assert rdmath.common_range([SYNTH, curve([1, 2], [50, 60])]) is None


def test_a_curve_ahead_everywhere_wins_in_the_common_range():
    """The README's old fault: each BD-rate over its own overlap with the reference ranked a
    curve that was behind at every rate as ahead. Over one interval the order is the truth."""
    ref = curve([0.2, 0.5, 1.0, 2.0], [25.0, 29.0, 32.0, 35.0], "ref")
    wide = curve([0.1, 0.3, 0.6, 1.2, 2.0], [24.5, 28.5, 31.5, 34.0, 36.0], "wide")
    narrow = curve(wide.bpp[:3] * 1.1, wide.value[:3], "narrow")  # 10% more bits, shorter
    rng = rdmath.common_range([ref, wide, narrow])
    assert rng == (25.0, 31.5)
    assert rdmath.bd_rate(ref, wide, rng) < rdmath.bd_rate(ref, narrow, rng)
    assert rdmath.bd_rate(wide, narrow, rng) > 5  # behind everywhere: more bits (fits differ)


def test_bd_rate_on_a_published_anchor(anchors_dir):
    jpeg = read_anchor_txt(anchors_dir / "MS-SSIM_sRGB_RGB" / "jpeg420.txt", "ms-ssim-rgb")
    scaled = Curve("s", jpeg.metric, jpeg.bpp * 0.9, jpeg.value, "ours", "")
    assert rdmath.bd_rate(jpeg, jpeg) == pytest.approx(0.0, abs=1e-9)
    assert rdmath.bd_rate(jpeg, scaled) == pytest.approx(-10.0, abs=1e-6)


def test_monotone_drops_points_that_do_not_improve():
    c = curve([0.5, 0.1, 0.2, 0.3, 0.4, np.nan], [3.0, 1.0, 2.0, 2.0, 1.5, 9.0])
    bpp, value = rdmath.monotone(c)
    assert bpp.tolist() == [0.1, 0.2, 0.5] and value.tolist() == [1.0, 2.0, 3.0]


def test_rd_auc():
    flat = curve([0.1, 3.0], [1.0, 1.0])
    assert rdmath.rd_auc(flat, (0.125, 2.0)) == pytest.approx(1.875)
    line = curve([0.0, 1.0, 4.0], [0.0, 1.0, 4.0])  # y = x
    assert rdmath.rd_auc(line, (0.5, 2.0)) == pytest.approx((4 - 0.25) / 2)
    assert math.isnan(rdmath.rd_auc(SYNTH, (0.05, 1.0)))


def test_anchor_loaders(anchors_dir):
    curves = {c.id: c for c in load_anchors(anchors_dir, "ms-ssim-rgb")}
    toderici = curves["toderici-2017-cvpr"]
    assert toderici.name == "Toderici 2017 (CVPR)" and len(toderici.bpp) == 16
    assert toderici.value[0] == pytest.approx(0.8191)
    assert toderici.coding == "raw"  # every rate a multiple of 1/8 bpp: before entropy coding
    assert {curves[k].coding for k in ("johnston-2017-cvpr", "jpeg420", "webp")} == {
        "entropy-coded"}
    repro = curves["pytorch-image-comp-rnn_lstm-additive_msssim-per-image"]
    assert repro.kind == "reproduction" and repro.coding == "raw"
    assert repro.bpp[0] == 0.125 and len(repro.bpp) == 16
    assert repro.value[:2] == pytest.approx([0.839, 0.917], abs=1e-3)  # DESIGN.md's table
    assert not any("_jpeg_" in k for k in curves)
    db = {c.id: c for c in load_anchors(anchors_dir, "ms-ssim-rgb-db")}
    assert db["jpeg420"].value == pytest.approx(-10 * np.log10(1 - curves["jpeg420"].value))
    psnr = {c.id: c for c in load_anchors(anchors_dir, "psnr-rgb")}
    assert psnr["webp"].name == "WebP" and psnr["webp"].metric == "psnr-rgb"
    assert load_anchors(anchors_dir, "psnr-hvs") == []
    with pytest.raises(UserError, match="not an anchors directory"):
        load_anchors(anchors_dir.parent.parent, "psnr-rgb")


def document(name: str, scale: float) -> dict:
    bpp = [0.2 * scale, 0.5 * scale, 1.0 * scale, 2.0 * scale]
    msssim = [0.85, 0.93, 0.97, 0.985]
    return {"name": name, "description": "synthetic", "results": {
        "bpp": bpp, "psnr-rgb": [26.0, 29.0, 32.0, math.inf], "ms-ssim-rgb": msssim,
        "ms-ssim-rgb-db": (-10 * np.log10(1 - np.array(msssim))).tolist(),
        "psnr-hvs": [27.0, 31.0, 35.0, 39.0], "encoding_time": [0.1] * 4,
        "decoding_time": [0.1] * 4}, "id": name.lower()}


def test_results_round_trip(tmp_path):
    write_results(tmp_path / "a.json", document("A", 1.0))
    raw = json.loads((tmp_path / "a.json").read_text())
    assert raw["results"]["psnr-rgb"][3] is None and set(RESULT_KEYS) <= set(raw["results"])
    doc = read_results(tmp_path / "a.json")
    assert math.isnan(doc["results"]["psnr-rgb"][3])
    c = curve_from_results(doc, "ms-ssim-rgb-db")
    assert c.value[0] == pytest.approx(-10 * math.log10(0.15))
    (tmp_path / "bad.json").write_text('{"name": "x", "results": {"psnr-rgb": [1]}}')
    with pytest.raises(UserError, match="bpp"):
        read_results(tmp_path / "bad.json")
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(UserError, match="not a JSON"):
        read_results(tmp_path / "junk.json")
    with pytest.raises(ValueError, match="lack"):
        write_results(tmp_path / "c.json", {"name": "c", "results": {"bpp": [1.0]}})


def test_plot_main_writes_png_and_table(tmp_path, anchors_dir, capsys):
    write_results(tmp_path / "a.json", document("A", 1.0))
    write_results(tmp_path / "b.json", document("B", 0.9))
    out, table = tmp_path / "rd.png", tmp_path / "table.md"
    assert plot.main([str(tmp_path), "--metric", "ms-ssim-rgb", "--anchors", str(anchors_dir),
                      "--reference", "a", "--out", str(out), "--table", str(table),
                      "--bpp-range", "0.25,1.5"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as img:
        img.verify()
    text = table.read_text()
    assert text == capsys.readouterr().out.split("wrote")[0]
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "| -10.0 |" in rows["B"] and "| +0.0 |" in rows["A"] and "Toderici 2017 (CVPR)" in rows
    assert "[0.25, 1.5]" in text and "| entropy-coded |" in rows["A"]
    assert "| raw |" in rows["Toderici 2017 (CVPR)"]
    # Two references: two BD-rate columns over one interval; --quality-range states it.
    assert plot.main([str(tmp_path), "--metric", "ms-ssim-rgb", "--reference", "a,b",
                      "--out", str(out), "--table", str(table),
                      "--quality-range", "0.9,0.97"]) == 0
    text = table.read_text()
    assert "ms-ssim-rgb 0.9–0.97" in text and "BD-rate vs A (%) | BD-rate vs B (%)" in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "| +0.0 | -10.0 |" not in rows["B"] and "| -10.0 | +0.0 |" in rows["B"]
    with pytest.raises(UserError, match="reference a covers"):
        plot.main([str(tmp_path), "--metric", "ms-ssim-rgb", "--reference", "a",
                   "--out", str(out), "--quality-range", "0.5,0.97"])
    write_results(tmp_path / "jpeg420.json", {**document("JPEG (4:2:0)", 1.1), "id": "jpeg420"})
    args = [str(tmp_path), "--metric", "psnr-rgb", "--anchors", str(anchors_dir), "--out", str(out)]
    with pytest.raises(UserError, match="several curves called 'jpeg420'.*anchor:jpeg420"):
        plot.main([*args, "--reference", "jpeg420"])
    assert plot.main([*args, "--reference", "anchor:jpeg420", "--table", str(table)]) == 0
    anchor_row = next(line for line in table.read_text().splitlines()
                      if line.startswith("| JPEG (4:2:0) | anchor |"))
    assert "| +0.0 |" in anchor_row
    png = tmp_path / "psnr.png"
    assert plot.main([str(tmp_path / "a.json"), "--metric", "psnr-hvs", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_bad_input(tmp_path):
    write_results(tmp_path / "a.json", document("A", 1.0))
    with pytest.raises(UserError, match="no curves called"):
        plot.main([str(tmp_path / "a.json"), "--reference", "nope", "--out",
                   str(tmp_path / "x.png")])
    with pytest.raises(UserError, match="LO,HI"):
        plot.main([str(tmp_path / "a.json"), "--bpp-range", "1"])
    with pytest.raises(UserError, match="no such file"):
        plot.main([str(tmp_path / "missing.json")])
    write_results(tmp_path / "far.json", {**document("Far", 1.0), "results": {
        **document("Far", 1.0)["results"], "ms-ssim-rgb": [0.1, 0.2, 0.3, 0.4]}})
    table = tmp_path / "t.md"  # no common interval: said, and no BD-rate (never a made-up one)
    assert plot.main([str(tmp_path), "--metric", "ms-ssim-rgb", "--out", str(tmp_path / "x.png"),
                      "--table", str(table)]) == 0
    assert "share no interval" in table.read_text()
    assert all("| n/a |" in line for line in table.read_text().splitlines()
               if line.startswith("| A ") or line.startswith("| Far "))


def test_value_at_interpolates_inside_the_span_only():
    from tfrnn.bench.rdmath import value_at
    from tfrnn.bench.results import Curve
    from tfrnn.commands.plot import summary_table

    curve = Curve(name="c", metric="ms-ssim-rgb", bpp=np.array([0.25, 0.5, 1.0]),
                  value=np.array([0.8, 0.9, 0.95]), kind="ours", source="test", id="c")
    assert value_at(curve, 0.375) == pytest.approx(0.85)
    assert math.isnan(value_at(curve, 0.1)) and math.isnan(value_at(curve, 1.5))
    table = summary_table([curve], [curve], (0.8, 0.95), at_bpp=(0.5, 2.0))
    assert "@ 0.5 bpp" in table and "| 0.9000 | n/a |" in table
