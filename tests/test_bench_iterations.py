"""`tfrnn bench iterations`: its statistics against the codec's own encode and forward pass
(tiny untrained models: only the measurement is tested), and the command."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from PIL import Image

from tfrnn.bench import iterations
from tfrnn.cli import run
from tfrnn.configs import FEED_FORWARD, CellSpec, get_config, thumb_conv_config
from tfrnn.metrics import psnr_batch
from tfrnn.model import RecurrentCodec

T = 3


def tiny(kind: str) -> RecurrentCodec:
    keras.utils.set_random_seed(1)
    config = {
        "additive": get_config("tiny-lstm-additive").replace(priming=2, diffusion=1),
        "residual-scaling": get_config("tiny-gru-residual-scaling"),
        "feed-forward": thumb_conv_config("ff", 1 / 32, "tiny", cell=FEED_FORWARD),
        "fully-connected": get_config("thumb-fc-lstm").replace(
            stem_filters=16, encoder=(CellSpec(16, 1, 1, 1),) * 2, bits=8, decoder_filters=16,
            decoder=(CellSpec(16, 1, 1, 1),) * 2),
    }[kind]
    return RecurrentCodec(config.replace(iterations=T))


@pytest.fixture(scope="module")
def pair(astronaut) -> np.ndarray:
    """Two images of one odd size (the codec pads them to its stride)."""
    return np.stack([astronaut[100:137, 200:250], astronaut[300:337, 40:90]])


@pytest.mark.parametrize("kind", ["additive", "residual-scaling", "feed-forward"])
def test_statistics_match_the_codec(kind, pair):
    codec = tiny(kind)
    stats = iterations.iteration_stats(codec, pair, T)
    assert all(len(v) == T for v in stats.values())
    assert ("gain" in stats) == (kind == "residual-scaling")
    codes, recons = (np.asarray(a) for a in codec.encode(pair, T, return_reconstructions=True))
    # PSNR of the uint8 reconstruction that encode (and decode) give
    np.testing.assert_allclose(stats["psnr-rgb"],
                               [psnr_batch(pair, r).mean() for r in recons], atol=0.02)
    # bits changed against the codes encode sends
    flat = codes.reshape(T, len(pair), -1)
    expected = [(flat[t] != flat[t - 1]).mean() for t in range(1, T)]
    assert np.isnan(stats["bits-changed"][0])
    np.testing.assert_allclose(stats["bits-changed"][1:], expected, atol=2e-3)
    # update, residual and energy against the float reconstructions of the forward pass
    x = pair.astype(np.float64) / 255.0 - 0.5
    steps = np.concatenate([np.zeros((1, *x.shape)), np.asarray(codec(pair), np.float64)])
    update = (steps[1:] - steps[:-1]).reshape(T, len(pair), -1)
    residual = (x - steps).reshape(T + 1, len(pair), -1)
    np.testing.assert_allclose(stats["update-rms"],
                               255 * np.sqrt((update ** 2).mean(2)).mean(1), rtol=1e-4)
    np.testing.assert_allclose(stats["residual-rms"],
                               255 * np.sqrt((residual[:-1] ** 2).mean(2)).mean(1), rtol=1e-4)
    energy = (residual ** 2).sum(2)
    np.testing.assert_allclose(stats["energy-removed"], (1 - energy[1:] / energy[:-1]).mean(1),
                               rtol=1e-3, atol=1e-5)
    bits_per_iteration = codec.codec_config.bits_per_iteration(*pair.shape[1:3])
    np.testing.assert_allclose(stats["bpp"], np.arange(1, T + 1) * bits_per_iteration
                               / (pair.shape[1] * pair.shape[2]))
    assert all(-1 <= c <= 1 for c in stats["correlation"])


def test_latent_statistics(pair):
    """Iteration 1's latents by hand; a zero projection gives latents 0 and bits all +1, a
    huge one saturates the latents."""
    codec = tiny("additive")
    kernel = codec.binarizer.projection.kernel
    kernel.assign(2000 * kernel)  # untrained latents are near 0: spread them over (-1, 1)
    x = codec.pad(codec.to_model_space(pair))
    reconstruction, enc_states, _ = codec.initial_state(x)
    features, _, _ = codec.propose(x, reconstruction, enc_states, steps=codec.extra_steps(0))
    latent = np.abs(np.asarray(codec.binarizer.latent(features)))
    stats = iterations.iteration_stats(codec, pair, T)
    assert stats["latent-abs"][0] == pytest.approx(latent.mean(), rel=1e-5)
    assert stats["latent-above-0.9"][0] == pytest.approx((latent > 0.9).mean())
    assert stats["latent-below-0.1"][0] == pytest.approx((latent < 0.1).mean())
    assert 0.01 < (latent > 0.9).mean() < 0.99 and 0.01 < (latent < 0.1).mean() < 0.99
    kernel.assign(np.zeros(kernel.shape, np.float32))
    stats = iterations.iteration_stats(codec, pair, T)
    assert stats["latent-abs"] == [0.0] * T and stats["latent-below-0.1"] == [1.0] * T
    assert stats["latent-above-0.9"] == [0.0] * T and stats["bits-changed"][1:] == [0.0] * (T - 1)
    kernel.assign(1e4 * np.random.default_rng(0).standard_normal(kernel.shape))
    stats = iterations.iteration_stats(codec, pair, T)
    assert min(stats["latent-above-0.9"]) > 0.9 and max(stats["latent-below-0.1"]) < 0.05


def test_layer_statistics(pair):
    """Each recurrent layer's mean |h| and saturated LSTM memory, against the states of the
    codec's own step; a GRU has no memory column, feed-forward stages no layer columns."""
    codec = tiny("additive")
    stats = iterations.iteration_stats(codec, pair, 1)
    x = codec.pad(codec.to_model_space(pair))
    reconstruction, enc_states, dec_states = codec.initial_state(x)
    steps = codec.extra_steps(0)
    features, _, enc_states = codec.propose(x, reconstruction, enc_states, steps)
    bits = np.where(np.asarray(codec.binarizer.latent(features)) >= 0, 1.0, -1.0)
    _, dec_states = codec.decode_step(bits, reconstruction, dec_states, steps=steps)
    for side, states in (("encoder", enc_states), ("decoder", dec_states)):
        for k, (h, c) in enumerate(states, start=1):
            assert stats[f"{side}-{k}-h-abs"][0] == pytest.approx(np.abs(h).mean(), rel=1e-5)
            saturated = (np.abs(np.tanh(np.asarray(c, np.float64))) > 0.95).mean()
            assert stats[f"{side}-{k}-c-saturated"][0] == pytest.approx(saturated)
    assert len([k for k in stats if k.startswith("decoder-")]) == 2 * len(dec_states)
    before = iterations.iteration_stats(codec, pair, 4)["encoder-1-c-saturated"]
    kernel = codec.encoder.cells[0].input_conv.kernel
    kernel.assign(1e3 * kernel)  # saturated gates: the memory adds up ±1 over the iterations
    after = iterations.iteration_stats(codec, pair, 4)["encoder-1-c-saturated"]
    assert max(before) < 0.01 and after[3] > 0.1 and after[3] > after[0]
    keras.utils.set_random_seed(1)
    ln = RecurrentCodec(get_config("tiny-ln-lstm-additive"))
    stats = iterations.iteration_stats(ln, pair, 1)  # its memory counts as the cell sees it
    x = ln.pad(ln.to_model_space(pair))
    reconstruction, enc_states, _ = ln.initial_state(x)
    enc_states = ln.propose(x, reconstruction, enc_states, steps=ln.extra_steps(0))[2]
    c = np.asarray(enc_states[0][1], np.float64)
    normalized = (c - c.mean(-1, keepdims=True)) / np.sqrt(c.var(-1, keepdims=True) + 1e-5)
    assert stats["encoder-1-c-saturated"][0] == pytest.approx(
        (np.abs(np.tanh(normalized)) > 0.95).mean())
    gru = iterations.iteration_stats(tiny("residual-scaling"), pair, 1)
    assert "encoder-1-h-abs" in gru and not any("c-saturated" in k for k in gru)
    assert not any(k.startswith(("encoder-", "decoder-"))
                   for k in iterations.iteration_stats(tiny("feed-forward"), pair, 1))
    assert "| 1 |" in iterations.markdown_table(stats).split("\n\n")[1]


def test_images_of_different_sizes_are_averaged(pair, astronaut):
    codec = tiny("additive")
    other = astronaut[:48, :32]
    both = iterations.iteration_stats(codec, [pair[0], other, pair[1]], 2)
    first, second = (iterations.iteration_stats(codec, group, 2) for group in (pair, [other]))
    for key in ("psnr-rgb", "update-rms", "latent-abs"):
        np.testing.assert_allclose(both[key], (2 * np.asarray(first[key])
                                               + np.asarray(second[key])) / 3, rtol=1e-5)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, astronaut):
    folder = tmp_path_factory.mktemp("images")
    for i, (top, left) in enumerate([(0, 0), (200, 300)]):
        Image.fromarray(astronaut[top:top + 48, left:left + 40]).save(folder / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def bundle(tmp_path, kind: str) -> str:
    from tfrnn.bundle import Bundle, save_bundle

    return str(save_bundle(tmp_path / kind, Bundle(tiny(kind), metadata={"iterations": 2})))


def test_command_writes_one_entry_per_iteration(tmp_path, folder, capsys):
    model = bundle(tmp_path, "additive")
    out, path = tmp_path / "out", tmp_path / "it.json"
    assert run("tfrnn.bench.iterations:main", ["--model", model, "--images", str(folder),
                                               "--crop", "32", "--json", str(path),
                                               "--out", str(out)]) == 0
    doc = json.loads(path.read_text())
    assert doc["iterations"] == 2 and doc["images"] == ["0.png", "1.png"]  # trained: 2
    assert all(len(v) == 2 for v in doc["results"].values())
    assert doc["results"]["bits-changed"][0] is None and doc["crop"] == 32
    assert doc["results"]["bpp"] == [0.125, 0.25]  # 2x2 cells of 32 bits on 32x32 px
    from tfrnn.bundle import load_bundle

    assert doc["model"]["fingerprint"] == load_bundle(model).fingerprint
    assert json.loads((out / "tfrnn-additive-iterations.json").read_text()) == doc
    table = (out / "tfrnn-additive-iterations.md").read_text()
    assert "| 2 | 0.250 |" in table and "| 2 | 0.250 |" in capsys.readouterr().out


def test_fixed_size_model_gets_thumbnails(tmp_path, folder):
    model = bundle(tmp_path, "fully-connected")
    path = tmp_path / "fc.json"
    assert run("tfrnn.bench.iterations:main", ["--model", model, "--images", str(folder),
                                               "--iterations", "3", "--limit", "1",
                                               "--json", str(path)]) == 0
    doc = json.loads(path.read_text())
    assert doc["thumbnail"] == 32 and doc["images"] == ["0.png"]
    assert doc["results"]["bpp"] == [8 * t / 32 ** 2 for t in (1, 2, 3)]
    assert run("tfrnn.bench.iterations:main", ["--model", model, "--images", str(folder),
                                               "--thumbnail", "16", "--limit", "1"]) == 2


def test_thumbnail_flag_measures_a_convolutional_model_on_thumbnails(tmp_path, folder):
    path = tmp_path / "thumbs.json"
    assert run("tfrnn.bench.iterations:main", ["--model", bundle(tmp_path, "additive"),
                                               "--images", str(folder), "--thumbnail", "32",
                                               "--iterations", "2", "--limit", "1",
                                               "--json", str(path)]) == 0
    doc = json.loads(path.read_text())
    assert doc["thumbnail"] == 32
    assert doc["results"]["bpp"] == [t * 4 * 32 / 32 ** 2 for t in (1, 2)]  # 2x2 code cells


@pytest.mark.parametrize("argv, message", [
    (["--model", "default", "--images", "/nonexistent"], "/nonexistent: no such directory"),
    (["--model", "default", "--crop", "x"], "invalid int value"),
    (["--images", "."], "required: --model"),
    (["--model", "/nonexistent-model", "--images", "FOLDER"], "no such model"),
])
def test_bad_input_is_one_line(argv, message, capsys, folder):
    argv = [str(folder) if a == "FOLDER" else a for a in argv]
    assert run("tfrnn.bench.iterations:main", argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_empty_folder_and_too_many_stages(tmp_path, folder, capsys):
    (tmp_path / "empty").mkdir()
    assert run("tfrnn.bench.iterations:main", ["--model", "default", "--images",
                                               str(tmp_path / "empty")]) == 2
    assert "no images" in capsys.readouterr().err
    model = bundle(tmp_path, "feed-forward")
    assert run("tfrnn.bench.iterations:main", ["--model", model, "--images", str(folder),
                                               "--iterations", str(T + 1)]) == 2
    assert f"has {T} stages" in capsys.readouterr().err
