"""`tfrnn export`: write a versioned SavedModel for TensorFlow Serving.

TF Serving watches `--model_base_path=BASE/NAME` and serves its highest numeric subdirectory,
so each export is a new `BASE/NAME/VERSION/`, written under a temporary name and renamed into
place (the server never sees half a version).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from tfrnn.cli import ArgumentParser
from tfrnn.errors import UserError
from tfrnn.file_format import MAX_TILE
from tfrnn.tiling import DEFAULT_TILE, valid_tile

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_name(name: str) -> str:
    """A model name usable as a directory and in TF Serving URLs; UserError otherwise."""
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(f"bad model name {name!r}: use letters, digits, '.', '_' or '-' "
                        "(starting with a letter or digit, at most 128 characters)")
    return name


def versions(model_dir: Path) -> list[int]:
    """The numeric version subdirectories TF Serving would see in `model_dir` (sorted)."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.name.isdigit() and p.is_dir())


def version_dir(base: Path, name: str, version: int | None) -> tuple[Path, int]:
    """(directory, version) for the export: the next free version unless one is given."""
    model_dir = base / name
    if base.exists() and not base.is_dir():
        raise UserError(f"--model-base-path {base}: not a directory")
    if model_dir.exists() and not model_dir.is_dir():
        raise UserError(f"{model_dir}: not a directory")
    if version is None:
        version = (versions(model_dir) or [0])[-1] + 1
    elif version < 1:
        raise UserError(f"--version {version}: versions are positive integers")
    path = model_dir / str(version)
    if path.exists():
        raise UserError(f"{path} already exists; pick another --version or omit it "
                        "for the next free one")
    return path, version


def main(argv: Sequence[str]) -> int:
    """`tfrnn export --checkpoint PATH --model-base-path DIR --name NAME [--version N]`."""
    parser = ArgumentParser(prog="tfrnn export",
                            description="Export a trained model as a TF Serving SavedModel.")
    parser.add_argument("--checkpoint", required=True,
                        help="a bundle directory, a training run directory, or a pretrained name")
    parser.add_argument("--model-base-path", required=True, type=Path,
                        help="directory that holds one subdirectory per model name")
    parser.add_argument("--name", required=True, help="model name (TF Serving --model_name)")
    parser.add_argument("--version", type=int, help="version number (default: next free)")
    parser.add_argument("--max-iterations", type=int,
                        help="largest iteration count a request may ask for "
                             "(default: the iterations the model was trained with)")
    parser.add_argument("--tile-size", type=int, default=DEFAULT_TILE, metavar="PX",
                        help="compress and decompress code PX x PX tiles one after another, "
                        "as `tfrnn compress` does (a multiple of the model's stride; 0: whole "
                        f"images, unbounded memory; default {DEFAULT_TILE})")
    args = parser.parse_args(argv)
    name = check_name(args.name)
    path, version = version_dir(args.model_base_path, name, args.version)
    if args.max_iterations is not None and args.max_iterations < 1:
        raise UserError(f"--max-iterations {args.max_iterations}: must be >= 1")

    from export.writer import write_savedmodel
    from tfrnn.bundle import load_bundle

    bundle = load_bundle(args.checkpoint)
    stride = bundle.codec.stride
    if not valid_tile(args.tile_size, stride):
        raise UserError(f"--tile-size {args.tile_size}: must be 0 or a multiple of the model's "
                        f"stride {stride} up to {MAX_TILE}")
    max_iterations = args.max_iterations or int(bundle.metadata.get("iterations")
                                                or bundle.codec.codec_config.iterations)
    metadata = write_savedmodel(bundle, path, name=name, version=version,
                                max_iterations=max_iterations, tile=args.tile_size)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    print(f"exported {metadata['config']['name']} (fingerprint {metadata['fingerprint'][:12]}) "
          f"to {path} ({size / 1e6:.1f} MB)")
    print(f"signatures: {', '.join(metadata['signatures'])}; iterations 1..{max_iterations}")
    if not metadata["context_model"]["present"]:
        print("no context model in the bundle: bit_probabilities omitted")
    print(f"serve: tensorflow_model_server --rest_api_port=8501 --model_name={name} "
          f"--model_base_path={path.parent.resolve()}")
    return 0
