"""The thumbnail conv/deconv LSTM (`thumb-conv-lstm-cpu`) trained from scratch with the shipped
recipe's optimizer (Adam 1e-3 halved every 1,000 steps, batch 32, clip 1, L2 over 16
iterations; initialization seed 19 unless given, data order seed 7), its LSTM memory
normalized before the tanh of the output or not:

    python bench/ablations/ln_lstm.py {ln,control} STEPS [SEED (default 19)]

`ln`: h = o · tanh((c − mean c) / std c), mean and std over the channels at each position (the
layer-normalized memory of Ba et al. 2016, §3.1 of the LSTM variant, without a learned gain and
bias); the memory c itself is carried unnormalized. The per-iteration training loss is logged
every 50 steps; at the end, the PSNR after each iteration (sign bits) on the 24 Kodak images as
32×32 thumbnails. A one-off experiment: `ConvLSTMCell.call` is replaced in this process only,
nothing is saved.
"""

import sys

import keras
import numpy as np
from finetune import fit, make_step, training_data  # beside this file
from keras import ops

from tfrnn.bench.thumbnails import make_thumbnail
from tfrnn.cells import ConvLSTMCell
from tfrnn.images import load_image
from tfrnn.losses import per_iteration_loss
from tfrnn.model import RecurrentCodec


def normalized_memory_call(self, inputs, states):
    h, c = states
    z = self.input_conv(inputs) + self.hidden_conv(h)
    i, f, o, g = ops.split(z, 4, axis=-1)
    c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
    normalized = (c - ops.mean(c, axis=-1, keepdims=True)) / ops.sqrt(
        ops.var(c, axis=-1, keepdims=True) + 1e-5)
    h = ops.sigmoid(o) * ops.tanh(normalized)
    return h, (h, c)


variant, steps = sys.argv[1], int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 19
if variant == "ln":
    ConvLSTMCell.call = normalized_memory_call
keras.utils.set_random_seed(seed)
codec = RecurrentCodec("thumb-conv-lstm-cpu")
optimizer = keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 1000, 0.5))


step = make_step(lambda images: codec(images, training=True, iterations=16),
                 codec.to_model_space, codec.trainable_variables, optimizer, "l2", 1.0)
fit(step, training_data(True), steps)
thumbs = np.stack([make_thumbnail(load_image(f"../shared/data/kodak/kodim{i:02d}.png"), 32)
                   for i in range(1, 25)])
per = per_iteration_loss(codec.to_model_space(thumbs), codec(thumbs, iterations=16), "l2")
print("kodak-thumbs PSNR", " ".join(f"{10 * np.log10(1 / p):.2f}" for p in per.numpy()))
