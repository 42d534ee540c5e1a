"""The shipped full-resolution models (`default`, MS-SSIM-trained; `psnr`, L1-trained; the
earlier ones, kept for their files): they load, their weights match their cards, their files
decode without `--model`, each network and context model reproduces its committed curve, and how
`default` fares against JPEG. The thumbnail models (`thumb-*`): `test_thumbnails.py`."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from tfrnn import cli
from tfrnn.bench import classic
from tfrnn.bench.results import REPO, read_results
from tfrnn.bundle import PRETRAINED_DIR, load_bundle, pretrained_names
from tfrnn.codec import DEFAULT_MODEL, load_codec
from tfrnn.file_format import truncate
from tfrnn.images import load_image, save_png
from tfrnn.metrics import ms_ssim

SHIPPED = tuple(name for name in pretrained_names() if not name.startswith("thumb-"))
JPEG_QUALITIES = tuple(range(2, 96, 2))


@pytest.mark.parametrize("model", SHIPPED)
def test_shipped_model_loads_and_matches_its_card(model):
    bundle = load_bundle(model)  # also checks model.json's fingerprint
    assert bundle.context_model is not None
    card = (PRETRAINED_DIR / model / "MODEL_CARD.md").read_text()
    assert re.search(rf"fingerprint[^\n]*`{bundle.fingerprint}`", card)
    assert f"`{bundle.codec.codec_config.name}`" in card


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("model", SHIPPED)
def test_decompress_finds_the_shipped_model_that_made_a_file(capsys, tmp_path, astronaut, model,
                                                             raw):
    """A file of any shipped model decodes without --model (`codec.shipped_model_for`), to the
    same pixels as with it."""
    image, data = tmp_path / "a.png", tmp_path / "a.tfrnn"
    save_png(image, astronaut[100:148, 200:264])
    for argv in (["compress", image, "-o", data, "--model", model, "--iterations", 2,
                  *(["--raw"] if raw else [])],
                 ["decompress", data, "-o", tmp_path / "found.png"],
                 ["decompress", data, "-o", tmp_path / "named.png", "--model", model]):
        assert cli.main([str(a) for a in argv]) == 0, capsys.readouterr().err
    found, named = (load_image(tmp_path / n) for n in ("found.png", "named.png"))
    np.testing.assert_array_equal(found, named)


def tfrnn_points(codec, image: np.ndarray, targets) -> list[tuple[int, float, float]]:
    """(iterations, bpp, MS-SSIM) of the shipped model at the iteration count whose actual file
    size is nearest each target bpp (one file, truncated; only the chosen prefixes are
    decoded)."""
    data = codec.compress(image, iterations=codec.max_iterations)
    pixels = image.shape[0] * image.shape[1]
    parts = [truncate(data, iterations=k) for k in range(1, codec.max_iterations + 1)]
    points = []
    for target in targets:
        k = min(range(1, len(parts) + 1),
                key=lambda k: abs(8 * len(parts[k - 1]) / pixels - target))
        part = parts[k - 1]
        points.append((k, 8 * len(part) / pixels, ms_ssim(image, codec.decompress(part))))
    return points


def jpeg_msssim_at(image: np.ndarray, bpp: float) -> float:
    """JPEG 4:2:0 MS-SSIM at `bpp`, interpolated between the two qualities of Pillow's sweep
    whose sizes bracket it (held at the end points outside the sweep)."""
    trials = sorted(classic.sweep(classic.get_codec("jpeg-420"), image, JPEG_QUALITIES),
                    key=lambda t: t.nbytes)
    pixels = image.shape[0] * image.shape[1]
    rates = np.array([8 * t.nbytes / pixels for t in trials])
    hi = int(np.clip(np.searchsorted(rates, bpp), 1, len(trials) - 1))
    values = [ms_ssim(image, trials[i].decoded) for i in (hi - 1, hi)]
    return float(np.interp(bpp, rates[hi - 1:hi + 1], values))


IMAGES = ("kodim05.png", "kodim23.png")
TARGETS = (0.25, 0.5, 1.0)
# A shipped model's committed Kodak curve, per image (`tfrnn bench rd --model M --per-image`).
MEASURED = REPO / "bench" / "results" / "kodak" / "tfrnn-{}.json"
# Tolerances of the re-measurement: float arithmetic differs a little across CPUs and math
# libraries; a regression (other weights, a lost iteration, a broken context model) moves
# MS-SSIM by ~0.01 or more per iteration and the rate by several percent.
MSSSIM_TOLERANCE = 2e-3
BPP_RELATIVE_TOLERANCE = 0.01


@functools.cache
def points(kodak_dir: Path, model: str, name: str) -> list[tuple[float, int, float, float]]:
    """(target, iterations, bpp, MS-SSIM) of `model` per target."""
    image = load_image(kodak_dir / name)
    return [(target, *point) for target, point in
            zip(TARGETS, tfrnn_points(load_codec(model), image, TARGETS), strict=True)]


@functools.cache
def comparison(kodak_dir: Path, name: str) -> list[tuple[float, int, float, float, float]]:
    """(target, iterations, bpp, MS-SSIM ours, MS-SSIM JPEG 4:2:0 at that bpp) per target, for
    the default model."""
    image = load_image(kodak_dir / name)
    return [(*point, jpeg_msssim_at(image, point[2]))
            for point in points(kodak_dir, DEFAULT_MODEL, name)]


# Re-measured on Kodak: the two current models and one model of each other network and context
# model (`psnr-diffusion`: `psnr`'s network with a diffusion step). `default-v2` and `psnr-v2`
# run the code of `default` and `psnr` with other weights, which their fingerprints check; a
# re-measurement of them would test nothing more.
REMEASURED = (DEFAULT_MODEL, "psnr", "psnr-diffusion", "default-v1", "psnr-v1")


def architecture(model: str) -> str:
    """The codec config and context model of a shipped model's model.json, as one string."""
    manifest = json.loads((PRETRAINED_DIR / model / "model.json").read_text())
    return json.dumps([manifest["config"], manifest["context_model"]], sort_keys=True)


def test_every_shipped_architecture_is_remeasured():
    assert {architecture(m) for m in SHIPPED} == {architecture(m) for m in REMEASURED}


@pytest.mark.slow
@pytest.mark.parametrize(("model", "name"), [(DEFAULT_MODEL, IMAGES[1]),
                                             *((m, IMAGES[0]) for m in REMEASURED)])
def test_matches_its_committed_curve(kodak_dir, model, name):
    """A shipped model re-measured on real files gives its committed per-image curve."""
    committed = read_results(Path(str(MEASURED).format(model)))["per_image"][name]
    for target, k, bpp, ours in points(kodak_dir, model, name):
        print(f"{model} {name} target {target}: {k} iterations, {bpp:.4f} bpp, "
              f"MS-SSIM {ours:.4f}")
        assert bpp == pytest.approx(committed["bpp"][k - 1], rel=BPP_RELATIVE_TOLERANCE)
        assert ours == pytest.approx(committed["ms-ssim-rgb"][k - 1], abs=MSSSIM_TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", IMAGES)
def test_beats_jpeg_420_near_each_target(kodak_dir, name, target):
    _, _, bpp, ours, jpeg = comparison(kodak_dir, name)[TARGETS.index(target)]
    assert ours > jpeg, f"{name} at {bpp:.3f} bpp: ours {ours:.4f} <= JPEG {jpeg:.4f}"
