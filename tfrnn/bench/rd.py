"""`tfrnn bench rd`: rate–distortion curves of classic codecs and tfrnn models on a folder.

Every image is coded at every setting of every codec, in memory and in parallel over images
(worker processes, one TensorFlow thread each). Curves are aggregated the way the published
Kodak curves are (Toderici et al. 2017, §4; the anchors' "averaging over a constant QP"):
one point per setting (codec quality, or iteration count for tfrnn), each the mean over images
of that image's values; bpp is the mean of each image's actual file size in bits divided by its
pixel count, and MS-SSIM in dB is −10·log10(1 − mean MS-SSIM). See `tfrnn.metrics` for
the metrics.

A tfrnn model is run once per image at its maximum iteration count; the point for k
iterations is that file truncated to k iterations (`tfrnn.file_format.truncate`, a valid
lower-rate file), its size and its decoding. With `--block-snr T`, the model's spatially
adaptive files (`tfrnn.adaptive`) at block SNR target T make one more curve the same way,
`tfrnn-NAME-snrT` (a file that ends before k iterations is its own point for k); with
`--optimize N`, its files with codes searched N steps per iteration (`tfrnn.rdo`) make
`tfrnn-NAME-optN`. With `--raw` the model's files are written without entropy coding (raw
bits, the curve to compare with Toderici 2017's published one) and every id ends in `-raw`.
Each model result records its `coding` ("raw" or "entropy-coded").

An unreadable image, one too small for 5-scale MS-SSIM, or one a codec fails on is reported
and left out (of that codec's curve only, if only that codec failed).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfrnn import metrics
from tfrnn.bench import classic
from tfrnn.bench.classic import Trial
from tfrnn.bench.results import shared_path, write_results
from tfrnn.errors import UserError
from tfrnn.images import list_images, load_image
from tfrnn.tiling import check_memory

AVERAGING = (
    "Each entry is the mean over images at one {setting} (the convention of the published Kodak "
    "curves): bpp = mean over images of file size in bits / pixels; psnr-rgb, psnr-hvs, "
    "ssim-rgb, ms-ssim-rgb = mean of per-image values; ms-ssim-rgb-db = "
    "-10*log10(1 - mean ms-ssim-rgb). PSNR on RGB (MSE over all channels); MS-SSIM and SSIM: "
    "tf.image, max_val 255, mean over R, G, B; PSNR-HVS on BT.601 luma (psnr-hvsm). "
    "encoding_time / decoding_time: mean seconds per image, {jobs} worker process(es) sharing "
    "the CPU."
)


@dataclass(frozen=True)
class Job:
    """What one worker does with one image."""

    path: str
    codecs: tuple[tuple[str, tuple[float, ...]], ...]
    model: str | None = None
    iterations: tuple[int, ...] = ()
    block_snrs: tuple[float, ...] = ()
    optimize: tuple[int, ...] = ()
    raw: bool = False
    tile: int | None = None


@dataclass
class ImageResult:
    """One image's per-setting values for each codec, and what failed."""

    name: str
    rows: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def default_images() -> Path | None:
    """`../shared/data/kodak` beside the repository, if present."""
    return shared_path("data", "kodak")


@functools.cache
def load_model(model: str | None) -> Any:
    """The tfrnn codec `model` (a name, a path, or None for the default), once per process."""
    from tfrnn.codec import load_codec

    return load_codec(model or None)


def model_result_id(model: str | None, raw: bool = False, tile: int | None = None) -> str:
    """`tfrnn-NAME[-tileN][-raw]`, the id and file name of a model's results: NAME is the
    pretrained name or the model folder's name (the run's for `RUN/model`), so two models'
    results never collide; `-tileN` when a tile size is given (`-tile0`: whole images)."""
    path = Path(model or "default")
    name = path.parent.name if path.name == "model" and path.parent.name else path.name
    return ("tfrnn-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", name) or "model")
            + ("" if tile is None else f"-tile{tile}") + ("-raw" * raw))


def adaptive_result_id(model: str | None, block_snr: float, raw: bool = False) -> str:
    """`tfrnn-NAME[-raw]-snrT`: the id of a model's curve at block SNR target T."""
    return f"{model_result_id(model, raw)}-snr{block_snr:g}"


def optimized_result_id(model: str | None, steps: int, raw: bool = False) -> str:
    """`tfrnn-NAME[-raw]-optN`: the id of a model's curve with codes searched N steps."""
    return f"{model_result_id(model, raw)}-opt{steps}"


def model_sweep(model: str | None, image: np.ndarray, iterations: Sequence[int],
                block_snr: float | None = None, optimize: int = 0,
                raw: bool = False, tile: int | None = None) -> Iterator[Trial]:
    """Compress once at the model's maximum iterations (spatially adaptive with `block_snr`,
    codes searched `optimize` steps, raw bits if `raw`, tiles of `tile` px if given); decode
    each truncation to k iterations (the whole file if it holds fewer).

    The encoding time of every point is that one compression (progressive coding produces all
    iteration counts at once); the decoding time is the truncated file's. One trial at a time,
    so that a consumer holds one decoded image at once.
    """
    from tfrnn.file_format import parse, truncate

    codec = load_model(model)
    t0 = time.perf_counter()
    data = codec.compress(image, iterations=codec.max_iterations, block_snr=block_snr,
                          optimize=optimize, raw=raw, tile=tile)
    encode_s = time.perf_counter() - t0
    stored = parse(data).iterations
    for k in iterations:
        part = truncate(data, iterations=min(k, stored))
        t0 = time.perf_counter()
        decoded = np.asarray(codec.decompress(part), dtype=np.uint8)
        yield Trial(float(k), len(part), encode_s, time.perf_counter() - t0, decoded)


def trial_rows(image: np.ndarray, trials: Iterable[Trial]) -> dict[str, list[float]]:
    """Per-setting values for one image: bpp, times and every metric, each trial's metrics
    computed as it comes (one decoded image held at a time)."""
    pixels = image.shape[0] * image.shape[1]
    rows: dict[str, list[float]] = defaultdict(list)
    for t in trials:
        if t.decoded.shape != image.shape:
            raise ValueError(f"decoded shape {t.decoded.shape} != original {image.shape}")
        for key, values in metrics.evaluate(image, t.decoded[None]).items():
            rows[key].append(float(values[0]))
        rows["bpp"].append(8.0 * t.nbytes / pixels)
        rows["encoding_time"].append(t.encode_s)
        rows["decoding_time"].append(t.decode_s)
    return dict(rows)


def evaluate_image(job: Job) -> ImageResult:
    """Run every codec of `job` on its image; failures are recorded, never raised."""
    result = ImageResult(Path(job.path).name)
    try:
        image = load_image(job.path)
    except UserError as e:
        result.error = str(e)
        return result
    if min(image.shape[:2]) < metrics.MS_SSIM_MIN_SIDE:
        result.error = (f"{job.path}: {image.shape[1]}x{image.shape[0]} is too small for "
                        f"5-scale MS-SSIM (sides >= {metrics.MS_SSIM_MIN_SIDE} px)")
        return result
    try:  # the codecs work in bounded memory; the metrics are whole-image
        check_memory(image.shape[0] * image.shape[1] * metrics.EVALUATE_BYTES_PER_PIXEL,
                     job.path, "computing the metrics")
    except UserError as e:
        result.error = str(e)
        return result
    sources: list[tuple[str, Any]] = [
        (cid, functools.partial(classic.sweep, classic.CODECS[cid], image, settings))
        for cid, settings in job.codecs]
    if job.iterations:
        sweep = functools.partial(model_sweep, job.model, image, job.iterations, raw=job.raw,
                                  tile=job.tile)
        sources.append((model_result_id(job.model, job.raw, job.tile), sweep))
        for target in job.block_snrs:
            sweep = functools.partial(model_sweep, job.model, image, job.iterations, target,
                                      raw=job.raw, tile=job.tile)
            sources.append((adaptive_result_id(job.model, target, job.raw), sweep))
        for steps in job.optimize:
            sweep = functools.partial(model_sweep, job.model, image, job.iterations,
                                      optimize=steps, raw=job.raw, tile=job.tile)
            sources.append((optimized_result_id(job.model, steps, job.raw), sweep))
    for source_id, run in sources:
        try:
            result.rows[source_id] = trial_rows(image, run())
        except Exception as e:  # a codec failing on one image must not stop the bench
            result.errors[source_id] = f"{e.__class__.__name__}: {e}"
    return result


def _init_worker() -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def run_jobs(jobs: Sequence[Job], workers: int) -> list[ImageResult]:
    """Evaluate every job (in-process if `workers` is 1), with a progress bar."""
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="bench rd", unit="image", file=sys.stderr)
    results = []
    if workers <= 1:
        for job in jobs:
            results.append(evaluate_image(job))
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")  # never fork a process that may hold TF
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
            for result in pool.map(evaluate_image, jobs):
                results.append(result)
                bar.update()
    bar.close()
    return results


def aggregate(per_image: dict[str, dict[str, list[float]]]) -> dict[str, list[float]]:
    """Mean over images at each setting; MS-SSIM dB from the mean MS-SSIM."""
    keys = next(iter(per_image.values())).keys()
    out = {k: np.mean([rows[k] for rows in per_image.values()], axis=0).tolist() for k in keys}
    out["ms-ssim-rgb-db"] = np.asarray(metrics.ms_ssim_db(np.asarray(out["ms-ssim-rgb"]))
                                       ).tolist()
    return out


def build_document(source_id: str, name: str, setting: str, settings: Sequence[float],
                   results: Sequence[ImageResult], dataset: str, workers: int,
                   extra: dict[str, Any], per_image: bool) -> dict[str, Any] | None:
    """The results document of one codec, or None if no image succeeded."""
    rows = {r.name: r.rows[source_id] for r in results if source_id in r.rows}
    if not rows:
        return None
    skipped = [{"image": r.name, "reason": r.error or r.errors[source_id]}
               for r in results if source_id not in r.rows]
    aggregated = aggregate(rows)
    doc: dict[str, Any] = {
        "name": name,
        "description": f"{name} on {dataset} ({len(rows)} images). "
                       + AVERAGING.format(setting=setting, jobs=workers),
        "results": {setting.replace(" ", "-"): list(settings), "bpp": aggregated.pop("bpp"),
                    **aggregated},
        "id": source_id,
        "dataset": dataset,
        "setting": setting,
        "images": sorted(rows),
        **extra,
        "skipped": skipped,
    }
    if per_image:
        doc["per_image"] = rows
    return doc


def main(argv: list[str]) -> int:
    from tfrnn.cli import ArgumentParser

    parser = ArgumentParser(prog="tfrnn bench rd", description=__doc__.split("\n")[0])
    parser.add_argument("--images", default=None,
                        help="folder of images (default ../shared/data/kodak)")
    parser.add_argument("--dataset", default=None, help="label (default: the folder's name)")
    parser.add_argument("--codecs", default=",".join(classic.RD_CODECS),
                        help=f"comma-separated from {', '.join(classic.CODECS)}, or 'none' "
                        f"(default {','.join(classic.RD_CODECS)})")
    parser.add_argument("--quality", action="append", default=[], metavar="CODEC=Q1,Q2,...",
                        help="override a codec's sweep (JPEG 2000: target bpp values)")
    parser.add_argument("--model", nargs="?", const="", default=None, metavar="NAME_OR_PATH",
                        help="also run a tfrnn model (no value: the default model)")
    parser.add_argument("--iterations", default=None,
                        help="iteration counts for --model, e.g. 1,2,4,8 (default: all)")
    parser.add_argument("--block-snr", default=None, metavar="T1,T2,...",
                        help="also a curve of spatially adaptive files of --model per block SNR "
                        "target (dB), e.g. 5,7")
    parser.add_argument("--optimize", default=None, metavar="N1,N2,...",
                        help="also a curve of --model's files with codes searched N steps per "
                        "iteration (rate-distortion optimized encoding), e.g. 4")
    parser.add_argument("--raw", action="store_true",
                        help="--model's files without entropy coding (raw bits; ids end -raw)")
    parser.add_argument("--tile-size", type=int, default=None, metavar="PX",
                        help="--model's tile size (default: the codec's; 0: whole images); "
                        "ids get -tilePX")
    parser.add_argument("--out", default=None, help="folder for the JSON files "
                        "(default bench/results/DATASET)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes (default: min(2, CPUs); 1 = in-process)")
    parser.add_argument("--per-image", action="store_true", help="also store per-image values")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    args = parser.parse_args(argv)

    folder = Path(args.images) if args.images else default_images()
    if folder is None:
        raise UserError("no --images given and ../shared/data/kodak is not present")
    paths = list_images(folder)[: args.limit]
    if not paths:
        raise UserError(f"{folder}: no images")
    dataset = args.dataset or folder.resolve().name
    codec_settings = classic.choose(args.codecs, args.quality)

    iterations: tuple[int, ...] = ()
    model_name, coding, tile = "", "entropy-coded", None
    if args.model is not None:
        codec = load_model(args.model)
        tile = codec.tile if args.tile_size is None else args.tile_size
        iterations = (classic.parse_numbers(args.iterations, "--iterations", int) if args.iterations
                      else tuple(range(1, codec.max_iterations + 1)))
        if not all(1 <= k <= codec.max_iterations for k in iterations):
            raise UserError(f"--iterations: must be in 1..{codec.max_iterations}")
        model_name = f"tfrnn {codec.name}" + (", raw bits" if args.raw else "")
        if args.tile_size is not None:
            model_name += f", {tile}-px tiles" if tile else ", whole image"
        coding = "raw" if args.raw or codec.entropy_coder is None else "entropy-coded"
    elif (args.iterations or args.block_snr or args.optimize or args.raw
          or args.tile_size is not None):
        raise UserError("--iterations, --block-snr, --optimize, --raw and --tile-size need "
                        "--model")
    optimize = (classic.parse_numbers(args.optimize, "--optimize", int)
                if args.optimize else ())
    if not all(steps >= 1 for steps in optimize):
        raise UserError("--optimize: steps must be 1 or more")
    block_snrs = (classic.parse_numbers(args.block_snr, "--block-snr", float)
                  if args.block_snr else ())
    if block_snrs:
        from tfrnn.adaptive import stop_ratio

        try:
            for target in block_snrs:
                stop_ratio(target)
        except UserError as e:
            raise UserError(f"--block-snr: {e}") from None
    if not codec_settings and not iterations:
        raise UserError("nothing to run: --codecs none and no --model")

    jobs = [Job(str(p), tuple(codec_settings.items()), args.model, iterations, block_snrs,
                optimize, args.raw, args.tile_size) for p in paths]
    results = run_jobs(jobs, max(1, args.jobs))
    for r in results:
        if r.error:
            print(f"skipped {r.error}", file=sys.stderr)
        for source_id, reason in r.errors.items():
            print(f"skipped {r.name} for {source_id}: {reason}", file=sys.stderr)

    out_dir = Path(args.out) if args.out else Path("bench", "results", dataset)
    sources = [(cid, classic.label(classic.CODECS[cid]), classic.CODECS[cid].setting, s,
                {"versions": classic.versions(classic.CODECS[cid]),
                 "save_options": [classic.CODECS[cid].options(q) for q in s]})
               for cid, s in codec_settings.items()]
    model_fields = {"model": args.model or "default", "coding": coding,
                    "tile_size": tile,
                    "encoding_time_note": "one compression at max iterations, shared by every "
                    "point"}
    if iterations:
        sources.append((model_result_id(args.model, args.raw, args.tile_size), model_name,
                        "iterations",
                        iterations, model_fields))
    for target in block_snrs:
        sources.append((adaptive_result_id(args.model, target, args.raw),
                        f"{model_name} adaptive (block SNR {target:g} dB)", "iterations",
                        iterations, {**model_fields, "block_snr": target}))
    for steps in optimize:
        sources.append((optimized_result_id(args.model, steps, args.raw),
                        f"{model_name} optimized ({steps} steps)", "iterations", iterations,
                        {**model_fields, "optimize": steps}))
    failed = []
    for source_id, name, setting, settings, extra in sources:
        doc = build_document(source_id, name, setting, settings, results, dataset,
                             max(1, args.jobs), extra, args.per_image)
        if doc is None:
            failed.append(source_id)
            continue
        path = out_dir / f"{source_id}.json"
        write_results(path, doc)
        print(_summary(doc, path))
    if failed:
        print(f"tfrnn bench rd: no image succeeded for {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _summary(doc: dict[str, Any], path: Path) -> str:
    res = doc["results"]
    key = doc["setting"].replace(" ", "-")
    lines = [f"{doc['name']} ({len(doc['images'])} images) -> {path}",
             f"  {key:>10} {'bpp':>7} {'PSNR':>7} {'MS-SSIM':>8} {'MS-SSIM dB':>10} "
             f"{'PSNR-HVS':>8} {'enc s':>7} {'dec s':>7}"]
    for i in range(len(res["bpp"])):
        lines.append(f"  {res[key][i]:>10g} {res['bpp'][i]:7.4f} {res['psnr-rgb'][i]:7.3f} "
                     f"{res['ms-ssim-rgb'][i]:8.5f} {res['ms-ssim-rgb-db'][i]:10.3f} "
                     f"{res['psnr-hvs'][i]:8.3f} {res['encoding_time'][i]:7.4f} "
                     f"{res['decoding_time'][i]:7.4f}")
    return "\n".join(lines)
