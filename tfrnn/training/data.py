"""Training tiles: the TFRecords of `tfrnn prepare`, read by `data_prep.reader.make_dataset`.

The order is deterministic for a seed (shuffle and augmentation are seeded), so a resumed run
sees the same tiles as an uninterrupted one (the iterator's position is in the checkpoint).
Augmentation: random crops when the training patch is smaller than the tiles, and left-right
flips (the papers train on fixed 32×32 tiles and mention no augmentation; a mirrored tile has
the same statistics, so flips only add variety).
"""

from __future__ import annotations

import tensorflow as tf

from tfrnn.training.options import TrainOptions


def training_dataset(options: TrainOptions, batch_size: int, worker_index: int = 0
                     ) -> tf.data.Dataset:
    """uint8 batches [batch_size, P, P, 3]; worker k reads its own order (seed + k)."""
    from data_prep.reader import make_dataset

    return make_dataset([d for d, _ in options.data], [w for _, w in options.data], batch_size,
                        tile_size=options.tile_size, shuffle_buffer=options.shuffle_buffer,
                        seed=options.seed + worker_index, repeat=True, crop=options.crop,
                        flips=options.flips)
