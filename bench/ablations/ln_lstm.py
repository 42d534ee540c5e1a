"""The thumbnail conv/deconv LSTM (`thumb-conv-lstm-cpu`) trained from scratch with the shipped
recipe's optimizer (Adam 1e-3 halved every 1,000 steps, batch 32, clip 1, L2 over 16
iterations; initialization seed 19 unless given, data order seed 7), its LSTM memory
normalized before the tanh of the output or not:

    python bench/ablations/ln_lstm.py {ln,control} STEPS [SEED (default 19)]

`ln`: config `thumb-conv-ln-lstm-cpu`, whose `ln-lstm` cells give h = o · tanh((c − mean c) /
std c), mean and std over the channels at each position (`tfrnn.cells.NormalizedMemoryLSTMCell`;
the first runs replaced `ConvLSTMCell.call` with the same formula); `control`:
`thumb-conv-lstm-cpu`. The per-iteration training loss is logged every 50 steps; at the end, the
PSNR after each iteration (sign bits) on the 24 Kodak images as 32×32 thumbnails. Nothing is
saved.
"""

import sys

import keras
import numpy as np
from finetune import fit, make_step, training_data  # beside this file

from tfrnn.bench.thumbnails import make_thumbnail
from tfrnn.images import load_image
from tfrnn.losses import per_iteration_loss
from tfrnn.model import RecurrentCodec

variant, steps = sys.argv[1], int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 19
keras.utils.set_random_seed(seed)
codec = RecurrentCodec({"ln": "thumb-conv-ln-lstm-cpu", "control": "thumb-conv-lstm-cpu"}[variant])
optimizer = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 1000, 0.5))


step = make_step(lambda images: codec(images, training=True, iterations=16),
                 codec.to_model_space, codec.trainable_variables, optimizer, "l2", 1.0)
fit(step, training_data(True), steps)
thumbs = np.stack([make_thumbnail(load_image(f"../shared/data/kodak/kodim{i:02d}.png"), 32)
                   for i in range(1, 25)])
per = per_iteration_loss(codec.to_model_space(thumbs), codec(thumbs, iterations=16), "l2")
print("kodak-thumbs PSNR", " ".join(f"{10 * np.log10(1 / p):.2f}" for p in per.numpy()))
