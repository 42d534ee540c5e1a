"""Export for TensorFlow Serving (`tfrnn export`) and a REST client for it (`tfrnn client`).

- `savedmodel`: the tf.Module whose tf.functions are the served signatures;
- `writer`: one version directory (SavedModel, metadata asset, warmup requests), atomically;
- `warmup`: the `assets.extra/tf_serving_warmup_requests` records;
- `op_check`: every op in the graph must be a stock TensorFlow op (no custom ops);
- `cli`: `tfrnn export`; `client`: `tfrnn client`; `standin`: a local stand-in for TF
  Serving's REST API (for tests; not TF Serving); `bench`: size and latency of exports.
"""
