"""The `tfrnn` command: one subcommand per stage, each a `main(argv)` in `tfrnn/commands/`
(`prepare` and `export`/`client` live with their top-level packages, as the design fixes them).

Modules are imported only when their subcommand runs, so `tfrnn --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from tfrnn.errors import UserError

# subcommand -> ("module:function", one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "configs": ("tfrnn.commands.configs:main", "list the named model configurations"),
    "prepare": ("data_prep.cli:main", "mine high-entropy 32x32 tiles into sharded TFRecords"),
    "train": ("tfrnn.commands.train:main", "train a codec (and its entropy model)"),
    "release": ("tfrnn.commands.release:main", "copy a trained model into a bundle to ship"),
    "export": ("export.cli:main", "export a SavedModel for TensorFlow Serving"),
    "client": ("export.client:main", "compress/decompress through a running TF Serving (REST)"),
    "compress": ("tfrnn.commands.codec:compress_main", "compress images to .tfrnn files"),
    "decompress": ("tfrnn.commands.codec:decompress_main", "decompress .tfrnn files to PNG"),
    "truncate": ("tfrnn.commands.codec:truncate_main", "cut a .tfrnn file to fewer iterations"),
    "bench": ("tfrnn.commands.bench:main",
              "benchmarks: rd, thumbnails, prepare, train, entropy, model, memory, iterations"),
    "plot": ("tfrnn.commands.plot:main", "RD plots and BD-rate tables from bench JSON files"),
    "demo": ("tfrnn.commands.demo:main", "the main job: prepare -> train -> export -> compress"),
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag as a one-line UserError instead of usage + exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def run(target: str, argv: Sequence[str]) -> int:
    """Import `module:function` and call it with argv; map UserError to one line and exit 2."""
    module_name, func_name = target.split(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(list(argv)) or 0)
    except UserError as e:
        print(f"tfrnn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfrnn: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tfrnn` console script."""
    # TensorFlow's C++ logs "Unable to register cuFFT/cuDNN/cuBLAS factory" (level E) when it is
    # imported, before any Python logging applies: level 3 must be in the environment first.
    # Every subprocess (the demo's stages, bench workers) inherits it. A value the user set wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        lines = ["usage: tfrnn COMMAND [ARGS...]", "", "commands:"]
        lines += [f"  {name:<11} {help_}" for name, (_, help_) in COMMANDS.items()]
        print("\n".join(lines))
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from tfrnn import __version__

        print(f"tfrnn {__version__}")
        return 0
    if argv[0] not in COMMANDS:
        print(f"tfrnn: error: unknown command {argv[0]!r} (see tfrnn --help)", file=sys.stderr)
        return 2
    return run(COMMANDS[argv[0]][0], argv[1:])
