"""The shipped model: it loads, its weights match its card, and how it fares against JPEG."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tfrnn.bench import classic
from tfrnn.bundle import PRETRAINED_DIR, load_bundle
from tfrnn.codec import DEFAULT_MODEL, load_codec
from tfrnn.file_format import truncate
from tfrnn.images import load_image
from tfrnn.metrics import ms_ssim

CARD = PRETRAINED_DIR / DEFAULT_MODEL / "MODEL_CARD.md"
JPEG_QUALITIES = tuple(range(2, 96, 2))


def test_shipped_model_loads_and_matches_its_card():
    bundle = load_bundle(DEFAULT_MODEL)  # also checks model.json's fingerprint
    assert bundle.context_model is not None
    card = CARD.read_text()
    assert re.search(rf"fingerprint[^\n]*`{bundle.fingerprint}`", card)
    assert f"`{bundle.codec.codec_config.name}`" in card


def tfrnn_points(codec, image: np.ndarray, targets) -> list[tuple[float, float]]:
    """(bpp, MS-SSIM) of the shipped model at the iteration count whose actual file size is
    nearest each target bpp (one file, truncated; only the chosen prefixes are decoded)."""
    data = codec.compress(image, iterations=codec.max_iterations)
    pixels = image.shape[0] * image.shape[1]
    parts = [truncate(data, iterations=k) for k in range(1, codec.max_iterations + 1)]
    points = []
    for target in targets:
        part = min(parts, key=lambda p: abs(8 * len(p) / pixels - target))
        points.append((8 * len(part) / pixels, ms_ssim(image, codec.decompress(part))))
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


@pytest.fixture(scope="module")
def kodak_comparison(kodak_dir):
    codec = load_codec(DEFAULT_MODEL)
    rows = []
    for name in ("kodim05.png", "kodim23.png"):
        image = load_image(kodak_dir / name)
        targets = (0.25, 0.5)
        for target, (bpp, ours) in zip(targets, tfrnn_points(codec, image, targets), strict=True):
            rows.append((name, target, bpp, ours, jpeg_msssim_at(image, bpp)))
    return rows


@pytest.mark.slow
def test_comparison_against_jpeg_is_measured_on_real_files(kodak_comparison):
    for name, target, bpp, ours, jpeg in kodak_comparison:
        print(f"{name} target {target}: {bpp:.3f} bpp, MS-SSIM ours {ours:.4f}, JPEG {jpeg:.4f}")
        assert abs(bpp - target) < 0.15, (name, target, bpp)
        assert 0 < ours < 1 and 0 < jpeg < 1


@pytest.mark.slow
def test_beats_jpeg_420_near_quarter_bpp(kodak_comparison):
    for name, target, bpp, ours, jpeg in kodak_comparison:
        if target == 0.25:
            assert ours > jpeg, f"{name} at {bpp:.3f} bpp: ours {ours:.4f} <= JPEG {jpeg:.4f}"


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="goal of issue 8 not reached on kodim23: at 0.47 bpp the "
                   "shipped CPU model measures 0.9657 against JPEG 4:2:0's 0.9686 (kodim05 and the "
                   "Kodak mean are ahead at 0.5 bpp; see MODEL_CARD.md)")
def test_beats_jpeg_420_near_half_bpp(kodak_comparison):
    for name, target, bpp, ours, jpeg in kodak_comparison:
        if target == 0.5:
            assert ours > jpeg, f"{name} at {bpp:.3f} bpp: ours {ours:.4f} <= JPEG {jpeg:.4f}"
