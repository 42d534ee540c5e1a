"""`tfrnn prepare SOURCE --out DIR`: mine high-entropy tiles into sharded TFRecords."""

from __future__ import annotations

import argparse
import os

from data_prep.beam_pipeline import RUNNERS as BEAM_RUNNERS
from data_prep.prepare import DEFAULT_IMAGES_PER_SHARD, Outcome, prepare
from data_prep.sources import open_source
from data_prep.stats import summary_lines
from data_prep.thumbnails import SPLITS
from data_prep.tiles import MODES, REFERENCE_SIZE, Settings
from tfrnn.cli import ArgumentParser
from tfrnn.errors import UserError

RUNNERS = ("local", *BEAM_RUNNERS)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def size_or_none(text: str) -> tuple[int, int] | None:
    """`WIDTHxHEIGHT`, or `none` for native size."""
    if text.lower() in ("none", "native"):
        return None
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT or none, not {text!r}") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, not {text!r}")
    return width, height


def scales(text: str) -> tuple[float, ...]:
    """Comma-separated crop scales in (0, 1]."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0.5,1, not {text!r}") from None
    if not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"scales must be in (0, 1], not {text!r}")
    return values


def build_parser() -> ArgumentParser:
    defaults = Settings()
    parser = ArgumentParser(
        prog="tfrnn prepare", allow_abbrev=False,
        description="Mine the tiles that PNG compresses worst (Toderici et al. 2017) or 32x32 "
                    "thumbnails (2016) into sharded TFRecords plus a dataset.json manifest. "
                    "A rerun resumes: finished shards are kept. Unknown --flags are passed to "
                    "Beam when --runner is a Beam runner.")
    parser.add_argument("source", nargs="?", default="sample",
                        help="a directory (searched recursively), a quoted glob, "
                             "tfds:NAME[:SPLIT] (split default train), or sample (default: "
                             "the photos shipped in scikit-image/scikit-learn/matplotlib)")
    parser.add_argument("-o", "--out", required=True,
                        help="output directory (local, or gs://... for Dataflow)")
    parser.add_argument("--mode", choices=MODES, default=defaults.mode,
                        help="tiles: high-entropy tiles (2017); thumbnails: each whole image "
                             "as one centre-cropped TILE_SIZE thumbnail (2016) [%(default)s]")
    parser.add_argument("--tile-size", type=positive_int, default=defaults.tile_size,
                        help="tile side in pixels [%(default)s]")
    parser.add_argument("--tiles-per-image", type=positive_int,
                        default=defaults.tiles_per_image,
                        help="tiles kept from a 1280x720 image; other sizes keep the same "
                             "share of their tiles [%(default)s]")
    parser.add_argument("--max-size", type=size_or_none,
                        default="x".join(map(str, REFERENCE_SIZE)),
                        help="downscale larger images to fit WIDTHxHEIGHT (either "
                             "orientation; never upscale), or none for native size "
                             "[%(default)s]")
    thumbs = parser.add_argument_group(
        "thumbnails mode", "augmentation and the held-out split (data_prep.thumbnails)")
    thumbs.add_argument("--thumbnails-per-image", type=positive_int,
                        default=defaults.thumbnails_per_image,
                        help="the centred thumbnail plus N-1 random square crops [%(default)s]")
    thumbs.add_argument("--scales", type=scales, default=defaults.scales, metavar="S1,S2,...",
                        help="side of the random crops as a fraction of the short side, in "
                             "(0, 1], one drawn per crop [1]")
    thumbs.add_argument("--flips", action="store_true",
                        help="mirror each random crop left-right with probability 1/2")
    thumbs.add_argument("--split", choices=SPLITS, default=defaults.split,
                        help="all photos, or only those not held out (train) or held out, by a "
                             "hash of their names [%(default)s]")
    thumbs.add_argument("--held-out-percent", type=float, default=defaults.held_out_percent,
                        metavar="P", help="share of photos held out [%(default)s]")
    parser.add_argument("--png-level", type=int, choices=range(10), default=defaults.png_level,
                        metavar="0-9", help="zlib level of the ranking PNG [%(default)s]")
    parser.add_argument("--images-per-shard", type=positive_int,
                        default=DEFAULT_IMAGES_PER_SHARD, help="[%(default)s]")
    parser.add_argument("--limit", type=positive_int,
                        help="use only the first N images of the source (in its order)")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        help="processes for the local runner [all cores: %(default)s]")
    parser.add_argument("--runner", choices=RUNNERS, default="local",
                        help="local (multiprocessing) or a Beam runner [%(default)s]")
    parser.add_argument("--tfds-data-dir", help="TFDS data_dir for tfds: sources")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def summary(source_spec: str, out: str, outcome: Outcome) -> list[str]:
    m = outcome.manifest
    counts, ratio, tile = m["counts"], m["png_ratio"], m["tile_size"]
    lines = [f"{source_spec} -> {out}: shards: {len(m['shards'])} "
             f"({outcome.shards_reused} already done, {outcome.shards_written} written)",
             f"  {counts['images']} images: {counts['images_used']} used, "
             f"{counts['images_skipped']} skipped -> {counts['tiles']} tiles of {tile}x{tile}"]
    if ratio["mean"] is not None:
        lines.append(f"  PNG ratio of kept tiles: mean {ratio['mean']:.3f}, "
                     f"min {ratio['min']:.3f}, max {ratio['max']:.3f}")
    if outcome.images_mined:
        rate = outcome.images_mined / outcome.seconds
        lines.append(f"  mined {outcome.images_mined} images in {outcome.seconds:.1f} s "
                     f"({rate:.1f} images/s)")
    lines += [f"  {line}" for line in summary_lines(m["skipped"], m["converted"])]
    return lines


def main(argv: list[str]) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if extra and args.runner == "local":
        raise UserError(f"tfrnn prepare: unrecognized arguments: {' '.join(extra)} "
                        "(pipeline options need a Beam --runner)")
    try:
        settings = Settings(mode=args.mode, tile_size=args.tile_size,
                            tiles_per_image=args.tiles_per_image, max_size=args.max_size,
                            png_level=args.png_level,
                            thumbnails_per_image=args.thumbnails_per_image, scales=args.scales,
                            flips=args.flips, split=args.split,
                            held_out_percent=args.held_out_percent)
    except ValueError as e:
        raise UserError(f"tfrnn prepare: {e}") from None
    source = open_source(args.source, tfds_data_dir=args.tfds_data_dir)
    if args.limit:
        source = source.slice(0, args.limit)
    outcome = prepare(source, args.out, settings, images_per_shard=args.images_per_shard,
                      workers=args.workers, runner=args.runner, pipeline_args=extra,
                      progress=not args.no_progress)
    print("\n".join(summary(args.source, args.out, outcome)))
    if not outcome.manifest["counts"]["tiles"]:
        raise UserError(f"{args.source}: no usable image (every one was skipped)")
    return 0
