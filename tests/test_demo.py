"""`tfrnn demo --quick`: the main job end to end, as `make demo` runs it (CI mode)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tfrnn import cli


@pytest.mark.slow
def test_demo_quick_runs_every_stage(tmp_path):
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's
    result = subprocess.run([sys.executable, "-m", "tfrnn", "demo", "--quick", "--out", str(out)],
                            capture_output=True, text=True, timeout=1500, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Unable to register" not in result.stdout + result.stderr  # TF's import-time lines
    for stage in ("1/6", "2/6", "3/6", "4/6", "5/6", "6/6"):
        assert f"== {stage}" in result.stdout
    assert "SavedModel OK" in result.stdout
    assert "tfrnn compress --model thumb-conv-ln-lstm-ssim-colour icon.png" in result.stdout
    assert (out / "files" / "astronaut.tfrnn").stat().st_size > 0
    assert (out / "files" / "astronaut.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "bench" / "rd.png").is_file() and (out / "bench" / "table.md").is_file()
    assert (out / "run" / "model" / "model.json").is_file()


def test_demo_refuses_a_foreign_nonempty_output(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep me")
    assert cli.main(["demo", "--out", str(tmp_path), "--overwrite"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").exists()
