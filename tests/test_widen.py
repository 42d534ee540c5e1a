"""Function-preserving widening (`tfrnn.widen`, Net2WiderNet)."""

from __future__ import annotations

import numpy as np
import pytest

from tfrnn.configs import CellSpec, get_config, reference_config
from tfrnn.model import RecurrentCodec
from tfrnn.widen import widen, width_factor


def randomized(config) -> RecurrentCodec:
    codec = RecurrentCodec(config)
    rng = np.random.default_rng(0)
    for v in codec.weights:
        v.assign(rng.normal(0, 0.2, v.shape))
    return codec


@pytest.mark.parametrize("narrow,wide", [
    # transposed-convolution LSTMs with normalized memories (the 2016 thumbnail system)
    (get_config("thumb-conv-ln-lstm-cpu"), get_config("thumb-conv-ln-lstm-cpu-wide")),
    # GRUs with depth-to-space upsampling and the residual-scaling gain network
    (reference_config("n", "gru", "residual-scaling", 1 / 8, ""),
     reference_config("w", "gru", "residual-scaling", 1 / 4, "")),
    (reference_config("n", "residual-gru", "additive", 1 / 8, ""),
     reference_config("w", "residual-gru", "additive", 1 / 4, "")),
])
def test_the_wide_codec_computes_what_the_narrow_one_did(narrow, wide):
    a, b = randomized(narrow), RecurrentCodec(wide)
    widen(a, b, seed=1)
    images = np.random.default_rng(2).integers(0, 256, (2, 32, 64, 3), dtype=np.uint8)
    codes_a, recon_a = a.encode(images, 5, return_reconstructions=True)
    codes_b, recon_b = b.encode(images, 5, return_reconstructions=True)
    np.testing.assert_array_equal(codes_a.numpy(), codes_b.numpy())
    diff = np.abs(recon_a.numpy().astype(int) - recon_b.numpy().astype(int))
    assert diff.max() <= 1 and diff.mean() < 1e-3  # float rounding only
    assert sum(int(np.prod(v.shape)) for v in b.weights) > 3 * sum(
        int(np.prod(v.shape)) for v in a.weights)


def test_copies_share_incoming_weights_and_split_outgoing_ones_unequally():
    a, b = randomized(get_config("thumb-conv-ln-lstm-cpu")), RecurrentCodec(
        get_config("thumb-conv-ln-lstm-cpu-wide"))
    widen(a, b, seed=1)
    stem_a, stem_b = a.encoder.stem, b.encoder.stem
    n = stem_a.filters
    np.testing.assert_array_equal(stem_b.kernel.numpy()[..., :n], stem_b.kernel.numpy()[..., n:])
    np.testing.assert_array_equal(stem_b.kernel.numpy()[..., :n], stem_a.kernel.numpy())
    first, wide_first = a.encoder.cells[0].input_conv.kernel.numpy(), \
        b.encoder.cells[0].input_conv.kernel.numpy()
    units = a.encoder.cells[0].units
    lower, upper = wide_first[:, :, :n, :units], wide_first[:, :, n:, :units]
    np.testing.assert_allclose(lower + upper, first[..., :units], rtol=1e-5, atol=1e-6)
    ratio = lower / np.where(first[..., :units] == 0, 1, first[..., :units])
    assert np.ptp(ratio[0, 0, :, 0]) > 0.1  # split at random: training separates the copies


def test_only_the_same_layers_k_times_as_wide_widen():
    narrow = get_config("thumb-conv-ln-lstm-cpu")
    assert width_factor(narrow, get_config("thumb-conv-ln-lstm-cpu-wide")) == 2
    assert width_factor(narrow, get_config("thumb-conv-lstm")) == 8  # lstm: the same weights
    assert width_factor(narrow, narrow) is None
    assert width_factor(get_config("thumb-conv-ln-lstm-cpu-wide"), narrow) is None
    other_kernel = narrow.replace(encoder=(CellSpec(64, 5, 2, 1), *narrow.encoder[1:]))
    assert width_factor(narrow, other_kernel) is None
    three_halves = reference_config("w", "lstm", "additive", 3 / 8, "")
    assert width_factor(reference_config("n", "lstm", "additive", 1 / 4, ""), three_halves) is None
    assert width_factor(reference_config("n", "associative-lstm", "additive", 1 / 8, ""),
                        reference_config("w", "associative-lstm", "additive", 1 / 4, "")) is None
    assert width_factor(get_config("thumb-conv-residual-cpu"),
                        get_config("thumb-conv-residual-cpu").replace(stem_filters=16)) is None
    with pytest.raises(ValueError, match="wider by one integer factor"):
        widen(RecurrentCodec(narrow), RecurrentCodec(narrow))
