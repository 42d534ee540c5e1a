"""`tfrnn client`: compress and decompress through a running TensorFlow Serving (REST API).

Only the standard library (urllib, json, base64), numpy, `tfrnn.file_format` and
`tfrnn.tiling`: the server runs the networks. A request is TF Serving's columnar `:predict`
format, binary strings as `{"b64": ...}`::

    POST /v1/models/NAME[/versions/N]:predict
    {"signature_name": "serving_default",
     "inputs": {"image_bytes": {"b64": "..."}, "iterations": 8}}

The files are raw-mode `.tfrnn` files (no entropy coding, which needs the range coder: see
`tfrnn compress`), byte for byte what `tfrnn compress --raw` writes with the same model and
the export's tile size, so `tfrnn decompress` reads them too. The server's `codes_bytes` hold
the whole image's code map; a file of more than one tile (format version 3) holds each tile's
bits apart, so the client moves bits between the two layouts. `decompress` accepts raw-mode
files whose tiles are the server's.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfrnn import file_format, tiling
from tfrnn.atomic import write_bytes
from tfrnn.cli import ArgumentParser
from tfrnn.errors import UserError
from tfrnn.images import encode_png, read_bytes


class Server:
    """A TF Serving REST endpoint for one model (optionally one version)."""

    def __init__(self, url: str, name: str, version: int | None = None,
                 timeout: float = 600.0):
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise UserError(f"--server {url}: expected http://HOST:PORT")
        path = f"/v1/models/{name}" + (f"/versions/{version}" if version is not None else "")
        self.model_url = self.url + path
        self.timeout = timeout

    def _post(self, url: str, body: dict) -> Any:
        request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            try:
                answer = json.loads(e.read())
            except ValueError:
                answer = None
            message = answer.get("error") if isinstance(answer, dict) else None
            lines = str(message or e.reason or "").strip().splitlines()
            raise UserError(f"server {self.url}: HTTP {e.code}: "
                            f"{lines[0][:300] if lines else 'no message'}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise UserError(f"cannot reach {self.url}: {reason}") from None
        except ValueError:
            raise UserError(f"server {self.url}: answer is not JSON") from None

    def predict(self, signature: str, inputs: dict[str, Any],
                expect: Sequence[str]) -> dict[str, Any]:
        """Run one signature (columnar format); returns its named outputs (`expect` at least)."""
        answer = self._post(self.model_url + ":predict",
                            {"signature_name": signature, "inputs": inputs})
        outputs = answer.get("outputs") if isinstance(answer, dict) else None
        if not isinstance(outputs, dict) or not set(expect) <= set(outputs):
            raise UserError(f"server {self.url}: {signature} answered without "
                            f"{', '.join(expect)} (not a tfrnn export?)")
        return outputs


def b64(data: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(data).decode("ascii")}


def unb64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(value["b64"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"server answer: {what} is not base64 bytes") from None


def _model_id(fingerprint: Any) -> bytes:
    try:
        return bytes.fromhex(fingerprint)[: file_format.MODEL_ID_BYTES]
    except (TypeError, ValueError):
        raise UserError("server answer: codec_fingerprint is not hex") from None


def _code_map(height: int, width: int, stride: int) -> tuple[int, int]:
    return -(-height // stride), -(-width // stride)


def raw_file(codes: bytes, iterations: int, height: int, width: int, tile: int, stride: int,
             model_id: bytes) -> bytes:
    """The raw-mode file of the served whole-map `codes` (`iterations` equal parts), with
    one part per tile when the image has more than one tile of `tile` px."""
    if iterations < 1 or len(codes) % iterations:
        raise UserError(f"server answer: codes_bytes do not split into {iterations} iterations")
    per = len(codes) // iterations
    tiles = tiling.grid(height, width, tile)
    header = file_format.Header("raw", model_id, height, width,
                                tile=tile if len(tiles) > 1 else 0)
    if header.version < 3:
        return file_format.write(header, [codes[t * per:(t + 1) * per]
                                          for t in range(iterations)])
    h, w = _code_map(height, width, stride)
    bits = np.unpackbits(np.frombuffer(codes, np.uint8)).reshape(iterations, h, w, -1)
    return file_format.write(header, [file_format.join_tiles(
        [np.packbits(bits[t][tl.cells(stride)]).tobytes() for tl in tiles])
        for t in range(iterations)])


def whole_map(container: file_format.Container, iterations: int, stride: int,
              bits: int) -> bytes:
    """The served layout (the whole code map, C order) of a raw file's first iterations."""
    header = container.header
    if header.tiles == 1:
        return b"".join(container.payloads[:iterations])
    h, w = _code_map(header.height, header.width, stride)
    out = np.zeros((iterations, h, w, bits), np.uint8)
    for tl in tiling.grid(header.height, header.width, header.tile):
        rows, columns = tl.cells(stride)
        shape = (rows.stop - rows.start, columns.stop - columns.start, bits)
        for t in range(iterations):
            part = container.parts[t][tl.index]
            count = int(np.prod(shape))
            if len(part) != (count + 7) // 8:
                raise UserError(f"iteration {t + 1}, tile {tl.index + 1}: raw part has "
                                f"{len(part)} bytes, expected {(count + 7) // 8}")
            out[t, rows, columns] = np.unpackbits(np.frombuffer(part, np.uint8),
                                                  count=count).reshape(shape)
    return np.packbits(out).tobytes()


def compress(server: Server, image: bytes, iterations: int) -> bytes:
    """Encoded image bytes (PNG, JPEG, GIF or BMP) -> a raw-mode `.tfrnn` file."""
    out = server.predict("serving_default", {"image_bytes": b64(image), "iterations": iterations},
                         ("codes_bytes", "height", "width", "iterations", "tile_size", "stride",
                          "codec_fingerprint"))
    return raw_file(unb64(out["codes_bytes"], "codes_bytes"), int(out["iterations"]),
                    int(out["height"]), int(out["width"]), int(out["tile_size"]),
                    int(out["stride"]), _model_id(out["codec_fingerprint"]))


def _layout(server: Server) -> tuple[int, int, int]:
    """(tile size, stride, bits) of the served model, from compressing one pixel."""
    pixel = encode_png(np.zeros((1, 1, 3), np.uint8))
    out = server.predict("serving_default", {"image_bytes": b64(pixel), "iterations": 1},
                         ("tile_size", "stride", "code_shape"))
    return int(out["tile_size"]), int(out["stride"]), int(out["code_shape"][-1])


def decompress(server: Server, data: bytes, name: str, iterations: int | None) -> bytes:
    """A raw-mode `.tfrnn` file -> PNG bytes, decoding its first `iterations` (default: all)."""
    container = file_format.parse(data, name)
    header = container.header
    if header.mode != "raw":
        raise UserError(f"{name}: entropy-coded ({header.mode}); the server decodes raw-mode "
                        "files only: use `tfrnn decompress` with the model")
    if header.adaptive:
        raise UserError(f"{name}: spatially adaptive; the server decodes files that code "
                        "every block only: use `tfrnn decompress` with the model")
    stored = container.iterations
    if iterations is not None and not 1 <= iterations <= stored:
        raise UserError(f"--iterations {iterations}: {name} holds 1..{stored}")
    count = iterations or stored
    tile, stride, bits = _layout(server)
    if (tiling.grid(header.height, header.width, header.tile)
            != tiling.grid(header.height, header.width, tile)):
        raise UserError(f"{name}: coded in tiles of {header.tile or 'the whole image'}; the "
                        f"server codes tiles of {tile or 'the whole image'} px: use `tfrnn "
                        "decompress` with the model")
    try:
        codes = whole_map(container, count, stride, bits)
    except UserError as e:
        raise UserError(f"{name}: {e} (not made by the served model?)") from None
    out = server.predict("decompress", {
        "codes_bytes": b64(codes), "height": header.height,
        "width": header.width, "iterations": count}, ("image_bytes", "codec_fingerprint"))
    served = _model_id(out["codec_fingerprint"])
    if served != header.model_id:
        raise UserError(f"{name} was made by model {header.model_id.hex()}, but the server "
                        f"serves {served.hex()}")
    return unb64(out["image_bytes"], "image_bytes")


def main(argv: Sequence[str]) -> int:
    """`tfrnn client compress|decompress --server URL --name NAME IN OUT`."""
    parser = ArgumentParser(prog="tfrnn client",
                            description="Compress/decompress through TF Serving's REST API.")
    parser.add_argument("action", choices=("compress", "decompress"))
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--server", default="http://localhost:8501",
                        help="TF Serving REST address (default: %(default)s)")
    parser.add_argument("--name", required=True, help="served model name")
    parser.add_argument("--version", type=int, help="model version (default: the latest)")
    parser.add_argument("--iterations", type=int,
                        help="compress: iterations to send (default 8); decompress: "
                             "iterations to decode (default: all in the file)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for one answer (default: %(default)s)")
    args = parser.parse_args(argv)
    server = Server(args.server, args.name, args.version, args.timeout)
    data = read_bytes(args.input)
    if args.action == "compress":
        iterations = 8 if args.iterations is None else args.iterations
        result = compress(server, data, iterations)
        write_bytes(args.output, result)
        print(f"{args.input} -> {args.output}: {len(result)} bytes, {iterations} iterations "
              "(raw mode, no entropy coding)")
    else:
        result = decompress(server, data, str(args.input), args.iterations)
        write_bytes(args.output, result)
        print(f"{args.input} -> {args.output}: PNG, {len(result)} bytes")
    return 0
