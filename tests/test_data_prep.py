"""`tfrnn prepare` end to end: shards, manifest, bad inputs, resume, Beam, TFDS, CLI, reader."""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep import cli, local, storage
from data_prep.prepare import prepare
from data_prep.records import read_records
from data_prep.sources import open_source
from data_prep.tiles import Settings
from tfrnn import cli as tfrnn_cli
from tfrnn.errors import UserError


def save(path: Path, array: np.ndarray, fmt: str = "PNG", **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt, **kwargs)
    return path


def crops(photo: np.ndarray, n: int, size: tuple[int, int] = (96, 128)) -> list[np.ndarray]:
    """n different crops (height, width = size) of a real photo."""
    h, w = size
    return [photo[37 * i % (photo.shape[0] - h):][:h, 53 * i % (photo.shape[1] - w):][:, :w]
            for i in range(n)]


def records_of(out: Path) -> list[dict]:
    manifest = json.loads((out / "dataset.json").read_text())
    return [r for shard in manifest["shards"] for r in read_records(str(out / shard["file"]))]


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("tiles-*.tfrecord"))}


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut) -> Path:
    """Seven small real photos (PNG and JPEG, one in a subfolder) and a file to ignore."""
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    for i, crop in enumerate(crops(astronaut, 4)):
        save(root / f"astronaut{i}.png", crop)
    for i, crop in enumerate(crops(data.coffee(), 2)):
        save(root / f"coffee{i}.jpg", crop, "JPEG", quality=90)
    save(root / "sub" / "chelsea.png", crops(data.chelsea(), 1)[0])
    (root / "notes.txt").write_text("not an image, ignored by extension")
    return root


@pytest.fixture(scope="module")
def prepared(photos, tmp_path_factory) -> tuple[Path, object]:
    """The photos prepared locally in shards of 3 images (3 shards), in this process."""
    out = tmp_path_factory.mktemp("prepared")
    outcome = prepare(open_source(str(photos)), str(out), images_per_shard=3, workers=1)
    return out, outcome


def test_shards_and_manifest(photos, prepared):
    out, outcome = prepared
    manifest = json.loads((out / "dataset.json").read_text())
    assert outcome.shards_written == 3 and outcome.shards_reused == 0
    assert [s["file"] for s in manifest["shards"]] == [
        f"tiles-0000{i}-of-00003.tfrecord" for i in range(3)]
    assert [s["images"] for s in manifest["shards"]] == [3, 3, 1]
    # 96x128 images hold 3x4 = 12 tiles: 12 * 100 / 880 rounds to 1 kept tile each
    assert manifest["counts"] == {"images": 7, "images_used": 7, "images_skipped": 0,
                                  "tiles": 7}
    assert manifest["source"]["ignored_files"] == 1
    assert manifest["tile_size"] == 32 and manifest["settings"]["tiles_per_image"] == 100
    assert manifest["settings"]["max_size"] == [1280, 720]
    assert manifest["tool"]["name"] == "tfrnn" and manifest["tool"]["version"]
    assert sum(manifest["png_ratio"]["histogram"]["counts"]) == 7
    records = records_of(out)
    assert len(records) == sum(s["tiles"] for s in manifest["shards"]) == 7
    assert sorted(r["source_id"].decode() for r in records) == sorted(
        [f"astronaut{i}.png" for i in range(4)] + ["coffee0.jpg", "coffee1.jpg",
                                                   "sub/chelsea.png"])
    for r in records:
        assert r["tile"].shape == (32, 32, 3) and r["tile"].dtype == np.uint8
        buf = io.BytesIO()
        Image.fromarray(r["tile"]).save(buf, format="PNG")
        assert r["png_ratio"] == pytest.approx(3072 / len(buf.getvalue()), rel=1e-6)
        y, x = r["position"]
        if r["source_id"] == b"astronaut0.png":
            original = np.asarray(Image.open(photos / "astronaut0.png"))
            np.testing.assert_array_equal(r["tile"], original[y:y + 32, x:x + 32])
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def png16_rgb(array: np.ndarray) -> bytes:
    """A 16-bit RGB PNG, written by hand (Pillow cannot write one)."""
    h, w, _ = array.shape
    raw = b"".join(b"\0" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def test_every_bad_input_kind_in_one_run(tmp_path, astronaut, monkeypatch, capsys):
    photo = astronaut[:96, :96]
    folder = tmp_path / "messy"
    save(folder / "good.png", photo)
    jpeg = save(folder / "good.jpg", photo, "JPEG").read_bytes()
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "html.jpg").write_bytes(b"<html><body>404 not found</body></html>")
    (folder / "truncated.jpg").write_bytes(jpeg[:len(jpeg) // 2])
    corrupt = bytearray(save(folder / "x.png", photo).read_bytes())
    corrupt[2000:2400] = b"\xff" * 400
    (folder / "x.png").rename(folder / "corrupt.png")
    (folder / "corrupt.png").write_bytes(bytes(corrupt))
    (folder / "rgb16.png").write_bytes(png16_rgb(photo.astype(np.uint16) * 257))
    save(folder / "grey16.png", photo[..., 0].astype(np.uint16) * 257)
    Image.fromarray(photo).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(photo).convert("P").save(folder / "palette.png")
    save(folder / "grey.png", photo[..., 1])
    save(folder / "alpha.png", np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)]))
    save(folder / "tiny.png", photo[:20, :40])
    save(folder / "huge.png", np.zeros((200, 200, 3), np.uint8))
    os.symlink(folder / "gone.png", folder / "dangling.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # huge.png: 40,000 > 2x this
    out = tmp_path / "out"
    assert cli.main([str(folder), "-o", str(out), "--workers", "1", "--no-progress"]) == 0
    manifest = json.loads((out / "dataset.json").read_text())
    skipped = {kind: (e["count"], e["example"]) for kind, e in manifest["skipped"].items()}
    assert skipped == {"zero-byte": (1, "zero.jpg"), "non-image": (1, "html.jpg"),
                       "truncated": (1, "truncated.jpg"), "corrupt": (1, "corrupt.png"),
                       "tiny": (1, "tiny.png"), "too-large": (1, "huge.png"),
                       "unreadable": (1, "dangling.png")}
    converted = {kind: e["count"] for kind, e in manifest["converted"].items()}
    assert converted == {"16-bit": 2, "greyscale": 1 + 1, "cmyk": 1, "palette": 1, "alpha": 1}
    assert manifest["converted"]["16-bit"]["example"] == "grey16.png"
    assert manifest["counts"]["images"] == 15 and manifest["counts"]["images_used"] == 8
    used = {r["source_id"].decode(): r["tile"] for r in records_of(out)}
    assert set(used) == {"good.png", "good.jpg", "rgb16.png", "grey16.png", "cmyk.jpg",
                         "palette.png", "grey.png", "alpha.png"}
    np.testing.assert_array_equal(used["rgb16.png"], used["good.png"])  # 16 -> 8 bits exact
    assert (used["grey.png"][..., 0] == used["grey.png"][..., 2]).all()
    summary = capsys.readouterr().out
    for kind, (_, example) in skipped.items():
        assert any(kind in line and example in line for line in summary.splitlines()), kind


@pytest.fixture()
def reference(prepared, tmp_path) -> dict[str, bytes]:
    return shard_bytes(prepared[0])


def test_resume_redoes_only_missing_work(photos, prepared, tmp_path, reference):
    out = tmp_path / "out"
    source = open_source(str(photos))
    prepare(source, str(out), images_per_shard=3, workers=1)
    kept = {name: (out / name).stat().st_mtime_ns for name in reference
            if "00001" not in name}
    (out / "tiles-00001-of-00003.tfrecord").unlink()
    leftover = out / ".tiles-00002-of-00003.tfrecord.abcd.tmp"
    leftover.write_bytes(b"half a shard")
    outcome = prepare(source, str(out), images_per_shard=3, workers=1)
    assert (outcome.shards_reused, outcome.shards_written, outcome.images_mined) == (2, 1, 3)
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept
    assert not leftover.exists()
    assert shard_bytes(out) == reference


def test_interrupted_run_keeps_finished_shards(photos, tmp_path, reference, monkeypatch):
    out = tmp_path / "out"
    source = open_source(str(photos))
    calls = []
    real = local.mine_item

    def interrupt_on_fifth(item, settings):
        calls.append(item.id)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(item, settings)

    monkeypatch.setattr(local, "mine_item", interrupt_on_fifth)
    with pytest.raises(KeyboardInterrupt):
        prepare(source, str(out), images_per_shard=3, workers=1)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["tiles-00000-of-00003.stats.json", "tiles-00000-of-00003.tfrecord"]
    monkeypatch.setattr(local, "mine_item", real)
    outcome = prepare(source, str(out), images_per_shard=3, workers=1)
    assert (outcome.shards_reused, outcome.shards_written) == (1, 2)
    assert shard_bytes(out) == reference


def test_changed_settings_redo_every_shard(photos, prepared, tmp_path):
    out = tmp_path / "out"
    source = open_source(str(photos))
    prepare(source, str(out), images_per_shard=3, workers=1)
    outcome = prepare(source, str(out), Settings(tiles_per_image=400), images_per_shard=4,
                      workers=1)
    assert outcome.shards_written == 2 and outcome.manifest["counts"]["tiles"] == 7 * 5
    assert sorted(p.name for p in out.glob("tiles-*.tfrecord")) == [
        "tiles-00000-of-00002.tfrecord", "tiles-00001-of-00002.tfrecord"]


def test_beam_direct_runner_writes_the_same_shards(photos, prepared, tmp_path, reference):
    out = tmp_path / "beam"
    outcome = prepare(open_source(str(photos)), str(out), images_per_shard=3,
                      runner="DirectRunner")
    assert outcome.shards_written == 3
    assert shard_bytes(out) == reference
    mine = json.loads((out / "dataset.json").read_text())
    theirs = json.loads((prepared[0] / "dataset.json").read_text())
    for key in ("counts", "png_ratio", "shards", "skipped", "converted"):
        assert mine[key] == theirs[key]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_beam_missing_is_one_line(photos, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    with pytest.raises(UserError, match="apache-beam") as error:
        prepare(open_source(str(photos)), str(tmp_path / "o"), runner="DirectRunner")
    assert "\n" not in str(error.value)


def test_tfds_source_on_a_locally_built_dataset(tmp_path, astronaut):
    import tensorflow_datasets as tfds

    images = crops(astronaut, 5, (100, 150))

    class TfrnnTestPhotos(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(num_classes=2)}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for i, image in enumerate(images):
                yield i, {"image": image, "label": i % 2}

    data_dir = str(tmp_path / "tfds")
    source = open_source("tfds:tfrnn_test_photos", tfds_data_dir=data_dir)
    assert len(source) == 5 and source.describe()["version"] == "1.0.0"
    outcome = prepare(source, str(tmp_path / "out"), images_per_shard=2, workers=1)
    assert outcome.manifest["counts"]["tiles"] == 5 * 1  # 3x4 tiles each -> 1 kept
    records = records_of(tmp_path / "out")
    assert sorted(r["source_id"].decode() for r in records) == [
        f"tfrnn_test_photos/train/{i}" for i in range(5)]
    for i, image in enumerate(images):  # the same images as files give the same tiles
        save(tmp_path / "files" / f"{i}.png", image)
    prepare(open_source(str(tmp_path / "files")), str(tmp_path / "out2"), workers=1)
    as_files = sorted(r["tile"].tobytes() for r in records_of(tmp_path / "out2"))
    assert sorted(r["tile"].tobytes() for r in records) == as_files
    beam = prepare(source, str(tmp_path / "beam"), images_per_shard=2, runner="DirectRunner")
    assert beam.shards_written == 3
    assert shard_bytes(tmp_path / "beam") == shard_bytes(tmp_path / "out")
    with pytest.raises(UserError, match="no split 'test'"):
        open_source("tfds:tfrnn_test_photos:test", tfds_data_dir=data_dir)
    with pytest.raises(UserError, match="tfds:no_such_dataset"):
        open_source("tfds:no_such_dataset", tfds_data_dir=data_dir)


def test_url_paths_through_gfile(photos):
    """Source and output on a tf.io.gfile filesystem (ram:// here, gs:// on Dataflow)."""
    import tensorflow as tf

    for rel in ("astronaut0.png", "sub/chelsea.png"):
        tf.io.gfile.makedirs(os.path.dirname(f"ram://photos/{rel}"))
        with tf.io.gfile.GFile(f"ram://photos/{rel}", "wb") as f:
            f.write((photos / rel).read_bytes())
    source = open_source("ram://photos")
    assert source.ids(0, 2) == ["astronaut0.png", "sub/chelsea.png"]
    outcome = prepare(source, "ram://tiles", images_per_shard=1, workers=1)
    assert outcome.manifest["counts"]["tiles"] == 2
    assert storage.listdir("ram://tiles") == [
        "dataset.json", "tiles-00000-of-00002.stats.json", "tiles-00000-of-00002.tfrecord",
        "tiles-00001-of-00002.stats.json", "tiles-00001-of-00002.tfrecord"]
    assert prepare(source, "ram://tiles", images_per_shard=1).shards_reused == 2


def test_cli_end_to_end_on_the_sample_photos(tmp_path, capsys):
    out = str(tmp_path / "sample")
    argv = ["prepare", "-o", out, "--limit", "3", "--workers", "2", "--no-progress"]
    assert tfrnn_cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "3 images: 3 used, 0 skipped" in printed and "1 written" in printed
    manifest = json.loads((tmp_path / "sample" / "dataset.json").read_text())
    assert manifest["source"]["spec"] == "sample" and manifest["counts"]["images"] == 3
    assert tfrnn_cli.main(argv) == 0
    assert "1 already done, 0 written" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["/no/such/photos", "-o", "x"], "/no/such/photos: no such directory"),
    (["sample"], "the following arguments are required: -o/--out"),
    (["sample", "-o", "x", "--tile-size", "0"], "--tile-size"),
    (["sample", "-o", "x", "--max-size", "big"], "expected WIDTHxHEIGHT"),
    (["sample", "-o", "x", "--project", "p"], "unrecognized arguments: --project"),
    (["sample", "-o", "x", "--tile-size", "800"], "smaller than one tile"),
    (["sample", "-o", __file__], "exists and is not a directory"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    assert tfrnn_cli.main(["prepare", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


# The reader training uses.

def tile_set(out: Path) -> set[bytes]:
    return {r["tile"].tobytes() for r in records_of(out)}


def test_reader_yields_uint8_batches_of_the_written_tiles(prepared):
    from data_prep.reader import make_dataset

    out = prepared[0]
    batch = next(iter(make_dataset([str(out)], batch_size=16, seed=3, shuffle_buffer=16)))
    assert batch.shape == (16, 32, 32, 3) and batch.dtype.name == "uint8"
    assert {t.tobytes() for t in batch.numpy()} <= tile_set(out)  # repeats past the 7 tiles
    once = [b.numpy() for b in make_dataset(str(out), batch_size=4, repeat=False)]
    assert [len(b) for b in once] == [4, 3]
    assert sorted(t.tobytes() for b in once for t in b) == sorted(tile_set(out))


def test_reader_crops_flips_and_is_reproducible_with_a_seed(prepared):
    from data_prep.reader import make_dataset

    out = str(prepared[0])
    first, second = (next(iter(make_dataset(out, batch_size=8, crop=24, flips=True, seed=5,
                                               shuffle_buffer=16)))
                     for _ in range(2))
    assert first.shape == (8, 24, 24, 3)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    tiles = [np.frombuffer(t, np.uint8).reshape(32, 32, 3) for t in tile_set(prepared[0])]
    windows = {t[y:y + 24, x:x + 24][:, ::f].tobytes() for t in tiles for y in range(9)
               for x in range(9) for f in (1, -1)}
    assert {c.tobytes() for c in first.numpy()} <= windows


def test_reader_mixes_directories_by_weight(photos, prepared, tmp_path):
    from data_prep.reader import make_dataset

    other = tmp_path / "thumbs"
    prepare(open_source(str(photos)), str(other), Settings(mode="thumbnails"), workers=1)
    a, b = tile_set(prepared[0]), tile_set(other)
    dirs = [str(prepared[0]), str(other)]

    def first_batch(weights: list[float]) -> set[bytes]:
        batch = next(iter(make_dataset(dirs, weights, batch_size=48, seed=1, shuffle_buffer=16)))
        return {t.tobytes() for t in batch.numpy()}

    mixed = first_batch([0.5, 0.5])
    assert mixed & a and mixed & b and mixed <= a | b
    assert first_batch([0, 1]) <= b


def test_reader_errors_are_one_line(photos, prepared, tmp_path):
    from data_prep.reader import make_dataset

    small = tmp_path / "small"
    prepare(open_source(str(photos)), str(small), Settings(mode="thumbnails", tile_size=16),
            workers=1)
    (tmp_path / "empty").mkdir()
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "tiles-00000-of-00001.tfrecord").write_bytes(b"")
    good = str(prepared[0])
    cases = [
        ((str(tmp_path / "missing"),), {}, "no such dataset directory"),
        ((str(tmp_path / "empty"),), {}, "empty directory"),
        ((str(tmp_path / "unfinished"),), {}, "no dataset.json"),
        ((good,), {"tile_size": 64}, "tiles are 32x32, not 64x64 (requested"),
        (([good, str(small)],), {}, "tiles are 16x16, not 32x32"),
        (([good, str(small)], [1.0]), {}, "need 2 non-negative weights"),
        ((good,), {"crop": 40}, "crop 40"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(UserError, match=None) as error:
            make_dataset(*args, **kwargs)
        assert message in str(error.value) and "\n" not in str(error.value)
    batch = next(iter(make_dataset(str(small), batch_size=2, shuffle_buffer=16)))
    assert batch.shape == (2, 16, 16, 3)


def test_bench_prepare_runs_and_writes_json(tmp_path, capsys):
    from data_prep import bench

    out = tmp_path / "bench.json"
    argv = ["--source", "sample", "--workers", "1", "--full-size", "1", "--json", str(out)]
    assert bench.main(argv) == 0
    results = json.loads(out.read_text())
    run = results["runs"][0]
    assert run["workers"] == 1 and run["images"] == 9 and run["tiles"] > 0
    assert set(run["share"]) == {"read", "decode", "png", "other"}
    assert results["full_size"]["tiles"] == 100  # one 1280x720 mosaic keeps 100 tiles
    assert "core-hours" in capsys.readouterr().out
