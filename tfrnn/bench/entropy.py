"""`tfrnn bench entropy`: what entropy coding saves over raw bits, and what it costs in time.

For each image (default ../shared/data/kodak) the codec encodes once at the largest iteration
count; the codes are then written raw and with each context model: the bundle's own, and/or
fresh ones of each kind fitted for `--fit-steps` on the codec's codes of `--fit-images`.
Reported per context model (JSON on stdout, and to `--out`):

- file sizes (whole files, headers included) at each iteration count, their mean bpp, and the
  saving versus raw bits, 1 − Σ entropy-coded bytes / Σ raw bytes over the images;
- seconds per image to entropy-code and to entropy-decode all iterations, split into context
  network and range coder, plus the codec's own encoder and decoder; the decoded bits are
  checked to equal the encoded ones. The raster and integer checkerboard decoders
  interleave network steps and range decoding in one traced function: their range-coding time
  is estimated as the decoder's time minus the encoder's network time.

With `--integer`, each context model is measured a second time converted to integers
(`tfrnn.integer_context`, FORMAT.md modes 3 and 4), and `integer_vs_float` reports its extra
bits (Σ integer bytes / Σ float bytes − 1) and its encode and decode time relative to the float
model's. With `--backends`, every file is decoded again in a fresh process under each math
back-end of `tfrnn.bench.portable` (all iterations at once: iteration t never depends on later
ones, so a file that decodes whole decodes at every truncation), and `backends` reports the
failures per model (the float models' are expected there, not the integer ones').

Every coder is warmed up (traced) on a small image before anything is timed.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfrnn import atomic, file_format
from tfrnn.bench.results import image_paths
from tfrnn.errors import UserError
from tfrnn.images import load_image

DEFAULT_ITERATIONS = (2, 4, 8, 16)


def _sizes(mode: str, payloads: list[bytes], height: int, width: int) -> list[int]:
    header = file_format.Header(mode, bytes(file_format.MODEL_ID_BYTES), height, width)
    return file_format.Container(header, tuple(payloads)).sizes()


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


class _Measured:
    """Sizes and timings of one context model over the images."""

    def __init__(self, label: str, coder, source: dict[str, Any], model=None):
        self.label, self.coder, self.source = label, coder, source
        self.model = model  # the float context model (of the integer one, for `--backends`)
        self.payloads: list[list[bytes]] = []
        self.sizes: list[list[int]] = []
        self.encode_s: list[float] = []
        self.decode_s: list[float] = []
        self.split: dict[str, list[float]] = {"network": [], "range_coding": []}
        self.exact = True

    def warm_up(self, codes: np.ndarray) -> None:
        self.coder.decode(self.coder.encode(codes), codes.shape[1], codes.shape[2])

    def run(self, codes: np.ndarray, height: int, width: int) -> None:
        coder = self.coder
        coder.timings.clear()
        payloads, seconds = _timed(coder.encode, codes)
        self.payloads.append(payloads)
        self.encode_s.append(seconds)
        encode_network = coder.timings["network"]
        coder.timings.clear()
        decoded, seconds = _timed(coder.decode, payloads, codes.shape[1], codes.shape[2])
        self.decode_s.append(seconds)
        self.exact &= bool(np.array_equal(decoded, codes))
        timings = dict(coder.timings)
        if "fused_decode" in timings:
            # Network steps and range decoding run in one loop: range decoding is estimated as
            # that loop's time minus the same loop's without it (encoding), floored at 0 (noise).
            total = timings["network"] + timings["fused_decode"]
            timings = {"network": encode_network,
                       "range_coding": max(0.0, total - encode_network)}
        self.split["network"].append(timings.get("network", 0.0))
        self.split["range_coding"].append(timings.get("range_coding", 0.0))
        self.sizes.append(_sizes(coder.kind, payloads, height, width))


def _decode_elsewhere(backends: list[str], measured: list[_Measured],
                      codes: list[np.ndarray]) -> dict[str, Any]:
    """Every measured file decoded in a fresh process per back-end: failures per model."""
    from tfrnn.bench.portable import decode_elsewhere, model_spec

    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        specs, cases = {}, []
        for n, m in enumerate(measured):
            specs[m.label] = model_spec(m.model, work / f"model{n}.weights.h5",
                                        integer=m.label.endswith("-integer"))
        for i, image_codes in enumerate(codes):
            cases += [{"model": m.label, "payloads": m.payloads[i], "codes": image_codes}
                      for m in measured]
        for backend in backends:
            start = time.perf_counter()
            results = decode_elsewhere(backend, specs, cases, work / backend)
            report[backend] = {"seconds": time.perf_counter() - start, "models": {}}
            for m in measured:
                mine = [r for r in results if cases[r["case"]]["model"] == m.label]
                failed = [r for r in mine if not r["ok"]]
                report[backend]["models"][m.label] = {
                    "files": len(mine), "failures": len(failed),
                    "first_error": failed[0]["error"] if failed else None}
    return report


def main(argv: Sequence[str]) -> int:
    """`tfrnn bench entropy`: bits saved by entropy coding and encode/decode seconds."""
    from tfrnn.cli import ArgumentParser

    parser = ArgumentParser(prog="tfrnn bench entropy", description=main.__doc__)
    parser.add_argument("--model", help="bundle, training run directory or pretrained name")
    parser.add_argument("--images", help="images to measure (default ../shared/data/kodak)")
    parser.add_argument("--limit", type=int, help="only the first N images")
    parser.add_argument("--iterations", help="iteration counts to report (default: those of "
                        "2,4,8,16 up to the model's maximum)")
    parser.add_argument("--fit-steps", type=int, default=0,
                        help="also fit a fresh context model of each --kinds for N steps")
    parser.add_argument("--kinds", default="checkerboard,raster",
                        help="kinds to fit (default checkerboard,raster)")
    parser.add_argument("--fit-images",
                        help="images to fit on (default ../shared/data/train/bsds500)")
    parser.add_argument("--fit-limit", type=int, default=64, help="fit on the first N images")
    parser.add_argument("--integer", action="store_true",
                        help="also measure each context model converted to integers")
    parser.add_argument("--backends", help="decode every file again under these math "
                        "back-ends (comma-separated names, or 'all')")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)

    from tfrnn.bench.classic import parse_numbers
    from tfrnn.bench.portable import BACKENDS
    from tfrnn.context_model import KINDS

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if any(k not in KINDS for k in kinds):
        raise UserError(f"--kinds: choose from {', '.join(KINDS)}")
    backends = [] if not args.backends else list(BACKENDS) if args.backends == "all" else [
        b.strip() for b in args.backends.split(",") if b.strip()]
    if any(b not in BACKENDS for b in backends):
        raise UserError(f"--backends: choose from {', '.join(BACKENDS)} or all")
    folder, paths = image_paths(args.images, ("data", "kodak"), args.limit, "--images")
    images = [load_image(p) for p in paths]

    from tfrnn.codec import load_codec
    from tfrnn.integer_context import integer_context_model
    from tfrnn.range_coding import entropy_coder, pack_bits
    from tfrnn.training.fit import fit_context_model

    codec = load_codec(args.model)
    iterations = sorted(set(
        parse_numbers(args.iterations, "--iterations", int) if args.iterations
        else [k for k in DEFAULT_ITERATIONS if k <= codec.max_iterations]
        or [codec.max_iterations]))
    if iterations[0] < 1 or iterations[-1] > codec.max_iterations:
        raise UserError(f"--iterations: must be in 1..{codec.max_iterations}")
    measured = []
    context = codec.bundle.context_model
    if context is not None:  # the float model (`--integer` adds its conversion)
        measured.append(_Measured(f"bundle-{context.kind}", codec.coders[context.kind],
                                  {"source": "bundle"}, context))
    if args.fit_steps > 0:
        fit_folder, fit_paths = image_paths(args.fit_images, ("data", "train", "bsds500"),
                                        args.fit_limit, "--fit-images")
        fit_images = [load_image(p) for p in fit_paths]
        for kind in kinds:
            model, history = fit_context_model(codec.model, fit_images, args.fit_steps,
                                               kind=kind, iterations=iterations[-1],
                                               log_every=max(1, args.fit_steps // 10))
            measured.append(_Measured(f"fit-{kind}", entropy_coder(model), {
                "source": "fit", "steps": args.fit_steps, "images": str(fit_folder),
                "image_count": len(fit_images), "history": history}, model))
    if not measured:
        raise UserError(f"model {codec.name} has no context model; pass --fit-steps N")
    if args.integer:
        measured += [_Measured(f"{m.label}-integer",
                               entropy_coder(integer_context_model(m.model)),
                               {**m.source, "integer": True}, m.model) for m in measured]

    warm_codes, _ = codec.encode(images[0][:64, :64], iterations[-1])
    for m in measured:
        m.warm_up(warm_codes)
    codec.decompress(codec.compress(images[0][:64, :64], 1, raw=True))

    raw_sizes, codec_encode_s, codec_decode_s, all_codes = [], [], [], []
    for image in images:
        height, width = image.shape[:2]
        (codes, _), seconds = _timed(codec.encode, image, iterations[-1])
        all_codes.append(codes)
        codec_encode_s.append(seconds)
        raw = [pack_bits(bits) for bits in codes]
        raw_sizes.append(_sizes("raw", raw, height, width))
        container = file_format.Container(
            file_format.Header("raw", codec.model_id("raw"), height, width), tuple(raw))
        _, seconds = _timed(codec.decompress, container)
        codec_decode_s.append(seconds)
        for m in measured:
            m.run(codes, height, width)

    def at(sizes: list[list[int]], k: int) -> np.ndarray:
        return np.array([s[k - 1] for s in sizes], np.float64)

    pixels = np.array([im.shape[0] * im.shape[1] for im in images], np.float64)
    report: dict[str, Any] = {
        "model": codec.name, "fingerprint": codec.bundle.fingerprint,
        "config": codec.model.codec_config.name,
        "metadata": codec.bundle.metadata,
        "dataset": str(folder), "images": [p.name for p in paths],
        "iterations": iterations,
        "raw_bpp": {k: float(np.mean(8 * at(raw_sizes, k) / pixels)) for k in iterations},
        "codec_encode_s_per_image": float(np.mean(codec_encode_s)),
        "codec_decode_s_per_image": float(np.mean(codec_decode_s)),
        "context_models": {},
        "host": {"machine": platform.machine(), "processor": platform.processor(),
                 "python": platform.python_version()},
    }
    for m in measured:
        decode_total = np.mean(m.decode_s) + report["codec_decode_s_per_image"]
        range_s = float(np.mean(m.split["range_coding"]))
        report["context_models"][m.label] = {
            "kind": m.coder.kind, **m.source,
            "bpp": {k: float(np.mean(8 * at(m.sizes, k) / pixels)) for k in iterations},
            "saving_vs_raw": {k: float(1 - at(m.sizes, k).sum() / at(raw_sizes, k).sum())
                              for k in iterations},
            "bits_exact": m.exact,
            "entropy_encode_s_per_image": float(np.mean(m.encode_s)),
            "entropy_decode_s_per_image": float(np.mean(m.decode_s)),
            "decode_split_s_per_image": {
                "context_network": float(np.mean(m.split["network"])),
                "range_coding": range_s,
                "codec_decoder": report["codec_decode_s_per_image"]},
            "range_coding_share_of_decode": float(range_s / decode_total),
        }
    by_label = {m.label: m for m in measured}
    report["integer_vs_float"] = {
        label: {
            "extra_bits": {k: float(at(m.sizes, k).sum() / at(by_label[float_label].sizes,
                                                               k).sum() - 1)
                           for k in iterations},
            "encode_time_ratio": float(np.sum(m.encode_s)
                                       / np.sum(by_label[float_label].encode_s)),
            "decode_time_ratio": float(np.sum(m.decode_s)
                                       / np.sum(by_label[float_label].decode_s)),
        }
        for label, m in by_label.items()
        if (float_label := label.removesuffix("-integer")) != label}
    if backends:
        report["backends"] = _decode_elsewhere(backends, measured, all_codes)
    text = json.dumps(report, indent=2)
    if args.out:
        atomic.write_text(args.out, text + "\n")
    print(text)
    return 0
