"""Size and latency of exported SavedModels: `python -m export.bench`.

For each configuration: export an untrained codec (the size does not depend on training) with
a default checkerboard context model, report the version directory's size, then load it with
`tf.saved_model.load` and time `serving_default` (PNG bytes in, packed codes out) on a
768×512 photo at each iteration count: one untimed call first (graph optimisation), then
`repeats` timed calls (wall time, and CPU time of all the process's threads). Prints one JSON
line per measurement and the machine's load average (the CPU may be shared).

With `--client MODEL` instead: export MODEL (a bundle or pretrained name, with its context
model) and run `tfrnn client`'s compress (entropy-coded, the default) and decompress of the
photo at each iteration count through the stand-in server (`export.standin`: the SavedModel
loaded in this process, REST over 127.0.0.1), counting the requests per signature; the file
is checked to be byte for byte `tfrnn compress`'s (`Codec.compress`, the export's tile size).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from export.writer import write_savedmodel
from tfrnn import file_format
from tfrnn.bundle import Bundle
from tfrnn.configs import get_config
from tfrnn.context_model import make_context_model
from tfrnn.images import encode_png, load_image
from tfrnn.model import RecurrentCodec

KODAK = (Path(os.environ.get("TFRNN_SHARED", Path(__file__).resolve().parents[2] / "shared"))
         / "data" / "kodak" / "kodim01.png")


def photo(width: int, height: int) -> tuple[np.ndarray, str]:
    """A width×height photo: Kodak's kodim01 when ../shared is there, else scikit-image's
    astronaut resized (bilinear)."""
    if KODAK.is_file():
        image = load_image(KODAK)
        if image.shape[:2] == (height, width):
            return image, KODAK.name
    from skimage import data

    resized = tf.image.resize(data.astronaut(), (height, width))
    return tf.cast(tf.round(resized), tf.uint8).numpy(), "astronaut (resized)"


def directory_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_config(name: str, iterations: list[int], image: np.ndarray, repeats: int,
                 work: Path) -> list[dict]:
    codec = RecurrentCodec(get_config(name))
    bundle = Bundle(codec, make_context_model(bits=codec.codec_config.bits))
    path = work / name / "1"
    start = time.perf_counter()
    write_savedmodel(bundle, path, name=name, version=1, max_iterations=max(iterations))
    rows = [{"config": name, "export_seconds": round(time.perf_counter() - start, 1),
             "savedmodel_bytes": directory_size(path),
             "variables_bytes": directory_size(path / "variables"),
             "codec_weights": int(codec.count_params()),
             "context_weights": int(bundle.context_model.count_params())}]
    print(json.dumps(rows[-1]), flush=True)
    compress = tf.saved_model.load(str(path)).signatures["serving_default"]
    png = tf.constant(encode_png(image))
    compress(image_bytes=png, iterations=tf.constant(min(iterations)))
    for k in iterations:
        seconds, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            out = compress(image_bytes=png, iterations=tf.constant(k))
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        rows.append({"config": name, "height": image.shape[0], "width": image.shape[1],
                     "iterations": k, "repeats": repeats,
                     "median_seconds": round(statistics.median(seconds), 3),
                     "min_seconds": round(min(seconds), 3),
                     "median_cpu_seconds": round(statistics.median(cpu), 3),
                     "codes_bytes": len(out["codes_bytes"].numpy()),
                     "load_average": [round(x, 1) for x in os.getloadavg()]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_client(model: str, iterations: list[int], image: np.ndarray, work: Path
                 ) -> list[dict]:
    """`tfrnn client` compress and decompress of `image` through the stand-in (module
    docstring): wall seconds, requests per signature, file bytes."""
    from collections import Counter

    from export import client
    from export.standin import StandInServer
    from tfrnn.bundle import load_bundle
    from tfrnn.codec import Codec

    class Counting(client.Server):
        def _post(self, url: str, body: dict):
            self.requests[body["signature_name"]] += 1
            return super()._post(url, body)

    bundle = load_bundle(model)
    write_savedmodel(bundle, work / "client" / "1", name="client", version=1,
                     max_iterations=max(iterations))
    png = encode_png(image)
    rows = []
    with StandInServer(work, "client", lifetime=24 * 3600) as stand_in:
        server = Counting(stand_in.url, "client")
        for k in iterations:
            row = {"model": model, "height": image.shape[0], "width": image.shape[1],
                   "iterations": k}
            for action in ("compress", "decompress"):
                server.requests = Counter()
                start = time.perf_counter()
                if action == "compress":
                    data = client.compress(server, png, k)
                    row["file_bytes"] = len(data)
                    row["mode"] = file_format.parse(data).header.mode
                else:
                    client.decompress(server, data, "file", None)
                row[f"{action}_seconds"] = round(time.perf_counter() - start, 2)
                row[f"{action}_requests"] = dict(server.requests)
            row["same_as_tfrnn_compress"] = data == Codec(bundle).compress(image, k)
            row["load_average"] = [round(x, 1) for x in os.getloadavg()]
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+",
                        default=["cpu-lstm-additive", "paper-lstm-additive"])
    parser.add_argument("--iterations", nargs="+", type=int, default=[4, 16])
    parser.add_argument("--size", default="768x512", help="WIDTHxHEIGHT of the photo")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write all rows to this file")
    parser.add_argument("--client", metavar="MODEL",
                        help="time `tfrnn client` through the stand-in with MODEL instead")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.lower().split("x"))
    image, source = photo(width, height)
    print(json.dumps({"photo": source, "tensorflow": tf.__version__,
                      "cpus": os.cpu_count()}), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        if args.client:
            rows = bench_client(args.client, args.iterations, image, Path(work))
        for name in [] if args.client else args.configs:
            rows += bench_config(name, args.iterations, image, args.repeats, Path(work))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
