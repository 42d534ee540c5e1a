"""Rate–distortion mathematics on `Curve`s: monotone hull, BD-rate, AUC, interpolated values.

- BD-rate (Bjøntegaard): the mean difference in log-rate between two curves over an interval
  of the quality metric, as a percentage (negative = fewer bits than the reference). The
  `bjontegaard` package fits each curve (Akima, rate as log10 against metric); the integral is
  taken over the interval the caller states, so that every BD-rate of one table shares one
  interval, and a curve that does not cover it has no BD-rate (NaN), never an extrapolated one.
- AUC: the area under the metric-vs-bpp curve over a stated bpp range, the figure Toderici
  et al. (2017, §5) picked models by; computed on the piecewise-linear curve, and only for
  curves that span the whole range (NaN otherwise, never extrapolated).

BD-rate works on the monotone part of a curve: points sorted by bpp, NaNs dropped, and a point
kept only if its metric exceeds every point at lower bpp (the interpolators need a strictly
increasing metric; published curves sometimes repeat a point). AUC takes every finite point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tfrnn.bench.results import Curve

DEFAULT_BPP_RANGE = (0.125, 2.0)  # 1 to 16 iterations of 1/8 bpp (Toderici et al. 2017, §3)


def monotone(curve: Curve) -> tuple[np.ndarray, np.ndarray]:
    """The points of `curve` sorted by bpp whose metric beats every point at lower bpp."""
    ok = np.isfinite(curve.bpp) & np.isfinite(curve.value) & (curve.bpp > 0)
    bpp, value = curve.bpp[ok], curve.value[ok]
    order = np.lexsort((value, bpp))
    bpp, value = bpp[order], value[order]
    keep = value > np.concatenate([[-np.inf], np.maximum.accumulate(value)[:-1]])
    return bpp[keep], value[keep]


def quality_span(curve: Curve) -> tuple[float, float] | None:
    """The metric interval the monotone curve covers; None with fewer than two points."""
    _, value = monotone(curve)
    return (float(value[0]), float(value[-1])) if len(value) >= 2 else None


def common_range(curves: Sequence[Curve]) -> tuple[float, float] | None:
    """The metric interval every curve covers (their spans' intersection); None if empty."""
    spans = [quality_span(c) for c in curves]
    if not spans or any(s is None for s in spans):
        return None
    lo, hi = max(s[0] for s in spans), min(s[1] for s in spans)  # type: ignore[index]
    return (lo, hi) if lo < hi else None


def covers(curve: Curve, quality_range: tuple[float, float]) -> bool:
    """Whether the monotone curve spans the whole metric interval."""
    span = quality_span(curve)
    return span is not None and span[0] <= quality_range[0] and span[1] >= quality_range[1]


def bd_rate(reference: Curve, test: Curve,
            quality_range: tuple[float, float] | None = None) -> float:
    """BD-rate of `test` against `reference` in percent over `quality_range` (default: the two
    curves' overlap); NaN if either curve does not cover the interval."""
    import bjontegaard

    quality_range = quality_range or common_range([reference, test])
    if quality_range is None or not (covers(reference, quality_range)
                                     and covers(test, quality_range)):
        return math.nan
    rb, rv = monotone(reference)
    tb, tv = monotone(test)
    # min_overlap=0: coverage of the stated interval is checked above, and the package's overlap
    # (of the two whole curves) is not the interval integrated here.
    _, f_ref, f_test = bjontegaard.bd_rate(rb, rv, tb, tv, method="akima",
                                           require_matching_points=False, interpolators=True,
                                           min_overlap=0)
    lo, hi = quality_range
    mean_log_ratio = (f_test.integrate(lo, hi) - f_ref.integrate(lo, hi)) / (hi - lo)
    return float((10.0 ** mean_log_ratio - 1.0) * 100.0)


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
