"""`tfrnn plot`: RD plots, BD-rate and area under the RD curve from bench results and anchors.

- BD-rate (Bjøntegaard): the average difference in log-rate between two curves over the range
  of the quality metric where both exist, as a percentage (negative = fewer bits than the
  reference), computed by the `bjontegaard` package with Akima interpolation.
- AUC: the area under the metric-vs-bpp curve over a stated bpp range, the figure Toderici
  et al. (2017, §5) picked models by; computed on the piecewise-linear curve, and only for
  curves that span the whole range (n/a otherwise, never extrapolated).

BD-rate works on the monotone part of a curve: points sorted by bpp, NaNs dropped, and a point
kept only if its metric exceeds every point at lower bpp (the interpolators need a strictly
increasing metric; published curves sometimes repeat a point). AUC takes every finite point.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfrnn import atomic
from tfrnn.bench.results import (
    QUALITY_METRICS,
    Curve,
    curve_from_results,
    load_anchors,
    read_results,
    shared_path,
)
from tfrnn.errors import UserError

KINDS = ("ours", "anchor", "reproduction")
DEFAULT_BPP_RANGE = (0.125, 2.0)  # 1 to 16 iterations of 1/8 bpp (Toderici et al. 2017, §3)
LABELS = {
    "psnr-rgb": "PSNR (RGB) [dB]",
    "ms-ssim-rgb": "MS-SSIM (RGB)",
    "ms-ssim-rgb-db": "MS-SSIM (RGB) [dB]",
    "psnr-hvs": "PSNR-HVS (luma) [dB]",
    "ssim-rgb": "SSIM (RGB)",
}


def monotone(curve: Curve) -> tuple[np.ndarray, np.ndarray]:
    """The points of `curve` sorted by bpp whose metric beats every point at lower bpp."""
    ok = np.isfinite(curve.bpp) & np.isfinite(curve.value) & (curve.bpp > 0)
    bpp, value = curve.bpp[ok], curve.value[ok]
    order = np.lexsort((value, bpp))
    bpp, value = bpp[order], value[order]
    keep = value > np.concatenate([[-np.inf], np.maximum.accumulate(value)[:-1]])
    return bpp[keep], value[keep]


def bd_rate(reference: Curve, test: Curve) -> float:
    """BD-rate of `test` against `reference` in percent; NaN without two points or overlap."""
    import bjontegaard

    rb, rv = monotone(reference)
    tb, tv = monotone(test)
    if len(rb) < 2 or len(tb) < 2 or min(rv[-1], tv[-1]) <= max(rv[0], tv[0]):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(bjontegaard.bd_rate(rb, rv, tb, tv, method="akima",
                                         require_matching_points=False, min_overlap=0))


def rd_auc(curve: Curve, bpp_range: tuple[float, float] = DEFAULT_BPP_RANGE) -> float:
    """Area under the piecewise-linear RD curve over `bpp_range`; NaN if not spanned."""
    lo, hi = bpp_range
    ok = np.isfinite(curve.bpp) & np.isfinite(curve.value)
    order = np.argsort(curve.bpp[ok], kind="stable")
    bpp, value = curve.bpp[ok][order], curve.value[ok][order]
    eps = 1e-9
    if len(bpp) < 2 or bpp[0] > lo + eps or bpp[-1] < hi - eps:
        return math.nan
    inside = (bpp > lo) & (bpp < hi)
    x = np.concatenate([[lo], bpp[inside], [hi]])
    y = np.interp(x, bpp, value)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def value_at(curve: Curve, bpp: float) -> float:
    """The metric at `bpp` on the piecewise-linear monotone curve; NaN outside its span."""
    b, v = monotone(curve)
    if len(b) == 0 or not b[0] <= bpp <= b[-1]:
        return math.nan
    return float(np.interp(bpp, b, v))


def find_curve(curves: Sequence[Curve], key: str) -> Curve:
    """The curve whose id or name is `key` (case-insensitive), or "KIND:key" to pick among
    ours / anchor / reproduction; UserError if none or several match."""
    kind, _, name = key.partition(":") if key.split(":")[0] in KINDS else ("", "", key)
    found = [c for c in curves if name.lower() in (c.id.lower(), c.name.lower())
             and kind in ("", c.kind)]
    if len(found) != 1:
        have = ", ".join(f"{c.kind}:{c.id}" for c in (found or curves))
        raise UserError(f"{'several' if found else 'no'} curves called {key!r}; have: {have}")
    return found[0]


def _fmt(x: float, spec: str) -> str:
    return "n/a" if not math.isfinite(x) else format(x, spec)


def summary_table(curves: Sequence[Curve], reference: Curve,
                  bpp_range: tuple[float, float] = DEFAULT_BPP_RANGE,
                  at_bpp: Sequence[float] = ()) -> str:
    """Markdown table: per curve, its bpp span, BD-rate against `reference`, AUC, and the
    metric at each rate of `at_bpp` (interpolated; n/a outside the curve's span)."""
    metric = reference.metric
    lo, hi = bpp_range
    lines = [
        f"Metric: {LABELS.get(metric, metric)}. BD-rate against **{reference.name}** "
        f"(Akima, over the overlapping {metric} range; negative = fewer bits). "
        f"AUC = area under {metric} vs bpp over [{lo:g}, {hi:g}] bpp "
        "(n/a: the curve does not span it).",
        "",
        f"| curve | kind | points | bpp span | BD-rate (%) | AUC [{lo:g}, {hi:g}] |"
        + "".join(f" @ {x:g} bpp |" for x in at_bpp),
        "|---|---|---|---|---|---|" + "---|" * len(at_bpp),
    ]
    for c in curves:
        b, _ = monotone(c)
        span = f"{b[0]:.3f}–{b[-1]:.3f}" if len(b) else "—"
        bd, auc = _fmt(bd_rate(reference, c), "+.1f"), _fmt(rd_auc(c, bpp_range), ".4f")
        at = "".join(f" {_fmt(value_at(c, x), '.4f')} |" for x in at_bpp)
        lines.append(f"| {c.name} | {c.kind} | {len(c.bpp)} | {span} | {bd} | {auc} |{at}")
    return "\n".join(lines) + "\n"


def plot_curves(curves: Sequence[Curve], path: str | Path, title: str = "",
                xmax: float = 2.0) -> None:
    """Write an RD plot (PNG) of `curves`: ours solid with markers, anchors dashed/dotted."""
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
        label = c.name if c.kind == "ours" else f"{c.name} [{c.kind}]"
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


def _result_files(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.json"))
        elif p.exists():
            files.append(p)
        else:
            raise UserError(f"{p}: no such file or directory")
    if not files:
        raise UserError(f"no .json results in {', '.join(paths)}")
    return files


def _bpp_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise UserError(f"--bpp-range: expected LO,HI, got {text!r}") from None
    if not 0 <= lo < hi:
        raise UserError(f"--bpp-range: need 0 <= LO < HI, got {text!r}")
    return lo, hi


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise UserError(f"expected comma-separated numbers, got {text!r}") from None


def main(argv: list[str]) -> int:
    from tfrnn.cli import ArgumentParser

    parser = ArgumentParser(prog="tfrnn plot", description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", help="results JSON files or folders of them")
    parser.add_argument("--metric", default="ms-ssim-rgb-db", choices=QUALITY_METRICS)
    parser.add_argument("--out", default=None, help="PNG to write (default: rd-METRIC.png "
                        "beside the first results file)")
    parser.add_argument("--anchors", nargs="?", const="", default=None, metavar="DIR",
                        help="draw the published curves in DIR (default ../shared/anchors/kodak)")
    parser.add_argument("--reference", default=None,
                        help="BD-rate reference: a curve id or name, or KIND:id with KIND one of "
                        "ours, anchor, reproduction (default: the first file)")
    parser.add_argument("--bpp-range", type=_bpp_range, default=DEFAULT_BPP_RANGE,
                        metavar="LO,HI", help="bpp range of the AUC (default 0.125,2)")
    parser.add_argument("--table", default=None, help="also write the Markdown table here")
    parser.add_argument("--at-bpp", type=_floats, default=(), metavar="B1,B2,...",
                        help="also tabulate each curve's metric at these rates (interpolated)")
    parser.add_argument("--xmax", type=float, default=2.0, help="right end of the bpp axis")
    parser.add_argument("--title", default="")
    args = parser.parse_args(argv)

    files = _result_files(args.results)
    curves = []
    for f in files:
        curve = curve_from_results(read_results(f), args.metric, str(f))
        if curve is None:
            print(f"tfrnn plot: {f} has no {args.metric}; left out")
        else:
            curves.append(curve)
    if not curves:
        raise UserError(f"none of the results has {args.metric}")
    if args.anchors is not None:
        folder = args.anchors or shared_path("anchors", "kodak")
        if folder is None:
            raise UserError("--anchors: ../shared/anchors/kodak not found; give a directory")
        curves += load_anchors(folder, args.metric)
    reference = find_curve(curves, args.reference) if args.reference else curves[0]
    table = summary_table(curves, reference, args.bpp_range, args.at_bpp)
    out = Path(args.out) if args.out else files[0].parent / f"rd-{args.metric}.png"
    plot_curves(curves, out, args.title, args.xmax)
    if args.table:
        atomic.write_text(args.table, table)
    print(table, end="")
    print(f"wrote {out}" + (f" and {args.table}" if args.table else ""))
    return 0
