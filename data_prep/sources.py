"""Where images come from: a directory or glob, a TFDS split, or the photos shipped in wheels.

Every source lists its images in a fixed order (sorted paths, or the split's order), so that
the same input always gives the same shards: that is what makes a rerun resumable.
"""

from __future__ import annotations

import abc
import dataclasses
import glob as glob_module
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from data_prep import storage
from tfrnn.errors import UserError
from tfrnn.images import IMAGE_EXTENSIONS

# The embedded default: photos inside installed wheels (package -> files under its folder).
SAMPLE_PHOTOS: dict[str, tuple[str, ...]] = {
    "skimage": tuple(f"data/{name}" for name in (
        "astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
        "motorcycle_right.png")),
    "sklearn": ("datasets/images/china.jpg", "datasets/images/flower.jpg"),
    "matplotlib": ("mpl-data/sample_data/grace_hopper.jpg",),
}


@dataclasses.dataclass(frozen=True)
class Item:
    """One input image: a stable id, and either a path to read or the encoded bytes."""

    id: str
    path: str | None = None
    data: bytes | None = None

    def read(self) -> bytes:
        return self.data if self.data is not None else storage.read_bytes(self.path)


class Source(abc.ABC):
    """An ordered, indexable collection of images."""

    spec: str
    kind: str

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def ids(self, start: int, stop: int) -> list[str]:
        """Ids of images [start, stop)."""

    @abc.abstractmethod
    def items(self, start: int, stop: int) -> Iterator[Item]:
        """Images [start, stop), in order."""

    @abc.abstractmethod
    def slice(self, start: int, stop: int) -> Source:
        """A source of images [start, stop) only (small to pickle, e.g. for a Beam worker)."""

    def identity(self) -> str:
        """What distinguishes this collection from another (its content aside)."""
        return f"{self.kind}:{self.spec}"

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec, "kind": self.kind, "images": len(self)}


class FileSource(Source):
    """Image files, given as (id, path) pairs in their final order."""

    def __init__(self, spec: str, kind: str, files: list[tuple[str, str]], ignored: int = 0):
        self.spec, self.kind, self.files, self.ignored = spec, kind, files, ignored

    def __len__(self) -> int:
        return len(self.files)

    def ids(self, start: int, stop: int) -> list[str]:
        return [id_ for id_, _ in self.files[start:stop]]

    def items(self, start: int, stop: int) -> Iterator[Item]:
        for id_, path in self.files[start:stop]:
            yield Item(id_, path=path)

    def slice(self, start: int, stop: int) -> FileSource:
        return FileSource(self.spec, self.kind, self.files[start:stop])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "ignored_files": self.ignored}


class TfdsSource(Source):
    """The images of one TFDS split, read as encoded bytes (decoded like files)."""

    kind = "tfds"

    def __init__(self, name: str, split: str, data_dir: str | None, *, image_key: str,
                 version: str, start: int, stop: int):
        self.name, self.split, self.data_dir = name, split, data_dir
        self.image_key, self.version, self.start, self.stop = image_key, version, start, stop
        self.spec = f"tfds:{name}:{split}"

    @classmethod
    def open(cls, spec: str, data_dir: str | None) -> TfdsSource:
        """Open (building it first if needed) `tfds:NAME[:SPLIT]`; split defaults to train."""
        import tensorflow_datasets as tfds

        name, _, split = spec.removeprefix("tfds:").partition(":")
        split = split or "train"
        try:
            builder = tfds.builder(name, data_dir=data_dir)
            builder.download_and_prepare()
        except Exception as e:  # unknown name, no network, bad data_dir: all one line
            first = (str(e).strip().splitlines() or [""])[0]
            raise UserError(f"tfds:{name}: {e.__class__.__name__}: {first}") from None
        splits = builder.info.splits
        if split not in splits:
            raise UserError(f"tfds:{name} has no split {split!r} (it has {', '.join(splits)})")
        images = [key for key, feature in builder.info.features.items()
                  if isinstance(feature, tfds.features.Image)]
        if not images:
            raise UserError(f"tfds:{name} has no image feature")
        key = "image" if "image" in images else images[0]
        return cls(name, split, data_dir, image_key=key, version=str(builder.info.version),
                   start=0, stop=splits[split].num_examples)

    def __len__(self) -> int:
        return self.stop - self.start

    def ids(self, start: int, stop: int) -> list[str]:
        stop = min(stop, len(self))
        return [f"{self.name}/{self.split}/{i}" for i in range(self.start + start,
                                                               self.start + stop)]

    def items(self, start: int, stop: int) -> Iterator[Item]:
        import tensorflow_datasets as tfds

        stop = min(stop, len(self))
        if start >= stop:
            return
        builder = tfds.builder(self.name, data_dir=self.data_dir)
        split = f"{self.split}[{self.start + start}:{self.start + stop}]"
        ds = builder.as_dataset(split=split, shuffle_files=False,
                                decoders={self.image_key: tfds.decode.SkipDecoding()})
        ds = ds.map(lambda example: example[self.image_key])
        for id_, data in zip(self.ids(start, stop), tfds.as_numpy(ds), strict=True):
            yield Item(id_, data=bytes(data))

    def slice(self, start: int, stop: int) -> TfdsSource:
        stop = min(stop, len(self))
        return TfdsSource(self.name, self.split, self.data_dir, image_key=self.image_key,
                          version=self.version, start=self.start + start,
                          stop=self.start + stop)

    def identity(self) -> str:
        return f"{super().identity()}:{self.version}:{self.image_key}"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "version": self.version, "image_feature": self.image_key}


def sample_source() -> FileSource:
    """The photos shipped inside installed wheels (those whose package is installed)."""
    files = []
    for package, names in SAMPLE_PHOTOS.items():
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        folder = Path(spec.origin).parent
        files += [(f"{package}/{Path(name).name}", str(folder / name)) for name in names
                  if (folder / name).is_file()]
    if not files:
        raise UserError("sample: none of scikit-image, scikit-learn, matplotlib is installed")
    return FileSource("sample", "sample", files)


def _directory_source(root: str) -> FileSource:
    files, ignored = [], 0
    for rel in sorted(storage.walk_files(root)):
        if os.path.splitext(rel)[1].lower() in IMAGE_EXTENSIONS:
            files.append((rel, storage.join(root, rel)))
        else:
            ignored += 1
    return FileSource(root, "directory", files, ignored)


def _glob_source(pattern: str) -> FileSource:
    """Every file the pattern matches (`**` recurses); ids are relative to its fixed part."""
    fixed = pattern[:min(pattern.find(c) for c in "*?[" if c in pattern)]
    base = fixed if fixed.endswith(("/", os.sep)) else os.path.dirname(fixed)
    paths = [p for p in storage.glob(pattern) if storage.is_url(p) or os.path.isfile(p)]
    files = [(p[len(base):].lstrip("/" + os.sep), p) for p in paths]
    return FileSource(pattern, "glob", files)


def open_source(spec: str, *, tfds_data_dir: str | None = None) -> Source:
    """`sample`, `tfds:NAME[:SPLIT]`, a glob (quote it) or a directory (searched recursively)."""
    if spec == "sample":
        source: Source = sample_source()
    elif spec.startswith("tfds:"):
        source = TfdsSource.open(spec, tfds_data_dir)
    elif glob_module.has_magic(spec):
        source = _glob_source(spec)
    elif storage.isdir(spec):
        source = _directory_source(spec)
    elif storage.exists(spec):
        raise UserError(f"{spec}: is a file; give a directory, a glob, tfds:NAME or sample")
    else:
        raise UserError(f"{spec}: no such directory (give a directory, a glob, tfds:NAME "
                        "or sample)")
    if not len(source):
        raise UserError(f"{spec}: no images found")
    return source
