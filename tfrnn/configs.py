"""Named model configurations (listed by `tfrnn configs`).

`paper-*`: the reference layer table of DESIGN.md (Toderici 2017, §3 and the public release),
one per recurrent unit and reconstruction framework; meant for GPUs.
`cpu-*`: the same topology at a quarter of the widths (about 2.2 M weights for the LSTM),
meant to train on a 2-core CPU.
`tiny-*`: the same at 1/16 width, for tests and smoke runs (it does not compress well).
`thumb-*`: the 2016 paper's 32×32 systems: fully-connected LSTM and conv/deconv LSTM (§3.2-3.3),
and its feed-forward conv/deconv residual autoencoder (`tfrnn.feedforward`), the yardstick;
`thumb-fc-ln-lstm` and `thumb-conv-ln-lstm-cpu`, the same with normalized LSTM memories (`ln-lstm`);
`thumb-conv-ln-lstm-cpu-wide`, the latter at twice the width (`tfrnn.widen`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tfrnn.errors import UserError

MAX_EXTRA_STEPS = 8  # priming / diffusion: extra network steps per iteration, at most
EXTRA_STEP_FIELDS = ("priming", "diffusion", "diffusion_until")  # change no weight
FRAMEWORKS = ("one-shot", "additive", "residual-scaling")
CELL_TYPES = ("lstm", "ln-lstm", "gru", "residual-gru", "associative-lstm")
# A cell whose weights are those of another: a model of one may be fine-tuned as the other.
SAME_WEIGHTS = {"ln-lstm": "lstm"}
FEED_FORWARD = "feed-forward"  # no recurrent cell: one set of weights per iteration (stage)


@dataclass(frozen=True)
class CellSpec:
    """One recurrent layer: hidden units, input kernel/stride, hidden kernel, upsampling."""

    units: int
    kernel: int = 3
    stride: int = 1
    hidden_kernel: int = 1
    depth_to_space: int = 1
    transpose: bool = False


@dataclass(frozen=True)
class CodecConfig:
    """Everything that defines a codec's architecture and its training objective.

    `priming` / `diffusion` (Johnston et al. 2018, arXiv 1703.10114): the encoder and the
    decoder run that many extra steps of their recurrent layers at the first iteration / at
    every later one before the step whose output is used (the encoder on the same residual,
    the decoder on the same codes), so their hidden states see a wider context at no cost in
    bits. `diffusion_until` N > 0 keeps the diffusion steps to iterations 2 … N (not in the
    paper: our `psnr-diffusion` gained at 2–5 iterations and lost above).
    """

    name: str
    description: str
    cell: str = "lstm"
    framework: str = "additive"
    stem_filters: int = 64
    stem_kernel: int = 3
    stem_stride: int = 2
    encoder: tuple[CellSpec, ...] = ()
    bits: int = 32
    decoder_filters: int = 512
    decoder: tuple[CellSpec, ...] = ()
    block: int = 1
    gain_filters: int = 32
    iterations: int = 16
    loss: str = "l1"
    priming: int = 0
    diffusion: int = 0
    diffusion_until: int = 0

    def __post_init__(self):
        if self.cell not in (*CELL_TYPES, FEED_FORWARD):
            raise UserError(f"unknown cell {self.cell!r}; choose from "
                            f"{', '.join((*CELL_TYPES, FEED_FORWARD))}")
        if self.cell == FEED_FORWARD and (
                self.framework != "additive" or self.priming or self.diffusion
                or any(s.hidden_kernel != 1 for s in (*self.encoder, *self.decoder))):
            raise UserError(f"config {self.name}: a feed-forward residual autoencoder is "
                            "additive, without priming, diffusion or hidden kernels")
        if self.framework not in FRAMEWORKS:
            raise UserError(f"unknown framework {self.framework!r}; "
                            f"choose from {', '.join(FRAMEWORKS)}")
        if self.loss not in ("l1", "l2"):
            raise UserError(f"unknown loss {self.loss!r}; choose l1 or l2")
        if not (0 <= self.priming <= MAX_EXTRA_STEPS and 0 <= self.diffusion <= MAX_EXTRA_STEPS):
            raise UserError(f"config {self.name}: priming and diffusion are 0 to "
                            f"{MAX_EXTRA_STEPS} extra steps, not {self.priming}, {self.diffusion}")
        if self.diffusion_until and not (self.diffusion and self.diffusion_until >= 2):
            raise UserError(f"config {self.name}: diffusion_until is 0 (every iteration) or the "
                            f"last iteration (2 or more) of diffusion steps, and needs diffusion; "
                            f"not {self.diffusion_until} with diffusion {self.diffusion}")
        up = self.block
        for spec in self.decoder:
            up *= spec.depth_to_space * (spec.stride if spec.transpose else 1)
        if up != self.stride:
            raise UserError(f"config {self.name}: decoder upsamples by {up}, "
                            f"encoder downsamples by {self.stride}")

    @property
    def stride(self) -> int:
        """Total stride: an H×W image yields ceil(H/stride)·ceil(W/stride)·bits bits/iteration."""
        s = self.block * self.stem_stride
        for spec in self.encoder:
            s *= spec.stride
        return s

    @property
    def fixed_size(self) -> int | None:
        """The one image side a fully-connected model codes (Toderici 2016 §3.2: every layer
        1×1 over a single block×block tile, e.g. 32 for `thumb-fc-lstm`); None if any size."""
        kernels = [self.stem_kernel] + [k for s in (*self.encoder, *self.decoder)
                                        for k in (s.kernel, s.hidden_kernel)]
        return self.block if self.block > 1 and max(kernels) == 1 else None

    def bits_per_iteration(self, height: int, width: int) -> int:
        """Bits one iteration emits for an image of this size (after padding to the stride)."""
        return -(-height // self.stride) * -(-width // self.stride) * self.bits

    def to_dict(self) -> dict:
        """The fields; `priming`/`diffusion`/`diffusion_until` only when not 0, so that the
        configurations (and fingerprints) of models made before they existed stay the same."""
        d = dataclasses.asdict(self)
        for key in EXTRA_STEP_FIELDS:
            if not d[key]:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CodecConfig:
        d = dict(d)
        for key in ("encoder", "decoder"):
            d[key] = tuple(CellSpec(**s) for s in d.get(key, ()))
        return cls(**d)

    def replace(self, **changes) -> CodecConfig:
        return dataclasses.replace(self, **changes)

    def weight_fields(self) -> dict:
        """The fields that define the weights: all but the name and the description, with the
        cell named by the cell whose weights it has (SAME_WEIGHTS)."""
        d = {k: v for k, v in self.to_dict().items() if k not in ("name", "description")}
        d["cell"] = SAME_WEIGHTS.get(d["cell"], d["cell"])
        return d

    def shares_weights_with(self, other: CodecConfig) -> bool:
        """Whether the two differ only in a cell that has the other's weights (SAME_WEIGHTS),
        so that a model of one can be fine-tuned as the other (e.g. --config
        cpu-ln-lstm-additive --init-from default)."""
        return self.cell != other.cell and self.weight_fields() == other.weight_fields()


def reference_config(name: str, cell: str, framework: str, width: float,
                     description: str) -> CodecConfig:
    """The reference layer table, with every width multiplied by `width`."""

    def w(n: int) -> int:
        return max(8, int(round(n * width)))

    return CodecConfig(
        name=name, description=description, cell=cell, framework=framework,
        stem_filters=w(64),
        encoder=(CellSpec(w(256), 3, 2, 1), CellSpec(w(512), 3, 2, 1), CellSpec(w(512), 3, 2, 1)),
        bits=32, decoder_filters=w(512),
        decoder=(CellSpec(w(512), 3, 1, 1, 2), CellSpec(w(512), 3, 1, 1, 2),
                 CellSpec(w(256), 3, 1, 3, 2), CellSpec(w(128), 3, 1, 3, 2)),
        gain_filters=w(64) if width < 1 else 64,
    )


def thumb_fc_config(name: str, description: str, cell: str = "lstm") -> CodecConfig:
    """The 2016 fully-connected LSTM (§3.2): 1×1 layers over one 32×32 tile (a 512-unit stem,
    two 512-unit LSTMs each side), 128 bits per iteration; L2 loss."""
    return CodecConfig(
        name=name, description=description, cell=cell, framework="additive", block=32,
        stem_filters=512, stem_kernel=1, stem_stride=1,
        encoder=(CellSpec(512, 1, 1, 1), CellSpec(512, 1, 1, 1)), bits=128,
        decoder_filters=512, decoder=(CellSpec(512, 1, 1, 1), CellSpec(512, 1, 1, 1)),
        loss="l2")


def thumb_conv_config(name: str, width: float, description: str,
                      cell: str = "lstm") -> CodecConfig:
    """The 2016 conv/deconv LSTM (§3.3): strided conv LSTMs down to 2×2×32 bits, transposed
    (deconvolutional) conv LSTMs back up; L2 loss. `width` scales every layer but the bits.
    With `cell` FEED_FORWARD, the same layer table as the feed-forward conv/deconv residual
    autoencoder (each LSTM a convolution of its width, own weights per stage; no hidden
    kernels)."""

    def w(n: int) -> int:
        return max(8, int(round(n * width)))

    hidden = 1 if cell == FEED_FORWARD else 3
    return CodecConfig(
        name=name, description=description, cell=cell, framework="additive",
        stem_filters=w(64), decoder_filters=w(512),
        encoder=(CellSpec(w(256), 3, 2, 1), CellSpec(w(512), 3, 2, 1), CellSpec(w(512), 3, 2, 1)),
        decoder=(CellSpec(w(512), 3, 2, 1, 1, True), CellSpec(w(512), 3, 2, 1, 1, True),
                 CellSpec(w(256), 3, 2, hidden, 1, True),
                 CellSpec(w(128), 3, 2, hidden, 1, True)),
        loss="l2")


def _build_registry() -> dict[str, CodecConfig]:
    configs: dict[str, CodecConfig] = {}
    for cell in CELL_TYPES:
        for framework in FRAMEWORKS:
            name = f"paper-{cell}-{framework}"
            configs[name] = reference_config(
                name, cell, framework, 1.0,
                f"Toderici 2017 reference table, {cell} cells, {framework} (GPU size)")
            name = f"cpu-{cell}-{framework}"
            configs[name] = reference_config(
                name, cell, framework, 0.25,
                f"reference topology at 1/4 width, {cell} cells, {framework} (2-core CPU)")
            name = f"tiny-{cell}-{framework}"
            configs[name] = reference_config(
                name, cell, framework, 1 / 16,
                f"reference topology at 1/16 width, {cell} cells, {framework} (tests, smoke runs)")
    configs["thumb-fc-lstm"] = thumb_fc_config(
        "thumb-fc-lstm",
        "Toderici 2016 fully-connected LSTM for 32x32 thumbnails, 128 bits/iter")
    configs["thumb-fc-ln-lstm"] = thumb_fc_config(
        "thumb-fc-ln-lstm",
        "thumb-fc-lstm with each LSTM's memory normalized before its output's tanh "
        "(cell ln-lstm; same weights)", cell="ln-lstm")
    configs["thumb-conv-lstm"] = thumb_conv_config(
        "thumb-conv-lstm", 1.0,
        "Toderici 2016 conv/deconv LSTM for 32x32 thumbnails, 2x2x32 bits/iter")
    configs["thumb-conv-lstm-cpu"] = thumb_conv_config(
        "thumb-conv-lstm-cpu", 0.125,
        "Toderici 2016 conv/deconv LSTM at 1/8 width (same bits/iter; 2-core CPU)")
    configs["thumb-conv-ln-lstm-cpu"] = thumb_conv_config(
        "thumb-conv-ln-lstm-cpu", 0.125,
        "thumb-conv-lstm-cpu with each LSTM's memory normalized before its output's tanh "
        "(cell ln-lstm; same weights)", cell="ln-lstm")
    configs["thumb-conv-ln-lstm-cpu-wide"] = thumb_conv_config(
        "thumb-conv-ln-lstm-cpu-wide", 0.25,
        "thumb-conv-ln-lstm-cpu at twice the width (1/4 of the paper's); "
        "--init-from a thumb-conv-ln-lstm-cpu model widens it (Net2WiderNet)", cell="ln-lstm")
    configs["thumb-conv-residual-cpu"] = thumb_conv_config(
        "thumb-conv-residual-cpu", 0.125,
        "Toderici 2016 feed-forward conv/deconv residual autoencoder, 16 stages with their own "
        "weights, layer widths of thumb-conv-lstm-cpu (2-core CPU)", cell=FEED_FORWARD)
    return configs


CONFIGS: dict[str, CodecConfig] = _build_registry()
DEFAULT_CPU_CONFIG = "cpu-lstm-additive"


def get_config(name: str) -> CodecConfig:
    """A named configuration; UserError naming the choices if unknown."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise UserError(f"unknown config {name!r}; see `tfrnn configs`") from None
