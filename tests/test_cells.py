"""Every convolutional recurrent cell: shapes, dynamic sizes, gradients, config, save/load."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrnn.cells import CELLS

CELL_CASES = [(name, False) for name in CELLS] + [("lstm", True)]


def make_cell(name: str, transpose: bool):
    return CELLS[name](8, kernel_size=3, strides=2, hidden_kernel_size=3, transpose=transpose)


def run_steps(cell, x, steps: int = 2):
    state = cell.initial_state(tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2])
    out = None
    for _ in range(steps):
        out, state = cell(x, state)
    return out, state


@pytest.mark.parametrize("name,transpose", CELL_CASES)
def test_shapes_odd_and_dynamic_sizes(name, transpose):
    cell = make_cell(name, transpose)
    x = tf.random.normal((2, 7, 9, 5))
    out, state = run_steps(cell, x)
    expected = (14, 18) if transpose else (4, 5)
    assert tuple(out.shape) == (2, *expected, 8)
    assert all(tuple(s.shape[:3]) == (2, *expected) for s in state)

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 5))])
    def dynamic(x):
        return run_steps(cell, x)[0]

    for size in ((3, 3), (10, 6)):
        y = dynamic(tf.random.normal((1, *size, 5)))
        h, w = ((size[0] * 2, size[1] * 2) if transpose
                else (-(-size[0] // 2), -(-size[1] // 2)))
        assert tuple(y.shape) == (1, h, w, 8)


@pytest.mark.parametrize("name,transpose", CELL_CASES)
def test_gradients_reach_every_weight(name, transpose):
    cell = make_cell(name, transpose)
    x = tf.random.normal((2, 8, 8, 5))
    cell.build(x.shape)
    with tf.GradientTape() as tape:
        out, _ = run_steps(cell, x, steps=2)  # the hidden kernels act from step 2 on
        loss = tf.reduce_sum(out**2)
    grads = tape.gradient(loss, cell.trainable_weights)
    assert len(cell.trainable_weights) >= 2
    for w, g in zip(cell.trainable_weights, grads, strict=True):
        assert g is not None, w.path
        assert float(tf.reduce_max(tf.abs(g))) > 0, w.path


@pytest.mark.parametrize("name,transpose", CELL_CASES)
def test_config_round_trip_and_serialization(name, transpose):
    cell = make_cell(name, transpose)
    x = tf.random.normal((1, 6, 6, 5))
    expected, _ = run_steps(cell, x)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
    assert type(clone) is type(cell)
    assert clone.get_config() == cell.get_config()
    assert clone.built  # build_config round trip
    clone.set_weights(cell.get_weights())
    np.testing.assert_array_equal(run_steps(clone, x)[0].numpy(), expected.numpy())


def test_normalized_memory_lstm_has_the_lstm_weights_and_normalizes_only_its_output():
    lstm, ln = CELLS["lstm"](8, kernel_size=3), CELLS["ln-lstm"](8, kernel_size=3)
    x = tf.random.normal((2, 6, 6, 5), seed=1)
    lstm.build(x.shape)
    ln.build(x.shape)
    ln.set_weights(lstm.get_weights())  # the same variables, shape for shape
    state = lstm.initial_state(2, 6, 6)
    state = lstm(x, state)[1]  # a non-zero memory to start from
    h_plain, (_, c_plain) = lstm(x, state)
    h_ln, (_, c_ln) = ln(x, state)
    np.testing.assert_allclose(c_ln.numpy(), c_plain.numpy(), atol=1e-6)  # c carried as is
    c = c_plain.numpy().astype(np.float64)
    normalized = (c - c.mean(-1, keepdims=True)) / np.sqrt(c.var(-1, keepdims=True) + 1e-5)
    z = (ln.input_conv(x) + ln.hidden_conv(state[0])).numpy()
    gate = 1 / (1 + np.exp(-np.split(z, 4, axis=-1)[2]))  # sigmoid(o), the same in both cells
    np.testing.assert_allclose(h_plain.numpy(), gate * np.tanh(c), atol=1e-5)
    np.testing.assert_allclose(h_ln.numpy(), gate * np.tanh(normalized), atol=1e-5)
    assert not np.allclose(h_ln.numpy(), h_plain.numpy(), atol=1e-3)
