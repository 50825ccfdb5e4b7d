"""Tiny calibration runs: the machinery works, coverages are well-formed, Approach 3 compiles
its NUTS program and bootstrap sweep once, not once per study, and the methods measured by
default are those ``scalinglaw bootstrap`` and ``scalinglaw sample`` run by default."""

from __future__ import annotations

import json
import warnings

import jax
import numpy as np
import pytest

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.core.data import DataError, load_runs
from scalinglaw_jax.laws import LAWS
from scalinglaw_jax.laws.simulate import simulate_training_curves
from scalinglaw_jax.uncertainty import calibrate, resample
from scalinglaw_jax.uncertainty import posterior as posteriors
from scalinglaw_jax.uncertainty.posterior import chinchilla

warnings.filterwarnings("ignore", category=FutureWarning)

TINY = posteriors.NutsSettings(chains=1, draws=60, warmup=60, progress_bar=False)


def _check_table(
    result: calibrate.CalibrationResult, approach: str, n_studies: int, n_methods: int = 2
) -> None:
    table = result.table()
    assert len(table) == n_methods * 2 * len(calibrate.LEVELS)
    assert set(table["approach"]) == {approach}
    assert set(table["method"]) == {"bootstrap", "posterior"}
    # Exactly one default bootstrap and one default posterior, labelled by their settings.
    defaults = table[table["default"]].groupby("method")["setting"].unique()
    assert {m: list(v) for m, v in defaults.items()} == {
        m.kind: [m.label] for m in calibrate.methods(approach) if m.default
    }
    assert {(t["method"], t["setting"]) for t in result.timing} == set(
        zip(table["method"], table["setting"], strict=True)
    )
    assert set(table["studies"]) == {n_studies}
    # Each coverage is a count of studies out of n_studies.
    assert np.allclose(table["coverage"] * n_studies, np.round(table["coverage"] * n_studies))
    assert np.all((table["coverage"] >= 0) & (table["coverage"] <= 1))
    expected_se = np.sqrt(table["coverage"] * (1 - table["coverage"]) / n_studies)
    assert np.allclose(table["mc_se"], expected_se)
    assert np.allclose(
        table["nominal_se"], np.sqrt(table["level"] * (1 - table["level"]) / n_studies)
    )
    for _, group in table.groupby(["method", "setting", "quantity"]):
        # Central intervals are nested, so coverage cannot fall as the level rises.
        assert np.all(np.diff(group.sort_values("level")["coverage"].to_numpy()) >= 0)
    # b = 1 - a, so the intervals of b mirror those of a and cover in the same studies.
    by_quantity = table.set_index(["method", "setting", "level", "quantity"])["coverage"]
    by_quantity = by_quantity.unstack()
    assert np.array_equal(by_quantity["a"], by_quantity["b"])


def test_tiny_calibration(tmp_path):
    result = calibrate.run_calibration(
        jax.random.key(0), approaches=("2",), n_studies=2, n_resamples=30, settings=TINY
    )
    _check_table(result, "2", 2)
    saved = json.loads(result.save(tmp_path / "c.json").read_text())
    assert abs(saved["truth"]["a"] + saved["truth"]["b"] - 1) < 1e-12
    assert saved["design"]["nuts"] == {"chains": 1, "draws": 60, "warmup": 60}


def test_approach3_calibration_compiles_once(monkeypatch):
    """The model is traced only while its NUTS program compiles: three more studies of the same
    design must not trace it again, nor trace the bootstrap sweep (``resample.run_sweep``)
    again."""
    traces = 0
    model = chinchilla.parametric_model

    def counted_model(*args, **kwargs):
        nonlocal traces
        traces += 1
        return model(*args, **kwargs)

    monkeypatch.setattr(chinchilla, "parametric_model", counted_model)

    def run(seed, n_studies):
        return calibrate.run_calibration(
            jax.random.key(seed),
            approaches=("3",),
            n_studies=n_studies,
            n_resamples=30,
            settings=TINY,
        )

    _check_table(run(1, 1), "3", 1)
    traces_one, sweeps_one = traces, resample.TRACE_COUNTS["sweep"]
    assert traces_one > 0
    result = run(2, 3)
    assert traces == traces_one
    assert resample.TRACE_COUNTS["sweep"] == sweeps_one
    _check_table(result, "3", 3)
    posterior = [m for m in result.design["methods"]["3"] if m["method"] == "posterior"]
    assert posterior == [
        {"method": "posterior", "setting": {"learning_rate": "sandwich"}, "default": True}
    ]


def test_approach1_calibration_redraws_residuals():
    """Approach 1: curve studies, wild bootstrap and Gaussian-multiplier posterior by default,
    the old curve schemes beside them when asked; one compiled sweep per scheme."""
    before = resample.TRACE_COUNTS["sweep"]
    result = calibrate.run_calibration(
        jax.random.key(3),
        approaches=("1",),
        n_studies=2,
        n_resamples=30,
        settings=TINY,
        schemes=("block",),
    )
    _check_table(result, "1", 2, n_methods=3)
    # Two studies of one design share each compiled sweep: wild (30 resamples), Gaussian
    # multipliers (60 draws) and curves (30 resamples).
    assert resample.TRACE_COUNTS["sweep"] - before <= 3
    assert result.design["curves"]["sizes"] and result.design["approaches"] == ["1"]
    settings = {(m["setting"]["scheme"], m["default"]) for m in result.design["methods"]["1"]}
    assert settings == {("wild", True), ("block", False), ("wild-gaussian", True)}
    # Per study, both default kinds of draws spread (the curves carry 1% noise) alike.
    runs = load_runs(simulate_training_curves(jax.random.key(5), noise=0.01))
    wild, _, posterior = calibrate.methods("1", schemes=("block",))
    point = calibrate._point_fit("1", runs, LAWS["chinchilla"])
    boot = calibrate._bootstrap_draws("1", runs, point, wild, 0, 30, LAWS["chinchilla"])
    post = calibrate._posterior_draws("1", runs, jax.random.key(1), TINY, posterior)
    for draws in (boot, post):
        assert np.mean(np.isfinite(draws)) > 0.9 and np.nanstd(draws) > 0
    assert 0.5 < np.nanstd(boot) / np.nanstd(post) < 2


@pytest.mark.parametrize("approach", registry.KEYS)
def test_default_methods_are_the_commands_defaults(approach):
    from scalinglaw_jax.cli import bootstrap as cli_bootstrap

    spec = registry.get(approach)
    bootstrap, posterior = calibrate.methods(approach)
    assert bootstrap.default and posterior.default
    assert bootstrap.setting["scheme"] == spec.default_scheme
    for name, value in bootstrap.setting.items():
        if name != "scheme" and name in cli_bootstrap.DEFAULTS:
            assert cli_bootstrap.DEFAULTS[name] == value
    assert cli_bootstrap.DEFAULTS["scheme"] is None  # None: each approach's default_scheme
    assert dict(posterior.setting) == dict(posteriors.POSTERIOR_DEFAULTS[spec.key])


def test_other_settings_are_labelled_and_refusals_raise():
    chosen = calibrate.methods("3", schemes=("subsample",), learning_rates=(1.0, "sandwich"))
    labels = [(m.kind, m.label, m.default) for m in chosen]
    assert labels == [
        ("bootstrap", "scheme=nonparametric, mode=fast, k_starts=8", True),
        ("bootstrap", "scheme=subsample, mode=fast, k_starts=8", False),
        ("posterior", "learning_rate=sandwich", True),
        ("posterior", "learning_rate=1.0", False),
    ]
    with pytest.raises(DataError, match="residuals within training curves"):
        calibrate.methods("2", schemes=("wild",))
    with pytest.raises(DataError, match="learning rates apply to Approach 3"):
        calibrate.run_calibration(jax.random.key(0), approaches=("2",), learning_rates=(1.0,))


def _recorder():
    """A function that records its arguments and refuses (so a command stops there), and the
    list its calls go to."""
    calls = []

    def record(*args, **kwargs):
        calls.append({"args": args, **kwargs})
        raise DataError("recorded")

    return record, calls


@pytest.mark.parametrize("approach", ["1", "3"])
def test_bootstrap_command_runs_calibrates_defaults(approach, monkeypatch, simulated_csv, tmp_path):
    """What ``scalinglaw bootstrap`` prepares when no option is set is what calibrate runs."""
    from scalinglaw_jax.cli import main

    data = simulated_csv
    if approach == "1":
        data = tmp_path / "curves.csv"
        simulate_training_curves(jax.random.key(0), noise=0.01).to_csv(data, index=False)
    record, calls = _recorder()
    monkeypatch.setattr(resample, "prepare", record)
    out = tmp_path / "out"
    assert main(["bootstrap", str(data), "--approach", approach, "--out", str(out)]) == 2
    (call,) = calls
    expected = dict(calibrate.methods(approach)[0].setting)
    assert call["args"][2] == expected.pop("scheme")
    assert {name: call[name] for name in expected} == expected


@pytest.mark.parametrize("approach", ["1", "3"])
def test_sample_command_runs_calibrated_posterior(approach, monkeypatch, simulated_csv, tmp_path):
    """What ``scalinglaw sample`` runs (the options it passes, defaults included) is
    calibrate's default posterior."""
    from scalinglaw_jax.cli import main

    data = simulated_csv
    if approach == "1":
        data = tmp_path / "curves.csv"
        simulate_training_curves(jax.random.key(0), noise=0.01).to_csv(data, index=False)
    record, calls = _recorder()
    monkeypatch.setattr(posteriors, "POSTERIORS", {**posteriors.POSTERIORS, approach: record})
    argv = ["sample", str(data), "--approach", approach, "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    (call,) = calls
    options = call["options"]
    ran = {name: getattr(options, name) for name in posteriors.POSTERIOR_DEFAULTS[approach]}
    default = next(m for m in calibrate.methods(approach) if m.kind == "posterior")
    assert default.default and ran == dict(default.setting)
