"""Which ops a SavedModel's graph uses, and whether stock TensorFlow has every one of them.

A stock TensorFlow Serving binary has TensorFlow's own ops and no custom ones (the range coder
of tensorflow-compression-ops is a custom-op library), so the allowlist is `tf.raw_ops`: the
ops compiled into TensorFlow itself, which libraries loaded later never add to.
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2


def graph_ops(saved_model_dir: str | os.PathLike) -> set[str]:
    """Every op type in the SavedModel: the graphs' nodes and every library function's nodes."""
    model = saved_model_pb2.SavedModel.FromString(
        (Path(saved_model_dir) / "saved_model.pb").read_bytes())
    ops: set[str] = set()
    for meta_graph in model.meta_graphs:
        graph = meta_graph.graph_def
        functions = {f.signature.name for f in graph.library.function}
        nodes = list(graph.node)
        for function in graph.library.function:
            nodes.extend(function.node_def)
        ops.update(node.op for node in nodes if node.op not in functions)
    return ops


def non_stock_ops(ops: set[str]) -> list[str]:
    """The ops of `ops` that stock TensorFlow does not define (sorted)."""
    return sorted(op for op in ops if not hasattr(tf.raw_ops, op))
