"""`tfrnn plot`: RD plots, BD-rate and area under the RD curve from bench results and anchors.

Every BD-rate of one table is taken over one interval of the metric, stated in the table: by
default the interval that every measured curve (kind "ours") and every reference covers, or
`--quality-range`. A curve that does not cover it gets no BD-rate ("n/a", its span shown), and
there is one BD-rate column per reference (`--reference jpeg-420,webp`), so the reader sees who
is ahead of whom over the same interval. The mathematics is `tfrnn.bench.rdmath`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from tfrnn import atomic
from tfrnn.bench.plots import LABELS, plot_curves
from tfrnn.bench.rdmath import (
    DEFAULT_BPP_RANGE,
    bd_rate,
    common_range,
    covers,
    monotone,
    quality_span,
    rd_auc,
    value_at,
)
from tfrnn.bench.results import (
    QUALITY_METRICS,
    Curve,
    curve_from_results,
    load_anchors,
    read_results,
    shared_path,
)
from tfrnn.cli import ArgumentParser
from tfrnn.errors import UserError

KINDS = ("ours", "anchor", "reproduction")


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


def table_range(curves: Sequence[Curve],
                references: Sequence[Curve]) -> tuple[float, float] | None:
    """The default BD-rate interval of a table: what every measured curve ("ours") and every
    reference covers; None if they share none."""
    chosen = [c for c in curves if c.kind == "ours"]
    chosen += [r for r in references if not any(r is c for c in chosen)]
    return common_range(chosen)


def _span(span: tuple[float, float] | None) -> str:
    return "—" if span is None else f"{span[0]:.4g}–{span[1]:.4g}"


def summary_table(curves: Sequence[Curve], references: Sequence[Curve],
                  quality_range: tuple[float, float] | None,
                  bpp_range: tuple[float, float] = DEFAULT_BPP_RANGE,
                  at_bpp: Sequence[float] = ()) -> str:
    """Markdown table: per curve, its coding, spans, BD-rate against each reference over the
    one interval `quality_range` (None: the curves share no interval, and no BD-rate is
    given), AUC, and the metric at each rate of `at_bpp` (interpolated; n/a outside the
    curve's span)."""
    metric = references[0].metric
    lo, hi = bpp_range
    interval = ("The measured curves share no interval of the metric: no BD-rate. "
                if quality_range is None else
                f"Every BD-rate below is taken over the same interval, {metric} "
                f"{_span(quality_range)} (Akima; negative = fewer bits than the reference); "
                "n/a: the curve does not cover that interval (see its span). ")
    lines = [
        f"Metric: {LABELS.get(metric, metric)}. " + interval +
        "Coding: raw = bits before entropy coding, entropy-coded = file sizes; compare like "
        f"with like. AUC = area under {metric} vs bpp over [{lo:g}, {hi:g}] bpp "
        "(n/a: the curve does not span it).",
        "",
        f"| curve | kind | coding | points | bpp span | {metric} span |"
        + "".join(f" BD-rate vs {r.name} (%) |" for r in references)
        + f" AUC [{lo:g}, {hi:g}] |" + "".join(f" @ {x:g} bpp |" for x in at_bpp),
        "|---|---|---|---|---|---|" + "---|" * (len(references) + 1 + len(at_bpp)),
    ]
    for c in curves:
        b, _ = monotone(c)
        span = f"{b[0]:.3f}–{b[-1]:.3f}" if len(b) else "—"
        bds = "".join(f" {_fmt(bd_rate(r, c, quality_range), '+.1f')} |" if quality_range
                      else " n/a |" for r in references)
        auc = _fmt(rd_auc(c, bpp_range), ".4f")
        at = "".join(f" {_fmt(value_at(c, x), '.4f')} |" for x in at_bpp)
        lines.append(f"| {c.name} | {c.kind} | {c.coding} | {len(c.bpp)} | {span} | "
                     f"{_span(quality_span(c))} |{bds} {auc} |{at}")
    return "\n".join(lines) + "\n"


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


def _range(flag: str, text: str, lowest: float = -math.inf) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise UserError(f"{flag}: expected LO,HI, got {text!r}") from None
    if not lowest <= lo < hi:
        raise UserError(f"{flag}: need {'0 <= ' if lowest == 0 else ''}LO < HI, got {text!r}")
    return lo, hi


def _bpp_range(text: str) -> tuple[float, float]:
    return _range("--bpp-range", text, 0.0)


def _quality_range(text: str) -> tuple[float, float]:
    return _range("--quality-range", text)


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise UserError(f"expected comma-separated numbers, got {text!r}") from None


def main(argv: list[str]) -> int:
    parser = ArgumentParser(prog="tfrnn plot", description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", help="results JSON files or folders of them")
    parser.add_argument("--metric", default="ms-ssim-rgb-db", choices=QUALITY_METRICS)
    parser.add_argument("--out", default=None, help="PNG to write (default: rd-METRIC.png "
                        "beside the first results file)")
    parser.add_argument("--anchors", nargs="?", const="", default=None, metavar="DIR",
                        help="draw the published curves in DIR (default ../shared/anchors/kodak)")
    parser.add_argument("--reference", default=None, metavar="REF1,REF2,...",
                        help="BD-rate references, one column each: a curve id or name, or "
                        "KIND:id with KIND one of ours, anchor, reproduction (default: the "
                        "first file)")
    parser.add_argument("--quality-range", type=_quality_range, default=None, metavar="LO,HI",
                        help="the metric interval of every BD-rate (default: the interval "
                        "that every measured curve and every reference covers)")
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
    references = ([find_curve(curves, key) for key in args.reference.split(",")]
                  if args.reference else [curves[0]])
    quality_range = args.quality_range or table_range(curves, references)
    if quality_range is None:
        spans = "; ".join(f"{c.id}: {_span(quality_span(c))}" for c in curves if c.kind == "ours")
        print(f"tfrnn plot: the measured curves share no {args.metric} interval ({spans}): "
              "no BD-rate (give --quality-range LO,HI or fewer files)")
    for r in references:
        if quality_range is not None and not covers(r, quality_range):
            raise UserError(f"reference {r.id} covers {args.metric} {_span(quality_span(r))}, "
                            f"not the table's interval {_span(quality_range)}")
    table = summary_table(curves, references, quality_range, args.bpp_range, args.at_bpp)
    out = Path(args.out) if args.out else files[0].parent / f"rd-{args.metric}.png"
    plot_curves(curves, out, args.title, args.xmax)
    if args.table:
        atomic.write_text(args.table, table)
    print(table, end="")
    print(f"wrote {out}" + (f" and {args.table}" if args.table else ""))
    return 0
