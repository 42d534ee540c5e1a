"""`tfrnn compress`, `tfrnn decompress` and `tfrnn truncate`.

Every input is read and checked before any output is written, and every output is written
atomically, so bad input (a missing or unreadable image, a truncated, damaged or foreign file,
a file made by another model, a bad flag) gives one line, exit status 2 and no output.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfrnn import atomic, file_format, tiling
from tfrnn.errors import UserError
from tfrnn.images import check_save_path, image_size, load_image, read_bytes, save_image


def output_paths(inputs: Sequence[str], output: str, suffix: str) -> list[Path]:
    """One output per input: `output` itself for a single input, else `output/STEM+suffix`
    (also when `output` is an existing directory or ends with a slash)."""
    out = Path(output)
    if len(inputs) == 1 and not out.is_dir() and not output.endswith(("/", "\\")):
        return [out]
    if out.exists() and not out.is_dir():
        raise UserError(f"{output}: not a directory (several inputs need an output directory)")
    paths = [out / (Path(p).stem + suffix) for p in inputs]
    seen: dict[Path, str] = {}
    for src, dst in zip(inputs, paths, strict=True):
        if dst in seen:
            raise UserError(f"{seen[dst]} and {src} would both be written to {dst}")
        seen[dst] = src
    return paths


def _positive(kind):
    """An argparse type: a positive int or float."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text!r}")
        return value

    return parse


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text!r}")
    return value


def _quality(text: str) -> float:
    value = _positive(float)(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"an MS-SSIM target below 1, not {text!r}")
    return value


def _metrics_line(image: np.ndarray, reconstruction: np.ndarray) -> str:
    from tfrnn import metrics

    text = f", PSNR {metrics.psnr(image, reconstruction):.2f} dB"
    if min(image.shape[:2]) >= metrics.MS_SSIM_MIN_SIDE:
        text += f", MS-SSIM {metrics.ms_ssim(image, reconstruction):.4f}"
    return text


def _pick_iterations(args, container: file_format.Container, image: np.ndarray,
                     recons: np.ndarray) -> tuple[int, str]:
    """Iterations meeting the target (--bpp: the most that fit; --quality: the fewest that
    reach it), and a note if the target cannot be met."""
    if args.bpp is not None:
        k = file_format.iterations_for_bpp(container, args.bpp)
        if container.bpp(k) > args.bpp:
            return k, f" (above the {args.bpp} bpp target: one iteration is the minimum)"
        return k, ""
    if args.quality is not None:
        from tfrnn import metrics

        scores = metrics.ms_ssim_batch(image, recons)
        reached = np.flatnonzero(scores >= args.quality)
        if not len(reached):
            return container.iterations, (f" (MS-SSIM target {args.quality} not reached: "
                                          f"{scores[-1]:.4f} with all iterations)")
        return int(reached[0]) + 1, ""
    return container.iterations, ""


def _batch_parser(command, inputs: str, suffix: str):
    """Parser with the arguments compress and decompress share: inputs, -o and --model."""
    from tfrnn.cli import ArgumentParser

    parser = ArgumentParser(prog=f"tfrnn {command.__name__.split('_')[0]}",
                            description=command.__doc__)
    parser.add_argument("inputs", nargs="+", help=inputs)
    parser.add_argument("-o", "--output", required=True,
                        help=f"output file (one input) or directory (IN stem + {suffix})")
    parser.add_argument("--model", help="bundle, training run directory or pretrained name "
                        "(to decompress: the one that made the files; default: the shipped "
                        "model that made each file)")
    parser.add_argument("--max-pixels", type=_positive(int), default=tiling.DEFAULT_MAX_PIXELS,
                        metavar="N", help="refuse images larger than N pixels (default "
                        f"{tiling.DEFAULT_MAX_PIXELS}, as Pillow's decompression-bomb guard)")
    return parser


def compress_main(argv: list[str]) -> int:
    """`tfrnn compress IN... -o OUT`: compress images to .tfrnn files."""
    parser = _batch_parser(compress_main, "images (PNG, JPEG, ...)", ".tfrnn")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--iterations", type=_positive(int),
                        help="iterations to keep (default: all the model was trained for)")
    target.add_argument("--bpp", type=_positive(float),
                        help="the most iterations whose file fits in B bits per pixel")
    target.add_argument("--quality", type=_quality,
                        help="the fewest iterations reaching this MS-SSIM (e.g. 0.95)")
    parser.add_argument("--block-snr", type=float, metavar="DB",
                        help="spatially adaptive: each 16x16 block stops once its SNR (contrast "
                        "over squared error) reaches DB dB, e.g. 7 (format version 2)")
    parser.add_argument("--optimize", type=_positive(int), metavar="STEPS",
                        help="search each iteration's codes for STEPS gradient steps (rate-"
                        "distortion optimized encoding; slow: with 4, about 11 min for a "
                        "768x512 image on one core)")
    parser.add_argument("--raw", action="store_true", help="pack bits, no entropy coding")
    parser.add_argument("--tile-size", type=_non_negative_int, metavar="PX",
                        help=f"code independent PX x PX tiles, a batch at a time, so memory is "
                        f"bounded (default {tiling.DEFAULT_TILE}; 0: the whole image at once)")
    parser.add_argument("--verbose", action="store_true", help="also print PSNR and MS-SSIM")
    args = parser.parse_args(argv)
    if args.optimize and args.block_snr is not None:
        raise UserError("--optimize and --block-snr cannot be combined")
    outputs = output_paths(args.inputs, args.output, ".tfrnn")
    sizes = [image_size(p, args.max_pixels) for p in args.inputs]
    if args.quality is not None:
        from tfrnn.metrics import MS_SSIM_MIN_SIDE

        for path, (height, width) in zip(args.inputs, sizes, strict=True):
            if min(height, width) < MS_SSIM_MIN_SIDE:
                raise UserError(f"{path}: {width}x{height} is too small for "
                                f"--quality (MS-SSIM needs sides >= {MS_SSIM_MIN_SIDE} px)")
    from tfrnn.codec import load_codec

    codec = load_codec(args.model)
    codec.max_pixels = args.max_pixels
    if args.raw is False and codec.entropy_coder is None:
        print(f"note: model {codec.name} has no context model; writing raw bits")
    keep = args.quality is not None or args.verbose
    iterations = args.iterations or codec.max_iterations
    for path, (height, width) in zip(args.inputs, sizes, strict=True):
        if keep:  # every iteration's reconstruction, and MS-SSIM's float maps
            tiling.check_memory(height * width * (3 * iterations + 64), path,
                                "--quality or --verbose (every iteration's reconstruction)")
    for src, dst in zip(args.inputs, outputs, strict=True):
        image = load_image(src, args.max_pixels)
        data, recons = codec.compress_progressive(image, args.iterations, raw=args.raw,
                                                  block_snr=args.block_snr,
                                                  optimize=args.optimize or 0,
                                                  tile=args.tile_size, reconstructions=keep)
        container = file_format.parse(data)
        k, note = _pick_iterations(args, container, image, recons)
        data = file_format.truncate(data, k)
        atomic.write_bytes(dst, data)
        line = (f"{src} -> {dst}: {k} iterations, {len(data)} bytes, "
                f"{container.bpp(k):.4f} bpp{note}")
        if args.verbose:
            line += _metrics_line(image, recons[k - 1])
        print(line)
    return 0


def decompress_main(argv: list[str]) -> int:
    """`tfrnn decompress IN... -o OUT`: decode .tfrnn files to PNG (or the format OUT's
    extension names: .webp lossless, .jpg/.jpeg at quality 95)."""
    parser = _batch_parser(decompress_main, ".tfrnn files", ".png")
    parser.add_argument("--iterations", type=_positive(int),
                        help="decode only the first K iterations (default: all in the file)")
    args = parser.parse_args(argv)
    outputs = output_paths(args.inputs, args.output, ".png")
    for path in outputs:
        check_save_path(path)
    containers = [file_format.parse(read_bytes(p), p) for p in args.inputs]
    for path, container in zip(args.inputs, containers, strict=True):
        if args.iterations and args.iterations > container.iterations:
            raise UserError(f"{path}: holds {container.iterations} iterations; "
                            f"cannot decode {args.iterations}")
    from tfrnn.codec import load_codec, shipped_model_for

    models = [args.model or shipped_model_for(c) for c in containers]
    codecs = {model: load_codec(model) for model in dict.fromkeys(models)}
    for codec in codecs.values():
        codec.max_pixels = args.max_pixels
    for path, container, model in zip(args.inputs, containers, models, strict=True):
        codecs[model].check(container, path)
    for src, dst, container, model in zip(args.inputs, outputs, containers, models, strict=True):
        k = args.iterations or container.iterations
        image = codecs[model].decompress(container, k, name=src)
        save_image(dst, image)
        print(f"{src} -> {dst}: {k} of {container.iterations} iterations, "
              f"{container.header.width}x{container.header.height}, {container.bpp(k):.4f} bpp")
    return 0


def truncate_main(argv: list[str]) -> int:
    """`tfrnn truncate IN OUT --iterations K | --bpp B`: keep a file's first iterations."""
    from tfrnn.cli import ArgumentParser

    parser = ArgumentParser(prog="tfrnn truncate", description=truncate_main.__doc__)
    parser.add_argument("input", help=".tfrnn file")
    parser.add_argument("output", help="the shorter .tfrnn file")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--iterations", type=_positive(int), help="iterations to keep")
    target.add_argument("--bpp", type=_positive(float),
                        help="keep the most iterations that fit in B bits per pixel")
    args = parser.parse_args(argv)
    data = read_bytes(args.input)
    container = file_format.parse(data, args.input)
    k = args.iterations or file_format.iterations_for_bpp(container, args.bpp)
    out = file_format.truncate(data, k, args.input)
    note = ""
    if args.bpp is not None and container.bpp(k) > args.bpp:
        note = f" (above the {args.bpp} bpp target: one iteration is the minimum)"
    atomic.write_bytes(args.output, out)
    print(f"{args.input} -> {args.output}: {k} of {container.iterations} iterations, "
          f"{len(out)} bytes, {container.bpp(k):.4f} bpp{note}")
    return 0
