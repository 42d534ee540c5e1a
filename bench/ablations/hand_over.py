"""Iterations 1..K coded by one codec and K+1..16 by another of the same layers, the encoder's
and the decoder's states handed on (bench/results/psnr-diffusion/): does the second codec's
own training make up for what the first one's iterations changed in the states?

    python bench/ablations/hand_over.py FIRST SECOND K LIMIT OUT.json

A one-off experiment: raw PSNR (RGB) after each iteration on the first LIMIT Kodak images, sign
bits as `RecurrentCodec.encode` makes them; the per-image values and their mean go to OUT.json.
"""
import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrnn.bench.results import image_paths
from tfrnn.bundle import load_bundle
from tfrnn.images import load_image
from tfrnn.metrics import psnr_batch

ITERATIONS = 16
first, second = (load_bundle(name, with_context=False).codec for name in sys.argv[1:3])
hand_over, limit, out = int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])


@tf.function(reduce_retracing=True)
def reconstructions(images):
    """uint8 [T, 1, H, W, 3]: the reconstruction after each iteration."""
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    x = first.pad(first.to_model_space(images))
    reconstruction, enc_states, dec_states = first.initial_state(x)
    outputs = []
    for t in range(ITERATIONS):
        codec = first if t < hand_over else second
        steps = codec.extra_steps(t)
        features, gain, enc_states = codec.propose(x, reconstruction, enc_states, steps)
        bits = codec.binarizer(features, training=False)
        reconstruction, dec_states = codec.decode_step(bits, reconstruction, dec_states, gain,
                                                       steps)
        outputs.append(codec.to_uint8(reconstruction[:, :height, :width]))
    return tf.stack(outputs)


_, files = image_paths(None, ("data", "kodak"), limit, "Kodak")
per_image = []
for path in files:
    image = load_image(path)[None]
    per_image.append([float(psnr_batch(image, r)[0]) for r in reconstructions(image).numpy()])
    print(path.name, " ".join(f"{v:.2f}" for v in per_image[-1]), flush=True)
mean = np.mean(per_image, axis=0).tolist()
print("mean", " ".join(f"{v:.2f}" for v in mean))
out.write_text(json.dumps({"first": sys.argv[1], "second": sys.argv[2], "hand_over": hand_over,
                           "metric": "psnr-rgb", "coding": "raw",
                           "images": [p.name for p in files], "per_image": per_image,
                           "mean": mean}, indent=1) + "\n")
