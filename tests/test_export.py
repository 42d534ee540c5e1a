"""`tfrnn export` and the SavedModel it writes, checked without our code where it matters.

One tiny untrained codec with a checkerboard context model is exported once (module fixture)
through the command line. A fresh Python process that cannot import tfrnn loads the SavedModel
twice: with `tf.saved_model.load` (every signature, on a real photo, and bad inputs) and with a
TF1 Session as TensorFlow Serving does (the warmup records are replayed that way). The results
are compared here with the in-process codec.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from export.op_check import graph_ops, non_stock_ops
from export.savedmodel import ServingModule
from export.standin import StandInServer
from export.warmup import WARMUP_FILE
from export.writer import METADATA_FILE
from tfrnn import cli, file_format
from tfrnn.bundle import Bundle, load_bundle, save_bundle
from tfrnn.codec import Codec
from tfrnn.configs import CodecConfig, get_config
from tfrnn.context_model import make_context_model
from tfrnn.images import encode_png
from tfrnn.integer_context import integer_context_model
from tfrnn.model import RecurrentCodec
from tfrnn.range_coding import (
    entropy_coder,
    integer_table_index,
    payloads_from_table_indices,
    table_probabilities,
)

NAME = "tiny"
T = 3              # iterations used in the checks
MAX_ITERATIONS = 4  # --max-iterations of the export (the config trains 6)
TILE = 64           # --tile-size of the export: the photo (80 x 130) is 2 x 3 tiles
SIGNATURES = {"serving_default", "decompress", "encode", "decode", "bit_probabilities"}
FRESH_PROCESS_TIMEOUT = 240

# -- run in a fresh interpreter (-I -S: no PYTHONPATH, no .pth files, so no editable tfrnn) ---
FRESH_SCRIPT = r'''
import importlib.util, json, sys
spec = json.loads(sys.argv[1])
sys.path.append(spec["site"])
result = {"tfrnn_spec": importlib.util.find_spec("tfrnn") is not None,
          "export_spec": importlib.util.find_spec("export") is not None}
try:
    import tfrnn
    result["import_tfrnn"] = "imported"
except ModuleNotFoundError as e:
    result["import_tfrnn"] = str(e)
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import op_def_pb2
from tensorflow.python.client import pywrap_tf_session as c
from tensorflow_serving.apis import prediction_log_pb2


def registered():
    buf = c.TF_GetAllOpList()
    try:
        return {op.name for op in op_def_pb2.OpList.FromString(c.TF_GetBuffer(buf)).op}
    finally:
        c.TF_DeleteBuffer(buf)


stock = registered()
model = tf.saved_model.load(spec["model"])
sig = model.signatures
result["signatures"] = sorted(sig)
out = {}
png = open(spec["png"], "rb").read()
k = tf.constant(spec["T"])
r = sig["serving_default"](image_bytes=tf.constant(png), iterations=k)
out.update({"compress/" + n: v.numpy() for n, v in r.items()})
j = sig["serving_default"](image_bytes=tf.constant(open(spec["jpeg"], "rb").read()),
                           iterations=tf.constant(1))
out.update({"jpeg/" + n: j[n].numpy() for n in ("code_shape", "height", "width")})
for t in (spec["T"], 1):
    d = sig["decompress"](codes_bytes=r["codes_bytes"], height=r["height"], width=r["width"],
                          iterations=tf.constant(t))
    out[f"decompress{t}/image"] = tf.io.decode_png(d["image_bytes"]).numpy()
    out[f"decompress{t}/codec_fingerprint"] = d["codec_fingerprint"].numpy()
batch = np.load(spec["batch"])
e = sig["encode"](images=tf.constant(batch), iterations=k)
out["encode/codes"] = e["codes"].numpy()
size = dict(height=tf.constant(batch.shape[1]), width=tf.constant(batch.shape[2]))
out["decode/images"] = sig["decode"](codes=e["codes"], **size)["images"].numpy()
p = sig["bit_probabilities"](codes=e["codes"])
out.update({"probabilities/" + n: v.numpy() for n, v in p.items()})
bits = np.unpackbits(np.frombuffer(r["codes_bytes"].numpy(), np.uint8))
single = bits.astype(np.float32).reshape(r["code_shape"].numpy())[None] * 2 - 1
cells = spec["tile_cells"]  # the tiles' code maps, coded apart as `tfrnn compress` does
tiles = [single[:, :, y:y + cells, x:x + cells] for y in range(0, single.shape[2], cells)
         for x in range(0, single.shape[3], cells)]
for i, codes in enumerate(tiles):
    s = sig["bit_probabilities"](codes=tf.constant(codes))
    out.update({f"tile{i}/" + n: s[n].numpy() for n in ("logits", "table_index")})

errors = {}


def invalid(name, fn, **kw):
    try:
        fn(**kw)
        errors[name] = "no error"
    except tf.errors.InvalidArgumentError as e:
        errors[name] = "InvalidArgument: " + e.message
    except Exception as e:
        errors[name] = f"{type(e).__name__}: {e}"


top = spec["max"]
invalid("not_an_image", sig["serving_default"], image_bytes=tf.constant(b"not an image"),
        iterations=k)
invalid("empty_bytes", sig["serving_default"], image_bytes=tf.constant(b""), iterations=k)
invalid("iterations_0", sig["serving_default"], image_bytes=tf.constant(png),
        iterations=tf.constant(0))
invalid("iterations_over", sig["serving_default"], image_bytes=tf.constant(png),
        iterations=tf.constant(top + 1))
invalid("encode_iterations_over", sig["encode"], images=tf.constant(batch),
        iterations=tf.constant(top + 1))
invalid("decompress_truncated", sig["decompress"],
        codes_bytes=tf.constant(r["codes_bytes"].numpy()[:-1]), height=r["height"],
        width=r["width"], iterations=k)
invalid("decompress_more_than_held", sig["decompress"], codes_bytes=r["codes_bytes"],
        height=r["height"], width=r["width"], iterations=tf.constant(spec["T"] + 1))
invalid("decompress_bad_height", sig["decompress"], codes_bytes=r["codes_bytes"],
        height=tf.constant(-5), width=r["width"], iterations=k)
invalid("decompress_huge_width", sig["decompress"], codes_bytes=r["codes_bytes"],
        height=r["height"], width=tf.constant(2**31 - 1), iterations=k)
invalid("decode_wrong_size", sig["decode"], codes=e["codes"], height=size["height"] * 2,
        width=size["width"])
invalid("decode_no_iteration", sig["decode"], codes=e["codes"][:, :0], **size)
result["errors"] = errors

# Replay the warmup records the way TF Serving runs a request: a TF1 Session on the
# signature's tensor names.
runs = []
logs = [prediction_log_pb2.PredictionLog.FromString(x.numpy())
        for x in tf.data.TFRecordDataset(spec["warmup"])]
with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
    graph = tf.compat.v1.saved_model.loader.load(sess, ["serve"], spec["model"])
    for log in logs:
        request = log.predict_log.request
        sd = graph.signature_def[request.model_spec.signature_name]
        feed = {sd.inputs[n].name: tf.make_ndarray(v) for n, v in request.inputs.items()}
        names = sorted(sd.outputs)
        got = dict(zip(names, sess.run([sd.outputs[n].name for n in names], feed)))
        want = {n: tf.make_ndarray(v) for n, v in log.predict_log.response.outputs.items()}
        runs.append((request.model_spec.signature_name, got, want))
replays = []
for signature, got, want in runs:
    same = sorted(got) == sorted(want)
    for n in want:
        a, b = (np.asarray(x, object if isinstance(x, bytes) else None)
                for x in (got.get(n), want[n]))
        if n == "image_bytes":
            a, b = (tf.io.decode_png(x.item()).numpy() for x in (a, b))
        if a.dtype.kind in "OS":
            same &= a.shape == b.shape and bool(np.all(a == b))
        else:
            same &= a.shape == b.shape and bool(np.allclose(
                a.astype(np.float64), b.astype(np.float64),
                atol=1.0 if a.dtype == np.uint8 else 1e-5, rtol=0))
    replays.append({"signature": signature, "same": bool(same)})
result["replays"] = replays

import tensorflow_compression_ops  # registers its custom ops

result["stock_ops"] = sorted(stock)
result["tfc_ops"] = sorted(registered() - stock)
np.savez(spec["out"], **out)
print("RESULT " + json.dumps(result))
'''


# -- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def photo(astronaut):
    """A real photo crop whose width is not a multiple of the stride (80 × 130)."""
    return astronaut[100:180, 200:330]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(bundle dir, model base path, version dir) of one export through `tfrnn export`."""
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("export")
    codec = RecurrentCodec(get_config("tiny-lstm-additive").replace(iterations=6))
    context = make_context_model("checkerboard", bits=32, filters=8, memory_units=8)
    bundle_dir = save_bundle(root / "bundle", Bundle(codec, context, {"step": 7}))
    base = root / "models"
    assert cli.run("export.cli:main", [
        "--checkpoint", str(bundle_dir), "--model-base-path", str(base), "--name", NAME,
        "--max-iterations", str(MAX_ITERATIONS), "--tile-size", str(TILE)]) == 0
    return bundle_dir, base, base / NAME / "1"


@pytest.fixture(scope="module")
def bundle(exported) -> Bundle:
    return load_bundle(exported[0])


@pytest.fixture(scope="module")
def batch(astronaut):
    return np.stack([astronaut[:48, :64], astronaut[300:348, 100:164]])


@pytest.fixture(scope="module")
def tiled(bundle) -> Codec:
    """`tfrnn compress`'s codec with the export's tile size."""
    codec = Codec(bundle)
    codec.tile = TILE
    return codec


@pytest.fixture(scope="module")
def reference(bundle, tiled, photo, batch):
    """What the in-process codec and context model give (traced, like the export)."""
    codec = bundle.codec
    encode = tf.function(lambda x, k: codec.encode(x, k))
    decode = tf.function(lambda c, h, w: codec.decode(c, h, w))
    batch_codes = encode(batch, tf.constant(T)).numpy()
    raw = tiled.compress(photo, T, raw=True)
    return {
        "codes": tiled.encode(photo, T)[0],
        "decoded": tiled.decompress(raw),
        "decoded_1": tiled.decompress(raw, 1),
        "batch_codes": batch_codes.transpose(1, 0, 2, 3, 4),
        "batch_decoded": decode(batch_codes, batch.shape[1], batch.shape[2]).numpy(),
        "probabilities": bundle.context_model.probabilities(batch_codes).numpy().transpose(
            1, 0, 2, 3, 4),
    }


@pytest.fixture(scope="module")
def fresh(exported, photo, batch, tmp_path_factory):
    """Run FRESH_SCRIPT in an interpreter that cannot import tfrnn; (result, arrays)."""
    _, _, version_dir = exported
    work = tmp_path_factory.mktemp("fresh")
    (work / "photo.png").write_bytes(encode_png(photo))
    (work / "photo.jpg").write_bytes(tf.io.encode_jpeg(photo, quality=90).numpy())
    np.save(work / "batch.npy", batch)
    spec = {"site": sysconfig.get_paths()["purelib"], "model": str(version_dir), "T": T,
            "max": MAX_ITERATIONS, "png": str(work / "photo.png"),
            "jpeg": str(work / "photo.jpg"), "batch": str(work / "batch.npy"),
            "warmup": str(version_dir / WARMUP_FILE), "out": str(work / "out.npz"),
            "tile_cells": TILE // load_bundle(exported[0]).codec.stride}
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", FRESH_SCRIPT, json.dumps(spec)],
                          cwd=work, capture_output=True, text=True,
                          timeout=FRESH_PROCESS_TIMEOUT,
                          env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"})
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):]), dict(np.load(work / "out.npz"))


# -- the fresh process: no tfrnn, every signature, compared with the codec -----------------------

def test_fresh_process_cannot_import_tfrnn(fresh):
    result, _ = fresh
    assert not result["tfrnn_spec"] and not result["export_spec"]
    assert result["import_tfrnn"] == "No module named 'tfrnn'"


def test_every_signature_is_exported(fresh):
    assert set(fresh[0]["signatures"]) == SIGNATURES


def test_compress_codes_are_bit_identical(fresh, reference, bundle, photo):
    _, out = fresh
    codes = reference["codes"]
    assert (codes > 0).any() and (codes < 0).any()
    assert out["compress/tile_size"] == TILE and out["compress/stride"] == bundle.codec.stride
    assert out["compress/codes_bytes"].item() == np.packbits(codes.reshape(-1) > 0).tobytes()
    assert list(out["compress/code_shape"]) == list(codes.shape)
    assert (out["compress/height"], out["compress/width"]) == photo.shape[:2]
    assert out["compress/iterations"] == T
    assert out["compress/model_fingerprint"].item().decode() == bundle.fingerprint
    assert out["compress/codec_fingerprint"].item().decode() == bundle.codec.fingerprint()


def test_compress_accepts_jpeg(fresh, reference, photo):
    _, out = fresh
    assert list(out["jpeg/code_shape"]) == [1, *reference["codes"].shape[1:]]
    assert (out["jpeg/height"], out["jpeg/width"]) == photo.shape[:2]


def assert_close_images(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_decompress_matches_codec(fresh, reference):
    _, out = fresh
    assert_close_images(out[f"decompress{T}/image"], reference["decoded"])
    assert_close_images(out["decompress1/image"], reference["decoded_1"])


def test_encode_decode_match_codec(fresh, reference):
    _, out = fresh
    assert np.array_equal(out["encode/codes"], reference["batch_codes"])
    assert_close_images(out["decode/images"], reference["batch_decoded"])


def test_bit_probabilities_match_context_model(fresh, reference):
    _, out = fresh
    np.testing.assert_allclose(out["probabilities/probabilities"], reference["probabilities"],
                               atol=1e-5)
    p = reference["probabilities"]
    np.testing.assert_allclose(out["probabilities/logits"], np.log(p / (1 - p)), atol=1e-3)


def test_served_outputs_rebuild_the_files_of_tfrnn_compress(fresh, bundle, tiled, photo):
    """A client with the range coder gets exactly `tfrnn compress`'s files (raw and portable
    entropy-coded), tile by tile, from the served codes and table indices."""
    from export.client import raw_file
    from tfrnn import tiling

    _, out = fresh
    height, width = photo.shape[:2]
    stride = bundle.codec.stride
    data = out["compress/codes_bytes"].item()
    raw = raw_file(data, T, height, width, TILE, stride, tiled.model_id("raw"))
    assert raw[8] == 3 and raw == tiled.compress(photo, T, raw=True)
    codes = np.unpackbits(np.frombuffer(data, np.uint8)).astype(np.float32) * 2 - 1
    codes = codes.reshape(out["compress/code_shape"])
    payloads = [[] for _ in range(T)]
    for tile in tiling.grid(height, width, TILE):
        part = codes[(slice(None),) + tile.cells(stride)]
        for t, payload in enumerate(payloads_from_table_indices(
                part, out[f"tile{tile.index}/table_index"][0], bundle.context_model.groups)):
            payloads[t].append(payload)
    mode = "checkerboard-integer"
    header = file_format.Header(mode, tiled.model_id(mode), height, width, tile=TILE)
    assert tiled.default_mode == mode
    assert (file_format.write(header, [file_format.join_tiles(p) for p in payloads])
            == tiled.compress(photo, T))


def test_served_table_index_is_the_integer_coders(fresh, bundle, reference):
    """`table_index` from the SavedModel in a fresh process is exactly what the integer
    model's coder uses: its payloads rebuild from it, and its probabilities are the tables'."""
    _, out = fresh
    integer = integer_context_model(bundle.context_model)
    want = integer_table_index(integer.logits(reference["batch_codes"].transpose(
        1, 0, 2, 3, 4)), integer.logit_bits).numpy().transpose(1, 0, 2, 3, 4)
    np.testing.assert_array_equal(out["probabilities/table_index"], want)
    np.testing.assert_array_equal(out["probabilities/table_probability"],
                                  table_probabilities().astype(np.float32)[want])
    codes = reference["codes"][:, :TILE // bundle.codec.stride, :TILE // bundle.codec.stride]
    assert payloads_from_table_indices(codes, out["tile0/table_index"][0],
                                       bundle.context_model.groups) == entropy_coder(
        integer).encode(codes)


@pytest.mark.parametrize("case, message", [
    ("not_an_image", "Unknown image file format"),
    ("empty_bytes", ""),
    ("iterations_0", "iterations must be >= 1"),
    ("iterations_over", f"iterations must be <= {MAX_ITERATIONS}"),
    ("encode_iterations_over", f"iterations must be <= {MAX_ITERATIONS}"),
    ("decompress_truncated", "not a whole number of iterations"),
    ("decompress_more_than_held", "fewer iterations than asked"),
    ("decompress_bad_height", "height must be >= 1"),
    ("decompress_huge_width", "height and width must be <="),
    ("decode_wrong_size", "codes do not match height and width"),
    ("decode_no_iteration", "codes hold no iteration"),
])
def test_bad_input_in_the_graph_is_invalid_argument(fresh, case, message):
    error = fresh[0]["errors"][case]
    assert error.startswith("InvalidArgument: ") and message in error, error


def test_warmup_records_replay_in_a_tf1_session(fresh):
    replays = fresh[0]["replays"]
    assert {r["signature"] for r in replays} == SIGNATURES
    assert all(r["same"] for r in replays), replays


def test_graph_has_only_stock_ops(fresh, exported):
    result, _ = fresh
    ops = graph_ops(exported[2])
    assert {"Conv2D", "While", "DecodeImage", "EncodePng"} <= ops
    assert ops <= set(result["stock_ops"]), sorted(ops - set(result["stock_ops"]))
    assert {"EntropyEncodeIndex", "CreateRangeEncoder"} <= set(result["tfc_ops"])
    assert not ops & set(result["tfc_ops"])
    assert non_stock_ops(ops) == []


def test_op_check_flags_custom_ops():
    assert non_stock_ops({"Conv2D", "EntropyEncodeIndex", "NoSuchOp"}) == [
        "EntropyEncodeIndex", "NoSuchOp"]


# -- the files TF Serving reads -----------------------------------------------------------------

def test_metadata_asset(exported, bundle):
    meta = json.loads((exported[2] / METADATA_FILE).read_text())
    assert meta["fingerprint"] == bundle.fingerprint
    assert meta["codec_fingerprint"] == bundle.codec.fingerprint()
    assert meta["training_step"] == 7
    assert CodecConfig.from_dict(meta["config"]) == bundle.codec.codec_config
    assert meta["max_iterations"] == MAX_ITERATIONS
    assert meta["context_model"] == {"present": True, "class": "CheckerboardContextModel",
                                     "kind": "checkerboard"}
    assert set(meta["signatures"]) == SIGNATURES
    assert meta["signatures"]["encode"]["inputs"]["images"] == {
        "dtype": "uint8", "shape": [None, None, None, 3]}


def test_no_context_model_omits_bit_probabilities(bundle):
    module = ServingModule(bundle.codec, None, 2, bundle.codec.fingerprint())
    assert set(module.signatures()) == SIGNATURES - {"bit_probabilities"}


@pytest.mark.parametrize("config", [
    get_config("tiny-residual-gru-residual-scaling"),
    get_config("tiny-lstm-additive").replace(priming=1, diffusion=1, diffusion_until=2)])
def test_other_cells_and_residual_scaling_export_with_stock_ops(config, astronaut, tmp_path):
    """The residual GRU and the residual-scaling gain network export too, and so do extra
    steps up to an iteration (codes equal, past that iteration too)."""
    codec = RecurrentCodec(config)
    module = ServingModule(codec, None, 3, codec.fingerprint())
    tf.saved_model.save(module, str(tmp_path), signatures=module.signatures())
    assert non_stock_ops(graph_ops(tmp_path)) == []
    images = astronaut[None, :40, :56]
    served = tf.saved_model.load(str(tmp_path)).signatures["encode"](
        images=tf.constant(images), iterations=tf.constant(3))["codes"].numpy()
    codes = tf.function(lambda x: codec.encode(x, 3))(images).numpy()
    assert np.array_equal(served, codes.transpose(1, 0, 2, 3, 4))


def test_export_leaves_only_the_version_directory(exported):
    _, base, _ = exported
    assert [p.name for p in (base / NAME).iterdir()] == ["1"]


def _saved_model_cli(*args: str) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).parent / "saved_model_cli"
    return subprocess.run([str(tool), *args], capture_output=True, text=True, timeout=180,
                          env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"})


def _parse_show(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    """saved_model_cli show --all -> {signature: {"inputs/NAME": (dtype, shape)}}."""
    found: dict[str, dict[str, tuple[str, str]]] = {}
    blocks = re.split(r"signature_def\['([^']+)'\]:", text.split("Concrete Functions:")[0])
    for name, body in zip(blocks[1::2], blocks[2::2], strict=True):
        found[name] = {f"{kind}/{key}": (dtype, shape) for kind, key, dtype, shape in re.findall(
            r"(inputs|outputs)\['([^']+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (.*)", body)}
    return found


def test_saved_model_cli_show_lists_signatures(exported):
    proc = _saved_model_cli("show", "--all", "--dir", str(exported[2]))
    assert proc.returncode == 0, proc.stderr[-2000:]
    shown = _parse_show(proc.stdout)
    scalar_int, scalar_str = ("DT_INT32", "()"), ("DT_STRING", "()")
    codes = ("DT_FLOAT", "(-1, -1, -1, -1, 32)")
    fingerprints = {"outputs/model_fingerprint": scalar_str,
                    "outputs/codec_fingerprint": scalar_str,
                    "outputs/tile_size": scalar_int, "outputs/stride": scalar_int}
    assert {k: v for k, v in shown.items() if not k.startswith("__")} == {
        "serving_default": {"inputs/image_bytes": scalar_str, "inputs/iterations": scalar_int,
                            "outputs/codes_bytes": scalar_str, "outputs/height": scalar_int,
                            "outputs/width": scalar_int, "outputs/iterations": scalar_int,
                            "outputs/code_shape": ("DT_INT32", "(4)"), **fingerprints},
        "decompress": {"inputs/codes_bytes": scalar_str, "inputs/height": scalar_int,
                       "inputs/width": scalar_int, "inputs/iterations": scalar_int,
                       "outputs/image_bytes": scalar_str, **fingerprints},
        "encode": {"inputs/images": ("DT_UINT8", "(-1, -1, -1, 3)"),
                   "inputs/iterations": scalar_int, "outputs/codes": codes},
        "decode": {"inputs/codes": codes, "inputs/height": scalar_int,
                   "inputs/width": scalar_int, "outputs/images": ("DT_UINT8", "(-1, -1, -1, 3)")},
        "bit_probabilities": {"inputs/codes": codes, "outputs/probabilities": codes,
                              "outputs/logits": codes, "outputs/table_probability": codes,
                              "outputs/table_index": ("DT_INT32", codes[1]),
                              "outputs/context_kind": scalar_str,
                              "outputs/context_groups": scalar_int},
    }


def test_saved_model_cli_run_serving_default(exported, photo, reference, tmp_path):
    np.save(tmp_path / "image.npy", np.array(encode_png(photo)))
    proc = _saved_model_cli(
        "run", "--dir", str(exported[2]), "--tag_set", "serve",
        "--signature_def", "serving_default", "--inputs", f"image_bytes={tmp_path / 'image.npy'}",
        "--input_exprs", f"iterations={T}", "--outdir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    packed = np.load(tmp_path / "out" / "codes_bytes.npy", allow_pickle=True).item()
    assert packed == np.packbits(reference["codes"].reshape(-1) > 0).tobytes()


# -- bad input to `tfrnn export`: one line, exit 2 ----------------------------------------------

@pytest.fixture(scope="module")
def foreign_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("foreign")
    (path / "model.json").write_text(json.dumps({"format": "something-else"}))
    return path


@pytest.mark.parametrize("case, message", [
    ("missing", "no such model"),
    ("foreign", "not a tfrnn model"),
    ("existing", "already exists"),
    ("bad_name", "bad model name"),
    ("slash_name", "bad model name"),
    ("zero_version", "versions are positive integers"),
    ("zero_iterations", "--max-iterations 0"),
    ("no_flags", "required"),
])
def test_export_bad_input_is_one_line(case, message, exported, foreign_dir, tmp_path, capsys):
    bundle_dir, base, _ = exported
    args = {"--checkpoint": str(bundle_dir), "--model-base-path": str(base), "--name": NAME}
    if case == "missing":
        args["--checkpoint"] = str(tmp_path / "nothing-here")
        args["--name"] = "other"
    elif case == "foreign":
        args["--checkpoint"] = str(foreign_dir)
        args["--name"] = "other"
    elif case == "existing":
        args["--version"] = "1"
    elif case == "bad_name":
        args["--name"] = "../escape"
    elif case == "slash_name":
        args["--name"] = "a/b"
    elif case == "zero_version":
        args["--version"] = "0"
    elif case == "zero_iterations":
        args["--max-iterations"] = "0"
    argv = [] if case == "no_flags" else [x for kv in args.items() for x in kv]
    assert cli.run("export.cli:main", argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("tfrnn: error: ") and message in err, err
    assert sorted(p.name for p in (base / NAME).iterdir()) == ["1"]
    assert not (base / "other").exists()


def test_next_free_version(tmp_path):
    from export.cli import version_dir

    for name in ("1", "3", "tmp", ".4.abc.tmp"):
        (tmp_path / "m" / name).mkdir(parents=True)
    assert version_dir(tmp_path, "m", None) == (tmp_path / "m" / "4", 4)
    assert version_dir(tmp_path, "new", None) == (tmp_path / "new" / "1", 1)
    assert version_dir(tmp_path, "m", 2) == (tmp_path / "m" / "2", 2)


def test_failed_export_leaves_nothing(exported, tmp_path, monkeypatch):
    """The version directory appears only when complete (temporary name, then rename)."""
    import export.writer

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(export.writer, "write_warmup", fail)
    with pytest.raises(OSError, match="simulated"):
        cli.run("export.cli:main", ["--checkpoint", str(exported[0]), "--model-base-path",
                                    str(tmp_path), "--name", NAME, "--max-iterations", "1"])
    assert list((tmp_path / NAME).iterdir()) == []


# -- the REST client against a stand-in server (NOT TensorFlow Serving: see export/standin.py) --

@pytest.fixture(scope="module")
def server(exported):
    with StandInServer(exported[1], NAME, lifetime=300) as stand_in:
        yield stand_in


def run_client(*argv: str) -> int:
    return cli.run("export.client:main", list(argv))


def test_client_round_trip(server, photo, reference, tiled, tmp_path, capsys):
    (tmp_path / "in.png").write_bytes(encode_png(photo))
    common = ("--server", server.url, "--name", NAME)
    assert run_client("compress", *common, "--iterations", str(T), "--raw",
                      str(tmp_path / "in.png"), str(tmp_path / "out.tfrnn")) == 0
    data = (tmp_path / "out.tfrnn").read_bytes()
    assert data[8] == 3 and data == tiled.compress(photo, T, raw=True)
    assert run_client("decompress", *common, str(tmp_path / "out.tfrnn"),
                      str(tmp_path / "out.png")) == 0
    assert run_client("decompress", *common, "--iterations", "1", str(tmp_path / "out.tfrnn"),
                      str(tmp_path / "out1.png")) == 0
    decoded = tf.io.decode_png((tmp_path / "out.png").read_bytes()).numpy()
    assert_close_images(decoded, reference["decoded"])
    decoded = tf.io.decode_png((tmp_path / "out1.png").read_bytes()).numpy()
    assert_close_images(decoded, reference["decoded_1"])
    assert "tfrnn: error" not in capsys.readouterr().err


def test_client_entropy_coded_round_trip(server, photo, tiled, tmp_path, capsys):
    """By default the client writes `tfrnn compress`'s portable file byte for byte (2 x 3
    tiles, mode 3: the server's table indices, range-coded here), and decodes its first
    iterations as `tfrnn decompress` does, asking for each pass's tables as the decoding
    proceeds (16 requests per iteration and tile here: 192)."""
    (tmp_path / "in.png").write_bytes(encode_png(photo))
    common = ("--server", server.url, "--name", NAME)
    assert run_client("compress", *common, "--iterations", str(T), str(tmp_path / "in.png"),
                      str(tmp_path / "out.tfrnn")) == 0
    data = (tmp_path / "out.tfrnn").read_bytes()
    assert file_format.parse(data).header.mode == "checkerboard-integer"
    assert data == tiled.compress(photo, T)
    assert "checkerboard-integer mode" in capsys.readouterr().out
    assert run_client("decompress", *common, "--iterations", "2", str(tmp_path / "out.tfrnn"),
                      str(tmp_path / "out.png")) == 0
    assert_close_images(tf.io.decode_png((tmp_path / "out.png").read_bytes()).numpy(),
                        tiled.decompress(data, 2))
    assert "tfrnn: error" not in capsys.readouterr().err


def _tampered(data: bytes) -> bytes:
    """`data` with the first byte of its first tile's first payload flipped."""
    container = file_format.parse(data)
    parts = [list(p) for p in container.parts]
    parts[0][0] = bytes([parts[0][0][0] ^ 0xFF]) + parts[0][0][1:]
    return file_format.write(container.header, [file_format.join_tiles(p) for p in parts])


@pytest.mark.parametrize("case, message", [
    ("not_an_image", "HTTP 400: Unknown image file format"),
    ("too_many_iterations", f"HTTP 400: assertion failed: [iterations must be <= {MAX_ITERATIONS}"),
    ("unknown_model", "HTTP 404"),
    ("unreachable", "cannot reach"),
    ("not_a_tfrnn_file", "not a tfrnn file"),
    ("adaptive_file", "spatially adaptive; the server decodes files that code every block"),
    ("other_tiles", "coded in tiles of the whole image; the server codes tiles of 64 px"),
    ("missing_input", "no such file"),
    ("tampered_integer_file", "iteration 1, tile 1: entropy decoding failed"),
    ("integer_file_of_another_model", "was made by model 00000000"),
    ("float_mode_file", "float context model (checkerboard), whose probabilities are not"),
    ("raster_integer_file", "raster-integer; the client would need one request per code"),
])
def test_client_errors_are_one_line(case, message, server, tiled, photo, tmp_path, capsys):
    (tmp_path / "junk.png").write_bytes(b"this is not an image")
    url, name, action, iterations = server.url, NAME, "compress", "2"
    source = tmp_path / "junk.png"
    if case == "not_an_image":
        pass
    elif case == "too_many_iterations":
        (tmp_path / "ok.png").write_bytes(encode_png(np.zeros((16, 16, 3), np.uint8)))
        source, iterations = tmp_path / "ok.png", str(MAX_ITERATIONS + 1)
    elif case == "unknown_model":
        name = "nope"
    elif case == "unreachable":
        url = "http://127.0.0.1:9"
    elif case == "not_a_tfrnn_file":
        action = "decompress"
    elif case == "adaptive_file":
        action, source = "decompress", tmp_path / "a.tfrnn"
        source.write_bytes(file_format.write(
            file_format.Header("raw", bytes(16), 16, 16, adaptive=True), [bytes(4)]))
    elif case == "other_tiles":
        action, source = "decompress", tmp_path / "whole.tfrnn"
        source.write_bytes(file_format.write(file_format.Header("raw", bytes(16), 80, 130),
                                             [bytes(80)]))
    elif case == "missing_input":
        source = tmp_path / "absent.png"
    elif case == "tampered_integer_file":
        action, source = "decompress", tmp_path / "tampered.tfrnn"
        source.write_bytes(_tampered(tiled.compress(photo, 1)))
    elif case in ("integer_file_of_another_model", "float_mode_file", "raster_integer_file"):
        mode = {"integer_file_of_another_model": "checkerboard-integer",
                "float_mode_file": "checkerboard", "raster_integer_file": "raster-integer"}[case]
        action, source = "decompress", tmp_path / "other.tfrnn"
        header = file_format.Header(mode, bytes(16), 80, 130, tile=64 if "-" in mode else 0)
        payload = file_format.join_tiles([bytes(3)] * 6) if header.tiles > 1 else bytes(3)
        source.write_bytes(file_format.write(header, [payload]))
    argv = [action, "--server", url, "--name", name, str(source), str(tmp_path / "out")]
    if action == "compress":
        argv += ["--iterations", iterations]
    assert run_client(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_standin_metadata_and_rest_errors(server):
    import urllib.error
    import urllib.request

    def get(path: str):
        with urllib.request.urlopen(server.url + path, timeout=30) as answer:
            return json.loads(answer.read())

    status = get(f"/v1/models/{NAME}")
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    defs = get(f"/v1/models/{NAME}/versions/1/metadata")["metadata"]["signature_def"][
        "signature_def"]
    assert set(defs) == SIGNATURES
    assert defs["serving_default"]["inputs"]["image_bytes"]["dtype"] == "DT_STRING"
    request = urllib.request.Request(
        server.url + f"/v1/models/{NAME}:predict", headers={"Content-Type": "application/json"},
        data=json.dumps({"signature_name": "nope", "inputs": {}}).encode())
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 400 and "not found in signature def" in json.loads(
        info.value.read())["error"]

