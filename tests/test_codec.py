"""The codec (compress/decompress with range coding or raw bits) and its command line.

A narrow untrained codec (6 iterations) with context models fitted for a few steps: enough to
check exactness, truncation, the rate estimate and every bad input in well under a minute.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfrnn import adaptive, cli, file_format, tiling
from tfrnn.bundle import Bundle, save_bundle
from tfrnn.codec import Codec, load_codec
from tfrnn.configs import CellSpec, get_config
from tfrnn.context_model import KINDS
from tfrnn.errors import UserError
from tfrnn.images import load_image, save_png
from tfrnn.model import RecurrentCodec
from tfrnn.training.fit import fit_context_model

ITERATIONS = 6
MODES = ("raw",) + KINDS


def tiny_codec() -> RecurrentCodec:
    config = get_config("cpu-lstm-additive").replace(
        name="test-tiny", stem_filters=8, iterations=ITERATIONS, decoder_filters=16,
        encoder=(CellSpec(16, 3, 2), CellSpec(16, 3, 2), CellSpec(16, 3, 2)),
        decoder=(CellSpec(32, 3, 1, 1, 2), CellSpec(32, 3, 1, 1, 2), CellSpec(16, 3, 1, 3, 2),
                 CellSpec(16, 3, 1, 3, 2)))
    return RecurrentCodec(config)


@pytest.fixture(scope="session")
def crops(astronaut):
    return {"small": astronaut[100:148, 200:264], "odd": astronaut[:37, 5:60],
            "pixel": astronaut[:1, :1], "medium": astronaut[:256, 256:]}


@pytest.fixture(scope="session")
def bundle_dirs(tmp_path_factory, astronaut):
    """Saved bundles of one codec: "raw" (no context model) and one per context kind."""
    keras.utils.set_random_seed(0)
    codec = tiny_codec()
    root = tmp_path_factory.mktemp("bundles")
    dirs = {"raw": save_bundle(root / "raw", Bundle(codec))}
    for kind, steps in (("checkerboard", 40), ("raster", 20)):
        model, history = fit_context_model(codec, [astronaut[:256, :256]], steps, kind=kind,
                                           crop=128, log_every=steps // 2)
        assert history["bits"][-1] < history["bits"][0]
        dirs[kind] = save_bundle(root / kind, Bundle(codec, model))
    return dirs


@pytest.fixture(scope="session")
def codecs(bundle_dirs) -> dict[str, Codec]:
    return {mode: load_codec(path) for mode, path in bundle_dirs.items()}


# -- the codec ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_round_trip_is_exact_for_every_iteration_count(codecs, crops, mode):
    codec = codecs[mode]
    for image in (crops["small"], crops["odd"]):
        data, recons = codec.compress_progressive(image, raw=mode == "raw")
        codes, _ = codec.encode(image, ITERATIONS)
        container = file_format.parse(data)
        assert container.header.mode == codec.default_mode == (
            mode if mode == "raw" else f"{mode}-integer")
        assert data[8] == (1 if mode == "raw" else 3)  # integer modes are version 3
        assert container.iterations == ITERATIONS
        for k in range(1, ITERATIONS + 1):
            np.testing.assert_array_equal(codec.decode_codes(container, k), codes[:k])
            out = codec.decompress(data, iterations=k)
            assert out.shape == image.shape and out.dtype == np.uint8
            np.testing.assert_array_equal(out, recons[k - 1])


@pytest.mark.parametrize("kind", KINDS)
def test_files_of_the_float_context_models_still_decode(codecs, crops, kind):
    """Modes 1 and 2 (what earlier releases wrote): version 1 files, decoded exactly here."""
    codec = codecs[kind]
    codec.default_mode = kind
    try:
        data, recons = codec.compress_progressive(crops["small"], 3)
    finally:
        codec.default_mode = f"{kind}-integer"
    assert data[8] == 1 and file_format.parse(data).header.mode == kind
    for k in (1, 3):
        np.testing.assert_array_equal(codec.decompress(data, k), recons[k - 1])


def test_functions_trace_once_whatever_the_size(codecs, crops):
    codec = codecs["checkerboard"]
    for image in (crops["small"], crops["odd"], crops["medium"][:80, :33]):
        codec.decompress(codec.compress(image, 2))
    coder = codec.entropy_coder
    functions = [codec._encode, codec._decode, coder._advance, coder._features, coder._tables,
                 coder._decode_passes]
    assert [f.experimental_get_tracing_count() for f in functions] == [1] * len(functions)


def test_tiny_image(codecs, crops):
    for codec in codecs.values():
        image = crops["pixel"]
        assert codec.decompress(codec.compress(image, 2)).shape == (1, 1, 3)


@pytest.mark.parametrize("mode", ["raw", "checkerboard"])
def test_truncation_equals_compressing_fewer_iterations(codecs, crops, mode):
    codec = codecs[mode]
    image = crops["small"]
    data = codec.compress(image, raw=mode == "raw")
    for k in range(1, ITERATIONS):
        fewer = codec.compress(image, k, raw=mode == "raw")
        assert file_format.truncate(data, k) == fewer
        np.testing.assert_array_equal(codec.decompress(fewer),
                                      codec.decompress(data, iterations=k))


def test_entropy_coding_saves_bits_and_raw_mode_works(codecs, crops):
    image = crops["medium"]
    raw = codecs["checkerboard"].compress(image, raw=True)
    coded = codecs["checkerboard"].compress(image)
    assert file_format.parse(raw).header.mode == "raw"
    assert len(coded) < 0.95 * len(raw)
    np.testing.assert_array_equal(codecs["checkerboard"].decompress(raw),
                                  codecs["raw"].decompress(raw))


@pytest.mark.parametrize("kind", KINDS)
def test_estimated_bits_match_the_file_size(codecs, astronaut, kind):
    """The context model's −log2 p sums to the real size within 1 % (a 512×1024 photo, whole
    file with headers, for the default kind; the payloads on a 256×256 crop for raster)."""
    codec = codecs[kind]
    image = (np.concatenate([astronaut, astronaut[:, ::-1]], axis=1) if kind == "checkerboard"
             else astronaut[:256, :256])
    data = codec.compress(image)
    codes, _ = codec.encode(image, ITERATIONS)
    estimate = float(np.sum(codec.bundle.context_model.bits_per_code(codes[:, None])))
    actual = 8 * len(data)
    if kind == "raster":
        actual = 8 * sum(len(p) for p in file_format.parse(data).payloads)
    assert abs(actual - estimate) < 0.01 * estimate, (actual, estimate)


# -- spatially adaptive files ---------------------------------------------------------------------

def median_block_snr(codec: Codec, image: np.ndarray) -> float:
    """A block SNR target that about half of `image`'s blocks reach after one iteration."""
    model = codec.model
    x = model.pad(model.to_model_space(image[None]))
    _, recons = codec.encode(image, 1)
    error = model.block_error(x, model.pad(model.to_model_space(recons[:1])))
    return float(np.median(-10 * np.log10(error.numpy())))


def test_block_error_is_squared_error_over_contrast(codecs):
    model = codecs["raw"].model
    flat = np.full((16, 16, 3), 128, np.uint8)
    busy = np.where((np.arange(16)[:, None] + np.arange(16)) % 2, 178, 78).astype(np.uint8)
    busy = np.repeat(busy[..., None], 3, axis=-1)
    original = np.concatenate([flat, busy], axis=1)[None]
    error = model.block_error(model.to_model_space(original), model.to_model_space(original + 10))
    c2 = (0.03 * 255) ** 2
    np.testing.assert_allclose(error.numpy().reshape(2), [100 / c2, 100 / (2500 + c2)], rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_adaptive_round_trip_truncation_and_stopped_blocks(codecs, crops, mode):
    codec, image = codecs[mode], crops["medium"]
    raw = mode == "raw"
    target = median_block_snr(codec, image)
    data, recons = codec.compress_progressive(image, raw=raw, block_snr=target)
    container = file_format.parse(data)
    assert data[8] == (2 if raw else 3) and container.header.adaptive
    assert container.header.mode == codec.default_mode
    codes, _ = codec.encode(image, ITERATIONS, block_snr=target)
    active = adaptive.activity(codes)
    assert active[0].all() and 0 < active[1].sum() < active[1].size
    assert np.all(active[1:] <= active[:-1])  # a stopped block never restarts
    stopped = np.repeat(np.repeat(~active[1], 16, 0), 16, 1)[: image.shape[0], : image.shape[1]]
    np.testing.assert_array_equal(recons[1][stopped], recons[0][stopped])
    assert not np.array_equal(recons[1][~stopped], recons[0][~stopped])
    for k in range(1, container.iterations + 1):
        np.testing.assert_array_equal(codec.decode_codes(container, k), codes[:k])
        np.testing.assert_array_equal(codec.decompress(data, iterations=k), recons[k - 1])
        fewer = codec.compress(image, k, raw=raw, block_snr=target)
        assert file_format.truncate(data, k) == fewer
    assert len(data) < 0.9 * len(codec.compress(image, container.iterations, raw=raw))


def test_adaptive_file_ends_when_every_block_has_stopped(codecs, crops):
    codec = codecs["checkerboard"]
    data, recons = codec.compress_progressive(crops["small"], block_snr=-30.0)
    assert file_format.parse(data).iterations == 1 and len(recons) == 1


def test_adaptive_maps_refuse_damage():
    previous = np.array([[True, False, True], [True, True, True]])
    current = previous & np.array([[True, True, False], [False, True, True]])
    payload = adaptive.pack_map(previous, current) + b"codes"
    got, rest = adaptive.split_map(payload, previous)
    np.testing.assert_array_equal(got, current)
    assert rest == b"codes"
    for cut in (payload[:2], payload[: -len(b"codes") - 1]):
        with pytest.raises(UserError, match="activity map"):
            adaptive.split_map(cut, previous)


# -- rate-distortion optimized encoding -----------------------------------------------------------

@pytest.mark.parametrize("mode,crop", [("raw", "small"), ("checkerboard", "medium")])
def test_optimized_files_decode_exactly_and_the_search_beats_the_proposal(codecs, crops, mode,
                                                                          crop):
    codec, image = codecs[mode], crops[crop]  # "small" is scored with SSIM, "medium" MS-SSIM
    raw = mode == "raw"
    result = codec.code_search.search(image, 3, 3, rate=not raw)
    plain, _ = codec.encode(image, 3)
    assert result.codes.shape == plain.shape
    assert set(np.unique(result.codes)) == {-1.0, 1.0}
    assert all(kept <= proposed for kept, proposed in
               zip(result.loss, result.proposal_loss, strict=True))
    assert result.loss[0] < result.proposal_loss[0]  # the search found better codes
    assert not np.array_equal(result.codes[0], plain[0])
    data, recons = codec.compress_progressive(image, 3, raw=raw, optimize=3)
    container = file_format.parse(data)
    assert container.header == file_format.parse(codec.compress(image, 3, raw=raw)).header
    np.testing.assert_array_equal(codec.decode_codes(container, 3), result.codes)
    for k in (1, 2, 3):
        np.testing.assert_array_equal(codec.decompress(data, iterations=k), recons[k - 1])
    if raw:
        assert len(data) == len(codec.compress(image, 3, raw=True))


def test_optimize_refuses_bad_steps_and_block_snr(codecs, crops):
    codec = codecs["raw"]
    with pytest.raises(UserError, match="0 or more"):
        codec.compress(crops["small"], 1, optimize=-1)
    with pytest.raises(UserError, match="cannot be combined"):
        codec.compress(crops["small"], 1, optimize=1, block_snr=7.0)


# -- bad input ------------------------------------------------------------------------------------

# -- tiles (format version 3) ----------------------------------------------------------------

TILED_CROP = (slice(3, 150), slice(10, 210))  # 147 x 200: a 3 x 4 grid of 64-px tiles


@pytest.mark.parametrize("mode,block_snr", [("raw", None), ("checkerboard", None),
                                            ("raster", None), ("checkerboard", 3.0)])
def test_tiled_files_decode_to_the_encoders_reconstruction_at_every_truncation(
        codecs, astronaut, mode, block_snr):
    codec = codecs[mode]
    image = astronaut[TILED_CROP]
    data, recons = codec.compress_progressive(image, raw=mode == "raw", block_snr=block_snr,
                                              tile=64)
    container = file_format.parse(data)
    assert data[8] == 3 and container.header.tile == 64 and container.header.tiles == 12
    assert container.header.adaptive is (block_snr is not None)
    codes, _ = codec.encode(image, codec.max_iterations, block_snr=block_snr, tile=64)
    assert container.iterations == len(codes)
    for k in range(1, container.iterations + 1):
        part = file_format.truncate(data, k)
        np.testing.assert_array_equal(codec.decompress(part), recons[k - 1])
        np.testing.assert_array_equal(codec.decode_codes(file_format.parse(part), k), codes[:k])


def test_optimized_tiled_files_decode_exactly(codecs, astronaut):
    codec = codecs["checkerboard"]
    image = astronaut[:48, :100]  # 1 x 2 tiles of 64 px, of two shapes
    data, recons = codec.compress_progressive(image, 1, optimize=1, tile=64)
    assert file_format.parse(data).header.tiles == 2
    np.testing.assert_array_equal(codec.decompress(data), recons[0])


def test_tiles_are_coded_alone_and_batching_changes_nothing(codecs, astronaut):
    codec = codecs["checkerboard"]
    image = astronaut[TILED_CROP]
    data = codec.compress(image, 3, tile=64)
    codec.batch_pixels = 1  # one tile per batch
    try:
        assert codec.compress(image, 3, tile=64) == data
    finally:
        codec.batch_pixels = tiling.BATCH_PIXELS
    # The top-left tile's parts are exactly the file of that tile alone.
    alone = file_format.parse(codec.compress(image[:64, :64], 3, tile=0))
    assert [p[0] for p in file_format.parse(data).parts] == [p[0] for p in alone.parts]
    whole = codec.compress(image, 3, tile=0)
    assert file_format.parse(whole).header.tiles == 1 and whole != data


def test_images_within_one_tile_keep_earlier_versions(codecs, crops):
    for mode in MODES:
        codec = codecs[mode]
        data = codec.compress(crops["medium"], 2, raw=mode == "raw", tile=256)
        assert data == codec.compress(crops["medium"], 2, raw=mode == "raw", tile=0)
        assert data[8] == (1 if mode == "raw" else 3)  # integer modes need version 3


def test_tile_size_must_suit_the_model(codecs, crops):
    codec = codecs["raw"]
    for tile in (8, 24, 70000):
        with pytest.raises(UserError, match="tile size must be 0"):
            codec.compress(crops["medium"], 1, tile=tile)


def _crafted(data: bytes, height: int, width: int) -> bytes:
    """A file whose header claims another size, its checksum fixed."""
    import struct
    import zlib

    head = bytearray(data[: file_format.HEADER_BYTES_V3 - 4] if data[8] == 3
                     else data[: file_format.HEADER_BYTES - 4])
    struct.pack_into(">II", head, 26, height, width)
    return bytes(head) + struct.pack(">I", zlib.crc32(head)) + data[len(head) + 4:]


def test_crafted_sizes_are_refused_before_anything_is_allocated(codecs, crops, astronaut,
                                                                monkeypatch):
    codec = codecs["checkerboard"]
    small = codec.compress(crops["medium"], 2)
    tiled = codec.compress(astronaut[TILED_CROP], 2, tile=64)
    with pytest.raises(UserError, match="100000x100000 is 10000 megapixels, above the limit"):
        codec.decompress(_crafted(small, 100000, 100000))
    with pytest.raises(UserError, match="holds 12 tile parts, the header.s size needs 97969"):
        codec.decompress(_crafted(tiled, 20000, 20000))
    # An untiled file of a size the machine cannot decode at once says so.
    monkeypatch.setenv("TFRNN_MEMORY_LIMIT", str(2 << 30))
    with pytest.raises(UserError, match="needs about .* GiB of memory; 2.0 GiB are available"):
        codec.decompress(_crafted(small, 4000, 6000))
    codec.max_pixels = 1000
    try:
        with pytest.raises(UserError, match="above the limit of 0"):
            codec.compress(crops["medium"], 1)
    finally:
        codec.max_pixels = tiling.DEFAULT_MAX_PIXELS


def test_a_file_with_more_iterations_than_the_model_is_refused(codecs, crops):
    codec = codecs["raw"]
    data = codec.compress(crops["small"], 1)
    container = file_format.parse(data)
    longer = file_format.write(container.header, container.payloads * (ITERATIONS + 1))
    with pytest.raises(UserError, match=f"holds {ITERATIONS + 1} iterations; model .* has "
                       f"{ITERATIONS}"):
        codec.decompress(longer)


@pytest.fixture(scope="session")
def coded(codecs, crops) -> bytes:
    return codecs["checkerboard"].compress(crops["small"], 3)


def test_damaged_files_are_refused(codecs, coded):
    codec = codecs["checkerboard"]
    damaged = {
        "truncated": coded[:-3],
        "damaged": coded[:60] + bytes([coded[60] ^ 4]) + coded[61:],
        "empty": b"",
        "not a tfrnn file": b"GIF89a" + bytes(64),
    }
    for message, data in damaged.items():
        with pytest.raises(UserError, match=message):
            codec.decompress(data, name="x.tfrnn")


def test_files_of_another_model_are_refused(codecs, coded, crops):
    keras.utils.set_random_seed(7)
    other = Codec(Bundle(tiny_codec()))
    with pytest.raises(UserError, match="made by another model"):
        other.decompress(codecs["raw"].compress(crops["small"], 2))
    with pytest.raises(UserError, match="has no context model"):
        codecs["raw"].decompress(coded)
    with pytest.raises(UserError, match="checkerboard-integer context model; model .* has a "
                       "raster-integer context model"):
        codecs["raster"].decompress(coded)
    with pytest.raises(UserError, match="holds 3 iterations"):
        codecs["checkerboard"].decompress(coded, iterations=4)


def test_bad_images_and_iteration_counts(codecs, crops):
    codec = codecs["raw"]
    for bad in (crops["small"].astype(np.float32), crops["small"][..., :2], np.zeros((0, 4, 3),
                                                                                     np.uint8)):
        with pytest.raises(UserError, match="expected a uint8"):
            codec.compress(bad)
    for k in (0, ITERATIONS + 1):
        with pytest.raises(UserError, match=f"iterations must be 1 to {ITERATIONS}"):
            codec.compress(crops["small"], k)


def test_max_iterations_is_the_trained_count(codecs):
    assert codecs["raw"].max_iterations == ITERATIONS
    assert Codec(Bundle(codecs["raw"].model, metadata={"iterations": 3})).max_iterations == 3


def test_load_codec_errors(tmp_path, monkeypatch):
    from tfrnn import codec as codec_module

    with pytest.raises(UserError, match="no such model"):
        load_codec(tmp_path / "missing")
    with pytest.raises(UserError, match="not a tfrnn model"):
        load_codec(tmp_path)
    monkeypatch.setattr(codec_module, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(UserError, match="no pretrained model is shipped"):
        load_codec()


def test_shipped_default_model_round_trip(crops):
    from tfrnn.codec import DEFAULT_MODEL, PRETRAINED_DIR

    if not (PRETRAINED_DIR / DEFAULT_MODEL / "model.json").is_file():
        pytest.skip("no default model shipped")
    codec = load_codec()
    image = crops["odd"]
    data, recons = codec.compress_progressive(image)
    assert file_format.parse(data).header.mode == codec.default_mode
    for k in (1, codec.max_iterations):
        np.testing.assert_array_equal(codec.decompress(data, iterations=k), recons[k - 1])


# -- the command line -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pngs(tmp_path_factory, crops):
    root = tmp_path_factory.mktemp("pngs")
    for name in ("small", "odd"):
        save_png(root / f"{name}.png", crops[name])
    return root


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_compress_decompress_truncate(capsys, tmp_path, pngs, bundle_dirs, codecs):
    model = bundle_dirs["checkerboard"]
    inputs = [pngs / "small.png", pngs / "odd.png"]
    code, out, err = _run(capsys, "compress", *inputs, "-o", tmp_path / "c", "--model", model,
                          "--iterations", 4, "--verbose")
    assert code == 0, err
    assert "small.png -> " in out and "PSNR" in out and "bpp" in out
    files = [tmp_path / "c" / "small.tfrnn", tmp_path / "c" / "odd.tfrnn"]
    for path, src in zip(files, inputs, strict=True):
        assert path.read_bytes() == codecs["checkerboard"].compress(load_image(src), 4)

    code, out, err = _run(capsys, "decompress", *files, "-o", tmp_path / "d", "--model", model)
    assert code == 0, err
    for path in files:
        expected = codecs["checkerboard"].decompress(path.read_bytes())
        np.testing.assert_array_equal(load_image(tmp_path / "d" / f"{path.stem}.png"), expected)

    code, out, err = _run(capsys, "truncate", files[0], tmp_path / "t.tfrnn", "--iterations", 2)
    assert code == 0, err
    assert (tmp_path / "t.tfrnn").read_bytes() == file_format.truncate(files[0].read_bytes(), 2)
    container = file_format.parse(files[0].read_bytes())
    budget = (container.bpp(2) + container.bpp(3)) / 2
    code, out, err = _run(capsys, "truncate", files[0], tmp_path / "b.tfrnn", "--bpp", budget)
    assert code == 0 and "2 of 4 iterations" in out

    code, out, err = _run(capsys, "decompress", tmp_path / "b.tfrnn", "-o", tmp_path / "b.png",
                          "--model", model, "--iterations", 1)
    assert code == 0, err
    np.testing.assert_array_equal(load_image(tmp_path / "b.png"),
                                  codecs["checkerboard"].decompress(files[0].read_bytes(), 1))

    # The output's extension names the format written; a name with no format is refused.
    code, out, err = _run(capsys, "decompress", tmp_path / "b.tfrnn", "-o", tmp_path / "b.jpg",
                          "--model", model)
    assert code == 0, err
    assert (tmp_path / "b.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG, not PNG bytes
    code, out, err = _run(capsys, "decompress", tmp_path / "b.tfrnn", "-o", tmp_path / "b.gif",
                          "--model", model)
    assert code == 2 and "cannot write .gif" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b.gif").exists()


@pytest.mark.parametrize("raw", [False, True])
def test_decompress_names_the_model_a_file_needs(capsys, tmp_path, pngs, bundle_dirs, raw):
    """A file made by a model that is not shipped, decoded without --model, names the model
    it needs (files of the shipped models: `test_pretrained.py`)."""
    other = tmp_path / "other.tfrnn"
    assert _run(capsys, "compress", pngs / "small.png", "-o", other, "--model",
                bundle_dirs["checkerboard"], "--iterations", 1,
                *(["--raw"] if raw else []))[0] == 0
    code, _, err = _run(capsys, "decompress", other, "-o", tmp_path / "other.png")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "made by another model" in err


def test_cli_targets(capsys, tmp_path, pngs, bundle_dirs, codecs, astronaut):
    from tfrnn import metrics

    model = bundle_dirs["raw"]
    code, out, err = _run(capsys, "compress", pngs / "small.png", "-o", tmp_path / "s.tfrnn",
                          "--model", model, "--bpp", 0.5)
    assert code == 0 and "note: model" in out, err
    container = file_format.parse((tmp_path / "s.tfrnn").read_bytes())
    full = file_format.parse(codecs["raw"].compress(load_image(pngs / "small.png")))
    assert container.iterations == file_format.iterations_for_bpp(full, 0.5)
    assert container.bpp() <= 0.5 < full.bpp(container.iterations + 1)

    image = astronaut[:192, :192]
    save_png(tmp_path / "big.png", image)
    _, recons = codecs["raw"].compress_progressive(image)
    scores = metrics.ms_ssim_batch(image, recons)
    target = float(np.sort(scores)[len(scores) // 2])
    code, out, err = _run(capsys, "compress", tmp_path / "big.png", "-o", tmp_path / "q.tfrnn",
                          "--model", model, "--quality", target)
    assert code == 0, err
    k = file_format.parse((tmp_path / "q.tfrnn").read_bytes()).iterations
    assert k == int(np.flatnonzero(scores >= target)[0]) + 1

    code, out, err = _run(capsys, "compress", tmp_path / "big.png", "-o", tmp_path / "a.tfrnn",
                          "--model", model, "--block-snr", 0)
    assert code == 0, err
    data = (tmp_path / "a.tfrnn").read_bytes()
    assert data == codecs["raw"].compress(image, block_snr=0.0)
    code, out, err = _run(capsys, "decompress", tmp_path / "a.tfrnn", "-o", tmp_path / "a.png",
                          "--model", model)
    assert code == 0, err
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"),
                                  codecs["raw"].decompress(data))

    code, out, err = _run(capsys, "compress", pngs / "small.png", "-o", tmp_path / "o.tfrnn",
                          "--model", model, "--iterations", 2, "--optimize", 1)
    assert code == 0, err
    assert (tmp_path / "o.tfrnn").read_bytes() == codecs["raw"].compress(
        load_image(pngs / "small.png"), 2, optimize=1)


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory, pngs, codecs, coded, crops):
    root = tmp_path_factory.mktemp("bad")
    (root / "junk.png").write_bytes(b"not an image")
    (root / "cut.tfrnn").write_bytes(coded[:-5])
    (root / "foreign.tfrnn").write_bytes((pngs / "small.png").read_bytes())
    keras.utils.set_random_seed(7)
    (root / "other.tfrnn").write_bytes(Codec(Bundle(tiny_codec())).compress(crops["small"], 1))
    (root / "sub").mkdir()
    (root / "sub" / "small.png").write_bytes((pngs / "small.png").read_bytes())
    raw = codecs["raw"].compress(crops["small"], 3)
    (root / "bomb.tfrnn").write_bytes(_crafted(raw, 100000, 100000))
    (root / "lying.tfrnn").write_bytes(_crafted(raw, 2000, 3000))
    return root


@pytest.mark.parametrize("case", ["missing", "unreadable", "bad flag", "too many iterations",
                                  "small for quality", "truncated", "foreign", "other model",
                                  "two targets", "same stem", "block snr", "block snr text",
                                  "optimize zero", "optimize and block snr", "bomb", "lying size",
                                  "max pixels", "tile size"])
def test_cli_bad_input_is_one_line_and_no_output(capsys, tmp_path, pngs, bundle_dirs, bad_files,
                                                 case):
    bad = bad_files
    out = tmp_path / "out"
    argv = {
        "missing": ["compress", pngs / "small.png", bad / "nope.png", "-o", out],
        "unreadable": ["compress", bad / "junk.png", "-o", out],
        "bad flag": ["compress", pngs / "small.png", "-o", out, "--iterations", "-2"],
        "too many iterations": ["compress", pngs / "small.png", "-o", out, "--iterations", 99],
        "small for quality": ["compress", pngs / "small.png", "-o", out, "--quality", 0.9],
        "truncated": ["decompress", bad / "cut.tfrnn", "-o", out],
        "foreign": ["decompress", bad / "foreign.tfrnn", "-o", out],
        "other model": ["decompress", bad / "other.tfrnn", "-o", out],
        "two targets": ["truncate", bad / "cut.tfrnn", out, "--iterations", 1, "--bpp", 1],
        "same stem": ["compress", pngs / "small.png", bad / "sub" / "small.png", "-o", out],
        "block snr": ["compress", pngs / "small.png", "-o", out, "--block-snr", 120],
        "block snr text": ["compress", pngs / "small.png", "-o", out, "--block-snr", "high"],
        "optimize zero": ["compress", pngs / "small.png", "-o", out, "--optimize", 0],
        "optimize and block snr": ["compress", pngs / "small.png", "-o", out, "--optimize", 1,
                                   "--block-snr", 7],
        "bomb": ["decompress", bad / "bomb.tfrnn", "-o", out],
        "lying size": ["decompress", bad / "lying.tfrnn", "-o", out],
        "max pixels": ["compress", pngs / "small.png", "-o", out, "--max-pixels", 100],
        "tile size": ["compress", pngs / "small.png", "-o", out, "--tile-size", 24],
    }[case]
    if argv[0] != "truncate":
        argv += ["--model", bundle_dirs["raw"]]
    code, stdout, err = _run(capsys, *argv)
    assert code == 2
    assert err.startswith("tfrnn: error: ") and err.count("\n") == 1, err
    assert not out.exists()
    assert list(tmp_path.glob(".*tmp*")) == []


def test_bench_entropy(capsys, tmp_path, pngs, bundle_dirs):
    import json

    code, out, err = _run(capsys, "bench", "entropy", "--model", bundle_dirs["checkerboard"],
                          "--images", pngs, "--iterations", "1,3", "--fit-steps", 2,
                          "--fit-images", pngs, "--kinds", "raster", "--out",
                          tmp_path / "e.json")
    assert code == 0, err
    report = json.loads(out)
    assert report == json.loads((tmp_path / "e.json").read_text())
    assert report["images"] == ["odd.png", "small.png"]
    assert set(report["context_models"]) == {"bundle-checkerboard", "fit-raster"}  # float
    for result in report["context_models"].values():
        assert result["bits_exact"] is True
        assert set(result["saving_vs_raw"]) == {"1", "3"}
        range_s = result["decode_split_s_per_image"]["range_coding"]
        if result["kind"] == "checkerboard":  # timed on its own
            assert range_s > 0
        else:  # raster: a difference of two timings, floored at 0
            assert range_s >= 0


def test_cli_release_float16(capsys, tmp_path, bundle_dirs, codecs, crops):
    """A float16 release is about half the size, loads back with a matching fingerprint, and
    codes like the original model with its weights rounded to float16."""
    import h5py

    source = bundle_dirs["checkerboard"]
    code, out, err = _run(capsys, "release", source, tmp_path / "rel", "--float16")
    assert code == 0 and not err and "fingerprint" in out
    sizes = {d: sum(f.stat().st_size for f in d.glob("*.weights.h5"))
             for d in (source, tmp_path / "rel")}
    assert sizes[tmp_path / "rel"] < 0.6 * sizes[source]
    with h5py.File(tmp_path / "rel" / "codec.weights.h5") as f:
        dtypes = set()
        f.visititems(lambda _, o: dtypes.add(o.dtype) if isinstance(o, h5py.Dataset) else None)
    assert dtypes == {np.dtype(np.float16)}
    released = load_codec(tmp_path / "rel")
    original = codecs["checkerboard"]
    assert released.bundle.fingerprint != original.bundle.fingerprint
    for a, b in zip(released.model.weights, original.model.weights, strict=True):
        np.testing.assert_array_equal(
            a.numpy(), np.asarray(b.numpy(), np.float16).astype(np.float32))
    image = crops["medium"]
    data = released.compress(image)
    np.testing.assert_array_equal(released.decompress(data),
                                  released.compress_progressive(image)[1][-1])
    assert released.decompress(data).shape == image.shape
    code, _, err = _run(capsys, "release", tmp_path / "missing", tmp_path / "x")
    assert code == 2 and err.count("\n") == 1 and "no such model" in err
    assert not (tmp_path / "x").exists()
