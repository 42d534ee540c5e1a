"""Integer context models (`tfrnn.integer_context`): exact derivation, agreement with the float
models, bit-exact round trips, and decoding in fresh processes under other math back-ends."""

from __future__ import annotations

import decimal
import hashlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfrnn.bench.portable import BACKENDS, GPU_BACKEND, decode_elsewhere, model_spec
from tfrnn.context_model import KINDS, CheckerboardNetwork, make_context_model
from tfrnn.integer_context import (
    ONE,
    WEIGHT_BITS,
    IntegerCheckerboardContextModel,
    IntegerConv,
    IntegerRasterContextModel,
    integer_context_model,
    lookup_tables,
)
from tfrnn.range_coding import (
    IntegerCheckerboardCoder,
    IntegerRasterCoder,
    entropy_coder,
    integer_table_index,
    payloads_from_table_indices,
    quantize,
)

T, H, W, BITS = 4, 5, 7, 8


@pytest.fixture(scope="module")
def models():
    """{kind: (float model, integer model)}, tiny and untrained but not trivial."""
    keras.utils.set_random_seed(3)
    out = {}
    for kind in KINDS:
        model = make_context_model(kind, bits=BITS, filters=16, memory_units=8, groups=2)
        out[kind] = model, integer_context_model(model)
    return out


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    """±1 codes [T, H, W, BITS]; from iteration 2 on, two cells are stopped (0), as a
    spatially adaptive encoder leaves them."""
    rng = np.random.default_rng(0)
    codes = np.where(rng.random((T, H, W, BITS)) < 0.3, -1.0, 1.0).astype(np.float32)
    codes[2:, 1, 2] = 0.0
    codes[3:, 4, 6] = 0.0
    return codes


def test_tables_are_correctly_rounded_and_symmetric():
    sigmoid, tanh = lookup_tables()
    for table in (sigmoid, tanh):
        assert np.all(np.diff(table) >= 0)
    np.testing.assert_array_equal(sigmoid + sigmoid[::-1], ONE)  # σ(−x) = 1 − σ(x)
    np.testing.assert_array_equal(tanh, -tanh[::-1])
    r = (len(sigmoid) - 1) // 2
    assert sigmoid[r] == ONE // 2 and tanh[(len(tanh) - 1) // 2] == 0
    context = decimal.Context(prec=50)
    for i in (0, 1, r - 7, r + 1, r + 4321, 2 * r):
        x = context.divide(decimal.Decimal(i - r), ONE)
        exact = context.divide(ONE, context.add(1, context.exp(-x)))
        assert sigmoid[i] == int(exact.to_integral_value(decimal.ROUND_HALF_EVEN))


def test_weights_are_power_of_two_scaled_integers():
    rng = np.random.default_rng(1)
    kernel = (rng.normal(size=(3, 3, 4, 5)) * [1e-3, 0.1, 1.0, 7.0, 300.0]).astype(np.float32)
    conv = IntegerConv(kernel, np.zeros(5, np.float32), 12, np.full(4, ONE))
    w = conv.kernel
    assert np.array_equal(w, np.round(w))
    peak = np.abs(w).reshape(-1, 5).max(axis=0)
    assert np.all((peak >= 2 ** (WEIGHT_BITS - 1)) & (peak <= 2 ** WEIGHT_BITS))
    exponent = np.round(np.log2(peak / np.abs(kernel).reshape(-1, 5).max(axis=0)))
    assert np.abs(w - np.ldexp(kernel.astype(np.float64), exponent.astype(int))).max() <= 0.5
    with pytest.raises(ValueError, match="exceed 2\\^53"):
        IntegerConv(kernel, np.full(5, 1e12, np.float32), 12, np.full(4, ONE))


@pytest.mark.parametrize("kind", KINDS)
def test_integer_indices_agree_with_the_float_model(models, codes, kind):
    model, integer = models[kind]
    want = quantize(model(codes[:, None])).numpy()
    got = integer_table_index(integer.logits(codes[:, None]), integer.logit_bits).numpy()
    assert got.dtype == np.int32 and got.shape == want.shape
    assert np.mean(got == want) > 0.98
    assert np.abs(got.astype(int) - want).max() <= 1


@pytest.mark.parametrize("height, width, bits, groups", [
    (H, W, BITS, 2), (1, 1, BITS, 2), (1, 4, BITS, 8), (4, 3, 12, 5)])
def test_checkerboard_passes_at_their_positions_equal_whole_convolutions(height, width, bits,
                                                                         groups):
    """The integer model computes each pass only at its parity's positions and group's
    channels (gathered windows, matmuls, shares computed once per iteration): exactly the
    integers of the shared network's passes as whole convolutions of the same layers."""
    keras.utils.set_random_seed(5)
    integer = integer_context_model(make_context_model(
        "checkerboard", bits=bits, filters=16, memory_units=8, groups=groups))
    rng = np.random.default_rng(2)
    codes = np.where(rng.random((2, height, width, bits)) < 0.3, -1.0, 1.0).astype(np.float32)
    codes[1, 0, 0] = 0.0
    features = integer.features(integer.advance(integer.initial_memory(1, height, width),
                                                codes[:1]))
    want = CheckerboardNetwork.iteration_logits(integer, features, codes[1:]).numpy()
    np.testing.assert_array_equal(integer.iteration_logits(features, codes[1:]).numpy(), want)


def test_files_of_the_shipped_model_are_unchanged():
    """The integer files' bytes are part of the format (FORMAT.md mode 3): these codes, coded
    with `default-v1`'s integer context model (the shipped `default` then), gave these bytes
    when mode 3 was introduced (the coder of main at c410b8b, before the passes were computed
    by matmuls), and decode again."""
    from tfrnn.bundle import load_bundle

    coder = entropy_coder(integer_context_model(load_bundle("default-v1").context_model))
    rng = np.random.default_rng(17)
    codes = np.where(rng.random((3, 6, 9, 32)) < 0.3, -1.0, 1.0).astype(np.float32)
    codes[1:, 2, 3] = 0.0
    codes[2:, 5, 8] = 0.0
    payloads = coder.encode(codes)
    assert [len(p) for p in payloads] == [289, 279, 264]
    assert hashlib.sha256(b"".join(payloads)).hexdigest() == (
        "c0378175a325b83c38371584672597088e96b8aaef9db09c584ef67ecc0f4ef2")
    np.testing.assert_array_equal(coder.decode(payloads, 6, 9, np.any(codes != 0, -1)), codes)


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_at_every_truncation_matches_teacher_forcing(models, codes, kind):
    """The coder's sequential steps pick exactly the teacher-forced tables (the payloads are
    those of `code_bits` with them), and every prefix of the payloads decodes exactly."""
    model, integer = models[kind]
    coder = entropy_coder(integer)
    assert type(coder) is {"checkerboard": IntegerCheckerboardCoder,
                           "raster": IntegerRasterCoder}[kind]
    payloads = coder.encode(codes)
    index = integer_table_index(integer.logits(codes[:, None]), integer.logit_bits).numpy()
    assert payloads == payloads_from_table_indices(codes, index[:, 0],
                                                   getattr(model, "groups", None))
    active = np.any(codes != 0, axis=-1)
    for k in range(1, T + 1):
        np.testing.assert_array_equal(coder.decode(payloads[:k], H, W, active[:k]), codes[:k])


def test_integer_models_pin_their_arithmetic_to_the_cpu(models, codes):
    _, integer = models["checkerboard"]
    graph = tf.function(integer.logits).get_concrete_function(
        tf.TensorSpec((T, 1, H, W, BITS), tf.float32)).graph
    convs = [op for op in graph.get_operations() if op.type == "Conv2D"]
    assert convs and all(op.device.endswith("CPU:0") for op in convs)
    assert isinstance(integer, IntegerCheckerboardContextModel)
    assert isinstance(models["raster"][1], IntegerRasterContextModel)


@pytest.fixture(scope="module")
def portable_job(models, codes, tmp_path_factory):
    """Both kinds' payloads, integer and float, and the models as files for the children."""
    work = tmp_path_factory.mktemp("portable")
    specs, cases = {}, []
    for kind, (model, integer) in models.items():
        for name, coded in ((f"{kind}-integer", integer), (f"{kind}-float", model)):
            specs[name] = model_spec(model, work / f"{kind}.weights.h5",
                                     integer=coded is integer)
            cases.append({"model": name, "payloads": entropy_coder(coded).encode(codes),
                          "codes": codes, "truncations": list(range(1, T + 1))})
    return specs, cases, work


def check_integer_cases(results, cases) -> None:
    integer_results = [r for r in results if cases[r["case"]]["model"].endswith("integer")]
    assert len(integer_results) == 2 * T
    assert all(r["ok"] for r in integer_results), integer_results


def test_integer_files_decode_under_every_backend(portable_job):
    """One fresh process per back-end decodes both kinds at every truncation; the integer
    models' codes come back exactly (the float models' results are not asserted: they may
    differ, which is the point of the integer models). About 25 s (TensorFlow starts 5 times).
    """
    specs, cases, work = portable_job
    for backend in BACKENDS:
        check_integer_cases(decode_elsewhere(backend, specs, cases, work / backend), cases)


def test_integer_files_decode_on_a_gpu(portable_job):
    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("no GPU on this machine")
    specs, cases, work = portable_job
    check_integer_cases(decode_elsewhere(GPU_BACKEND, specs, cases, work / "gpu"), cases)
