"""File access for local paths and for URLs (gs://, s3://, ram://, ... through `tf.io.gfile`).

Local paths use the standard library so that worker processes never import TensorFlow;
URLs (needed when a Beam job runs on many machines) import it on first use.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tfrnn import atomic


def is_url(path: str) -> bool:
    return "://" in path


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def join(base: str, *parts: str) -> str:
    return posixpath.join(base, *parts) if is_url(base) else os.path.join(base, *parts)


def read_bytes(path: str) -> bytes:
    if is_url(path):
        with _gfile().GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_url(path) else os.path.exists(path)


def isdir(path: str) -> bool:
    return _gfile().isdir(path) if is_url(path) else os.path.isdir(path)


def listdir(path: str) -> list[str]:
    return sorted(_gfile().listdir(path) if is_url(path) else os.listdir(path))


def makedirs(path: str) -> None:
    if is_url(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def remove(path: str) -> None:
    """Delete a file if it exists."""
    if is_url(path):
        if _gfile().exists(path):
            _gfile().remove(path)
    elif os.path.lexists(path):
        os.remove(path)


def walk_files(root: str) -> Iterator[str]:
    """Every file under `root` (recursively, hidden names skipped), as paths relative to it."""
    walk = _gfile().walk(root) if is_url(root) else os.walk(root)
    for folder, dirs, files in walk:
        dirs[:] = [d.rstrip("/") for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(folder, root) if not is_url(root) else folder[len(root):].strip("/")
        for name in files:
            if not name.startswith("."):
                yield posixpath.join(rel, name) if rel not in ("", ".") else name


def glob(pattern: str) -> list[str]:
    if is_url(pattern):
        return sorted(_gfile().glob(pattern))
    import glob as glob_module

    return sorted(glob_module.glob(pattern, recursive=True))


@contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """Yield a temporary name beside `path`, renamed onto it when the block succeeds.

    The temporary name starts with "." and contains ".tmp", so `is_temporary` finds leftovers.
    """
    if not is_url(path):
        with atomic.atomic_path(path) as tmp:
            yield str(tmp)
        return
    gfile = _gfile()
    folder, name = posixpath.split(path)
    tmp = posixpath.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        yield tmp
        gfile.rename(tmp, path, overwrite=True)
    finally:
        if gfile.exists(tmp):
            gfile.remove(tmp)


def is_temporary(name: str) -> bool:
    """Whether a file name is one that `atomic_output` gives to unfinished files."""
    return name.startswith(".") and ".tmp" in name


def write_atomic(path: str, data: bytes) -> None:
    with atomic_output(path) as tmp:
        if is_url(tmp):
            with _gfile().GFile(tmp, "wb") as f:
                f.write(data)
        else:
            with open(tmp, "wb") as f:
                f.write(data)
