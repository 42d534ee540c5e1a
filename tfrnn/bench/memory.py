"""`tfrnn bench memory`: peak memory and seconds per megapixel of compress and decompress.

For each size (megapixels, default 1, 6, 24, 48, 100) a synthetic photo is made by upscaling
one Kodak image (bicubic, 3:2 like a camera frame) and written as PNG; then one fresh process
compresses it to a `.tfrnn` file and another decompresses that file to PNG, as `tfrnn
compress`/`tfrnn decompress` do (`Codec.compress`, `Codec.decompress`, the same image I/O).
Each child first codes a 64×64 crop (so that tracing the networks is not timed), then reports
the seconds spent coding (image I/O included; TensorFlow's start-up, the model load and the
warm-up excluded, so that sizes compare) and its peak resident memory (`peak_rss`: the
kernel's VmHWM). `--savedmodel DIR` measures a `tfrnn export` SavedModel's `serving_default` and
`decompress` signatures the same way (loaded with `tf.saved_model.load`; PNG in, PNG out).
`--tile-size 0` measures the whole-image codec (what tfrnn did before tiles);
sizes the memory guard refuses are recorded as refused, with its message. Results: JSON on
stdout and in `--out`, a Markdown table beside.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfrnn import atomic
from tfrnn.bench.results import host_info, shared_path
from tfrnn.cli import ArgumentParser
from tfrnn.errors import UserError

DEFAULT_SIZES = (1.0, 6.0, 24.0, 48.0, 100.0)


def synthetic_photo(source: np.ndarray, megapixels: float) -> np.ndarray:
    """`source` upscaled (bicubic) to about `megapixels`, 3:2 landscape."""
    from PIL import Image

    width = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    height = int(round(width / 1.5))
    return np.asarray(Image.fromarray(source).resize((width, height), Image.BICUBIC))


def _serve(action: str, saved_model: str, rest: list[str]) -> float:
    """`serve-compress IN OUT ITERATIONS` (OUT: the codes and the size as .npz) or
    `serve-decompress IN OUT` through a SavedModel's byte-level signatures; the seconds."""
    import tensorflow as tf

    from tfrnn.images import encode_png

    signatures = tf.saved_model.load(saved_model).signatures

    def compress(png: bytes, iterations: int) -> dict:
        return signatures["serving_default"](image_bytes=tf.constant(png),
                                             iterations=tf.constant(iterations))

    def decompress(out: dict) -> bytes:
        return signatures["decompress"](
            codes_bytes=out["codes_bytes"], height=out["height"], width=out["width"],
            iterations=out["iterations"])["image_bytes"].numpy()

    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    decompress(compress(encode_png(noise), 2))  # traces every function
    start = time.perf_counter()
    if action == "serve-compress":
        src, dst, iterations = rest
        out = compress(Path(src).read_bytes(), int(iterations))
        with open(dst, "wb") as f:
            np.savez(f, **{k: out[k].numpy() for k in ("codes_bytes", "height", "width",
                                                         "iterations")})
    else:
        src, dst = rest
        with np.load(src) as saved:
            out = {k: tf.constant(saved[k]) for k in saved.files}
        Path(dst).write_bytes(decompress(out))
    return time.perf_counter() - start


def _child(argv: Sequence[str]) -> int:
    """In a fresh process: `compress MODEL TILE IN OUT ITERATIONS`, `decompress MODEL IN OUT`,
    or `serve-compress|serve-decompress SAVEDMODEL ...` (`_serve`); prints the seconds and the
    peak RSS as JSON."""
    from tfrnn import file_format
    from tfrnn.codec import load_codec
    from tfrnn.images import load_image, save_png

    action, model, *rest = argv
    start = time.perf_counter()
    if action.startswith("serve-"):
        seconds = _serve(action, model, rest)
        loaded = start
    else:
        codec = load_codec(model)
        noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
        codec.decompress(codec.compress(noise, 2))  # traces every network
        codec.max_pixels = 1 << 40
        loaded = time.perf_counter()
        if action == "compress":
            tile, src, dst, iterations = rest
            image = load_image(src, codec.max_pixels)
            atomic.write_bytes(dst, codec.compress(image, int(iterations), tile=int(tile)))
        else:
            src, dst = rest
            save_png(dst, codec.decompress(file_format.parse(Path(src).read_bytes()), name=src))
        seconds = time.perf_counter() - loaded
    print(json.dumps({"load_seconds": loaded - start, "seconds": seconds,
                      "peak_rss_bytes": peak_rss()}))
    return 0


def peak_rss() -> int:
    """This process's peak resident memory in bytes: VmHWM of /proc/self/status, the peak of
    this program alone (`ru_maxrss` also counts, after fork and exec, the parent's resident
    memory at the fork); `ru_maxrss` where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kB


def _measure(args: list[str]) -> dict:
    """Run one child: its report (seconds, peak RSS in bytes) or its exit status and error."""
    done = subprocess.run([sys.executable, "-m", "tfrnn.bench.memory", "--child", *args],
                          capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    out: dict = {"exit": done.returncode}
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        out.update(json.loads(lines[-1]))
    else:
        out["error"] = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
    return out


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--child"]:
        return _child(list(argv[1:]))
    parser = ArgumentParser(prog="tfrnn bench memory", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--sizes", default=",".join(f"{s:g}" for s in DEFAULT_SIZES),
                        help="megapixels, comma-separated")
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--tile-size", type=int, default=None,
                        help="default: the codec's; 0: whole images (before tiles)")
    parser.add_argument("--source", help="image to upscale (default: Kodak's kodim05)")
    parser.add_argument("--savedmodel", metavar="VERSION_DIR",
                        help="measure a `tfrnn export` SavedModel's serving_default and "
                        "decompress signatures instead (its own tile size)")
    parser.add_argument("--out", help="JSON results file (a Markdown table is written beside)")
    args = parser.parse_args(list(argv))
    try:
        sizes = [float(s) for s in args.sizes.split(",")]
    except ValueError:
        raise UserError(f"--sizes {args.sizes!r}: expected comma-separated numbers") from None
    source = Path(args.source) if args.source else shared_path("data", "kodak", "kodim05.png")
    if source is None:
        raise UserError("no --source given and ../shared/data/kodak is not present")
    from tfrnn.images import load_image, save_png
    from tfrnn.tiling import DEFAULT_TILE

    tile = DEFAULT_TILE if args.tile_size is None else args.tile_size
    base = load_image(source)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tfrnn-memory-") as tmp:
        for megapixels in sizes:
            photo = synthetic_photo(base, megapixels)
            src, coded, out = (Path(tmp) / name for name in ("in.png", "in.tfrnn", "out.png"))
            save_png(src, photo)
            row = {"megapixels": photo.shape[0] * photo.shape[1] / 1e6,
                   "width": photo.shape[1], "height": photo.shape[0]}
            del photo
            if args.savedmodel:
                compress = ["serve-compress", args.savedmodel, str(src)]
                decompress = ["serve-decompress", args.savedmodel]
            else:
                compress = ["compress", args.model, str(tile), str(src)]
                decompress = ["decompress", args.model]
            row["compress"] = _measure([*compress, str(coded), str(args.iterations)])
            if row["compress"]["exit"] == 0:
                if not args.savedmodel:  # a .tfrnn file (the SavedModel's is codes in .npz)
                    row["bytes"] = coded.stat().st_size
                row["decompress"] = _measure([*decompress, str(coded), str(out)])
            for key in ("compress", "decompress"):
                if "seconds" in row.get(key, {}):
                    row[key]["seconds_per_megapixel"] = row[key]["seconds"] / row["megapixels"]
            print(json.dumps(row), flush=True)
            rows.append(row)
            for path in (src, coded, out):
                path.unlink(missing_ok=True)
    if args.savedmodel:
        tile = json.loads((Path(args.savedmodel) / "assets" / "tfrnn_model.json").read_text()
                          )["tile_size"]
    doc = {"name": "memory", "description": "peak RSS and seconds per megapixel, one fresh "
           "process per measurement (tfrnn bench memory)",
           "model": args.savedmodel or args.model, "served": bool(args.savedmodel),
           "iterations": args.iterations, "tile_size": tile,
           "source": source.name, "host": host_info(), "results": rows}
    if args.out:
        atomic.write_text(args.out, json.dumps(doc, indent=1) + "\n")
        atomic.write_text(Path(args.out).with_suffix(".md"), markdown_table(doc) + "\n")
    return 0


def markdown_table(doc: dict) -> str:
    """The results as a Markdown table (GiB, s/MP)."""
    lines = [f"Model `{doc['model']}`, {doc['iterations']} iterations, tile size "
             f"{doc['tile_size'] or 'none (whole image)'}; {doc['host']['cpu']}, "
             f"{doc['host']['cores']} cores.", "",
             "| MP | size | compress peak GiB | compress s/MP | decompress peak GiB | "
             "decompress s/MP |", "|---|---|---|---|---|---|"]
    for row in doc["results"]:
        cells = [f"{row['megapixels']:.1f}", f"{row['width']}x{row['height']}"]
        for key in ("compress", "decompress"):
            r = row.get(key)
            if r is None:
                cells += ["—", "—"]
            elif r["exit"]:
                cells += [f"refused: {r['error']}", "—"]
            else:
                cells += [f"{r['peak_rss_bytes'] / 2**30:.2f}", f"{r['seconds_per_megapixel']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    from tfrnn.cli import run

    sys.exit(run("tfrnn.bench.memory:main", sys.argv[1:]))
