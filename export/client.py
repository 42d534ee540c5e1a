"""`tfrnn client`: compress and decompress through a running TensorFlow Serving (REST API).

The server runs the networks; the client moves bits. A request is TF Serving's columnar
`:predict` format, binary strings as `{"b64": ...}`::

    POST /v1/models/NAME[/versions/N]:predict
    {"signature_name": "serving_default",
     "inputs": {"image_bytes": {"b64": "..."}, "iterations": 8}}

The files are byte for byte those of `tfrnn compress` with the same model and the export's
tile size, so `tfrnn decompress` reads them, and `tfrnn client decompress` reads the files of
`tfrnn compress` made with that tile size:

- **entropy-coded** (the default when the server has a context model, i.e. a
  `bit_probabilities` signature): the portable integer modes (FORMAT.md modes 3 and 4). The
  client range-codes locally with `tfrnn.range_coding` (so it needs tfrnn installed, with
  tensorflow-compression-ops); the server gives every bit's table (`table_index`, the integer
  context model's: the same on every machine). Compressing asks for the signatures (GET
  metadata), the codes, then for each tile's tables at once (teacher forcing): 2 + tiles
  requests. Decompressing a checkerboard
  (mode 3) file asks for the tables of each pass as the decoding proceeds — pass s of
  iteration t needs the bits of the passes before it — so 2·G requests per iteration and
  tile (G = `context_groups`, 8 for the shipped model: 16 per iteration), each sending the
  tile's codes of iterations 1..t (teacher forcing ignores the bits not decoded yet), plus
  one to learn the served model's tile size and id, one for G, and one `decompress`. A raster
  (mode 4) file would need one request per code position: refused (use `tfrnn decompress`),
  as are the float modes 1 and 2 (their probabilities are not portable) and spatially
  adaptive files;
- **raw** (`--raw`, or a server without a context model): the codes' bits (mode 0), read and
  written with the standard library and numpy only.

The server's `codes_bytes` hold the whole image's code map; a file of more than one tile
(format version 3) holds each tile's bits apart, so the client moves bits between the two
layouts; each tile is entropy-coded apart, as `tfrnn compress` does. `decompress` accepts
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

    def signatures(self) -> set[str]:
        """The served signatures' names (the model's metadata)."""
        url = self.model_url + "/metadata"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                answer = json.loads(response.read())
            return set(answer["metadata"]["signature_def"]["signature_def"])
        except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError, KeyError,
                TypeError):
            raise UserError(f"server {self.url}: no signature metadata at {url}") from None


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


def _write(mode: str, model_id: bytes, height: int, width: int, tile: int,
           parts: list[list[bytes]]) -> bytes:
    """The file of `parts` [iteration][tile] (as `tfrnn compress` writes it)."""
    tiles = len(parts[0])
    header = file_format.Header(mode, model_id, height, width, tile=tile if tiles > 1 else 0)
    if header.version < 3:
        return file_format.write(header, [p[0] for p in parts])
    return file_format.write(header, [file_format.join_tiles(p) for p in parts])


def _unpack(codes: bytes, iterations: int, height: int, width: int, stride: int) -> np.ndarray:
    """The served whole-map `codes` as ±1 float32 [iterations, h, w, bits]."""
    if iterations < 1 or len(codes) % iterations:
        raise UserError(f"server answer: codes_bytes do not split into {iterations} iterations")
    h, w = _code_map(height, width, stride)
    bits = np.unpackbits(np.frombuffer(codes, np.uint8))
    if bits.size % (iterations * h * w):
        raise UserError(f"server answer: codes_bytes do not fit a {h}x{w} code map")
    return bits.reshape(iterations, h, w, -1).astype(np.float32) * 2.0 - 1.0


def raw_file(codes: bytes, iterations: int, height: int, width: int, tile: int, stride: int,
             model_id: bytes) -> bytes:
    """The raw-mode file of the served whole-map `codes` (`iterations` equal parts), with
    one part per tile when the image has more than one tile of `tile` px."""
    bits = _unpack(codes, iterations, height, width, stride)
    return _write("raw", model_id, height, width, tile, [
        [np.packbits(bits[t][tl.cells(stride)].reshape(-1) > 0).tobytes()
         for tl in tiling.grid(height, width, tile)] for t in range(iterations)])


class Context:
    """The served context model's tables; `kind` and `groups` (None for raster) are known
    after the first answer."""

    def __init__(self, server: Server):
        self.server = server
        self.kind: str | None = None
        self.groups: int | None = None

    def tables(self, codes: np.ndarray) -> np.ndarray:
        """Every bit's table index [T, h, w, bits] (int32) for codes [T, h, w, bits] (one
        tile's, ±1; 0 where not known yet), each given the bits before it."""
        out = self.server.predict("bit_probabilities", {
            "codes": codes[None].astype(np.int8).tolist()},
            ("table_index", "context_kind", "context_groups"))
        self.kind, self.groups = str(out["context_kind"]), int(out["context_groups"]) or None
        if self.kind not in ("checkerboard", "raster"):
            raise UserError(f"server answer: unknown context_kind {self.kind!r}")
        index = np.asarray(out["table_index"])
        if index.shape != (1,) + codes.shape or not np.issubdtype(index.dtype, np.integer):
            raise UserError(f"server answer: table_index has shape {index.shape}, expected "
                            f"{(1,) + codes.shape}")
        return index[0].astype(np.int32)


def entropy_file(context: Context, codes: np.ndarray, height: int, width: int, tile: int,
                 stride: int, model_id: bytes) -> bytes:
    """The portable entropy-coded file (mode 3 or 4) of whole-map codes [T, h, w, bits]:
    each tile's tables from the server (one request per tile), range-coded here."""
    from tfrnn.range_coding import payloads_from_table_indices

    parts: list[list[bytes]] = [[] for _ in codes]
    for tl in tiling.grid(height, width, tile):
        part = codes[(slice(None),) + tl.cells(stride)]
        for t, payload in enumerate(payloads_from_table_indices(
                part, context.tables(part), context.groups)):
            parts[t].append(payload)
    return _write(f"{context.kind}-integer", model_id, height, width, tile, parts)


def entropy_decode(context: Context, container: file_format.Container, iterations: int,
                   stride: int, bits: int) -> np.ndarray:
    """The whole code map [iterations, h, w, bits] of a mode-3 file, tile by tile: every
    pass's tables from the server as the decoding proceeds (`decode_passes`)."""
    from tfrnn.range_coding import CHECK, bits_check, checkerboard_masks, decode_passes

    header = container.header
    context.tables(np.zeros((1, 1, 1, bits), np.float32))  # learns the groups
    out = np.zeros((iterations,) + _code_map(header.height, header.width, stride) + (bits,),
                   np.float32)
    for tl in tiling.grid(header.height, header.width, header.tile):
        cells = tl.cells(stride)
        codes = np.zeros((iterations,) + out[0][cells].shape, np.float32)
        masks = checkerboard_masks(*codes.shape[1:], context.groups)
        for t in range(iterations):
            payload = container.parts[t][tl.index]
            where = f"iteration {t + 1}" + (f", tile {tl.index + 1}" if header.tiles > 1
                                             else "")
            decoded = None if len(payload) < CHECK.size else decode_passes(
                payload[:-CHECK.size], masks, np.ones(codes.shape[1:3], bool), bits,
                lambda step, known, t=t, codes=codes: context.tables(
                    np.concatenate([codes[:t], known[None]]))[t])
            if decoded is None or bits_check(decoded) != payload[-CHECK.size:]:
                raise UserError(f"{where}: entropy decoding failed (a damaged file, or not "
                                "made by the served model)")
            codes[t] = decoded
        out[(slice(None),) + cells] = codes
    return out


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


def compress(server: Server, image: bytes, iterations: int, raw: bool = False) -> bytes:
    """Encoded image bytes (PNG, JPEG, GIF or BMP) -> a `.tfrnn` file: entropy-coded when the
    server has a context model (`entropy_file`), unless `raw`."""
    out = server.predict("serving_default", {"image_bytes": b64(image), "iterations": iterations},
                         ("codes_bytes", "height", "width", "iterations", "tile_size", "stride",
                          "codec_fingerprint", "model_fingerprint"))
    codes = unb64(out["codes_bytes"], "codes_bytes")
    layout = (int(out["iterations"]), int(out["height"]), int(out["width"]),
              int(out["tile_size"]), int(out["stride"]))
    if raw or "bit_probabilities" not in server.signatures():
        return raw_file(codes, *layout, _model_id(out["codec_fingerprint"]))
    bits = _unpack(codes, *layout[:3], layout[4])
    return entropy_file(Context(server), bits, *layout[1:],
                        _model_id(out["model_fingerprint"]))


def _layout(server: Server) -> tuple[int, int, int, bytes]:
    """(tile size, stride, bits, model id of entropy-coded files) of the served model, from
    compressing one pixel."""
    pixel = encode_png(np.zeros((1, 1, 3), np.uint8))
    out = server.predict("serving_default", {"image_bytes": b64(pixel), "iterations": 1},
                         ("tile_size", "stride", "code_shape", "model_fingerprint"))
    return (int(out["tile_size"]), int(out["stride"]), int(out["code_shape"][-1]),
            _model_id(out["model_fingerprint"]))


def decompress(server: Server, data: bytes, name: str, iterations: int | None) -> bytes:
    """A raw-mode or checkerboard-integer `.tfrnn` file -> PNG bytes, decoding its first
    `iterations` (default: all)."""
    container = file_format.parse(data, name)
    header = container.header
    if header.mode in ("checkerboard", "raster"):
        raise UserError(f"{name}: entropy-coded with a float context model ({header.mode}), "
                        "whose probabilities are not portable: use `tfrnn decompress` with "
                        "the model")
    if header.mode == "raster-integer":
        raise UserError(f"{name}: raster-integer; the client would need one request per code "
                        "position: use `tfrnn decompress` with the model")
    if header.adaptive:
        raise UserError(f"{name}: spatially adaptive; the server decodes files that code "
                        "every block only: use `tfrnn decompress` with the model")
    stored = container.iterations
    if iterations is not None and not 1 <= iterations <= stored:
        raise UserError(f"--iterations {iterations}: {name} holds 1..{stored}")
    count = iterations or stored
    tile, stride, bits, model_id = _layout(server)
    if (tiling.grid(header.height, header.width, header.tile)
            != tiling.grid(header.height, header.width, tile)):
        raise UserError(f"{name}: coded in tiles of {header.tile or 'the whole image'}; the "
                        f"server codes tiles of {tile or 'the whole image'} px: use `tfrnn "
                        "decompress` with the model")
    if header.mode == "raw":
        try:
            codes = whole_map(container, count, stride, bits)
        except UserError as e:
            raise UserError(f"{name}: {e} (not made by the served model?)") from None
    else:
        _check_model(name, header.model_id, model_id)
        try:
            codes = np.packbits(entropy_decode(Context(server), container, count,
                                               stride, bits) > 0).tobytes()
        except UserError as e:
            raise UserError(f"{name}: {e}") from None
    out = server.predict("decompress", {
        "codes_bytes": b64(codes), "height": header.height,
        "width": header.width, "iterations": count}, ("image_bytes", "codec_fingerprint"))
    if header.mode == "raw":
        _check_model(name, header.model_id, _model_id(out["codec_fingerprint"]))
    return unb64(out["image_bytes"], "image_bytes")


def _check_model(name: str, made_by: bytes, served: bytes) -> None:
    if served != made_by:
        raise UserError(f"{name} was made by model {made_by.hex()}, but the server serves "
                        f"{served.hex()}")


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
    parser.add_argument("--raw", action="store_true",
                        help="compress: write the raw bits (mode 0), no entropy coding")
    args = parser.parse_args(argv)
    server = Server(args.server, args.name, args.version, args.timeout)
    data = read_bytes(args.input)
    if args.action == "compress":
        iterations = 8 if args.iterations is None else args.iterations
        result = compress(server, data, iterations, args.raw)
        write_bytes(args.output, result)
        mode = file_format.parse(result).header.mode
        print(f"{args.input} -> {args.output}: {len(result)} bytes, {iterations} iterations "
              f"({mode} mode)")
    else:
        result = decompress(server, data, str(args.input), args.iterations)
        write_bytes(args.output, result)
        print(f"{args.input} -> {args.output}: PNG, {len(result)} bytes")
    return 0
