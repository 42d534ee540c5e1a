"""A trained model on disk: the codec, its optional context (entropy) model, and metadata.

Layout of a bundle directory (written atomically)::

    model.json            {"format": "tfrnn-model", "version": 1, "config": CodecConfig,
                           "context_model": Keras config or null, "fingerprint": hex,
                           "metadata": {...}}
    codec.weights.h5      the RecurrentCodec weights
    context.weights.h5    the context model weights (if any)

Weights are stored as float32, or as float16 for a release (`tfrnn release --float16`: half the
size; the weights are rounded first, so the fingerprint is that of what is loaded back).
`load_bundle` also accepts a training run directory (it reads its `model/` bundle) and the name
of a shipped pretrained model. The fingerprint identifies the weights in compressed files.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from tfrnn.atomic import atomic_path
from tfrnn.errors import UserError
from tfrnn.model import RecurrentCodec, hash_weights

FORMAT = "tfrnn-model"
VERSION = 1
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


@dataclass
class Bundle:
    """A loaded model: `codec`, optional `context_model`, free-form `metadata`."""

    codec: RecurrentCodec
    context_model: keras.layers.Layer | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def trained_iterations(self) -> int:
        """The iterations the model was trained with (the trainer records them), else the
        configuration's."""
        return int(self.metadata.get("iterations") or self.codec.codec_config.iterations)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) over the codec's and the context model's weights."""
        h = hashlib.sha256(self.codec.fingerprint().encode())
        if self.context_model is not None:
            hash_weights(h, self.context_model.weights)
        return h.hexdigest()


def round_to_float16(bundle: Bundle) -> None:
    """Round every weight of `bundle` to the nearest float16 value, in place."""
    models = [bundle.codec] + ([bundle.context_model] if bundle.context_model is not None else [])
    for model in models:
        for variable in model.weights:
            variable.assign(np.asarray(variable.numpy(), np.float16).astype(np.float32))


def _store_float16(path: Path) -> None:
    """Rewrite the Keras weights file `path` with float16 datasets (Keras casts them back)."""
    half = path.with_name(path.name + ".half")
    with h5py.File(path, "r") as src, h5py.File(half, "w") as dst:
        def copy(name: str, obj: h5py.Group | h5py.Dataset) -> None:
            if isinstance(obj, h5py.Dataset):
                data = obj[()]
                dst.create_dataset(name, data=data.astype(np.float16)
                                   if data.dtype == np.float32 else data)
            else:
                dst.require_group(name)
            dst[name].attrs.update(obj.attrs)

        dst.attrs.update(src.attrs)
        src.visititems(copy)
    os.replace(half, path)


def save_bundle(path: str | os.PathLike, bundle: Bundle, float16: bool = False) -> Path:
    """Write `bundle` to directory `path` atomically (replacing an older bundle there).

    `float16` rounds the weights in place (`round_to_float16`) and stores them in half precision.
    """
    path = Path(path)
    if float16:
        round_to_float16(bundle)
    manifest = {
        "format": FORMAT, "version": VERSION,
        "config": bundle.codec.codec_config.to_dict(),
        "context_model": (keras.saving.serialize_keras_object(bundle.context_model)
                          if bundle.context_model is not None else None),
        "fingerprint": bundle.fingerprint,
        "metadata": bundle.metadata,
        "weights_dtype": "float16" if float16 else "float32",
    }
    with atomic_path(path) as tmp:
        tmp.mkdir()
        files = [tmp / "codec.weights.h5"]
        bundle.codec.save_weights(files[0])
        if bundle.context_model is not None:
            files.append(tmp / "context.weights.h5")
            bundle.context_model.save_weights(files[1])
        if float16:
            for file in files:
                _store_float16(file)
        (tmp / "model.json").write_text(json.dumps(manifest, indent=2))
    return path


def pretrained_names() -> list[str]:
    """The names of the shipped pretrained models, sorted."""
    return sorted(p.parent.name for p in PRETRAINED_DIR.glob("*/model.json"))


def resolve(path_or_name: str | os.PathLike) -> Path:
    """The bundle directory for a bundle path, a training run directory or a pretrained name."""
    path = Path(path_or_name)
    for candidate in (path, path / "model", PRETRAINED_DIR / str(path_or_name)):
        if (candidate / "model.json").is_file():
            return candidate
    if not path.exists():
        names = ", ".join(pretrained_names()) or "none shipped"
        raise UserError(f"{path}: no such model (a bundle directory, a training run directory, "
                        f"or a pretrained name: {names})")
    raise UserError(f"{path}: not a tfrnn model (no model.json)")


def load_bundle(path_or_name: str | os.PathLike, with_context: bool = True) -> Bundle:
    """Load a bundle (see `resolve`); UserError if missing, foreign or damaged."""
    path = resolve(path_or_name)
    try:
        manifest = json.loads((path / "model.json").read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{path}/model.json: unreadable ({e})") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise UserError(f"{path}: not a tfrnn model of format version {VERSION}")
    try:
        codec = RecurrentCodec(manifest["config"])
        codec.load_weights(path / "codec.weights.h5")
        context = None
        if with_context and manifest.get("context_model") is not None:
            context = keras.saving.deserialize_keras_object(manifest["context_model"])
            context.load_weights(path / "context.weights.h5")
    except UserError:
        raise
    except Exception as e:  # damaged weights or a config this version cannot build
        raise UserError(f"{path}: cannot load model ({e.__class__.__name__}: {e})") from None
    bundle = Bundle(codec, context, manifest.get("metadata", {}), path)
    if with_context and bundle.fingerprint != manifest.get("fingerprint"):
        raise UserError(f"{path}: weights do not match the fingerprint in model.json")
    return bundle
