"""The feed-forward residual autoencoder (`tfrnn.feedforward`): own weights per stage, the
Keras config round trip, and the codec's loop over it (tiny untrained models)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrnn.configs import FEED_FORWARD, get_config, thumb_conv_config
from tfrnn.errors import UserError
from tfrnn.feedforward import FeedForwardDecoder, FeedForwardEncoder, StagedConv2D
from tfrnn.model import RecurrentCodec


@pytest.fixture(scope="module")
def codec() -> RecurrentCodec:
    keras.utils.set_random_seed(0)
    return RecurrentCodec(thumb_conv_config("tiny-residual", 1 / 32, "tiny",
                                            cell=FEED_FORWARD).replace(iterations=3))


def test_the_named_config_is_the_conv_lstm_table_without_recurrence():
    residual, lstm = get_config("thumb-conv-residual-cpu"), get_config("thumb-conv-lstm-cpu")
    assert residual.cell == FEED_FORWARD and lstm.cell == "lstm"
    assert [s.units for s in residual.encoder] == [s.units for s in lstm.encoder]
    assert [s.units for s in residual.decoder] == [s.units for s in lstm.decoder]
    assert (residual.stride, residual.bits, residual.loss) == (16, 32, "l2")
    assert residual.bits_per_iteration(32, 32) == 128
    with pytest.raises(UserError, match="feed-forward residual autoencoder is additive"):
        residual.replace(framework="one-shot")


LAYERS = {
    "conv": lambda specs: StagedConv2D(4, 3, 2, stages=3, name="s"),
    "transposed": lambda specs: StagedConv2D(4, 3, 2, transpose=True, stages=2, name="t"),
    "encoder": lambda specs: FeedForwardEncoder(specs.encoder[:1], 2, 4, name="e"),
    "decoder": lambda specs: FeedForwardDecoder(specs.decoder[:1], 2, 4, name="d"),
}


@pytest.mark.parametrize("kind", LAYERS)
def test_layers_round_trip_their_config(kind):
    layer = LAYERS[kind](get_config("thumb-conv-residual-cpu"))
    channels = 32 if isinstance(layer, FeedForwardDecoder) else 3
    x = np.random.default_rng(0).normal(size=(1, 8, 8, channels)).astype(np.float32)
    layer.build(x.shape)
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(copy) is type(layer) and copy.get_config() == layer.get_config()
    if not copy.built:
        copy.build(x.shape)
    copy.set_weights(layer.get_weights())
    if isinstance(layer, StagedConv2D):
        out, again = layer(x, tf.constant(1)), copy(x, tf.constant(1))
    else:
        (out, state), (again, _) = layer(x, (tf.constant(1),)), copy(x, (tf.constant(1),))
        assert int(state[0]) == 2  # the stage index is the only state
    np.testing.assert_array_equal(out, again)


def test_each_stage_has_its_own_weights(codec):
    """A loss on the first iteration reaches stage 1's slices only; stage 2 differs."""
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), np.uint8)
    with tf.GradientTape() as tape:
        first = codec(images, training=True, iterations=1)[0]  # straight-through
        loss = tf.reduce_mean(tf.square(first - codec.to_model_space(images)))
    staged = [v for v in codec.trainable_variables if v.shape[0] == 3]
    assert len(staged) == 2 * (1 + 3) + 2 * (1 + 4 + 1)  # kernel and bias of every conv
    for v, g in zip(staged, tape.gradient(loss, staged), strict=True):
        assert np.any(g[0] != 0) and not np.any(g[1:]), v.path
    conv = codec.encoder.stem
    x = tf.constant(images, tf.float32) / 255.0
    assert not np.allclose(conv(x, tf.constant(0)), conv(x, tf.constant(1)))


def test_codec_encodes_and_decodes_progressively(codec):
    images = np.random.default_rng(2).integers(0, 256, (2, 40, 36, 3), np.uint8)
    codes, recons = codec.encode(images, 3, return_reconstructions=True)
    assert codes.shape == (3, 2, 3, 3, 32) and set(np.unique(codes)) <= {-1.0, 1.0}
    for k in (1, 3):
        np.testing.assert_array_equal(codec.decode(codes[:k], 40, 36), recons[k - 1])


def test_codec_saves_and_loads_as_a_keras_file(codec, tmp_path):
    images = np.random.default_rng(3).integers(0, 256, (1, 32, 32, 3), np.uint8)
    codec.save(tmp_path / "codec.keras")
    loaded = keras.models.load_model(tmp_path / "codec.keras")
    assert loaded.codec_config == codec.codec_config
    assert loaded.fingerprint() == codec.fingerprint()
    np.testing.assert_array_equal(loaded(images, iterations=3), codec(images, iterations=3))
