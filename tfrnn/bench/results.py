"""Rate–distortion results: our JSON files (CompressAI's shape) and the published anchors.

Our files follow CompressAI's results JSON, one file per codec:
`{"name", "description", "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...],
"ms-ssim-rgb-db": [...], "psnr-hvs": [...], "encoding_time": [...], "decoding_time": [...]}}`,
one list entry per setting (quality or iteration count), plus our own fields (`id`, `setting`,
`versions`, `dataset`, `images`, `per_image`, `skipped`, ...). JSON has no infinity, so a
non-finite value (PSNR of a lossless reconstruction) is written as null and read back as NaN.

A file's `coding` is "raw" for bits before entropy coding (a tfrnn model without its context
model) and "entropy-coded" (the default) for actual compressed sizes. The anchors
(`../shared/anchors/kodak/`) are the TensorFlow Compression project's published aggregate
curves: `MS-SSIM_sRGB_RGB/*.txt` and `PSNR_sRGB_RGB/*.txt`, "#" comment lines (the
first naming the method) then "bpp, value" lines; and `reproductions/*.csv`, per-image MS-SSIM
of a public PyTorch reproduction, one row per image and one column per iteration (nominal
1/8 bpp per iteration, no entropy coding), averaged over images here. An anchor whose every
rate is a multiple of 1/8 bpp (Toderici 2017) is the curve before entropy coding ("raw"), as is
the reproduction; the others are file sizes.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfrnn import atomic
from tfrnn.errors import UserError
from tfrnn.images import list_images
from tfrnn.metrics import ms_ssim_db

RESULT_KEYS = ("bpp", "psnr-rgb", "ms-ssim-rgb", "ms-ssim-rgb-db", "psnr-hvs",
               "encoding_time", "decoding_time")
QUALITY_METRICS = ("psnr-rgb", "ms-ssim-rgb", "ms-ssim-rgb-db", "psnr-hvs", "ssim-rgb")
ANCHOR_DIRS = {"ms-ssim-rgb": "MS-SSIM_sRGB_RGB", "psnr-rgb": "PSNR_sRGB_RGB"}
# Bits per iteration of the reproduction: 2x2x32 bits per 32x32 patch (Toderici et al. 2017, §3).
REPRODUCTION_BPP_STEP = 0.125
# Like is compared with like: a raw-bits curve with raw curves, file sizes with file sizes.
CODINGS = ("entropy-coded", "raw")
REPO = Path(__file__).resolve().parents[2]


def host_info() -> dict[str, Any]:
    """The machine a benchmark ran on: CPU model, cores, AVX-512 or not, Python."""
    import platform

    cpu, avx512 = platform.processor() or platform.machine(), False
    try:
        text = Path("/proc/cpuinfo").read_text()
        cpu = next(line.split(":", 1)[1].strip() for line in text.splitlines()
                   if line.startswith("model name"))
        avx512 = "avx512f" in text
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "avx512": avx512,
            "machine": platform.machine(), "python": platform.python_version()}


def shared_path(*parts: str) -> Path | None:
    """`../shared/<parts>` beside the repository ($TFRNN_SHARED overrides), or None if absent.

    `../shared` is optional (Kodak, anchors): a default, never a requirement.
    """
    path = Path(os.environ.get("TFRNN_SHARED", REPO.parent / "shared")).joinpath(*parts)
    return path if path.exists() else None


def image_paths(folder: str | None, default: tuple[str, ...], limit: int | None, what: str
                ) -> tuple[Path, list[Path]]:
    """The folder (`folder`, else `../shared/<default>`) and its first `limit` images;
    UserError if neither is there or the folder holds no image (`what`: the flag's name)."""
    path = Path(folder) if folder else shared_path(*default)
    if path is None:
        raise UserError(f"no {what} given and ../shared/{'/'.join(default)} is not present")
    paths = list_images(path)[:limit]
    if not paths:
        raise UserError(f"{path}: no images")
    return path, paths


@dataclass(frozen=True)
class Curve:
    """One rate–distortion curve for one metric: `value[i]` at `bpp[i]`."""

    name: str
    metric: str
    bpp: np.ndarray
    value: np.ndarray
    kind: str  # "ours", "anchor" or "reproduction"
    source: str
    id: str = ""
    coding: str = "entropy-coded"  # or "raw": bits before entropy coding (CODINGS)


def _finite_or_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, np.ndarray | np.generic):
        return _finite_or_none(obj.tolist())
    return obj


def _check_document(doc: Any, where: str) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise UserError(f"{where}: not a results file (no \"name\")")
    results = doc.get("results")
    if not isinstance(results, dict) or not isinstance(results.get("bpp"), list):
        raise UserError(f"{where}: not a results file (no \"results\" with \"bpp\")")
    n = len(results["bpp"])
    for key, values in results.items():
        if not isinstance(values, list) or len(values) != n:
            raise UserError(f"{where}: results[{key!r}] is not a list of {n} values")


def _dumps(obj: Any, indent: int = 0) -> str:
    """JSON with one line per dict entry and every list on one line (short, diffable files)."""
    if isinstance(obj, dict) and obj and indent < 4:
        pad = " " * (indent + 1)
        items = [f"{pad}{json.dumps(k)}: {_dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    return json.dumps(obj, allow_nan=False, ensure_ascii=False)


def write_results(path: str | os.PathLike, doc: dict[str, Any],
                  required: tuple[str, ...] = RESULT_KEYS) -> None:
    """Write one codec's results document atomically (non-finite numbers become null)."""
    doc = _finite_or_none(doc)
    _check_document(doc, str(path))
    missing = [k for k in required if k not in doc["results"]]
    if missing:
        raise ValueError(f"results lack {missing}")
    atomic.write_text(path, _dumps(doc) + "\n")


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read a results document; null results become NaN. UserError if it is not one."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not a JSON results file ({e})") from None
    _check_document(doc, str(path))
    for key, values in doc["results"].items():
        if all(v is None or isinstance(v, int | float) for v in values):
            doc["results"][key] = [math.nan if v is None else float(v) for v in values]
    return doc


def curve_from_results(doc: dict[str, Any], metric: str, source: str = "") -> Curve | None:
    """`metric` against bpp from a results document (dB derived from MS-SSIM if absent)."""
    results = doc["results"]
    if metric in results:
        value = np.asarray(results[metric], dtype=np.float64)
    elif metric == "ms-ssim-rgb-db" and "ms-ssim-rgb" in results:
        value = np.asarray(ms_ssim_db(np.asarray(results["ms-ssim-rgb"], dtype=np.float64)))
    else:
        return None
    coding = doc.get("coding", CODINGS[0])
    if coding not in CODINGS:
        raise UserError(f"{source}: coding {coding!r} is not one of {', '.join(CODINGS)}")
    return Curve(doc["name"], metric, np.asarray(results["bpp"], dtype=np.float64), value,
                 "ours", source, str(doc.get("id", Path(source).stem)), coding)


def read_anchor_txt(path: str | os.PathLike, metric: str) -> Curve:
    """One published curve file: the name from its first comment line, then "bpp, value" rows."""
    path = Path(path)
    name, rows = path.stem, []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("#"):
            found = re.search(r'data for "([^"]+)"', line)
            name = found.group(1) if found else name
        elif line:
            try:
                rows.append([float(x) for x in line.split(",")][:2])
            except ValueError:
                raise UserError(f"{path}: not a 'bpp, value' line: {line!r}") from None
    if not rows or any(len(r) != 2 for r in rows):
        raise UserError(f"{path}: no 'bpp, value' rows")
    data = np.asarray(rows, dtype=np.float64)
    steps = data[:, 0] / REPRODUCTION_BPP_STEP
    coding = "raw" if np.allclose(steps, np.round(steps), atol=1e-6) else "entropy-coded"
    return Curve(name, metric, data[:, 0], data[:, 1], "anchor", str(path), path.stem, coding)


def read_reproduction_csv(path: str | os.PathLike) -> Curve:
    """Per-image MS-SSIM per iteration, averaged over images, at nominal 1/8 bpp per iteration."""
    path = Path(path)
    rows = [[float(x) for x in line.split(",") if x.strip()]
            for line in path.read_text().splitlines() if line.strip()]
    if not rows or len({len(r) for r in rows}) != 1:
        raise UserError(f"{path}: expected rows of equal length (one per image)")
    mean = np.mean(np.asarray(rows), axis=0)
    bpp = REPRODUCTION_BPP_STEP * np.arange(1, len(mean) + 1)
    name = path.stem.replace("_msssim-per-image", "").replace("_", " ")
    return Curve(f"{name} (nominal bpp)", "ms-ssim-rgb", bpp, mean, "reproduction",
                 str(path), path.stem, "raw")


def _to_db(curve: Curve) -> Curve:
    return Curve(curve.name, "ms-ssim-rgb-db", curve.bpp, np.asarray(ms_ssim_db(curve.value)),
                 curve.kind, curve.source, curve.id, curve.coding)


def load_anchors(folder: str | os.PathLike, metric: str) -> list[Curve]:
    """Every published curve for `metric` under an anchors folder (e.g. anchors/kodak).

    MS-SSIM curves serve "ms-ssim-rgb" and, converted, "ms-ssim-rgb-db"; there are none for
    PSNR-HVS or SSIM. The reproduction's `*_jpeg_*` file is left out: its columns are JPEG
    qualities 5, 10, ..., 100 (the reproduction's test/jpeg.sh), whose rates were not published.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such anchors directory")
    if not any((folder / d).is_dir() for d in (*ANCHOR_DIRS.values(), "reproductions")):
        raise UserError(f"{folder}: not an anchors directory (no {', '.join(ANCHOR_DIRS.values())}"
                        " or reproductions)")
    base = "ms-ssim-rgb" if metric == "ms-ssim-rgb-db" else metric
    curves: list[Curve] = []
    if base in ANCHOR_DIRS and (folder / ANCHOR_DIRS[base]).is_dir():
        curves += [read_anchor_txt(p, base)
                   for p in sorted((folder / ANCHOR_DIRS[base]).glob("*.txt"))]
    if base == "ms-ssim-rgb" and (folder / "reproductions").is_dir():
        curves += [read_reproduction_csv(p)
                   for p in sorted((folder / "reproductions").glob("*.csv"))
                   if "_jpeg_" not in p.name]
    return [_to_db(c) for c in curves] if metric == "ms-ssim-rgb-db" else curves
