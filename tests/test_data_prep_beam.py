"""`tfrnn prepare` on Beam beyond one process: the DirectRunner with two worker processes, and
the pipeline a distributed runner (Dataflow) would get, built and serialized without running."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import test_data_prep as local

from data_prep import beam_pipeline
from data_prep.prepare import prepare
from data_prep.shards import make_plan
from data_prep.sources import open_source
from data_prep.tiles import Settings

photos, prepared, reference = local.photos, local.prepared, local.reference  # fixtures
REPO = Path(__file__).resolve().parents[1]
PROJECT = ("pyproject.toml", "setup.py", "README.md", "tfrnn", "data_prep", "export")


def test_direct_runner_on_two_processes_writes_the_local_shards(photos, tmp_path, reference,
                                                                 monkeypatch):
    # The SDK workers are new Python processes: they import data_prep from the repository.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    out = tmp_path / "beam"
    outcome = prepare(open_source(str(photos)), str(out), images_per_shard=3,
                      runner="DirectRunner",
                      pipeline_args=["--direct_running_mode=multi_processing",
                                     "--direct_num_workers=2"])
    assert outcome.shards_written == 3
    assert local.shard_bytes(out) == reference
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_dataflow_pipeline_serializes_and_its_steps_load_from_the_staged_package(photos,
                                                                                tmp_path):
    """Built with the options of a Dataflow launch (not run): the graph converts to the
    runner API, the project stages as the sdist workers install (`--setup_file`), and every
    step's pickled function loads in a fresh process that has only that package."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.stager import Stager

    project = tmp_path / "project"  # a copy: building the sdist writes egg-info beside it
    project.mkdir()
    for name in PROJECT:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, project / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, project / name)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pillow==11.3.0\n")
    options = PipelineOptions([
        "--runner=DataflowRunner", "--project=my-project", "--region=europe-west4",
        "--temp_location=gs://my-bucket/tmp", f"--setup_file={project / 'setup.py'}",
        f"--requirements_file={requirements}"])
    source = open_source(str(photos))
    out = tmp_path / "out"
    out.mkdir()
    plan = beam_pipeline.write_plan(source, make_plan(source, Settings(), 3), str(out))
    pipeline = beam.Pipeline(options=options)
    beam_pipeline.build(pipeline, plan, Settings(), str(out))
    assert type(pipeline.runner).__name__ == "DataflowRunner"
    proto = pipeline.to_runner_api()
    names = {t.unique_name for t in proto.components.transforms.values()}
    assert {"ReadPlan", "SpreadShards", "ListImages", "SpreadImages", "Mine", "ByShard",
            "Write"} <= names
    payloads = [t.spec.payload for t in proto.components.transforms.values()
                if t.spec.urn == "beam:transform:pardo:v1"]
    assert payloads

    staged = tmp_path / "staged"
    resources = Stager.create_job_resources(
        options, str(staged), populate_requirements_cache=lambda *args, **kwargs: None,
        log_submission_env_dependencies=False)
    names = [r.role_payload for r in resources]
    (sdist,) = (p for p in staged.iterdir() if p.name.endswith(".tar.gz"))
    assert any(b"requirements.txt" in n for n in names) and sdist.name.startswith("tfrnn")
    worker = tmp_path / "worker"
    # extraction filters arrived in Python 3.11.4; the sdist is our own, built just above
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(sdist) as tar:
        tar.extractall(worker, **safe)
    (root,) = worker.iterdir()
    assert (root / "data_prep" / "beam_pipeline.py").is_file()
    assert (root / "tfrnn" / "errors.py").is_file()

    encoded = ",".join(base64.b64encode(p).decode() for p in payloads)
    script = ("import base64, sys\n"
              "from apache_beam.internal import pickler\n"
              "from apache_beam.portability.api import beam_runner_api_pb2 as api\n"
              "for p in sys.argv[1].split(','):\n"
              "    payload = api.ParDoPayload.FromString(base64.b64decode(p))\n"
              "    fn = getattr(pickler.loads(payload.do_fn.payload)[0], '_fn', None)\n"
              "    for f in [fn, *(c.cell_contents for c in getattr(fn, '__closure__', None)"
              " or ())]:\n"
              "        print(getattr(f, '__module__', ''), getattr(f, '__name__', ''))\n"
              "print(sys.modules['data_prep.beam_pipeline'].__file__)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", script, encoded], cwd=worker,
                            env={**env, "PYTHONPATH": str(root)}, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    *steps, module = result.stdout.strip().splitlines()
    for fn in ("_shard_items", "_mine", "_write"):
        assert f"data_prep.beam_pipeline {fn}" in steps, steps
    assert Path(module) == root / "data_prep" / "beam_pipeline.py"
