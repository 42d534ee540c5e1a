"""Writing one SavedModel version directory from a bundle, atomically.

Layout of `BASE/NAME/VERSION/` (what TensorFlow Serving loads)::

    saved_model.pb, variables/              the graph and the weights (stock ops only)
    assets/tfrnn_model.json                 config, fingerprint, training step, signatures
    assets.extra/tf_serving_warmup_requests real requests replayed when the version loads
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import tensorflow as tf

from export.op_check import graph_ops, non_stock_ops
from export.savedmodel import ServingModule
from export.warmup import warmup_logs, write_warmup
from tfrnn import __version__
from tfrnn.atomic import atomic_path
from tfrnn.bundle import Bundle
from tfrnn.errors import UserError
from tfrnn.tiling import DEFAULT_TILE

METADATA_FILE = Path("assets") / "tfrnn_model.json"
CODES_BYTES_LAYOUT = ("sign bits (+1 -> 1, -1 -> 0) of codes [T, ceil(H/stride), "
                      "ceil(W/stride), bits] in C order, 8 per byte, most significant bit first")


def _specs(specs) -> dict[str, dict[str, Any]]:
    return {name: {"dtype": spec.dtype.name, "shape": spec.shape.as_list()}
            for name, spec in sorted(specs.items())}


def describe_signatures(signatures: dict) -> dict[str, dict[str, Any]]:
    """Signature name -> input and output names, dtypes and shapes (None = any size)."""
    return {name: {"inputs": _specs({s.name: s for s in fn.structured_input_signature[0]}),
                   "outputs": _specs(fn.structured_outputs)}
            for name, fn in sorted(signatures.items())}


def export_metadata(bundle: Bundle, module: ServingModule, signatures: dict, name: str,
                    version: int) -> dict[str, Any]:
    """What `assets/tfrnn_model.json` records about the export."""
    context = bundle.context_model
    return {
        "format": "tfrnn-serving", "format_version": 1,
        "name": name, "version": version,
        "config": bundle.codec.codec_config.to_dict(),
        "fingerprint": bundle.fingerprint,
        "codec_fingerprint": bundle.codec.fingerprint(),
        "training_step": bundle.metadata.get("step"),
        "bundle_metadata": bundle.metadata,
        "source": str(bundle.path) if bundle.path else None,
        "max_iterations": module.max_iterations,
        "stride": module.stride, "bits": module.bits, "tile_size": module.tile,
        "codes_bytes_layout": CODES_BYTES_LAYOUT,
        "tensor_layout": "batch-major: codes [B, T, h, w, bits] in {-1, +1}",
        "context_model": (
            {"present": True, "class": type(context).__name__,
             "kind": getattr(context, "kind", None)}
            if context is not None else
            {"present": False,
             "note": "the bundle has no context model: bit_probabilities is omitted"}),
        "signatures": describe_signatures(signatures),
        "tfrnn_version": __version__, "tensorflow_version": tf.__version__,
    }


def write_savedmodel(bundle: Bundle, path: str | os.PathLike, *, name: str, version: int,
                     max_iterations: int, tile: int = DEFAULT_TILE) -> dict[str, Any]:
    """Export `bundle` to the version directory `path` (atomically); returns the metadata."""
    bits = bundle.codec.codec_config.bits
    if bits % 8:
        raise UserError(f"config {bundle.codec.codec_config.name}: {bits} bits per position "
                        "cannot be packed into whole bytes per iteration")
    module = ServingModule(bundle.codec, bundle.context_model, max_iterations,
                           bundle.fingerprint, tile)
    signatures = module.signatures()
    metadata = export_metadata(bundle, module, signatures, name, version)
    with atomic_path(path) as tmp:
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        foreign = non_stock_ops(graph_ops(tmp))
        if foreign:
            raise RuntimeError(f"exported graph uses ops that stock TensorFlow lacks: {foreign}")
        write_warmup(tmp, warmup_logs(signatures, max_iterations, name))
        (tmp / METADATA_FILE).parent.mkdir(exist_ok=True)
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    return metadata
