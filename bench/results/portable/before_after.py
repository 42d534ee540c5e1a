"""Entropy encode/decode time of the float coder and of the integer coder before and after a
change, in one process, alternating on each image (the machine is shared: their ratio is the
fair number).

    python bench/results/portable/before_after.py BEFORE_COMMIT [--limit N] [--repeats R]
        [--out FILE]

Codes of the Kodak images at 8 iterations with `default-v1` (then shipped as `default`);
"before" is the integer coder of BEFORE_COMMIT (its `tfrnn` package extracted with `git
archive` and imported under another name), applied to the same context model; "after" and
"float" are this checkout's. Every coder's payloads are checked equal to the others' (integer)
and to decode exactly. Wall and CPU (process) seconds per image, means over images and repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]


def old_package(commit: str, work: Path) -> None:
    """`tfrnn` of `commit` as the package `tfrnn_before` under `work`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "tfrnn"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    (work / "tfrnn").rename(work / "tfrnn_before")
    for path in (work / "tfrnn_before").rglob("*.py"):
        text = re.sub(r"\btfrnn\.", "tfrnn_before.", path.read_text())
        path.write_text(text.replace("from tfrnn import", "from tfrnn_before import"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    old_package(args.before, work)
    sys.path.append(str(work))
    import tfrnn_before.integer_context as before_integer
    import tfrnn_before.range_coding as before_coding

    from tfrnn.codec import load_codec
    from tfrnn.images import load_image

    codec = load_codec("default-v1")
    context = codec.bundle.context_model
    before = before_integer.IntegerCheckerboardContextModel.__new__(
        before_integer.IntegerCheckerboardContextModel)
    before_integer.IntegerCheckerboardContextModel.__init__(before, context)
    coders = {"float": codec.coders["checkerboard"],
              "integer_before": before_coding.IntegerCheckerboardCoder(before),
              "integer_after": codec.coders["checkerboard-integer"]}
    kodak = Path(os.environ.get("TFRNN_SHARED", REPO.parent / "shared")) / "data" / "kodak"
    paths = sorted(kodak.glob("*.png"))[: args.limit]
    all_codes = [codec.encode(load_image(p), 8)[0] for p in paths]
    for coder in coders.values():  # trace once
        coder.decode(coder.encode(all_codes[0]), *all_codes[0].shape[1:3])
    times = {k: {m: [] for m in ("encode_s", "decode_s", "encode_cpu_s", "decode_cpu_s")}
             for k in coders}
    for _ in range(args.repeats):
        for codes in all_codes:
            payloads = {}
            for name, coder in coders.items():
                start, cpu = time.perf_counter(), time.process_time()
                payloads[name] = coder.encode(codes)
                times[name]["encode_s"].append(time.perf_counter() - start)
                times[name]["encode_cpu_s"].append(time.process_time() - cpu)
                start, cpu = time.perf_counter(), time.process_time()
                decoded = coder.decode(payloads[name], *codes.shape[1:3])
                times[name]["decode_s"].append(time.perf_counter() - start)
                times[name]["decode_cpu_s"].append(time.process_time() - cpu)
                assert np.array_equal(decoded, codes), name
            assert payloads["integer_before"] == payloads["integer_after"]
    report = {"before": args.before, "images": [p.name for p in paths],
              "repeats": args.repeats, "iterations": 8,
              "per_image": {k: {m: float(np.mean(v)) for m, v in t.items()}
                            for k, t in times.items()},
              "ratio_to_float": {k: {m: float(np.sum(v) / np.sum(times["float"][m]))
                                     for m, v in t.items()}
                                 for k, t in times.items() if k != "float"},
              "load_average_at_end": os.getloadavg()}
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
