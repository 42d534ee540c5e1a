"""Tile records round-trip byte for byte, trailing zero bytes included."""

import numpy as np
import tensorflow as tf

from data_prep.records import parse, serialize


def test_tile_ending_in_zero_bytes_round_trips():
    tile = np.zeros((32, 32, 3), np.uint8)
    tile[0, 0, 0] = 7  # every byte after this one is NUL
    parsed = parse(tf.constant(serialize(tile, 1.5, "img", np.array([0, 32]))))
    np.testing.assert_array_equal(parsed["tile"].numpy(), tile)
    assert parsed["source_id"].numpy() == b"img"
