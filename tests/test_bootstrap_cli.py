"""``scalinglaw bootstrap``: summary.json layout, netCDF output, resume and refusals."""

from __future__ import annotations

import json
from functools import partial

import pytest

from scalinglaw_jax.approaches import parametric_spec
from scalinglaw_jax.cli import main
from scalinglaw_jax.core.solvers import chinchilla_grid

APPROACH3_NAMES = ("a", "b", "E", "A", "B", "alpha", "beta")


@pytest.fixture(autouse=True)
def quick_point_fit(monkeypatch):
    """The full-data Approach-3 fit from every 25th grid start (same optimum, ~20x faster)."""
    quick = partial(parametric_spec.fit_parametric, starts=chinchilla_grid()[::25])
    monkeypatch.setattr(parametric_spec, "fit_parametric", quick)


def command(simulated_csv, out, *extra):
    return [
        "bootstrap",
        str(simulated_csv),
        "--resamples",
        "80",
        "--k-starts",
        "0",
        "--chunk-size",
        "32",
        "--no-progress",
        "--nominal-budgets",
        "chinchilla",
        "--out",
        str(out),
        *extra,
    ]


def test_bootstrap_all_writes_summary_and_resumes(simulated_csv, tmp_path, capsys):
    assert main(command(simulated_csv, tmp_path, "--approach", "all", "--resume")) == 0
    printed = capsys.readouterr().out
    assert "skipped: Approach 1 needs a 'run' column" in printed
    assert "95% percentile" in printed and "alpha" in printed
    summary = json.loads((tmp_path / "summary.json").read_text())["bootstrap"]
    assert set(summary) == {"2", "3"}
    for key, names in (("2", ("a", "b")), ("3", APPROACH3_NAMES)):
        entry = summary[key]
        assert entry["n_resamples"] == 80 and entry["n_failed"] == 0
        for name in names:
            low, high = entry["interval"][name]
            assert low < entry["estimate"][name] < high and entry["se"][name] > 0
        assert (tmp_path / entry["netcdf"]).is_file()
    # The same command again resumes every chunk and reproduces the summary.
    assert main(command(simulated_csv, tmp_path, "--approach", "all", "--resume")) == 0
    assert "resumed 3 finished chunk(s)" in capsys.readouterr().out
    again = json.loads((tmp_path / "summary.json").read_text())["bootstrap"]
    assert again["3"]["se"] == summary["3"]["se"]


def test_bootstrap_refuses_mismatch_and_unsupported_scheme(simulated_csv, tmp_path, capsys):
    args = command(simulated_csv, tmp_path, "--approach", "2", "--scheme", "block")
    assert main(args) == 0
    assert main([*args, "--seed", "1", "--resume"]) == 2
    assert "different seed" in capsys.readouterr().err
    assert main(command(simulated_csv, tmp_path, "--approach", "3", "--scheme", "block")) == 2
    assert "Approach 3 treats runs as independent" in capsys.readouterr().err


def test_approach1_bootstraps_residuals_by_default_and_curves_by_name(tmp_path):
    """Without --scheme, Approach 1 runs its record's default (wild residual signs); the curve
    bootstrap is still there by name, and spreads more on this fixed design."""
    import jax
    import numpy as np

    from scalinglaw_jax.laws.simulate import simulate_training_curves

    data = tmp_path / "curves.csv"
    sizes = np.geomspace(1e8, 1e10, 8)
    table = simulate_training_curves(jax.random.key(3), sizes=sizes, noise=0.01)
    table.to_csv(data, index=False)
    summaries = {}
    for scheme in (None, "block"):
        out = tmp_path / str(scheme)
        args = ["bootstrap", str(data), "--approach", "1", "--resamples", "40", "--no-progress"]
        args += ["--out", str(out)] + (["--scheme", scheme] if scheme else [])
        assert main(args) == 0
        summaries[scheme] = json.loads((out / "summary.json").read_text())["bootstrap"]["1"]
    default = summaries[None]
    assert default["scheme"] == "wild" and default["config"]["unit"] == "residual"
    assert default["n_failed"] == 0 and "interval_bca" not in default
    low, high = default["interval"]["a"]
    assert low < default["estimate"]["a"] < high
    assert summaries["block"]["scheme"] == "block"
    assert 0 < default["se"]["a"] < summaries["block"]["se"]["a"]
