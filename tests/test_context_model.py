"""Context models: causality of both kinds, serialization, and the raster coder's steps."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrnn.context_model import (
    KINDS,
    CheckerboardContextModel,
    ContextModel,
    RasterContextModel,
    make_context_model,
    pass_masks,
)
from tfrnn.range_coding import CheckerboardCoder, RasterCoder, entropy_coder, quantize

T, H, W, BITS = 3, 5, 6, 8


@pytest.fixture(scope="module")
def models() -> dict[str, ContextModel]:
    keras.utils.set_random_seed(1)
    return {kind: make_context_model(kind, bits=BITS, filters=16, memory_units=8)
            for kind in KINDS}


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.where(rng.random((T, 1, H, W, BITS)) < 0.5, -1.0, 1.0).astype(np.float32)


def _changed(model, codes, t, i, j, c=0) -> np.ndarray:
    """Which bits' probabilities [T, H, W, BITS] move when bit (t, i, j, c) flips."""
    flipped = codes.copy()
    flipped[t, 0, i, j, c] *= -1
    delta = np.abs(model.probabilities(flipped).numpy() - model.probabilities(codes).numpy())
    return delta[:, 0] > 0


@pytest.mark.parametrize("kind", KINDS)
def test_probabilities_shape_and_range(models, codes, kind):
    p = models[kind].probabilities(codes).numpy()
    assert p.shape == codes.shape
    assert np.all((p > 0) & (p < 1))
    bits = float(models[kind].cross_entropy_bits(codes))
    expected = -np.mean(np.log2(np.where(codes > 0, p, 1 - p)))
    assert bits == pytest.approx(expected, rel=1e-4)


def test_raster_context_is_causal(models, codes):
    model = models["raster"]
    for t, i, j in [(1, 2, 3), (0, 0, 0), (2, 4, 5), (1, 3, 0)]:
        changed = _changed(model, codes, t, i, j).any(axis=-1)
        order = np.arange(H * W).reshape(H, W)
        assert not changed[:t].any()
        assert not changed[t][order <= order[i, j]].any()
        if t + 1 < T:
            assert changed[t + 1].any()
    assert _changed(model, codes, 1, 2, 3)[1, 2, 4].any()  # the next position sees it


def test_checkerboard_passes_partition_the_bits_in_order():
    masks = np.stack([m.numpy() for m in pass_masks(H, W, BITS, 2)])
    np.testing.assert_array_equal(masks.sum(axis=0), 1)
    anchors = (np.add.outer(np.arange(H), np.arange(W)) % 2) == 0
    assert masks[0][anchors][:, : BITS // 2].all() and masks[1][anchors][:, BITS // 2:].all()
    assert masks[2][~anchors][:, : BITS // 2].all() and masks[3][~anchors][:, BITS // 2:].all()


def test_checkerboard_context_is_causal(models, codes):
    model = models["checkerboard"]
    step = np.argmax(np.stack([m.numpy() for m in pass_masks(H, W, BITS, model.groups)]), 0)
    for t, i, j, c in [(1, 2, 2, 0), (1, 2, 2, BITS - 1), (1, 2, 3, 1), (2, 1, 2, BITS - 1),
                       (0, 0, 0, 0)]:
        changed = _changed(model, codes, t, i, j, c)
        assert not changed[:t].any()
        assert not changed[t][step <= step[i, j, c]].any()
        if step[i, j, c] < model.passes - 1:
            assert changed[t][step > step[i, j, c]].any()
        if t + 1 < T:
            assert changed[t + 1].any()


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip_and_weights(models, codes, kind, tmp_path):
    model = models[kind]
    config = keras.saving.serialize_keras_object(model)
    clone = keras.saving.deserialize_keras_object(config)
    assert clone.get_config() | {"name": model.name} == model.get_config()
    assert [w.path for w in clone.weights] == [w.path for w in model.weights]
    model.save_weights(tmp_path / "context.weights.h5")
    clone.load_weights(tmp_path / "context.weights.h5")
    np.testing.assert_array_equal(clone.probabilities(codes).numpy(),
                                  model.probabilities(codes).numpy())


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown context model kind"):
        make_context_model("zigzag")
    with pytest.raises(ValueError, match="groups must be 1 to 8"):
        make_context_model(bits=8, groups=9)


def test_raster_sequential_steps_match_teacher_forcing(models, codes):
    """The coder's one-position-at-a-time steps pick the tables the parallel logits give."""
    model = models["raster"]
    coder = entropy_coder(model)
    parallel = quantize(model(codes)).numpy()[:, 0].reshape(T, H * W, BITS)
    memory = model.initial_memory(1, H, W)
    previous = tf.zeros((1, H, W, BITS))
    agree = []
    for t in range(T):
        memory = model.advance(memory, previous)
        sequential = coder._raster_encode(model.features(memory), codes[t, 0]).numpy()
        agree.append(np.mean(sequential == parallel[t]))
        previous = codes[t]
    assert min(agree) > 0.99


def test_one_class_per_kind_and_old_configs_load():
    """Each kind is its own class with its own coder; a model.json written when one class
    branched on `kind` (class "ContextModel", `groups` for both kinds) builds the same model."""
    for kind, model_cls, coder_cls in (("checkerboard", CheckerboardContextModel,
                                        CheckerboardCoder),
                                       ("raster", RasterContextModel, RasterCoder)):
        old = {"module": "tfrnn.context_model", "class_name": "ContextModel",
               "registered_name": "tfrnn>ContextModel",
               "config": {"kind": kind, "bits": BITS, "filters": 16, "memory_units": 8,
                          "groups": 2, "name": f"old_{kind}"}}
        model = keras.saving.deserialize_keras_object(old)
        assert type(model) is model_cls and model.kind == kind and model.bits == BITS
        assert type(entropy_coder(model)) is coder_cls
    assert isinstance(model, ContextModel)
