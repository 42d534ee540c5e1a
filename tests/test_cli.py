"""The `tfrnn` dispatcher: help, unknown commands, one-line errors."""

from tfrnn import cli


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_unknown_command_is_one_line(capsys):
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown command" in err[0]


def test_tensorflow_import_lines_are_hidden():
    """A command that imports TensorFlow prints none of its C++ import-time lines, even when
    the user's environment does not set TF_CPP_MIN_LOG_LEVEL."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "tfrnn", "bench", "model", "--help"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout and result.stderr == ""
