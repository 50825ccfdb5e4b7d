"""Shared fixtures. The Epoch data is read from ../shared/data and never copied here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import scalinglaw_jax  # noqa: F401  (turns on float64)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get("SCALINGLAW_DATA_DIR", REPO_ROOT.parent / "shared" / "data")
).resolve()
EPOCH_FILE = "svg_extracted_data.csv"


@pytest.fixture(scope="session")
def epoch_csv() -> Path:
    """Path of Epoch AI's Chinchilla extraction; skips where ../shared/data is absent."""
    path = SHARED_DATA / EPOCH_FILE
    if not path.is_file():
        pytest.skip(f"{path} not found: the Epoch data lives in ../shared/data (not shipped)")
    return path
