"""`tfrnn bench thumbnails`: the 2016 paper's 32×32 thumbnail benchmark, headerless sizes.

Toderici et al. (2016, §4) compare their networks on 32×32 thumbnails with JPEG, JPEG 2000 and
WebP whose headers are not counted, by SSIM at equal size and by size at equal SSIM. Here:

- Thumbnails: each image's centred square crop, downscaled to 32×32 with Pillow's antialiased
  Lanczos filter (what `Image.thumbnail` does); one thumbnail per image. Any folder works
  (`--images`); many small photos make a larger benchmark than Kodak's 24.
- Headerless sizes, exactly (parsing each file):
  - JPEG: the bytes of the entropy-coded segments, from the end of each SOS header to the
    next marker that is neither a stuffed 0xFF00 nor RSTn; i.e. the file minus SOI, APPn,
    the tables (DQT, DHT), SOF, the SOS headers and EOI. A decoder that knows the size and
    the quality setting needs nothing else.
  - WebP (lossy): the "VP8 " chunk payload minus its 10-byte uncompressed frame header
    (3-byte frame tag, start code, width and height); i.e. the file minus the RIFF header
    (12 bytes), the chunk header (8 bytes) and those 10. The bool-coded first partition, whose
    first fields are segment, filter and quantiser settings, is kept: it cannot be separated.
  - JPEG 2000 (codestream): the bytes after each tile-part's SOD marker to the tile-part's end
    (Psot); i.e. the codestream minus the main header (SOC, SIZ, COD, QCD, COM), the tile-part
    headers (SOT ... SOD) and EOC. Packet headers are kept: they carry the code-block lengths.
    OpenJPEG's rate control counts its ~150-byte headers, so the sweep targets PSNR
    (`jpeg2000-psnr`).
- Quality: SSIM (`tfrnn.metrics.ssim_batch`: RGB, 11×11 Gaussian, mean over channels; 5-scale
  MS-SSIM needs ≥ 161 px), PSNR and the colour shift (`metrics.colour_shift_batch`: how far
  the mean R, G, B moved, which one-scale SSIM barely charges for), each the mean over
  thumbnails at one setting; bpp is the mean headerless size in bits / 1024.
- `sheet.png` (`--sheet N`): the first N thumbnails as decoded by the reference codec and by
  each model at the operating points below, enlarged without filtering, to look at.
- Sweeps (`THUMBNAIL_SWEEPS`): every setting around the operating points below, coarser above.
- Bytes at equal quality: each codec's mean headerless bytes interpolated (linearly in SSIM,
  logarithmically in bytes, on the monotone part of its curve) at stated SSIM targets, and the
  difference to a reference codec in percent; the BD-rate on SSIM over each pair's common SSIM
  range (stated) and over one range, the reference's SSIM at 64 to 128 bytes; and the paper's
  claim at those points (`claim_table`).

- Our models (`--models`, Toderici 2016's systems, e.g. the shipped `thumb-fc-lstm` and
  `thumb-conv-lstm`): one progressive encode of all iterations per thumbnail gives every rate.
  Headerless size counted like the classic codecs': what a decoder that knows the model and the
  size needs, i.e. the iteration codes, bits per iteration / 8 bytes each (16 for a 32×32
  thumbnail), no container header (`bytes`); and, as a column beyond the paper, the bundle's
  entropy-coded payloads of the first k iterations (`entropy-bytes`, FORMAT.md), also without
  the container and its framing. Each thumbnail's file is decoded back and checked to equal
  the encoder's reconstruction bit for bit.
- `--held-out P`: only the photos `tfrnn prepare --split train --held-out-percent P` leaves
  out (`data_prep.thumbnails.held_out`, on the path relative to `--images`): no training
  step saw them.
- The operating points of the 2016 paper (Table 2): SSIM at 64 and 128 bytes (0.5 and 1 bpp),
  interpolated on each curve (ours: exactly 4 and 8 iterations).

Thumbnails are tiny, so the whole benchmark runs in one process.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tfrnn import atomic, file_format, metrics
from tfrnn.bench import classic
from tfrnn.bench.plots import contact_sheet, plot_curves
from tfrnn.bench.rdmath import bd_rate, common_range, monotone
from tfrnn.bench.results import Curve, shared_path, write_results
from tfrnn.errors import UserError
from tfrnn.images import list_images, load_image

THUMBNAIL_CODECS = ("jpeg-420", "jpeg-444", "webp", "jpeg2000-psnr")
_STEP_5 = tuple(range(35, 95, 5))
# Fine where the paper's operating points (64 and 128 bytes) lie: every JPEG and WebP quality up
# to 30 (~155 and ~220 bytes for 32×32), every dB of JPEG 2000's target. The curves are concave;
# interpolating across coarser steps underrates a codec (JPEG 4:2:0 by 0.004 SSIM at 64 bytes).
THUMBNAIL_SWEEPS: dict[str, tuple[float, ...]] = {
    "jpeg-420": (*range(2, 31), *_STEP_5),
    "jpeg-444": (*range(2, 31), *_STEP_5),
    "webp": (*range(0, 31), *_STEP_5),
    "jpeg2000-psnr": tuple(range(15, 37)),
}
DEFAULT_SSIM_TARGETS = (0.6, 0.7, 0.8, 0.9)
COLOUR_SHIFT = ("colour-shift-rgb: distance in 8-bit levels between the mean R, G, B of the "
                "thumbnail and of its reconstruction.")
PAPER_BYTES = (64, 128)  # Toderici 2016, Table 2: SSIM at these headerless sizes
SOS, EOI, SOT, SOD, EOC = 0xDA, 0xD9, b"\xff\x90", b"\xff\x93", b"\xff\xd9"


def make_thumbnail(image: np.ndarray, size: int = 32) -> np.ndarray:
    """The centred square crop of a uint8 RGB image, downscaled to size×size (Lanczos)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(image[top:top + side, left:left + side])
    return np.asarray(square.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8)


def _u16(data: bytes, i: int) -> int:
    return int.from_bytes(data[i:i + 2], "big")


def jpeg_entropy_bytes(data: bytes) -> int:
    """Bytes in a JPEG file's entropy-coded segments (see module docstring)."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG file (no SOI)")
    i, total = 2, 0
    while i + 1 < len(data):
        if data[i] != 0xFF:
            raise ValueError(f"JPEG: expected a marker at byte {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == EOI:
            return total
        i += 2 + _u16(data, i + 2)
        if marker == SOS:
            j = i
            while True:
                j = data.find(b"\xff", j)
                if j < 0 or j + 1 >= len(data):
                    raise ValueError("JPEG: entropy-coded data runs past the end")
                if data[j + 1] == 0x00 or 0xD0 <= data[j + 1] <= 0xD7:
                    j += 2
                    continue
                break
            total += j - i
            i = j
    raise ValueError("JPEG: no EOI marker")


def webp_vp8_bytes(data: bytes) -> int:
    """Bytes of a simple lossy WebP's VP8 data after the frame header (see module docstring)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or data[12:16] != b"VP8 ":
        raise ValueError("not a simple lossy WebP file (RIFF, WEBP, 'VP8 ' chunk)")
    if data[23:26] != b"\x9d\x01\x2a":
        raise ValueError("WebP: no VP8 key-frame start code")
    return int.from_bytes(data[16:20], "little") - 10


def j2k_tile_data_bytes(data: bytes) -> int:
    """Bytes of a JPEG 2000 codestream's tile-part data (see module docstring)."""
    if data[:2] != b"\xff\x4f":
        raise ValueError("not a JPEG 2000 codestream (no SOC)")
    i = 2
    while data[i:i + 2] != SOT:  # main header: marker segments up to the first SOT
        if i + 4 > len(data) or data[i] != 0xFF:
            raise ValueError(f"JPEG 2000: bad main-header marker at byte {i}")
        i += 2 + _u16(data, i + 2)
    total = 0
    while data[i:i + 2] == SOT:
        psot = int.from_bytes(data[i + 6:i + 10], "big")
        end = i + psot if psot else len(data) - 2
        j = i + 2 + _u16(data, i + 2)
        while data[j:j + 2] != SOD:  # tile-part header marker segments up to SOD
            if j + 4 > end:
                raise ValueError("JPEG 2000: tile-part without SOD")
            j += 2 + _u16(data, j + 2)
        total += end - (j + 2)
        i = end
    if data[i:i + 2] != EOC:
        raise ValueError("JPEG 2000: no EOC after the tile-parts")
    return total


# Pillow format -> (headerless size, what it counts)
HEADERLESS: dict[str, tuple[Callable[[bytes], int], str]] = {
    "JPEG": (jpeg_entropy_bytes, "entropy-coded segments only"),
    "WEBP": (webp_vp8_bytes, "VP8 chunk payload minus its 10-byte frame header"),
    "JPEG2000": (j2k_tile_data_bytes, "tile-part data after SOD only"),
}


def sweep_thumbnails(codec: classic.ClassicCodec, thumbs: np.ndarray,
                     settings: Sequence[float]) -> dict[str, list[float]]:
    """Mean headerless bytes/bpp, full bytes/bpp, SSIM, PSNR, colour shift and times at each
    setting."""
    headerless = HEADERLESS[codec.format][0]
    pixels = thumbs.shape[1] * thumbs.shape[2]
    keys = ("bytes", "bytes-with-header", "ssim-rgb", "psnr-rgb", "colour-shift-rgb",
            "encoding_time", "decoding_time")
    out: dict[str, list[float]] = {k: [] for k in keys}
    pils = [Image.fromarray(t) for t in thumbs]
    for setting in settings:
        sizes, full, enc, dec, decoded = [], [], [], [], []
        for pil in pils:
            t0 = time.perf_counter()
            data = classic.encode(codec, pil, setting)
            t1 = time.perf_counter()
            decoded.append(classic.decode(data))
            dec.append(time.perf_counter() - t1)
            enc.append(t1 - t0)
            sizes.append(headerless(data))
            full.append(len(data))
        decoded_arr = np.stack(decoded)
        for key, values in zip(keys, (sizes, full, metrics.ssim_batch(thumbs, decoded_arr),
                                      metrics.psnr_batch(thumbs, decoded_arr),
                                      metrics.colour_shift_batch(thumbs, decoded_arr), enc, dec),
                               strict=True):
            out[key].append(float(np.mean(values)))
    out["bpp"] = [8.0 * b / pixels for b in out["bytes"]]
    out["bpp-with-header"] = [8.0 * b / pixels for b in out["bytes-with-header"]]
    return out


def sweep_model(codec, thumbs: np.ndarray) -> tuple[dict[str, list[float]], np.ndarray]:
    """Our codec on every thumbnail at 1..T iterations (see module docstring): mean headerless
    and entropy-coded bytes, SSIM, PSNR, colour shift; seconds per thumbnail to encode and
    decode all T. Also the reconstructions, (T, N, H, W, 3) uint8."""
    n, height, width = thumbs.shape[:3]
    iterations = codec.max_iterations
    step = codec.model.codec_config.bits_per_iteration(height, width) / 8
    recons = np.zeros((iterations, *thumbs.shape), np.uint8)
    entropy = np.zeros((iterations, n))
    enc, dec = [], []
    for i, thumb in enumerate(thumbs):
        t0 = time.perf_counter()
        data, recons[:, i] = codec.compress_progressive(thumb)
        t1 = time.perf_counter()
        decoded = codec.decompress(data)
        dec.append(time.perf_counter() - t1)
        enc.append(t1 - t0)
        if not np.array_equal(decoded, recons[-1, i]):
            raise UserError(f"{codec.name}: thumbnail {i} does not decode to the encoder's "
                            "reconstruction")
        if codec.entropy_coder is not None:  # the entropy coder's payloads, without the
            # container's framing (a version-3 chunk prefixes each tile's part by its length)
            parts = file_format.parse(data).parts
            entropy[:, i] = np.cumsum([sum(map(len, tiles)) for tiles in parts])
    out: dict[str, list[float]] = {"iterations": list(range(1, iterations + 1)),
                                   "bytes": [step * k for k in range(1, iterations + 1)]}
    out["bpp"] = [8.0 * b / (height * width) for b in out["bytes"]]
    out["ssim-rgb"] = [float(np.mean(metrics.ssim_batch(thumbs, r))) for r in recons]
    out["psnr-rgb"] = [float(np.mean(metrics.psnr_batch(thumbs, r))) for r in recons]
    out["colour-shift-rgb"] = [float(np.mean(metrics.colour_shift_batch(thumbs, r)))
                               for r in recons]
    if codec.entropy_coder is not None:
        out["entropy-bytes"] = entropy.mean(axis=1).tolist()
    out["encoding_time"] = [float(np.mean(enc))] * iterations
    out["decoding_time"] = [float(np.mean(dec))] * iterations
    return out, recons


def ssim_at_bytes(curve: Curve, size: float) -> float:
    """SSIM of `curve` (bpp field holding bytes) at `size` bytes, linear in log bytes."""
    b, v = monotone(curve)
    if len(b) == 0 or not b[0] <= size <= b[-1]:
        return math.nan
    return float(np.interp(np.log(size), np.log(b), v))


def paper_table(curves: dict[str, Curve]) -> str:
    """Markdown: SSIM at the paper's operating points (64 and 128 bytes) for every curve."""
    lines = ["SSIM at the 2016 paper's operating points (interpolated in log bytes; n/a: "
             "outside the curve).", "",
             "| codec | " + " | ".join(f"SSIM @ {b} B" for b in PAPER_BYTES) + " |",
             "|---|" + "---|" * len(PAPER_BYTES)]
    for c in curves.values():
        cells = [ssim_at_bytes(c, b) for b in PAPER_BYTES]
        lines.append(f"| {c.name} | " + " | ".join(
            "n/a" if not math.isfinite(x) else f"{x:.3f}" for x in cells) + " |")
    return "\n".join(lines) + "\n"


def colour_table(sources: dict[str, Path]) -> str:
    """Markdown: PSNR and colour shift at the paper's operating points, from each results file
    (name -> path), interpolated in log bytes between its settings sorted by size (ours: exact)."""
    lines = ["PSNR and colour shift (`colour-shift-rgb`: distance in 8-bit levels between the "
             "mean R, G, B of a thumbnail and of its reconstruction, mean over thumbnails) at "
             "the same points.", "",
             "| codec | " + " | ".join(f"PSNR @ {b} B" for b in PAPER_BYTES) + " | "
             + " | ".join(f"colour shift @ {b} B" for b in PAPER_BYTES) + " |",
             "|---|" + "---|" * 2 * len(PAPER_BYTES)]
    for name, path in sources.items():
        res = json.loads(Path(path).read_text())["results"]
        size = np.asarray(res["bytes"], float)
        order = np.argsort(size, kind="stable")
        cells = []
        for key in ("psnr-rgb", "colour-shift-rgb"):
            values = np.asarray(res.get(key, [math.nan] * len(size)), float)[order]
            for b in PAPER_BYTES:
                inside = size[order][0] <= b <= size[order][-1]
                x = np.interp(np.log(b), np.log(size[order]), values) if inside else math.nan
                cells.append("n/a" if not math.isfinite(x) else
                             f"{x:.2f} dB" if key == "psnr-rgb" else f"{x:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def claim_table(curves: dict[str, Curve], ours: Sequence[str], theirs: Sequence[str]) -> str:
    """Markdown: the 2016 claim (its abstract: at equal SSIM, 10% or more fewer bytes than
    headerless JPEG, JPEG 2000 and WebP) at the paper's operating points: each of `ours` at 64
    and 128 bytes, the bytes each of `theirs` needs for its SSIM there, and our saving
    1 − ours / theirs."""
    lines = ["The 2016 claim at its operating points: bytes each codec needs for our SSIM at "
             "64 and 128 bytes (in brackets: our saving, 1 − ours / theirs; the claim is "
             "≥ 10%; n/a: outside a curve).", "",
             "| ours | bytes | SSIM | " + " | ".join(curves[c].name for c in theirs) + " |",
             "|---|---|---|" + "---|" * len(theirs)]
    for o in ours:
        for size in PAPER_BYTES:
            s = ssim_at_bytes(curves[o], size)
            cells = []
            for c in theirs:
                b = bytes_at(curves[c], s) if math.isfinite(s) else math.nan
                cells.append("n/a" if not math.isfinite(b) else
                             f"{b:.1f} ({100 * (1 - size / b):+.0f}%)")
            ssim = "n/a" if not math.isfinite(s) else f"{s:.3f}"
            lines.append(f"| {curves[o].name} | {size} | {ssim} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def bytes_at(curve: Curve, target: float) -> float:
    """Bytes of `curve` (bpp field holding bytes) at metric `target`; NaN outside its range."""
    size, value = monotone(curve)
    if len(size) < 2 or not value[0] <= target <= value[-1]:
        return math.nan
    return float(np.exp(np.interp(target, value, np.log(size))))


def summary(curves: dict[str, Curve], reference: str, targets: Sequence[float],
            n_thumbs: int, size: int) -> str:
    """Markdown: headerless bytes per thumbnail at each SSIM target, and BD-rate on SSIM."""
    ref = curves[reference]
    ids = list(curves)
    lines = [f"{n_thumbs} thumbnails of {size}x{size}; headerless bytes per thumbnail at equal "
             f"SSIM (mean over thumbnails; in brackets: vs {ref.name}).", "",
             "| SSIM | " + " | ".join(curves[c].name for c in ids) + " |",
             "|---|" + "---|" * len(ids)]
    for t in targets:
        base = bytes_at(ref, t)
        cells = []
        for c in ids:
            b = bytes_at(curves[c], t)
            rel = "" if c == reference or not math.isfinite(b / base) else \
                f" ({100 * (b / base - 1):+.0f}%)"
            cells.append("n/a" if not math.isfinite(b) else f"{b:.1f}{rel}")
        lines.append(f"| {t:g} | " + " | ".join(cells) + " |")
    lines += ["", f"BD-rate on SSIM against {ref.name}, each over the SSIM range both curves "
              "cover (in brackets): " + ", ".join(
                  f"{curves[c].name} {_percent(bd_rate(ref, curves[c]))} ({_span(ref, curves[c])})"
                  for c in ids if c != reference)]
    paper = tuple(ssim_at_bytes(ref, b) for b in PAPER_BYTES)
    if all(math.isfinite(x) for x in paper):
        lines += ["", f"BD-rate on SSIM against {ref.name} over one range, from its SSIM at "
                  f"{PAPER_BYTES[0]} to its SSIM at {PAPER_BYTES[-1]} bytes ({paper[0]:.3f}–"
                  f"{paper[-1]:.3f}, the paper's operating points; n/a: a curve does not cover "
                  "it): " + ", ".join(f"{curves[c].name} {_percent(bd_rate(ref, curves[c], paper))}"
                                      for c in ids if c != reference)]
    return "\n".join(lines) + "\n"


def _percent(x: float) -> str:
    return f"{x:+.1f}%" if math.isfinite(x) else "n/a"


def _span(a: Curve, b: Curve) -> str:
    span = common_range([a, b])
    return "no common range" if span is None else f"{span[0]:.3f}–{span[1]:.3f}"


def select_images(folder: Path, held_out_percent: float | None) -> list[tuple[str, Path]]:
    """(name, path) of the images directly in `folder`; with `held_out_percent`, of those
    anywhere under it that `tfrnn prepare` holds out (named by their relative path)."""
    if held_out_percent is None:
        return [(p.name, p) for p in list_images(folder)]
    from data_prep.sources import open_source
    from data_prep.thumbnails import held_out

    files = open_source(str(folder)).files
    chosen = [(name, Path(path)) for name, path in files if held_out(name, held_out_percent)]
    if not chosen:
        raise UserError(f"{folder}: no image is in the held-out {held_out_percent:g}%")
    return chosen


def load_thumbnails(images: Sequence[tuple[str, Path]], size: int
                    ) -> tuple[np.ndarray, list[str]]:
    """Thumbnails of every readable image; unreadable ones are reported and skipped."""
    thumbs, names = [], []
    for name, p in images:
        try:
            thumbs.append(make_thumbnail(load_image(p), size))
            names.append(name)
        except UserError as e:
            print(f"skipped {e}", file=sys.stderr)
    if not thumbs:
        raise UserError("no readable images")
    return np.stack(thumbs), names


def model_curves(model: str, thumbs: np.ndarray, names: list[str], dataset: str,
                 out_dir: Path) -> tuple[dict[str, Curve], ModelRows]:
    """Sweep one of our models, write its results file; its curves (headerless, and
    entropy-coded if the bundle has a context model), with bytes in the bpp field, and its
    reconstructions for the contact sheet."""
    from tfrnn.codec import load_codec

    codec = load_codec(model)
    res, recons = sweep_model(codec, thumbs)
    label = Path(model).name
    size = f"{thumbs.shape[1]}x{thumbs.shape[2]}"
    doc: dict[str, Any] = {
        "name": f"{label} (ours), headerless",
        "description": (
            f"tfrnn model {model} on {len(names)} {size} thumbnails of {dataset} (centred "
            "square crop, Lanczos), one progressive encode per thumbnail. Entry k: the first k "
            "iterations. bytes = the iteration codes (bits per iteration / 8 each, no "
            "container header); entropy-bytes = the bundle's entropy-coded payloads of those "
            "iterations (no container header); ssim-rgb and colour-shift-rgb as for the classic "
            "codecs; encoding_time/decoding_time: seconds per thumbnail for all iterations."),
        "results": res, "id": label, "dataset": dataset, "images": names,
        "model": {"name": model, "fingerprint": codec.bundle.fingerprint,
                  "config": codec.model.codec_config.name,
                  "metadata": codec.bundle.metadata},
    }
    path = out_dir / f"{label}.json"
    write_results(path, doc,
                  required=("bpp", "ssim-rgb", "psnr-rgb", "encoding_time", "decoding_time"))
    ssim = np.asarray(res["ssim-rgb"])
    curves = {label: Curve(doc["name"], "ssim-rgb", np.asarray(res["bytes"]), ssim, "ours",
                           str(path), label, coding="raw")}
    if "entropy-bytes" in res:
        curves[f"{label}-entropy"] = Curve(f"{label} (ours), entropy-coded", "ssim-rgb",
                                           np.asarray(res["entropy-bytes"]), ssim, "ours",
                                           str(path), f"{label}-entropy")
    return curves, ModelRows(label, res["bytes"], recons)


@dataclasses.dataclass(frozen=True)
class ModelRows:
    """One model's reconstructions for the contact sheet: `recons[k]` is every thumbnail
    after k + 1 iterations, which make `bytes[k]` headerless bytes."""

    label: str
    bytes: list[float]
    recons: np.ndarray


def sheet_rows(thumbs: np.ndarray, reference: str, reference_results: dict[str, list[float]],
               models: Sequence[ModelRows]) -> list[tuple[str, np.ndarray]]:
    """Rows of the contact sheet for `thumbs` (the thumbnails the models' `recons` hold): the
    originals, then the reference codec at the setting whose mean headerless size is nearest
    each of `PAPER_BYTES`, then each model at the iterations that make those sizes (where it
    has them)."""
    rows = [("original", thumbs)]
    codec = classic.CODECS[reference]
    sizes = np.asarray(reference_results["bytes"])
    for target in PAPER_BYTES:
        i = int(np.argmin(np.abs(sizes - target)))
        setting = reference_results[codec.setting.replace(" ", "-")][i]
        decoded = np.stack([classic.decode(classic.encode(codec, Image.fromarray(t), setting))
                            for t in thumbs])
        rows.append((f"{reference} {codec.setting} {setting:g}\n{sizes[i]:.1f} B (mean)",
                     decoded))
    for model in models:
        rows += [(f"{model.label}\n{target} B", model.recons[model.bytes.index(target)])
                 for target in PAPER_BYTES if target in model.bytes]
    return rows


def main(argv: list[str]) -> int:
    from tqdm import tqdm

    from tfrnn.cli import ArgumentParser

    parser = ArgumentParser(prog="tfrnn bench thumbnails", description=__doc__.split("\n")[0])
    parser.add_argument("--images", default=None,
                        help="folder of images (default ../shared/data/kodak)")
    parser.add_argument("--dataset", default=None, help="label (default: the folder's name)")
    parser.add_argument("--codecs", default=",".join(THUMBNAIL_CODECS),
                        help=f"comma-separated from {', '.join(THUMBNAIL_CODECS)}")
    parser.add_argument("--quality", action="append", default=[], metavar="CODEC=Q1,Q2,...",
                        help="override a codec's sweep (default: THUMBNAIL_SWEEPS)")
    parser.add_argument("--size", type=int, default=32, help="thumbnail side (default 32)")
    parser.add_argument("--reference", default="jpeg-420", help="codec the others are "
                        "compared with (default jpeg-420)")
    parser.add_argument("--ssim-targets", default=",".join(map(str, DEFAULT_SSIM_TARGETS)),
                        help="SSIM levels for the equal-quality table")
    parser.add_argument("--out", default=None,
                        help="output folder (default bench/results/thumbnails-DATASET)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--models", default="",
                        help="comma-separated models of ours (pretrained names, bundles or "
                             "run directories), e.g. thumb-fc-lstm,thumb-conv-lstm")
    parser.add_argument("--sheet", type=int, default=12, metavar="N",
                        help="draw the first N thumbnails, decoded by the reference codec and "
                        "each model at 64 and 128 bytes, to sheet.png (default 12; 0: none)")
    parser.add_argument("--held-out", type=float, default=None, metavar="P",
                        help="only the images under --images (recursively) that `tfrnn "
                             "prepare --held-out-percent P` holds out")
    args = parser.parse_args(argv)

    folder = Path(args.images) if args.images else shared_path("data", "kodak")
    if folder is None:
        raise UserError("no --images given and ../shared/data/kodak is not present")
    if args.size < metrics.SSIM_FILTER_SIZE:
        raise UserError(f"--size must be >= {metrics.SSIM_FILTER_SIZE} (the SSIM window)")
    targets = classic.parse_numbers(args.ssim_targets, "--ssim-targets")
    chosen = classic.choose(args.codecs, args.quality, THUMBNAIL_SWEEPS)
    unsupported = [c for c in chosen if classic.CODECS[c].format not in HEADERLESS]
    if unsupported or not chosen:
        raise UserError(f"thumbnails: choose codecs from {', '.join(THUMBNAIL_CODECS)} "
                        f"(no headerless size for {', '.join(unsupported) or 'nothing'})")
    if args.sheet < 0:
        raise UserError(f"--sheet must be >= 0, got {args.sheet}")
    if args.reference not in chosen:
        raise UserError(f"--reference {args.reference!r} is not among {', '.join(chosen)}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    thumbs, names = load_thumbnails(select_images(folder, args.held_out)[: args.limit],
                                    args.size)
    dataset = args.dataset or folder.resolve().name + (
        f"-held-out-{args.held_out:g}" if args.held_out is not None else "")
    out_dir = Path(args.out) if args.out else Path("bench", "results", f"thumbnails-{dataset}")

    curves: dict[str, Curve] = {}
    sources: dict[str, Path] = {}  # results file of each codec and model, by name
    reference_results: dict[str, list[float]] = {}
    for cid, settings in tqdm(chosen.items(), desc="bench thumbnails", unit="codec",
                              file=sys.stderr):
        codec = classic.CODECS[cid]
        res = sweep_thumbnails(codec, thumbs, settings)
        doc: dict[str, Any] = {
            "name": f"{codec.name}, headerless",
            "description": (
                f"{codec.name} on {len(names)} {args.size}x{args.size} thumbnails of {dataset} "
                "(centred square crop, Lanczos). Each entry is the mean over thumbnails at one "
                f"{codec.setting}: bpp = headerless bits / pixels ({HEADERLESS[codec.format][1]}; "
                "see tfrnn.bench.thumbnails), bpp-with-header = whole file; ssim-rgb: "
                "tf.image.ssim, max_val 255, mean over R, G, B; psnr-rgb on RGB; "
                f"{COLOUR_SHIFT}"),
            "results": {codec.setting.replace(" ", "-"): list(settings), **res},
            "id": cid, "dataset": dataset, "setting": codec.setting, "images": names,
            "versions": classic.versions(codec),
            "save_options": [codec.options(s) for s in settings],
        }
        write_results(out_dir / f"{cid}.json", doc,
                      required=("bpp", "ssim-rgb", "psnr-rgb", "encoding_time", "decoding_time"))
        if cid == args.reference:
            reference_results = doc["results"]
        sources[doc["name"]] = out_dir / f"{cid}.json"
        curves[cid] = Curve(doc["name"], "ssim-rgb", np.asarray(res["bytes"]),
                            np.asarray(res["ssim-rgb"]), "ours", str(out_dir / f"{cid}.json"), cid)
    theirs = list(curves)
    sheet_models: list[ModelRows] = []
    for model in models:
        ours, rows = model_curves(model, thumbs, names, dataset, out_dir)
        raw = ours[Path(model).name]
        sources[raw.name] = Path(raw.source)
        curves.update(ours)
        # a copy, so that the sweep's other reconstructions are freed
        sheet_models.append(dataclasses.replace(rows, recons=rows.recons[:, : args.sheet].copy()))
    table = summary(curves, args.reference, targets, len(names), args.size)
    table += "\n" + paper_table(curves) + "\n" + colour_table(sources)
    if models:
        table += "\n" + claim_table(curves, [c for c in curves if c not in theirs], theirs)
    atomic.write_text(out_dir / "summary.md", table)
    plot_curves([dataclasses.replace(c, bpp=8.0 * c.bpp / args.size ** 2)
                 for c in curves.values()], out_dir / "ssim.png",
                f"SSIM of {len(names)} {args.size}x{args.size} thumbnails of {dataset}, "
                "headerless sizes")
    if args.sheet:
        contact_sheet(sheet_rows(thumbs[: args.sheet], args.reference, reference_results,
                                 sheet_models),
                      out_dir / "sheet.png", f"The first {min(args.sheet, len(thumbs))} of "
                      f"{len(names)} {args.size}x{args.size} thumbnails of {dataset}")
    print(table, end="")
    print(f"wrote {out_dir}")
    return 0
