"""The thumbnail conv LSTM with its own binarizer projection and output layer per iteration
(copies of the shared ones to start from), fine-tuned like `finetune.py stoch OUT 1000 2e-4
thumb-conv-lstm 16 uniform`, its control (bench/results/iteration-stats/):

    python bench/ablations/iteration_heads.py STEPS LR INIT {both,proj,rgb}

A one-off experiment (the additive update of `RecurrentCodec.decode_step` written out, without
priming or stopped blocks); nothing is saved, the per-iteration loss is logged every 50 steps.
"""
import sys

import keras
import tensorflow as tf
from finetune import fit, make_step, training_data  # beside this file

from tfrnn.binarizer import binarize
from tfrnn.bundle import load_bundle

steps, lr, init = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
which = sys.argv[4]  # both | proj | rgb
T = 16
keras.utils.set_random_seed(7)
b = load_bundle(init)
codec = b.codec
proj = codec.binarizer.projection
rgb = codec.decoder.to_rgb
Wp = [keras.Variable(proj.kernel.numpy(), name=f"wp{t}") for t in range(T)]
Wr = [keras.Variable(rgb.kernel.numpy(), name=f"wr{t}") for t in range(T)]
Br = [keras.Variable(rgb.bias.numpy(), name=f"br{t}") for t in range(T)]
shared = {id(v) for v in ([proj.kernel] if which in ("both", "proj") else [])
          + ([rgb.kernel, rgb.bias] if which in ("both", "rgb") else [])}
variables = [v for v in codec.trainable_variables if id(v) not in shared]
if which in ("both", "proj"):
    variables += Wp
if which in ("both", "rgb"):
    variables += Wr + Br
opt = keras.optimizers.Adam(lr)
gen = keras.random.SeedGenerator(7)

def forward(images):
    x = codec.pad(codec.to_model_space(images))
    rec, es, dsx = codec.initial_state(x)
    outs = []
    for t in range(T):
        features, _, es = codec.propose(x, rec, es, codec.extra_steps(t))
        k = Wp[t] if which in ("both", "proj") else proj.kernel
        lat = tf.tanh(tf.nn.conv2d(features, k, 1, "SAME"))
        bits = binarize(lat, True, gen)
        h, dsx = codec.decoder._run_cells(codec.decoder.stem(bits), dsx)
        if which in ("both", "rgb"):
            out = 0.5 * tf.tanh(tf.nn.conv2d(h, Wr[t], 1, "SAME") + Br[t])
        else:
            out = 0.5 * tf.tanh(rgb(h))
        rec = rec + out
        outs.append(rec)
    return tf.stack(outs)

step = make_step(forward, codec.to_model_space, variables, opt, "l2", 1.0)
fit(step, training_data(True), steps)
