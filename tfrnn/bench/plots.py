"""RD plots (PNG) of bench curves, the drawing that `tfrnn plot` and the benchmarks share; and
contact sheets of decoded images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfrnn import atomic
from tfrnn.bench.results import Curve

LABELS = {
    "psnr-rgb": "PSNR (RGB) [dB]",
    "ms-ssim-rgb": "MS-SSIM (RGB)",
    "ms-ssim-rgb-db": "MS-SSIM (RGB) [dB]",
    "psnr-hvs": "PSNR-HVS (luma) [dB]",
    "ssim-rgb": "SSIM (RGB)",
}


def plot_curves(curves: Sequence[Curve], path: str | Path, title: str = "",
                xmax: float = 2.0) -> None:
    """Write an RD plot (PNG) of `curves`: ours solid with markers, anchors dashed/dotted;
    each legend entry says whether the curve is raw bits or entropy-coded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = curves[0].metric
    fig, ax = plt.subplots(figsize=(11, 6), dpi=110)
    palettes = {"ours": plt.get_cmap("tab10"), "other": plt.get_cmap("Dark2")}
    count = {"ours": 0, "other": 0}
    visible = []
    for c in curves:
        group = "ours" if c.kind == "ours" else "other"
        colour = palettes[group](count[group] % palettes[group].N)
        count[group] += 1
        style = {"ours": dict(ls="-", marker="o", ms=3.5, lw=1.6),
                 "anchor": dict(ls="--", lw=1.0),
                 "reproduction": dict(ls=":", marker=".", lw=1.2)}[c.kind]
        order = np.argsort(c.bpp)
        tags = [t for t in (c.kind if c.kind != "ours" else "", c.coding) if t]
        label = f"{c.name} [{', '.join(tags)}]"
        ax.plot(c.bpp[order], c.value[order], label=label, color=colour, **style)
        shown = c.value[(c.bpp <= xmax) & np.isfinite(c.value)]
        visible.extend(shown.tolist())
    ax.set_xlim(0, xmax)
    if visible:
        lo, hi = min(visible), max(visible)
        pad = 0.04 * (hi - lo or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("bits per pixel (mean file size over images)")
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.set_title(title or f"{LABELS.get(metric, metric)}, averaged over images at each setting")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    with atomic.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def contact_sheet(rows: Sequence[tuple[str, np.ndarray]], path: str | Path, title: str = "",
                  scale: int = 4) -> None:
    """Write a PNG grid: one labelled row per (label, images [N, H, W, 3] uint8), the images
    enlarged `scale`× by pixel repetition so that no filter blurs what a codec did."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, h, w = rows[0][1].shape[:3]
    height = 0.5 + len(rows) * h * scale / 100  # inches, 0.5 for the title
    fig, axes = plt.subplots(len(rows), n, squeeze=False, dpi=100,
                             figsize=(1.5 + n * w * scale / 100, height))
    for (label, images), line in zip(rows, axes, strict=True):
        for image, ax in zip(images, line, strict=True):
            ax.imshow(np.repeat(np.repeat(image, scale, axis=0), scale, axis=1),
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        line[0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / height))
    with atomic.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
