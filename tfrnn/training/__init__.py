"""`tfrnn train`: one trainer for one CPU, one GPU or many (tf.distribute).

- `options`: every setting of a run (`TrainOptions`), parsed by `cli`.
- `data`: the tiles of `tfrnn prepare` as a deterministic tf.data pipeline; held-out images.
- `distribute`: the strategy (default, mirrored, multi-worker) and the batch split.
- `step`: the `tf.function` training step (loss, gradients, all-reduce, clipping, Adam).
- `checkpoints`: the run directory: checkpoints, the latest bundle, `run.json`.
- `summaries`: TensorBoard scalars and the held-out evaluation.
- `trainer`: the loop (progress, checkpoints, signals, NaN).
- `bench`: `tfrnn bench train` (tiles/s and GFLOP/s against a dense matmul).
"""
