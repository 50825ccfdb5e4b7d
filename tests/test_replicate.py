"""Replication report on Epoch's data: optimum, bootstrap SEs and Approach 2 as published."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scalinglaw_jax.core import intervals
from scalinglaw_jax.core.solvers import product_grid
from scalinglaw_jax.evaluate import replicate
from scalinglaw_jax.figures.study import write_replication_figures
from scalinglaw_jax.uncertainty import bands

REDUCED_GRID = product_grid(
    a=[5.0, 10.0, 15.0], b=[5.0, 10.0, 15.0], e=[-0.5, 0.5], alpha=[0.5, 1.0], beta=[0.5, 1.0]
)


@pytest.fixture(scope="module")
def replication(epoch_csv):
    return replicate.replicate_chinchilla(
        epoch_csv.parent, resamples=48, draws=0, starts=REDUCED_GRID
    )


def test_reproduces_epoch_optimum_and_standard_errors(replication):
    report, _ = replication
    est = report.estimates
    assert report.extra["approach3_objective"] == pytest.approx(1.01827e-3, rel=1e-5)
    assert report.extra["varpro_objective"] <= report.extra["approach3_objective"] * (1 + 1e-6)
    assert est["E"] == pytest.approx(1.8172, abs=1e-3)
    assert est["approach3 a"] == pytest.approx(0.514, abs=1e-3)
    # Approach 2: about 0.49 on all 245 rows (as the paper and Epoch), 0.50 on 240.
    assert 0.47 < report.extra["approach2_a_all_245_rows"] < 0.50
    assert 0.462 < est["approach2 a"] < 0.534
    # 48 resamples: the SE of an SE is ~10%; Epoch's SEs must agree within 35%.
    for name in ("alpha", "beta", "E", "approach3 a"):
        assert report.bootstrap_se[name] == pytest.approx(replicate.EPOCH_SE[name], rel=0.35)
    rows = {(r["quantity"], r["source"]): r for r in report.rows()}
    assert rows[("alpha", "Epoch refit")]["in_bootstrap"] is True
    assert rows[("approach3 a", "paper Table 2")]["in_bootstrap"] is False


def test_report_files(replication, tmp_path):
    report, fits = replication
    written = replicate.save_report(report, tmp_path)
    written += write_replication_figures(fits, tmp_path)
    assert (tmp_path / "replication.md").read_text().startswith("# Chinchilla replication")
    content = json.loads((tmp_path / "replication.json").read_text())
    assert "Approach 1 is not fitted" in content["notes"][0]
    assert any(p.suffix == ".png" for p in written)


def test_chinchilla_form_beats_kaplan_held_out(epoch_csv):
    from scalinglaw_jax.core.datasets import load_dataset

    runs = load_dataset("chinchilla_epoch", epoch_csv.parent)
    scores = replicate.compare_forms(runs, folds=3)
    assert scores["better"] == "chinchilla"
    assert scores["kaplan"]["heldout_rms_log"] > scores["chinchilla"]["heldout_rms_log"]


def test_report_draws_the_posterior_bands_it_has(replication, tmp_path):
    report, fits = replication
    frontier = fits["approach3"].frontier
    rng = np.random.default_rng(0)
    a = float(frontier.a) + 0.01 * rng.standard_normal(50)
    log_g_n = float(frontier.log_g_n) + 0.05 * rng.standard_normal(50)
    band = intervals.band_from_draws(
        bands.BAND_FLOPS, log_g_n, a, -np.log(6.0) - log_g_n, 1 - a, kind="posterior"
    )
    fits = {
        **fits,
        "bands": {
            "2": bands.ApproachBand("2", None, "posterior band (NUTS)", "failed its checks"),
            "3": bands.ApproachBand("3", band, "95% posterior band (NUTS, 50 draws)"),
        },
    }
    replicate.save_report(report, tmp_path)
    write_replication_figures(fits, tmp_path)
    svg = (tmp_path / "replication_params_vs_flops.svg").read_text()
    assert '<g id="band-posterior-approach-3-parametric">' in svg
    assert 'id="band-posterior-approach-2' not in svg
