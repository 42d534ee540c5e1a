"""The tile record: one `tf.train.Example` per tile, with the feature spec in one place.

Features: `tile` (raw uint8 RGB bytes, row-major [height, width, 3]), `height`, `width`,
`png_ratio` (raw bytes / PNG bytes of the tile), `source_id` (the image's id in its source)
and `position` ([y, x] of the tile's top-left corner in the fitted image).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

FORMAT = "tfrnn-tiles"
FORMAT_VERSION = 1

FEATURES = {
    "tile": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "png_ratio": tf.io.FixedLenFeature([], tf.float32),
    "source_id": tf.io.FixedLenFeature([], tf.string),
    "position": tf.io.FixedLenFeature([2], tf.int64),
}


def _feature(spec: tf.io.FixedLenFeature, value) -> tf.train.Feature:
    if spec.dtype == tf.string:  # not through NumPy: its bytes_ drops trailing NUL bytes
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    values = np.asarray(value).reshape(-1).tolist()
    if spec.dtype == tf.int64:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def serialize(tile: np.ndarray, png_ratio: float, source_id: str,
              position: np.ndarray) -> bytes:
    """One tile as a serialized Example (deterministic bytes)."""
    values = {"tile": tile.astype(np.uint8).tobytes(), "height": tile.shape[0],
              "width": tile.shape[1], "png_ratio": png_ratio,
              "source_id": source_id.encode("utf-8"), "position": position}
    example = tf.train.Example(features=tf.train.Features(
        feature={name: _feature(spec, values[name]) for name, spec in FEATURES.items()}))
    return example.SerializeToString(deterministic=True)


def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parse one serialized Example; `tile` comes back as uint8 [height, width, 3]."""
    features = tf.io.parse_single_example(serialized, FEATURES)
    shape = tf.stack([features["height"], features["width"], 3])
    features["tile"] = tf.reshape(tf.io.decode_raw(features["tile"], tf.uint8), shape)
    return features


def read_records(path: str) -> list[dict[str, np.ndarray]]:
    """Every record of one TFRecord file, parsed to NumPy (for tests and inspection)."""
    return [{k: v.numpy() for k, v in parse(r).items()} for r in tf.data.TFRecordDataset(path)]
