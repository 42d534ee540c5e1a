"""Shared fixtures. `../shared` (beside the repo) is optional: tests that need it skip cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow: its C++ import-time lines

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TFRNN_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (../shared is optional)")
    return path


@pytest.fixture(scope="session")
def kodak_dir() -> Path:
    return shared_path("data", "kodak")


@pytest.fixture(scope="session")
def train_dir() -> Path:
    return shared_path("data", "train")


@pytest.fixture(scope="session")
def anchors_dir() -> Path:
    return shared_path("anchors", "kodak")


@pytest.fixture(scope="session")
def astronaut():
    """A real photo that ships with scikit-image (uint8 512x512x3)."""
    from skimage import data

    return data.astronaut()
