"""Function-preserving widening of a trained codec (Net2WiderNet: Chen, Goodfellow and Shlens,
ICLR 2016, arXiv 1511.05641, §2.1).

Every hidden layer of the wide codec is `k` copies of the narrow one's units: each copy has
the narrow unit's incoming weights and bias, and the weights leaving a unit are split among
its copies at random fractions that sum to 1. The copies then hold identical values at every
iteration, so the wide codec computes what the narrow one did (codes and reconstructions, up
to float rounding), and the unequal splits make their gradients differ, so training separates
them. The normalized LSTM memory (`ln-lstm`) is preserved too: k equal copies of every
channel keep its mean and variance. The bits, the RGB input and output are not widened.
"""

from __future__ import annotations

import keras
import numpy as np

from tfrnn.cells import ConvGRUCell, ConvLSTMCell, ResidualGRUCell
from tfrnn.configs import CodecConfig

WIDENABLE_CELLS = ("lstm", "ln-lstm", "gru", "residual-gru")


def _widths_and_rest(config: CodecConfig) -> tuple[list[int], dict]:
    """The layer widths a widening multiplies, and every other field (names aside)."""
    d = config.weight_fields()
    widths = [d.pop("stem_filters"), d.pop("decoder_filters")]
    gain = d.pop("gain_filters")
    if config.framework == "residual-scaling":
        widths.append(gain)
    for key in ("encoder", "decoder"):
        specs = [dict(s) for s in d[key]]
        widths += [s.pop("units") for s in specs]
        d[key] = specs
    return widths, d


def width_factor(narrow: CodecConfig, wide: CodecConfig) -> int | None:
    """k ≥ 2 if `wide` is `narrow` with every layer width times k (bits, kernels, strides and
    the rest unchanged) and its cells can be widened; else None."""
    if wide.cell not in WIDENABLE_CELLS:  # a narrow model of another cell differs below
        return None
    (a, rest_a), (b, rest_b) = _widths_and_rest(narrow), _widths_and_rest(wide)
    if rest_a != rest_b or any(y % x for x, y in zip(a, b, strict=True)):
        return None
    factors = {y // x for x, y in zip(a, b, strict=True)}
    return factors.pop() if len(factors) == 1 and min(factors) >= 2 else None


class _Widener:
    """Copies narrow weights into a wide layer given the channel maps (wide → narrow index)."""

    def __init__(self, factor: int, seed: int):
        self.factor = factor
        self.rng = np.random.default_rng(seed)

    def tiled(self, channels: int) -> np.ndarray:
        """The map of a widened channel space: k copies of the narrow channels, in order."""
        return np.tile(np.arange(channels), self.factor)

    def split(self, source: np.ndarray) -> np.ndarray:
        """Fractions of each narrow input channel's weights given to its copies (sum 1)."""
        u = self.rng.uniform(0.5, 1.5, len(source))
        return u / np.bincount(source, weights=u)[source]

    def conv(self, narrow, wide, source: np.ndarray, target: np.ndarray) -> None:
        """A (transposed) convolution: input channels `source`, output channels `target`."""
        kernel = np.asarray(narrow.kernel.numpy())
        transposed = isinstance(narrow, keras.layers.Conv2DTranspose)  # kernel (.., out, in)
        if transposed:
            kernel = kernel.transpose(0, 1, 3, 2)
        kernel = kernel[:, :, source][:, :, :, target] * self.split(source)[:, None]
        if transposed:
            kernel = kernel.transpose(0, 1, 3, 2)
        wide.kernel.assign(kernel)
        if getattr(narrow, "bias", None) is not None:
            wide.bias.assign(np.asarray(narrow.bias.numpy())[target])

    def cell(self, narrow, wide, source: np.ndarray, units: np.ndarray) -> None:
        """A recurrent cell with inputs `source` and hidden units `units`."""
        def gates(n: int) -> np.ndarray:
            return np.concatenate([g * narrow.units + units for g in range(n)])

        if isinstance(narrow, ConvLSTMCell):
            self.conv(narrow.input_conv, wide.input_conv, source, gates(4))
            self.conv(narrow.hidden_conv, wide.hidden_conv, units, gates(4))
            return
        if not isinstance(narrow, ConvGRUCell):
            raise ValueError(f"cannot widen a {type(narrow).__name__}")
        self.conv(narrow.input_conv, wide.input_conv, source, gates(3))
        self.conv(narrow.hidden_conv, wide.hidden_conv, units, gates(2))
        self.conv(narrow.candidate_conv, wide.candidate_conv, units, units)
        if isinstance(narrow, ResidualGRUCell):
            self.conv(narrow.output_hidden, wide.output_hidden, units, units)
            self.conv(narrow.output_input, wide.output_input, source, units)

    def stack(self, narrow, wide, source: np.ndarray) -> np.ndarray:
        """An encoder's or decoder's cells; returns the map of its last output."""
        for spec, a, b in zip(narrow.specs, narrow.cells, wide.cells, strict=True):
            block = spec.depth_to_space ** 2  # depth-to-space: channel (sub-position, c)
            out = self.tiled(spec.units // block)
            units = np.concatenate([s * (spec.units // block) + out for s in range(block)])
            self.cell(a, b, source, units)
            source = out
        return source


def widen(narrow, wide, seed: int = 0) -> None:
    """Set the weights of codec `wide` so that it computes what codec `narrow` does.

    Raises ValueError unless `width_factor(narrow's config, wide's config)` is k ≥ 2."""
    factor = width_factor(narrow.codec_config, wide.codec_config)
    if factor is None:
        raise ValueError(f"{wide.codec_config.name} is not {narrow.codec_config.name} made "
                         "wider by one integer factor")
    w = _Widener(factor, seed)
    enc_a, enc_b = narrow.encoder, wide.encoder
    rgb = np.arange(enc_a.stem.kernel.shape[2])
    stem = w.tiled(enc_a.stem_filters)
    w.conv(enc_a.stem, enc_b.stem, rgb, stem)
    features = w.stack(enc_a, enc_b, stem)
    bits = np.arange(narrow.codec_config.bits)
    w.conv(narrow.binarizer.projection, wide.binarizer.projection, features, bits)
    dec_a, dec_b = narrow.decoder, wide.decoder
    stem = w.tiled(dec_a.filters)
    w.conv(dec_a.stem, dec_b.stem, bits, stem)
    features = w.stack(dec_a, dec_b, stem)
    w.conv(dec_a.to_rgb, dec_b.to_rgb, features, np.arange(dec_a.to_rgb.filters))
    if narrow.gain is not None:
        source = np.arange(3)
        for i, (a, b) in enumerate(zip(narrow.gain.convs, wide.gain.convs, strict=True)):
            target = (w.tiled(narrow.gain.filters) if i < len(narrow.gain.convs) - 1
                      else np.arange(1))
            w.conv(a, b, source, target)
            source = target
