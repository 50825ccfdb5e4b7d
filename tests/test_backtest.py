"""Extrapolation backtests and law comparison, on simulated studies with a known truth."""

from __future__ import annotations

import html
import json

import jax
import numpy as np
import pytest

import scalinglaw_jax as sl
from scalinglaw_jax.cli import main
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.evaluate import backtest
from scalinglaw_jax.laws import LAWS
from scalinglaw_jax.laws.simulate import repeated_epoch_design, simulate_law
from scalinglaw_jax.uncertainty.posterior import NutsSettings
from tests.test_report import assert_self_contained

CHINCHILLA_TRUTH = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}
NOISE = 0.01
STUDY_RESAMPLES = 40
"""Resamples of every backtest of ``study`` at its default split: one chunk shape, so the API
and CLI backtests share one compiled bootstrap program."""


@pytest.fixture(scope="module")
def study():
    """A Chinchilla-law table over sizes x tokens, 1% noise."""
    n, d = np.meshgrid(np.geomspace(5e7, 1e10, 7), np.geomspace(1e9, 3e11, 7), indexing="ij")
    frame = simulate_law(
        jax.random.key(0), LAWS["chinchilla"], CHINCHILLA_TRUTH, n.ravel(), d.ravel(), noise=NOISE
    )
    return sl.load_runs(frame)


@pytest.fixture(scope="module")
def repeated_epochs():
    """Truth data_constrained: a repeated-epoch study (3 sizes x 3 unique sizes x 6 epochs)."""
    truth = {**CHINCHILLA_TRUTH, "R_N": 5.3, "R_D": 15.4}
    design = repeated_epoch_design(sizes=np.geomspace(1e8, 3e9, 3), epochs=(1, 2, 4, 8, 16, 32))
    return sl.load_runs(
        simulate_law(jax.random.key(1), LAWS["data_constrained"], truth, **design, noise=NOISE)
    )


def test_split_holds_out_the_largest_runs(study):
    split = backtest.split_by_flops(study, holdout_fraction=0.2)
    assert split.test.sum() >= np.ceil(0.2 * len(study))
    assert study.flops[split.test].min() >= split.cutoff_flops > study.flops[split.train].max()
    explicit = backtest.split_by_flops(study, cutoff_flops=split.cutoff_flops)
    assert np.array_equal(explicit.test, split.test)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"holdout_fraction": 1.5}, "must lie in \\(0, 1\\)"),
        ({"cutoff_flops": -1.0}, "must be a positive number"),
        ({"holdout_fraction": 0.2, "cutoff_flops": 1e20}, "not both"),
    ],
)
def test_bad_split_settings(study, kwargs, words):
    with pytest.raises(DataError, match=words):
        backtest.split_by_flops(study, **kwargs)


def test_cutoffs_that_cannot_backtest_are_refused(study):
    above_all = backtest.split_by_flops(study, cutoff_flops=study.flops.max() * 2)
    with pytest.raises(DataError, match="nothing is held out"):
        backtest.backtest_law(study, LAWS["chinchilla"], above_all, n_resamples=4)
    too_low = backtest.split_by_flops(study, cutoff_flops=np.sort(study.flops)[4])
    with pytest.raises(DataError, match="too few for law 'chinchilla' with 5 parameters"):
        backtest.backtest_law(study, LAWS["chinchilla"], too_low, n_resamples=4)


def test_backtest_of_the_true_law(study):
    split = backtest.split_by_flops(study)
    result = backtest.backtest_law(study, LAWS["chinchilla"], split, n_resamples=STUDY_RESAMPLES)
    m = result.metrics
    assert m["n_train"] + m["n_test"] == len(study)
    assert m["cutoff_flops"] == split.cutoff_flops
    low90, high90 = result.intervals[0.9]
    low50, high50 = result.intervals[0.5]
    # The truth extrapolates: errors of the order of the noise, a bias (shared by the held-out
    # runs through the one fit) within the predictive uncertainty.
    assert m["median_abs_log_error"] < 2 * NOISE
    assert abs(m["bias_log"]) < np.median(high90 - low90) / 2
    assert np.all(low90 <= low50) and np.all(high50 <= high90)
    # The predictive interval carries the observation noise: wider than 2 x 1.64 sigma x 0.8.
    assert np.median(high90 - low90) > 2.6 * NOISE
    assert np.all(result.flops_ratio >= 1.0)
    entry = result.to_dict()
    assert entry["interval_method"] == "bootstrap+residuals"
    assert len(entry["held_out"]) == m["n_test"]


def test_repeated_epochs_rank_the_true_law_first(repeated_epochs):
    split = backtest.split_by_flops(repeated_epochs)
    settings = NutsSettings(chains=1, draws=120, warmup=120, progress_bar=False)
    # 64 random starts, no more than a screening's candidates: every start is solved (no
    # screening stage to compile), and on this table they find the optimum of 128 screened
    # starts (objective within 1e-15) for either law.
    comparison = backtest.compare_laws(
        repeated_epochs,
        [LAWS["chinchilla"], LAWS["data_constrained"]],
        split,
        n_resamples=10,
        nuts_settings=settings,
        starts=64,
    )
    laws = comparison["laws"]
    assert comparison["ranking"] == ["data_constrained", "chinchilla"]
    err = {name: laws[name]["backtest"]["median_abs_log_error"] for name in laws}
    assert err["data_constrained"] < err["chinchilla"]
    # PSIS-LOO agrees: the true law predicts left-out runs far better.
    assert laws["data_constrained"]["elpd_loo"] > laws["chinchilla"]["elpd_loo"]
    assert comparison["rankings_agree"]
    assert laws["chinchilla"]["n_params"] == 5 and laws["data_constrained"]["n_params"] == 7
    assert "ranking" in backtest.comparison_table(comparison)
    for name, entry in laws.items():
        assert entry["ok"] == (not entry["flags"]) and isinstance(entry["flags"], list)
        assert comparison["backtests"][name].law == name


def _comparison_entry(backtest_metrics: dict, **extra) -> dict:
    """One law's entry of a comparison, as ``compare_laws`` writes it, for the table tests."""
    return {
        "n_params": 5,
        "objective": 1e-3,
        "elpd_loo": 10.0,
        "elpd_loo_se": 1.0,
        "pareto_k_over_0.7": 0,
        "a": 0.5,
        "a_interval_95": [0.49, 0.51],
        "backtest": backtest_metrics,
        **extra,
    }


def test_comparison_flags_a_failed_posterior_in_table_words():
    """A law whose posterior fails its checks is marked in the table and followed by a
    WARNING line in the same words as its summary.json flags; the ranking line wraps."""
    from types import SimpleNamespace

    failed = SimpleNamespace(ok=False, reasons=("r_hat 1.31 > 1.01", "2 divergences"))
    fine = SimpleNamespace(ok=True, reasons=())
    tested = SimpleNamespace(n_failed=0, n_resamples=10, metrics={"median_abs_log_error": 0.01})
    assert backtest.comparison_flags(fine, tested, 0, 10, 0) == []
    flags = backtest.comparison_flags(failed, tested, 1, 10, 0)
    assert flags[0] == (
        "posterior failed its checks (r_hat 1.31 > 1.01; 2 divergences): elpd_loo is not reliable"
    )
    assert flags[1] == "1 of 10 bootstrap resamples failed (a interval)"
    entry = _comparison_entry({"median_abs_log_error": 0.01, "coverage_90": 0.9}, rank=1)
    comparison = {
        "laws": {
            "good": {**entry, "ok": True, "flags": []},
            "bad": {**entry, "rank": 2, "ok": False, "flags": flags},
        },
        "ranking": ["good", "bad"],
        "ranking_rule": backtest.RANKING_RULE,
        "rankings_agree": True,
    }
    table = backtest.comparison_table(comparison)
    lines = table.splitlines()
    assert any(line.startswith("2    bad !") for line in lines)
    assert f"WARNING: bad: {flags[0]}" in lines and f"WARNING: bad: {flags[1]}" in lines
    assert not any("good" in line and "WARNING" in line for line in lines)
    assert max(len(line) for line in lines) <= len(lines[0])


def test_rolling_backtest_reports_error_against_distance():
    # 1.7 decades of FLOPs: two half-decade cutoffs (each its own fit and bootstrap, so each
    # one more costs a compile), the fewest that can be out of order.
    n, d = np.meshgrid(np.geomspace(1e8, 1e9, 5), np.geomspace(2e9, 1e10, 5), indexing="ij")
    frame = simulate_law(
        jax.random.key(2), LAWS["chinchilla"], CHINCHILLA_TRUTH, n.ravel(), d.ravel(), noise=NOISE
    )
    study = sl.load_runs(frame)
    results = backtest.rolling_backtest(study, LAWS["chinchilla"], n_resamples=8, starts=32)
    cutoffs = [r.cutoff_flops for r in results]
    assert cutoffs == sorted(cutoffs) and len(cutoffs) == 2
    summary = backtest.rolling_summary(results)
    assert len(summary["points"]) == sum(r.metrics["n_test"] for r in results)
    assert all(p["flops_ratio"] >= 1.0 for p in summary["points"])


def test_cli_backtest_writes_sections_and_figures(study, tmp_path):
    table = tmp_path / "runs.csv"
    study.to_frame().drop(columns="row").to_csv(table, index=False)
    out = tmp_path / "out"
    resamples = str(STUDY_RESAMPLES)
    code = main(
        ["backtest", str(table), "--law", "chinchilla", "--resamples", resamples, "--out", str(out)]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    entry = summary["backtest"]["chinchilla"]
    for key in (
        "n_train",
        "n_test",
        "cutoff_flops",
        "median_abs_log_error",
        "max_abs_log_error",
        "bias_log",
        "coverage_50",
        "coverage_90",
        "interval_method",
    ):
        assert key in entry
    assert (out / "backtest.svg").is_file()
    page = assert_self_contained(out / "report.html", n_figures=1)
    assert "Backtest of chinchilla" in "".join(page.text)


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--cutoff-flops", "1e40"], "nothing is held out"),
        (["--holdout-fraction", "0.99"], "too few for law"),
        (["--holdout-fraction", "2"], "--holdout-fraction must lie in (0, 1)"),
        (["--resamples", "1"], "--resamples must be at least 2"),
        (["--law", "nope"], "unknown law 'nope'"),
    ],
)
def test_cli_backtest_bad_input_is_exit_2(study, tmp_path, capsys, flags, words):
    table = tmp_path / "runs.csv"
    study.to_frame().drop(columns="row").to_csv(table, index=False)
    assert main(["backtest", str(table), *flags, "--out", str(tmp_path / "o")]) == 2
    assert words in capsys.readouterr().err


def test_cli_compare_flags_a_failed_posterior_everywhere(study, tmp_path, monkeypatch, capsys):
    """``compare`` with one law's posterior failing (the comparison itself stubbed): the
    printed table, summary.json and report.html say so in the same words, and the backtest
    figure is written."""
    table = tmp_path / "runs.csv"
    study.to_frame().drop(columns="row").to_csv(table, index=False)
    observed = np.log([2.0, 2.1, 2.2])
    tested = {
        name: backtest.LawBacktest(
            law=name,
            cutoff_flops=1e20,
            n_train=20,
            test_rows=np.arange(3),
            test_flops=np.array([1e20, 2e20, 3e20]),
            observed=observed,
            predicted=observed + 0.01,
            intervals={level: (observed - 0.05, observed + 0.05) for level in backtest.LEVELS},
            max_train_flops=5e19,
            n_resamples=10,
            n_failed=0,
            metrics={"median_abs_log_error": 0.01, "coverage_50": 1.0, "coverage_90": 1.0},
        )
        for name in ("chinchilla", "kaplan")
    }
    failed = type("D", (), {"ok": False, "reasons": ("R-hat 1.0167 >= 1.01",)})()
    flags = backtest.comparison_flags(failed, tested["kaplan"], 0, 10, 0)
    entry = _comparison_entry(tested["kaplan"].metrics)
    comparison = {
        "laws": {
            "chinchilla": {**entry, "rank": 1, "posterior_ok": True, "ok": True, "flags": []},
            "kaplan": {**entry, "rank": 2, "posterior_ok": False, "ok": False, "flags": flags},
        },
        "ranking": ["chinchilla", "kaplan"],
        "ranking_rule": backtest.RANKING_RULE,
        "rankings_agree": True,
        "cutoff_flops": 1e20,
        "backtests": tested,
    }
    monkeypatch.setattr(backtest, "compare_laws", lambda *args, **kwargs: comparison)
    out = tmp_path / "out"
    argv = ["compare", str(table), "--law", "chinchilla", "--law", "kaplan", "--out", str(out)]
    assert main(argv) == 0
    warning = "kaplan: posterior failed its checks (R-hat 1.0167 >= 1.01): elpd_loo is not reliable"
    assert f"WARNING: {warning}" in capsys.readouterr().out.splitlines()
    summary = json.loads((out / "summary.json").read_text())["comparison"]
    assert summary["kaplan"]["flags"] == [warning.removeprefix("kaplan: ")]
    assert summary["kaplan"]["ok"] is False and summary["chinchilla"]["ok"] is True
    assert (out / "backtest.svg").stat().st_size > 1000
    page = (out / "report.html").read_text()
    escaped = html.escape(warning)
    assert f'<span class="warning-row">WARNING: {escaped}</span>' in page
    assert f"<li>{escaped}</li>" in page
    assert_self_contained(out / "report.html", n_figures=1)
