"""Counts that go into each shard's stats file and, merged, into the manifest."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np

from data_prep.tiles import ImageResult

# PNG-ratio histogram: bin i holds ratios in [EDGES[i-1], EDGES[i]); bin 0 is below
# EDGES[0], the last bin is at or above EDGES[-1]. Kept 32x32 tiles of photos mostly
# fall between 1.0 and 2.0.
RATIO_EDGES = tuple(round(0.9 + 0.1 * i, 1) for i in range(22))  # 0.9 ... 3.0


@dataclasses.dataclass
class Stats:
    """What a set of images produced; `merge` adds two, in order (first example wins)."""

    images: int = 0
    images_used: int = 0
    tiles: int = 0
    skipped: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    converted: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    ratio_counts: list[int] = dataclasses.field(
        default_factory=lambda: [0] * (len(RATIO_EDGES) + 1))
    ratio_sum: float = 0.0
    ratio_min: float | None = None
    ratio_max: float | None = None
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)

    def add(self, result: ImageResult) -> None:
        self.images += 1
        for name, value in result.seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + value
        for kind in result.conversions:
            _count(self.converted, kind, {"count": 1, "example": result.source_id})
        if result.skip:
            _count(self.skipped, result.skip, {"count": 1, "example": result.source_id,
                                               "detail": result.detail})
            return
        self.images_used += 1
        self.tiles += len(result.ratios)
        if len(result.ratios):
            bins = np.searchsorted(RATIO_EDGES, result.ratios, side="right")
            for i, n in zip(*np.unique(bins, return_counts=True), strict=True):
                self.ratio_counts[int(i)] += int(n)
            self.ratio_sum += float(result.ratios.sum())
            self.ratio_min = _pick(min, self.ratio_min, float(result.ratios.min()))
            self.ratio_max = _pick(max, self.ratio_max, float(result.ratios.max()))

    def merge(self, other: Stats) -> None:
        self.images += other.images
        self.images_used += other.images_used
        self.tiles += other.tiles
        for mine, theirs in ((self.skipped, other.skipped), (self.converted, other.converted)):
            for kind, entry in theirs.items():
                _count(mine, kind, entry)
        self.ratio_counts = [a + b for a, b in zip(self.ratio_counts, other.ratio_counts,
                                                   strict=True)]
        self.ratio_sum += other.ratio_sum
        self.ratio_min = _pick(min, self.ratio_min, other.ratio_min)
        self.ratio_max = _pick(max, self.ratio_max, other.ratio_max)
        for name, value in other.seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + value

    @classmethod
    def total(cls, parts: Iterable[Stats]) -> Stats:
        out = cls()
        for part in parts:
            out.merge(part)
        return out

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stats:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})

    def ratio_summary(self) -> dict[str, Any]:
        """The manifest's `png_ratio` entry."""
        return {"histogram": {"edges": list(RATIO_EDGES), "counts": self.ratio_counts},
                "mean": self.ratio_sum / self.tiles if self.tiles else None,
                "min": self.ratio_min, "max": self.ratio_max}


def summary_lines(skipped: dict[str, dict[str, Any]],
                  converted: dict[str, dict[str, Any]]) -> list[str]:
    """Skips and conversions by kind, each with an example, for the final printout."""
    lines = []
    if skipped:
        lines.append(f"skipped {sum(e['count'] for e in skipped.values())} images:")
        lines += _kind_lines(skipped)
    if converted:
        lines.append("converted to 8-bit RGB (an image may count under several kinds):")
        lines += _kind_lines(converted)
    return lines


def _kind_lines(table: dict[str, dict[str, Any]]) -> list[str]:
    return [f"  {kind:<16} {e['count']:>7}  e.g. {e['example']}"
            for kind, e in sorted(table.items())]


def _count(table: dict[str, dict[str, Any]], kind: str, entry: dict[str, Any]) -> None:
    if kind in table:
        table[kind]["count"] += entry["count"]
    else:
        table[kind] = dict(entry)


def _pick(fn, a: float | None, b: float | None) -> float | None:
    values = [v for v in (a, b) if v is not None]
    return fn(values) if values else None
