"""`tfrnn demo`: the main job end to end on photos that ship inside installed wheels.

prepare (tiles from the `sample` photos) -> train the CPU configuration for a few minutes ->
export a SavedModel and validate it in a process that does not import tfrnn -> compress and
decompress a photo with the shipped model -> a short RD table against JPEG 4:2:0. Every stage
runs the real command a user would type, printed before it runs.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tfrnn.errors import UserError

DEMO_PHOTOS = ("astronaut", "chelsea")
CONFIG = "cpu-lstm-additive"

VALIDATE = """# Written by `tfrnn demo`: load the SavedModel with TensorFlow alone (no tfrnn).
import sys

import tensorflow as tf

model = tf.saved_model.load(sys.argv[1])
image = tf.io.read_file(sys.argv[2])
out = model.signatures["serving_default"](image_bytes=image, iterations=tf.constant(4))
back = model.signatures["decompress"](codes_bytes=out["codes_bytes"], height=out["height"],
                                     width=out["width"], iterations=out["iterations"])
decoded = tf.io.decode_png(back["image_bytes"])
print(f"SavedModel OK: signatures {sorted(model.signatures)}; 4 iterations -> "
      f"{int(tf.strings.length(out['codes_bytes']))} code bytes -> {decoded.shape[1]}x"
      f"{decoded.shape[0]} PNG")
"""


def run(args: list[str], title: str, **kwargs) -> None:
    """Print and run one command; stop the demo with a one-line error if it fails."""
    print(f"\n== {title}\n$ {shlex.join(args)}", flush=True)
    start = time.perf_counter()
    result = subprocess.run(args, **kwargs)
    if result.returncode:
        raise UserError(f"demo stage '{title}' failed (exit {result.returncode}): "
                        f"{shlex.join(args)}")
    print(f"({time.perf_counter() - start:.0f} s)", flush=True)


def tfrnn(*args: str) -> list[str]:
    """The `tfrnn` command of this Python environment."""
    return [sys.executable, "-m", "tfrnn", *args]


def write_photos(folder: Path) -> list[Path]:
    """Two of the shipped photos as PNG files: the inputs of compress and of the RD table."""
    from data_prep.sources import sample_source
    from tfrnn.images import load_image, save_png

    files = {Path(path).stem: path for _, path in sample_source().files}
    paths = []
    for name in DEMO_PHOTOS:
        if name not in files:
            raise UserError(f"sample photo {name!r} not found in the installed packages")
        paths.append(folder / f"{name}.png")
        save_png(paths[-1], load_image(files[name]))
    return paths


def shipped_model_available() -> bool:
    from tfrnn.bundle import PRETRAINED_DIR
    from tfrnn.codec import DEFAULT_MODEL

    return (PRETRAINED_DIR / DEFAULT_MODEL / "model.json").is_file()


def main(argv: Sequence[str]) -> int:
    from tfrnn.cli import ArgumentParser

    parser = ArgumentParser(prog="tfrnn demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo_output"),
                        help="where every output goes [demo_output]")
    parser.add_argument("--steps", type=int, default=120, help="training steps [120]")
    parser.add_argument("--quick", action="store_true",
                        help="CI mode: 20 training steps, fewer RD points")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete an earlier demo's outputs in --out first")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (args.overwrite and (out / "validate_savedmodel.py").exists()):
            raise UserError(f"{out} is not empty (and not an earlier demo's output with "
                            "--overwrite); pass another --out")
        shutil.rmtree(out)
    steps = 20 if args.quick else args.steps
    started = time.perf_counter()
    photos = write_photos(out / "photos")
    tiles, run_dir, serving = out / "tiles", out / "run", out / "serving"
    files = out / "files"

    run(tfrnn("prepare", "sample", "-o", str(tiles), "--no-progress"),
        "1/6 prepare: high-entropy tiles from the photos shipped in installed wheels")
    run(tfrnn("train", "--data", str(tiles), "--config", CONFIG, "--run-dir", str(run_dir),
              "--steps", str(steps), "--batch-size", "16", "--iterations", "8",
              "--checkpoint-every", str(max(10, steps // 2)),
              "--log-every", str(max(5, steps // 10)),
              "--eval-images", str(out / "photos"), "--eval-count", "1"),
        f"2/6 train {CONFIG} for {steps} steps (TensorBoard: {run_dir / 'logs'})")
    run(tfrnn("export", "--checkpoint", str(run_dir), "--model-base-path", str(serving),
              "--name", "tfrnn"),
        "3/6 export a SavedModel for TensorFlow Serving")
    saved_model = next(p for p in sorted((serving / "tfrnn").iterdir()) if p.name.isdigit())
    validate = out / "validate_savedmodel.py"
    validate.write_text(VALIDATE)
    run([sys.executable, str(validate), str(saved_model), str(photos[0])],
        "4/6 validate the SavedModel with TensorFlow alone (compress + decompress signatures)",
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})

    model = [] if shipped_model_available() else ["--model", str(run_dir)]
    which = "the shipped model" if not model else "the demo's own model (none shipped yet)"
    archive = files / f"{photos[0].stem}.tfrnn"
    run(tfrnn("compress", str(photos[0]), "-o", str(archive), "--iterations", "8",
              "--verbose", *model),
        f"5/6 compress and decompress a photo with {which}")
    run(tfrnn("decompress", str(archive), "-o", str(files / f"{photos[0].stem}.png"), *model),
        "5/6 (decompress)")

    bench = out / "bench"
    iterations = "1,2,4" if args.quick else "1,2,3,4,6,8"
    quality = ["--quality", "jpeg-420=10,30,50"] if args.quick else []
    run(tfrnn("bench", "rd", "--images", str(out / "photos"), "--codecs", "jpeg-420",
              *quality, "--model", *(model[1:] or []), "--iterations", iterations,
              "--out", str(bench), "--jobs", "1"),
        f"6/6 rate-distortion against JPEG 4:2:0 on {len(photos)} photos")
    table = bench / "table.md"
    run(tfrnn("plot", str(bench), "--metric", "ms-ssim-rgb", "--out", str(bench / "rd.png"),
              "--table", str(table), "--reference", "jpeg-420"),
        "6/6 (plot and BD-rate table)")
    print("\n" + table.read_text())
    print(f"demo finished in {time.perf_counter() - started:.0f} s. Outputs:")
    for label, path in (("tiles (TFRecords)", tiles), ("checkpoints", run_dir / "checkpoints"),
                        ("TensorBoard logs", run_dir / "logs"), ("SavedModel", saved_model),
                        ("compressed file", archive), ("decompressed", files),
                        ("RD results", bench), ("RD plot", bench / "rd.png")):
        print(f"  {label:<18} {path}")
    thumb = "thumb-conv-ln-lstm-ssim-colour"
    print("To compress a 32x32 thumbnail with a thumbnail model (16 bytes of codes per "
          f"iteration; {thumb} is the 2016 conv/deconv LSTM with normalized memories, trained "
          "for SSIM with a term that keeps its colours, the one to use from 7 iterations; up "
          "to 6, thumb-conv-ln-lstm-ssim-diffusion-colour):\n"
          f"  tfrnn compress --model {thumb} icon.png -o icon.tfrnn --iterations 8\n"
          f"  tfrnn decompress --model {thumb} icon.tfrnn -o icon.png")
    return 0
