"""`assets.extra/tf_serving_warmup_requests`: real requests TF Serving replays when it loads.

TensorFlow Serving reads this TFRecord file of `PredictionLog` records and runs each request
once before the version takes traffic, so the first user request does not pay for graph
optimisation. Each record also stores the response the exporter computed, so a test can replay
the requests against the loaded SavedModel and compare.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def warmup_photos() -> np.ndarray:
    """Two 48×72 crops of a real photo (scikit-image's astronaut): uint8 [2, 48, 72, 3].

    72 is not a multiple of the stride, so the requests also exercise the padding path.
    """
    from skimage import data

    photo = data.astronaut()
    return np.stack([photo[96:144, 200:272], photo[300:348, 150:222]])


def _log(model_name: str, signature: str, inputs: Mapping[str, tf.Tensor],
         outputs: Mapping[str, tf.Tensor]) -> prediction_log_pb2.PredictionLog:
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    response = predict_pb2.PredictResponse(model_spec=request.model_spec)
    for key, value in outputs.items():
        response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request, response=response))


def warmup_logs(signatures: Mapping[str, tf.types.experimental.ConcreteFunction],
                max_iterations: int, model_name: str) -> list[prediction_log_pb2.PredictionLog]:
    """One or two requests per signature on real photo crops, with their responses."""
    logs = []

    def run(signature: str, **inputs) -> dict[str, np.ndarray]:
        outputs = {k: v.numpy() for k, v in signatures[signature](**inputs).items()}
        logs.append(_log(model_name, signature, {k: v.numpy() for k, v in inputs.items()},
                         outputs))
        return outputs

    photos = warmup_photos()
    height, width = tf.constant(photos.shape[1]), tf.constant(photos.shape[2])
    png = tf.io.encode_png(photos[0])
    top = tf.constant(max_iterations)
    run("serving_default", image_bytes=png, iterations=tf.constant(1))
    packed = run("serving_default", image_bytes=png, iterations=top)
    run("decompress", codes_bytes=tf.constant(packed["codes_bytes"]), height=height,
        width=width, iterations=top)
    codes = run("encode", images=tf.constant(photos),
                iterations=tf.constant(min(2, max_iterations)))["codes"]
    run("decode", codes=tf.constant(codes), height=height, width=width)
    if "bit_probabilities" in signatures:
        run("bit_probabilities", codes=tf.constant(codes))
    return logs


def write_warmup(saved_model_dir: str | os.PathLike,
                 logs: list[prediction_log_pb2.PredictionLog]) -> Path:
    """Write the records where TF Serving looks for them; returns the file's path."""
    path = Path(saved_model_dir) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path
