"""`tfrnn bench iterations`: what each iteration of a recurrent codec does.

The codec's own inference iteration (`RecurrentCodec.propose`, the binarizer's latent and its
sign bits as `binarize(..., training=False)` makes them, `decode_step`; Toderici 2017 §2:
b_t = B(E_t(r_{t−1})), x̂_t = x̂_{t−1} + D_t(b_t) in the additive framework) is run step by
step on a batch of images, and after each iteration t these are recorded, each computed per
image (on the image, not its padding; latents and bits over every code cell) and then averaged
over the images:

- `residual-rms`: RMS of r_{t−1} = x − x̂_{t−1}, the residual iteration t is asked to code,
  in 0–255 units (with residual scaling the encoder sees it times the gain g_t, `gain`: the
  mean of g_t);
- `update-rms`: RMS of the update x̂_t − x̂_{t−1}, 0–255 units;
- `energy-removed`: 1 − ‖r_t‖² / ‖r_{t−1}‖², the share of the residual's energy the update
  removes (negative if it adds error);
- `correlation`: ⟨u, r_{t−1}⟩ / (‖u‖ ‖r_{t−1}‖) of the update u and the residual (uncentred);
- `psnr-rgb`: PSNR of the uint8 reconstruction after t iterations (what `decode` gives);
- `latent-abs`: mean |latent| (the tanh the bits are the signs of); `latent-above-0.9`,
  `latent-below-0.1`: the fraction of latents with |latent| > 0.9 and < 0.1;
- `bits-changed`: the fraction of bits that differ from the previous iteration's bit at the
  same position (none at iteration 1);
- `bpp`: the raw bits of t iterations per pixel (no entropy coding);
- per recurrent layer k of the encoder (`encoder-k-…`) and the decoder (`decoder-k-…`), over
  the state's positions: `h-abs`, the mean |h| of its output (hidden) state, and for a conv
  LSTM `c-saturated`, the fraction of memory cells c with |tanh c| > 0.95 (of the normalized
  c for `ln-lstm`), where the output h = o · tanh c no longer follows the input and the
  gradient through tanh c vanishes
  (feed-forward models have no such state).

A cell memory that keeps growing over the iterations (`c-saturated` rising) freezes its
layer's output, and the layers after it see less and less that changes from one iteration to
the next.

A healthy iteration has saturated latents (near ±1: the encoder is sure of each bit) and an
update that removes a good share of the residual. Latents collapsing toward 0 while the
residual stays large mean the encoder no longer finds anything to say: its bits are close to
coin flips and the decoder, receiving them, answers with an update near zero — the iterations
still cost bits but no longer buy quality.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfrnn.errors import UserError

if TYPE_CHECKING:
    from tfrnn.model import RecurrentCodec

# Per-iteration statistics, in the order of the printed table: (key, column title, format).
COLUMNS = (
    ("bpp", "bpp (raw)", ".3f"),
    ("residual-rms", "residual RMS", ".3f"),
    ("update-rms", "update RMS", ".3f"),
    ("energy-removed", "energy removed", ".3f"),
    ("correlation", "corr(update, residual)", ".3f"),
    ("psnr-rgb", "PSNR (uint8)", ".2f"),
    ("latent-abs", "mean abs latent", ".3f"),
    ("latent-above-0.9", "abs latent > 0.9", ".3f"),
    ("latent-below-0.1", "abs latent < 0.1", ".3f"),
    ("bits-changed", "bits changed", ".3f"),
    ("gain", "gain", ".2f"),
)
SATURATED = 0.95  # |tanh c| above this counts as a saturated LSTM memory cell


def _layer_stats(network, side: str, states, per_image, stats) -> None:
    """Append each recurrent layer's `{side}-k-h-abs` (and, for a conv LSTM, `c-saturated`)
    for the codec's encoder or decoder `network`."""
    from tfrnn.cells import ConvLSTMCell
    from tfrnn.networks import Decoder, Encoder

    if not isinstance(network, Encoder | Decoder):  # feed-forward stages: no state to show
        return
    for k, (cell, state) in enumerate(zip(network.cells, states, strict=True), start=1):
        stats[f"{side}-{k}-h-abs"].append(per_image(np.abs(np.asarray(state[0]))).mean(1))
        if isinstance(cell, ConvLSTMCell):  # what the output gate sees of the memory
            memory = cell.memory_output(np.asarray(state[1], np.float64))
            memory = per_image(np.abs(np.asarray(memory)))
            stats[f"{side}-{k}-c-saturated"].append((memory > SATURATED).mean(1))


def _batch_stats(codec: RecurrentCodec, images: np.ndarray, iterations: int
                 ) -> dict[str, np.ndarray]:
    """Each statistic of the module docstring per iteration and image: [T, B] arrays."""
    import tensorflow as tf

    from tfrnn.binarizer import binarize
    from tfrnn.metrics import psnr_batch

    _, height, width, _ = images.shape
    x = codec.pad(codec.to_model_space(tf.constant(images)))
    reconstruction, enc_states, dec_states = codec.initial_state(x)

    def image_part(tensor) -> np.ndarray:  # float64 [B, H, W, 3], padding cut off
        return np.asarray(tensor[:, :height, :width, :], np.float64)

    def per_image(values: np.ndarray) -> np.ndarray:
        return values.reshape(len(values), -1)

    original, before = image_part(x), image_part(reconstruction)
    stats: dict[str, list[np.ndarray]] = defaultdict(list)
    previous_bits = None
    for t in range(iterations):
        steps = codec.extra_steps(t)
        features, gain, enc_states = codec.propose(x, reconstruction, enc_states, steps)
        latent = codec.binarizer.latent(features)
        bits = binarize(latent, training=False)
        reconstruction, dec_states = codec.decode_step(bits, reconstruction, dec_states, gain,
                                                       steps)
        current = image_part(reconstruction)
        residual = per_image(original - before)
        update = per_image(current - before)
        after = residual - update
        before = current
        energy, update_energy = (residual ** 2).sum(1), (update ** 2).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            stats["energy-removed"].append(1.0 - (after ** 2).sum(1) / energy)
            stats["correlation"].append((residual * update).sum(1)
                                        / np.sqrt(energy * update_energy))
        stats["residual-rms"].append(255.0 * np.sqrt((residual ** 2).mean(1)))
        stats["update-rms"].append(255.0 * np.sqrt((update ** 2).mean(1)))
        stats["psnr-rgb"].append(psnr_batch(
            images, codec.to_uint8(reconstruction[:, :height, :width, :]).numpy()))
        magnitude = per_image(np.abs(latent.numpy()))
        stats["latent-abs"].append(magnitude.mean(1))
        stats["latent-above-0.9"].append((magnitude > 0.9).mean(1))
        stats["latent-below-0.1"].append((magnitude < 0.1).mean(1))
        bits = per_image(np.asarray(bits))
        stats["bits-changed"].append(np.full(len(bits), np.nan) if previous_bits is None
                                     else (bits != previous_bits).mean(1))
        previous_bits = bits
        if gain is not None:
            stats["gain"].append(per_image(np.asarray(gain)).mean(1))
        stats["bpp"].append(np.full(len(bits), (t + 1) * bits.shape[1] / (height * width)))
        _layer_stats(codec.encoder, "encoder", enc_states, per_image, stats)
        _layer_stats(codec.decoder, "decoder", dec_states, per_image, stats)
    return {key: np.stack(values) for key, values in stats.items()}


def iteration_stats(codec: RecurrentCodec, images: Sequence[np.ndarray] | np.ndarray,
                    iterations: int) -> dict[str, list[float]]:
    """The per-iteration statistics of the module docstring for `codec` (a `RecurrentCodec`)
    on uint8 [H, W, 3] `images` (any sizes: images of one size run as one batch), each the
    mean over images of that image's value; `bits-changed` is NaN at iteration 1 and `gain` is
    there only for residual-scaling models."""
    groups: dict[tuple[int, ...], list[np.ndarray]] = defaultdict(list)
    for image in images:
        groups[np.shape(image)].append(np.asarray(image, np.uint8))
    if not groups:
        raise ValueError("no images")
    parts = [_batch_stats(codec, np.stack(group), iterations) for group in groups.values()]
    keys = [key for key, _, _ in COLUMNS if key in parts[0]]
    keys += [key for key in parts[0] if key not in keys]  # the per-layer statistics
    return {key: np.mean(np.concatenate([p[key] for p in parts], axis=1), axis=1).tolist()
            for key in keys}


def markdown_table(stats: dict[str, list[float]]) -> str:
    """One row per iteration: the statistics of `COLUMNS` that `stats` holds, then a second
    table of the per-layer ones (if any)."""
    columns = [c for c in COLUMNS if c[0] in stats]
    layers = [(key, key.replace("-h-abs", " mean abs h").replace("-c-saturated", " c saturated"),
               ".2f") for key in stats if key not in {c[0] for c in COLUMNS}]
    tables = [_table(stats, columns)]
    if layers:
        tables.append(_table(stats, layers))
    return "\n\n".join(tables)


def _table(stats: dict[str, list[float]], columns) -> str:
    lines = ["| iteration | " + " | ".join(title for _, title, _ in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for t in range(len(stats["bpp"])):
        cells = [("—" if np.isnan(v := stats[key][t]) else format(v, fmt))
                 for key, _, fmt in columns]
        lines.append(f"| {t + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def prepare_image(image: np.ndarray, crop: int, thumbnail: int | None) -> np.ndarray:
    """The image a model is measured on: with `thumbnail` (`--thumbnail`, or the size of a
    fixed-size model such as `thumb-fc-lstm`) its centred square downscaled to that size (the
    thumbnail benchmark's); else its centre crop of `crop` px (the whole image if 0)."""
    if thumbnail:
        from tfrnn.bench.thumbnails import make_thumbnail

        return make_thumbnail(image, thumbnail)
    from tfrnn.training.summaries import center_crop

    return center_crop(image, crop)


def main(argv: Sequence[str]) -> int:
    from tfrnn import atomic
    from tfrnn.bench.rd import model_result_id
    from tfrnn.bench.results import host_info, image_paths, write_results
    from tfrnn.cli import ArgumentParser
    from tfrnn.configs import FEED_FORWARD
    from tfrnn.images import load_image

    parser = ArgumentParser(prog="tfrnn bench iterations",
                            description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True,
                        help="a pretrained name, a bundle or a training run directory")
    parser.add_argument("--images", default=None,
                        help="folder of images (default ../shared/data/kodak)")
    parser.add_argument("--limit", type=int, default=8, help="the first N images (default 8)")
    parser.add_argument("--crop", type=int, default=256,
                        help="centre crop in px (default 256; 0: whole images); a fixed-size "
                             "model gets each image's centred square downscaled to its size")
    parser.add_argument("--thumbnail", type=int, default=None, metavar="PX",
                        help="measure on PX x PX thumbnails (each image's centred square "
                             "downscaled, as `bench thumbnails` makes them) instead of crops")
    parser.add_argument("--iterations", type=int, default=None,
                        help="default: the iterations the model was trained with")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--out", default=None,
                        help="write tfrnn-NAME-iterations.json and .md (the table) in this folder")
    args = parser.parse_args(list(argv))
    if args.limit < 1 or args.crop < 0 or (args.thumbnail is not None and args.thumbnail < 1):
        raise UserError("--limit and --thumbnail must be >= 1 and --crop >= 0")
    folder, paths = image_paths(args.images, ("data", "kodak"), args.limit, "--images")

    import tensorflow as tf

    from tfrnn.bundle import load_bundle

    bundle = load_bundle(args.model)
    codec, config = bundle.codec, bundle.codec.codec_config
    iterations = bundle.trained_iterations if args.iterations is None else args.iterations
    if iterations < 1:
        raise UserError("--iterations must be >= 1")
    if config.cell == FEED_FORWARD and iterations > config.iterations:
        raise UserError(f"--iterations: model {args.model} has {config.iterations} stages")
    if config.fixed_size and args.thumbnail not in (None, config.fixed_size):
        raise UserError(f"--thumbnail: model {args.model} codes {config.fixed_size}x"
                        f"{config.fixed_size} images only")
    thumbnail = args.thumbnail or config.fixed_size
    images, names = [], []
    for path in paths:
        try:
            images.append(prepare_image(load_image(path), args.crop, thumbnail))
            names.append(path.name)
        except UserError as e:
            print(f"skipped {e}", file=sys.stderr)
    if not images:
        raise UserError(f"{folder}: no readable images")

    stats = iteration_stats(codec, images, iterations)
    table = markdown_table(stats)
    size = (f"thumbnails of {thumbnail}x{thumbnail}" if thumbnail
            else f"centre crop {args.crop} px" if args.crop else "whole images")
    doc: dict[str, Any] = {
        "name": f"{model_result_id(args.model)} iterations",
        "description": (
            f"tfrnn bench iterations: per-iteration statistics of model {args.model} on "
            f"{len(names)} images of {folder.resolve().name} ({size}), each the mean over "
            "images of the per-image value; RMS in 0-255 units; psnr-rgb of the uint8 "
            "reconstruction; bpp: raw bits. See tfrnn/bench/iterations.py."),
        "results": stats, "coding": "raw", "id": f"{model_result_id(args.model)}-iterations",
        "model": {"name": args.model, "fingerprint": bundle.fingerprint,
                  "config": config.name, "metadata": bundle.metadata},
        "dataset": str(folder), "images": names, "crop": args.crop,
        "thumbnail": thumbnail, "iterations": iterations,
        "tensorflow": tf.__version__, "host": host_info(),
    }
    targets = [Path(args.json)] if args.json else []
    if args.out:  # named by the id: never the same file as `bench rd`'s tfrnn-NAME.json
        targets.append(Path(args.out) / f"{doc['id']}.json")
        atomic.write_text(targets[-1].with_suffix(".md"), f"{doc['description']}\n\n{table}\n")
    for path in targets:
        write_results(path, doc, required=("bpp", "psnr-rgb"))
    print(f"Model {args.model} ({config.name}), {len(names)} images ({size}):\n")
    print(table)
    return 0
