"""`tfrnn release MODEL OUT [--float16]`: copy a trained model into a bundle to ship."""

from __future__ import annotations

from collections.abc import Sequence

from tfrnn.bundle import load_bundle, save_bundle
from tfrnn.cli import ArgumentParser


def main(argv: Sequence[str]) -> int:
    """`tfrnn release`: copy a trained model into a bundle to ship (optionally float16)."""
    parser = ArgumentParser(prog="tfrnn release", description=main.__doc__)
    parser.add_argument("model", help="a bundle, a training run directory or a pretrained name")
    parser.add_argument("out", help="the bundle directory to write (replaced if it exists)")
    parser.add_argument("--float16", action="store_true",
                        help="store the weights in half precision (half the size; rounds them)")
    args = parser.parse_args(argv)
    bundle = load_bundle(args.model)
    out = save_bundle(args.out, bundle, float16=args.float16)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"{out}: {size / 1e6:.1f} MB, fingerprint {bundle.fingerprint}")
    return 0
