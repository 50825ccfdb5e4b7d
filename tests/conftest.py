"""Shared fixtures. The Epoch data is read from ../shared/data and never copied here."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import pytest

import scalinglaw_jax  # noqa: F401  (turns on float64)

# JAX starts here, with its one CPU device: the CLI's default of one device per core applies
# only in a process where JAX has not started, so in-process CLI runs keep this device and
# tests do not depend on which of them ran first. Tests of several devices use subprocesses.
jax.devices()

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get("SCALINGLAW_DATA_DIR", REPO_ROOT.parent / "shared" / "data")
).resolve()
EPOCH_FILE = "svg_extracted_data.csv"


@pytest.fixture(scope="session", autouse=True)
def no_compile_cache():
    """In-process CLI runs without the persistent compilation cache, so that the suite's
    results never depend on entries an earlier test wrote. Tests of the cache give their
    subprocesses a folder of their own."""
    from scalinglaw_jax.core.compile_cache import CACHE_DIR_ENV, OFF

    previous = os.environ.get(CACHE_DIR_ENV)
    os.environ[CACHE_DIR_ENV] = OFF
    yield
    if previous is None:
        del os.environ[CACHE_DIR_ENV]
    else:
        os.environ[CACHE_DIR_ENV] = previous


@pytest.fixture(autouse=True)
def release_compiled_programs():
    """The suite's one process compiles programs of many shapes; after ~330 tests it reached
    ``vm.max_map_count``, where XLA crashed in its next compile (a segmentation fault in CI, an
    abort here). Each test starts below half of it (``release_programs_near_map_limit``)."""
    from scalinglaw_jax.core.compile_cache import release_programs_near_map_limit

    release_programs_near_map_limit()
    yield


@pytest.fixture(scope="session")
def epoch_csv() -> Path:
    """Path of Epoch AI's Chinchilla extraction; skips where ../shared/data is absent."""
    path = SHARED_DATA / EPOCH_FILE
    if not path.is_file():
        pytest.skip(f"{path} not found: the Epoch data lives in ../shared/data (not shipped)")
    return path


@pytest.fixture(scope="session")
def simulated_csv(tmp_path_factory) -> Path:
    """A Chinchilla-shaped IsoFLOP study (nine budgets, nine sizes each, 1% noise) as a CSV:
    the stand-in for the Epoch data wherever a test checks an invariant, not a known answer."""
    import jax

    from scalinglaw_jax.laws.simulate import simulate_isoflop

    table = simulate_isoflop(jax.random.key(2024), noise=0.01)
    path = tmp_path_factory.mktemp("simulated") / "isoflop.csv"
    table.to_csv(path, index=False)
    return path
