"""A law defined in a test file, outside the package, through every command (--law FILE:NAME)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from scalinglaw_jax.cli import main
from scalinglaw_jax.laws import get_law
from scalinglaw_jax.laws.simulate import simulate_law

REPO_ROOT = Path(__file__).resolve().parents[1]
USER_LAW = f"{Path(__file__).with_name('user_law.py')}:law"
TRUTH = {"E": 1.7, "A": 500.0, "B": 1500.0, "alpha": 0.33}


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    n, d = np.meshgrid(np.geomspace(5e7, 1e10, 6), np.geomspace(1e9, 3e11, 6), indexing="ij")
    law = get_law(USER_LAW)  # simulate_law takes a Law value
    frame = simulate_law(jax.random.key(0), law, TRUTH, n.ravel(), d.ravel(), noise=0.005)
    path = tmp_path_factory.mktemp("law_cli") / "runs.csv"
    frame.to_csv(path, index=False)
    return path


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_fit_with_a_users_law(table, tmp_path):
    assert (
        main(["fit", str(table), "--approach", "3", "--law", USER_LAW, "--out", str(tmp_path)]) == 0
    )
    entry = summary(tmp_path)["approaches"]["3"]
    assert entry["law"] == "shared_exponent"
    assert set(entry["params"]) == set(TRUTH)
    assert entry["a"] == pytest.approx(0.5, abs=1e-9)  # equal exponents: half and half
    assert entry["params"]["alpha"] == pytest.approx(TRUTH["alpha"], rel=0.1)


def test_bootstrap_with_a_users_law(table, tmp_path):
    code = main(
        [
            "bootstrap",
            str(table),
            "--approach",
            "3",
            "--law",
            USER_LAW,
            "--resamples",
            "8",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    entry = summary(tmp_path)["bootstrap"]["3"]
    assert entry["law"] == "shared_exponent"
    assert set(entry["se"]) == {"a", "b", *TRUTH}
    assert entry["se"]["alpha"] > 0


def test_sample_with_a_users_law(table, tmp_path):
    code = main(
        [
            "sample",
            str(table),
            "--approach",
            "3",
            "--law",
            USER_LAW,
            "--chains",
            "1",
            "--draws",
            "60",
            "--warmup",
            "60",
            "--learning-rate",
            "1",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    entry = summary(tmp_path)["posterior"]["3"]
    assert entry["law"] == "shared_exponent"
    assert {"E", "A", "B", "alpha", "sigma"} <= set(entry)
    low, high = entry["alpha"]["interval"]
    assert low < high


def test_calibrate_with_a_users_law(tmp_path):
    """Run as a user runs it, ``python -m scalinglaw_jax.cli``, in a process of its own."""
    argv = [
        "calibrate",
        "--law",
        USER_LAW,
        "--approach",
        "3",
        "--studies",
        "2",
        "--resamples",
        "10",
        "--chains",
        "1",
        "--draws",
        "40",
        "--warmup",
        "40",
        "--no-progress",
        "--out",
        str(tmp_path),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "scalinglaw_jax.cli", *argv],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads((tmp_path / "calibration.json").read_text())
    design = saved["design"]
    assert design["parametric_law"] == "shared_exponent"
    # Studies are drawn from the user's law (its closest member to the paper's law), whose
    # equal exponents put a at exactly 1/2.
    assert design["parametric_law_truth"]["a"] == pytest.approx(0.5, abs=1e-12)
    assert {row["method"] for row in saved["coverage"]} == {"bootstrap", "posterior"}


@pytest.mark.parametrize(
    ("law", "words"),
    [
        ("no_such_law", "unknown law 'no_such_law'"),
        ("missing.py:law", "law file 'missing.py' does not exist"),
        (f"{USER_LAW}x", "defines no 'lawx'"),
    ],
)
def test_a_bad_law_is_exit_2_with_its_reason(table, tmp_path, capsys, law, words):
    assert main(["fit", str(table), "--approach", "3", "--law", law, "--out", str(tmp_path)]) == 2
    assert words in capsys.readouterr().err


def test_laws_list_prints_every_law_with_formula_and_source(capsys):
    assert main(["laws", "list"]) == 0
    printed = capsys.readouterr().out
    for name in ("chinchilla", "chinchilla_shared_exponent", "kaplan", "data_constrained"):
        assert f"\n{name}\n" in f"\n{printed}"
    assert "Muennighoff et al. (2023)" in printed
    assert "E + A / N^alpha + B / D^beta" in printed
