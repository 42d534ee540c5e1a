"""Decoding entropy-coded payloads again in fresh processes under other math back-ends.

The float context models' probabilities depend on the kernels TensorFlow picks (oneDNN's
instruction set, Eigen, XLA), so a file may not decode on another machine; the integer models
(`tfrnn.integer_context`) must decode everywhere. `BACKENDS` emulates other machines on this
one: oneDNN restricted to AVX2 or SSE4.1 (`DNNL_MAX_CPU_ISA`), oneDNN off (Eigen kernels), XLA
auto-clustering, and XLA compiling the coder's network functions (`jit_compile`). On a machine
with a GPU, "gpu" runs the decoder under a GPU device scope.

`decode_elsewhere(backend, models, cases, workdir)` writes a job (models as Keras config and
weights file, payloads, expected codes), runs `decode_job` in a fresh interpreter with the
back-end's environment and this checkout first on `PYTHONPATH`, and returns one result per
case and truncation: whether the first k payloads decoded to the expected codes.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
XLA_AUTO = "--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit"
BACKENDS: dict[str, dict[str, Any]] = {
    "avx2": {"env": {"DNNL_MAX_CPU_ISA": "AVX2"}},
    "sse41": {"env": {"DNNL_MAX_CPU_ISA": "SSE41"}},
    "no-onednn": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    "xla-auto": {"env": {"TF_XLA_FLAGS": XLA_AUTO}},
    "xla-jit-compile": {"env": {}, "jit_compile": True},
}
GPU_BACKEND = {"env": {}, "device": "/GPU:0"}
TIMEOUT = 1800


def model_spec(model, weights: Path, integer: bool) -> dict[str, Any]:
    """A context model for a job: its Keras config and a weights file holding its weights
    (written here unless it exists), float or converted to integers in the child."""
    import keras

    if not weights.exists():
        model.save_weights(weights)
    return {"config": keras.saving.serialize_keras_object(model), "weights": str(weights),
            "integer": integer}


def decode_elsewhere(backend: str | dict[str, Any], models: dict[str, dict[str, Any]],
                     cases: list[dict[str, Any]], workdir: Path) -> list[dict[str, Any]]:
    """Decode `cases` ({"model": name in `models`, "payloads": [bytes], "codes": expected
    [T, h, w, bits], "truncations": [k, ...]}) in a fresh process under `backend` (a name of
    `BACKENDS` or its dict); [{"case", "k", "ok", "error"}] in order."""
    spec = BACKENDS[backend] if isinstance(backend, str) else backend
    name = backend if isinstance(backend, str) else "custom"
    workdir.mkdir(parents=True, exist_ok=True)
    np.savez(workdir / f"{name}-codes.npz", *[np.asarray(c["codes"], np.float32) for c in cases])
    job = {"models": models, "jit_compile": bool(spec.get("jit_compile")),
           "device": spec.get("device"), "codes": str(workdir / f"{name}-codes.npz"),
           "out": str(workdir / f"{name}-result.json"),
           "cases": [{"model": c["model"], "payloads": [p.hex() for p in c["payloads"]],
                      "truncations": list(c.get("truncations") or [len(c["payloads"])])}
                     for c in cases]}
    (workdir / f"{name}-job.json").write_text(json.dumps(job))
    env = {**os.environ, **spec["env"], "PYTHONPATH": str(REPO),
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from tfrnn.bench.portable import decode_job; "
         "decode_job(sys.argv[1])", str(workdir / f"{name}-job.json")],
        env=env, capture_output=True, text=True, timeout=TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"back-end {name}: the decoding process failed:\n"
                           f"{proc.stderr[-3000:]}")
    return json.loads(Path(job["out"]).read_text())


def decode_job(path: str) -> None:
    """The child: decode every case of the job at `path`, write the results beside it."""
    import keras
    import tensorflow as tf

    from tfrnn.errors import UserError
    from tfrnn.integer_context import integer_context_model
    from tfrnn.range_coding import entropy_coder

    job = json.loads(Path(path).read_text())
    coders = {}
    for name, spec in job["models"].items():
        model = keras.saving.deserialize_keras_object(spec["config"])
        model.load_weights(spec["weights"])
        coder = entropy_coder(integer_context_model(model) if spec["integer"] else model)
        if job["jit_compile"]:  # XLA-compile the network functions (not the range coder's)
            for attr in coder.network_functions:
                fn = getattr(coder, attr)
                setattr(coder, attr, tf.function(fn.python_function, jit_compile=True,
                                                 input_signature=fn.input_signature))
        coders[name] = coder
    expected = np.load(job["codes"])
    results = []
    with tf.device(job["device"]) if job["device"] else contextlib.nullcontext():
        for i, case in enumerate(job["cases"]):
            codes = expected[f"arr_{i}"]
            payloads = [bytes.fromhex(p) for p in case["payloads"]]
            active = np.any(codes != 0, axis=-1)
            for k in case["truncations"]:
                try:
                    decoded = coders[case["model"]].decode(
                        payloads[:k], codes.shape[1], codes.shape[2], active[:k])
                    ok, error = bool(np.array_equal(decoded, codes[:k])), None
                except UserError as e:
                    ok, error = False, str(e)
                results.append({"case": i, "k": k, "ok": ok, "error": error})
    Path(job["out"]).write_text(json.dumps(results))

