"""The one function training uses to read prepared tiles: `make_dataset`."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from data_prep import manifest, storage
from data_prep.records import parse
from tfrnn.errors import UserError


def shard_files(folder: str) -> tuple[list[str], int]:
    """The non-empty shard files of a prepared dataset and its tile size, after checks."""
    m = manifest.read(folder)
    files = [storage.join(folder, shard["file"]) for shard in m["shards"] if shard["tiles"]]
    if not files:
        raise UserError(f"{folder}: the dataset holds no tiles")
    missing = [path for path in files if not storage.exists(path)]
    if missing:
        raise UserError(f"{missing[0]}: listed in {manifest.MANIFEST} but missing "
                        f"({len(missing)} shards missing)")
    return files, m["tile_size"]


def _records(files: list[str], seed: int | None, repeat: bool,
             cycle_length: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
    if repeat:
        ds = ds.repeat()
    return ds.interleave(tf.data.TFRecordDataset, cycle_length=min(cycle_length, len(files)),
                         num_parallel_calls=tf.data.AUTOTUNE, deterministic=seed is not None)


def make_dataset(dirs: str | Sequence[str], weights: Sequence[float] | None = None,
                 batch_size: int = 32, *, tile_size: int | None = None,
                 shuffle_buffer: int = 10_000, seed: int | None = None, repeat: bool = True,
                 crop: int | None = None, flips: bool = False,
                 cycle_length: int = 8) -> tf.data.Dataset:
    """Batches of tiles, uint8 [batch_size, S, S, 3], S = `crop` or the tile size.

    Shard files are shuffled and read `cycle_length` at a time (interleave), records are
    shuffled in a `shuffle_buffer`, several dataset directories are mixed by `weights`
    (default: equal), `crop` takes a random S×S window and `flips` a random left-right flip.
    With `repeat` the stream is endless and every batch is full; without it, the last batch
    may be short. A given `seed` makes the order and the augmentation reproducible.
    All dataset directories must hold tiles of `tile_size` (default: the first one's).
    """
    dirs = [dirs] if isinstance(dirs, str) else list(dirs)
    if not dirs:
        raise UserError("no dataset directory given")
    if weights is not None and (len(weights) != len(dirs) or min(weights) < 0
                                or sum(weights) <= 0):
        raise UserError(f"need {len(dirs)} non-negative weights, not all zero, got "
                        f"{list(weights)}")
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, not {batch_size}")
    sources, expected = [], tile_size
    for folder in dirs:
        files, size = shard_files(folder)
        if expected is not None and size != expected:
            why = "requested" if tile_size is not None else f"as in {dirs[0]}"
            raise UserError(f"{folder}: tiles are {size}x{size}, not {expected}x{expected} "
                            f"({why}; prepare with --tile-size {expected})")
        expected = size
        sources.append(_records(files, seed, repeat, cycle_length))
    tile_size = expected
    if crop is not None and not 1 <= crop <= tile_size:
        raise UserError(f"crop {crop} must be between 1 and the tile size {tile_size}")
    if len(sources) == 1:
        records = sources[0]
    else:
        total = sum(weights) if weights is not None else len(dirs)
        shares = [w / total for w in weights] if weights is not None else None
        records = tf.data.Dataset.sample_from_datasets(
            sources, weights=shares, seed=seed, stop_on_empty_dataset=True)
    if shuffle_buffer > 1:
        records = records.shuffle(shuffle_buffer, seed=seed)
    size = crop or tile_size

    def tile(serialized: tf.Tensor, noise: tf.Tensor) -> tf.Tensor:
        image = parse(serialized)["tile"]
        image.set_shape([tile_size, tile_size, 3])
        if crop:
            image = tf.image.stateless_random_crop(image, [size, size, 3], seed=noise[:2])
        if flips:
            image = tf.image.stateless_random_flip_left_right(image, seed=noise[2:])
        return image

    noise = tf.data.Dataset.random(seed=seed).batch(4)
    tiles = tf.data.Dataset.zip(records, noise).map(tile, num_parallel_calls=tf.data.AUTOTUNE,
                                                    deterministic=seed is not None)
    return tiles.batch(batch_size, drop_remainder=repeat).prefetch(tf.data.AUTOTUNE)
