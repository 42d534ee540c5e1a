"""A stand-in for TensorFlow Serving's REST API, to test the client where no server binary is.

NOT TensorFlow Serving: a small `http.server` that loads the latest (or a given) version of a
SavedModel with `tf.saved_model.load` and answers the same JSON protocol for what the client
uses — `GET /v1/models/NAME[/versions/N][/metadata]` and `POST ...:predict` in the columnar
(`"inputs"`) format with `{"b64": ...}` binary strings, outputs whose name ends in `_bytes`
base64-encoded, errors as `{"error": ...}` (InvalidArgument -> 400). It listens on 127.0.0.1
only and stops by itself after `lifetime` seconds.

    python -m export.standin --model-base-path DIR --name NAME [--port 8501] [--lifetime 600]
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from export.cli import versions

ROUTE = re.compile(r"/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?"
                   r"(?P<verb>/metadata|:predict)?")


class RestError(Exception):
    """An error answered as `{"error": message}` with an HTTP status."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def _from_json(value: Any, spec: tf.TensorSpec) -> tf.Tensor:
    """A JSON value (nested lists, `{"b64": ...}` for bytes) -> a tensor of `spec`'s dtype."""

    def strings(v):
        if isinstance(v, list):
            return [strings(x) for x in v]
        if isinstance(v, dict):
            return base64.b64decode(v["b64"])
        return v.encode() if isinstance(v, str) else v

    if spec.dtype == tf.string:
        return tf.constant(strings(value), tf.string)
    return tf.constant(np.asarray(value, dtype=spec.dtype.as_numpy_dtype))


def _session_message(message: str) -> str:
    """An eager error message without Python's framing, as a Session (TF Serving) reports it."""
    framing = re.compile(r"Graph execution error:|Detected at node .*|<stack traces unavailable>|")
    lines = message.splitlines()
    while lines and framing.fullmatch(lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines) or message


def _to_json(name: str, value: np.ndarray) -> Any:
    """A tensor -> JSON; strings are `{"b64": ...}` when the output name ends in `_bytes`."""
    if value.dtype == object:
        encode = ((lambda b: {"b64": base64.b64encode(b).decode()}) if name.endswith("_bytes")
                  else (lambda b: b.decode("utf-8", "replace")))
        return np.vectorize(encode, otypes=[object])(value).tolist()
    return value.tolist()


class Servable:
    """One loaded SavedModel version and its signature defs."""

    def __init__(self, model_base_path: Path, name: str, version: int):
        self.name, self.version = name, version
        path = model_base_path / name / str(version)
        self.model = tf.saved_model.load(str(path))
        proto = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
        graph = next(g for g in proto.meta_graphs if "serve" in g.meta_info_def.tags)
        self.signature_defs = {k: v for k, v in graph.signature_def.items()
                               if not k.startswith("__")}

    def status(self) -> dict:
        return {"model_version_status": [{
            "version": str(self.version), "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}}]}

    def metadata(self) -> dict:
        defs = {k: json_format.MessageToDict(v, preserving_proto_field_name=True)
                for k, v in self.signature_defs.items()}
        return {"model_spec": {"name": self.name, "signature_name": "",
                               "version": str(self.version)},
                "metadata": {"signature_def": {"signature_def": defs}}}

    def predict(self, body: dict) -> dict:
        signature = body.get("signature_name") or "serving_default"
        if signature not in self.signature_defs:
            raise RestError(HTTPStatus.BAD_REQUEST,
                            f'Serving signature name: "{signature}" not found in signature def')
        if "inputs" not in body:
            raise RestError(HTTPStatus.BAD_REQUEST,
                            'this stand-in answers the columnar "inputs" format only')
        function = self.model.signatures[signature]
        specs = function.structured_input_signature[1]
        inputs = body["inputs"]
        if not isinstance(inputs, dict):
            if len(specs) != 1:
                raise RestError(HTTPStatus.BAD_REQUEST, "inputs must name each input tensor")
            inputs = {next(iter(specs)): inputs}
        missing = sorted(set(specs) - set(inputs))
        unknown = sorted(set(inputs) - set(specs))
        if missing or unknown:
            raise RestError(HTTPStatus.BAD_REQUEST,
                            f"inputs do not match signature {signature}: missing {missing}, "
                            f"unknown {unknown}")
        try:
            tensors = {k: _from_json(v, specs[k]) for k, v in inputs.items()}
        except (ValueError, TypeError, KeyError, OverflowError) as e:
            raise RestError(HTTPStatus.BAD_REQUEST, f"cannot convert inputs: {e}") from None
        try:
            outputs = {k: np.asarray(v.numpy(), dtype=object if v.dtype == tf.string else None)
                       for k, v in function(**tensors).items()}
        except tf.errors.InvalidArgumentError as e:
            raise RestError(HTTPStatus.BAD_REQUEST, _session_message(e.message)) from None
        except tf.errors.OpError as e:
            raise RestError(HTTPStatus.INTERNAL_SERVER_ERROR,
                            _session_message(e.message)) from None
        encoded = {k: _to_json(k, v) for k, v in outputs.items()}
        return {"outputs": next(iter(encoded.values())) if len(encoded) == 1 else encoded}


def make_handler(servable: Servable) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 60

        def log_message(self, format, *args):
            pass

        def _answer(self, status: HTTPStatus, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, verb_wanted: str | None) -> None:
            match = ROUTE.fullmatch(self.path)
            try:
                if not match or match["verb"] != verb_wanted:
                    raise RestError(HTTPStatus.NOT_FOUND, f"Malformed request: {self.path}")
                version = int(match["version"]) if match["version"] else servable.version
                if match["name"] != servable.name or version != servable.version:
                    raise RestError(HTTPStatus.NOT_FOUND,
                                    f"Servable not found for request: {match['name']}")
                if verb_wanted == ":predict":
                    length = int(self.headers.get("Content-Length", 0))
                    try:
                        body = json.loads(self.rfile.read(length))
                    except ValueError as e:
                        raise RestError(HTTPStatus.BAD_REQUEST, f"JSON Parse error: {e}") from None
                    if not isinstance(body, dict):
                        raise RestError(HTTPStatus.BAD_REQUEST, "request is not a JSON object")
                    payload = servable.predict(body)
                elif verb_wanted == "/metadata":
                    payload = servable.metadata()
                else:
                    payload = servable.status()
                self._answer(HTTPStatus.OK, payload)
            except RestError as e:
                self._answer(e.status, {"error": str(e)})
            except Exception as e:  # a server answers every request, even on its own bugs
                self._answer(HTTPStatus.INTERNAL_SERVER_ERROR,
                             {"error": f"{e.__class__.__name__}: {e}"})

        def do_GET(self):
            suffix = "/metadata" if self.path.endswith("/metadata") else None
            self._route(suffix)

        def do_POST(self):
            self._route(":predict")

    return Handler


class StandInServer:
    """The stand-in on 127.0.0.1:`port` (0 = any free port) in a background thread."""

    def __init__(self, model_base_path: str | Path, name: str, version: int | None = None,
                 port: int = 0, lifetime: float = 600.0):
        base = Path(model_base_path)
        available = versions(base / name)
        if not available:
            raise FileNotFoundError(f"no numeric version under {base / name}")
        self.servable = Servable(base, name, version or available[-1])
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), make_handler(self.servable))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.lifetime = lifetime
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,),
                                        daemon=True)
        self._timer = threading.Timer(lifetime, self.httpd.shutdown)

    def __enter__(self) -> StandInServer:
        self._thread.start()
        self._timer.start()
        return self

    def wait(self) -> None:
        """Block until the stand-in stops (its lifetime ends)."""
        self._thread.join()

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-base-path", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--lifetime", type=float, default=600.0,
                        help="seconds before the stand-in stops by itself")
    args = parser.parse_args()
    with StandInServer(args.model_base_path, args.name, port=args.port,
                       lifetime=args.lifetime) as server:
        print(f"stand-in (not TF Serving) at {server.url} for {args.lifetime:.0f} s")
        server.wait()


if __name__ == "__main__":
    main()
