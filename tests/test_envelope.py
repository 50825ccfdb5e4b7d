"""Approach 1 (envelope of training curves): resolution, weights, batching, bad input.

Resolution. Each simulated curve ends on the law and lies above it earlier, so with dense run
horizons the envelope at C is won by the model size whose loss at C is lowest: ``log10 N_opt``
is a staircase with steps of the ladder's spacing ``Delta`` (dex) against the true line. By the
invariance of the loss profile along the frontier (see test_isoflop.py), the residual is a
periodic sawtooth of amplitude ``Delta / 2`` and period ``P = Delta / a`` in ``log10 C``. Its
least-squares slope over a window of ``W`` decades obeys (integrate ``(x - mean) e(x)`` by parts
with the sawtooth's zero-mean antiderivative, ``|F| <= Delta P / 12``)
``|a_hat - a| <= Delta^2 / (a W^2) * (1 + Delta / (a W))``: the bound used below. Coarse run
horizons add their own staircase in tokens per parameter, which this bound does not cover: the
last accuracy test shows it.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from scalinglaw_jax.approaches import envelope
from scalinglaw_jax.approaches.envelope import (
    envelope_arrays,
    fit_envelope,
    fit_envelope_arrays,
    isotonic_decreasing,
    prepare_curves,
)
from scalinglaw_jax.core.data import DataError, load_runs
from scalinglaw_jax.core.status import Status
from scalinglaw_jax.laws import closed_forms
from scalinglaw_jax.laws.simulate import simulate_training_curves
from scalinglaw_jax.uncertainty import posterior as posteriors
from scalinglaw_jax.uncertainty import resample

KEY = jax.random.key(0)
TRUE = closed_forms.CHINCHILLA.frontier(
    closed_forms.CHINCHILLA.from_params(closed_forms.PAPER_PARAMS)
)
A_TRUE = float(TRUE.a)
SMALLEST, LARGEST = 7e7, 1.6e10


def horizons(count: int) -> tuple[float, ...]:
    """``count`` log-spaced horizon ratios spanning 16x (0.25 to 4), as the paper's runs."""
    return tuple(0.25 * 16.0 ** (k / (count - 1)) for k in range(count))


def ladder_study(n_sizes: int, n_horizons: int, **kwargs):
    sizes = np.geomspace(SMALLEST, LARGEST, n_sizes)
    frame = simulate_training_curves(KEY, sizes=sizes, horizon_ratios=horizons(n_horizons))
    return load_runs(frame, **kwargs), np.log10(sizes[1] / sizes[0])


# Fit where the true optimum is at least a factor 2 inside the ladder: beyond it the envelope
# is censored by the ladder's ends.
INNER = (float(TRUE.flops_for_params(2 * SMALLEST)), float(TRUE.flops_for_params(LARGEST / 2)))


def staircase_bound(delta: float, result) -> float:
    low, high = result.fit_flops_range
    width = np.log10(high / low)
    return delta**2 / (A_TRUE * width**2) * (1 + delta / (A_TRUE * width))


def test_isotonic_decreasing_pools_only_violations():
    np.testing.assert_array_equal(isotonic_decreasing([5.0, 4.0, 3.0]), [5.0, 4.0, 3.0])
    np.testing.assert_allclose(isotonic_decreasing([3.0, 2.0, 2.5, 1.0]), [3.0, 2.25, 2.25, 1.0])
    np.testing.assert_allclose(isotonic_decreasing([1.0, 2.0, 3.0]), [2.0, 2.0, 2.0])


@pytest.mark.parametrize(("n_sizes", "n_horizons"), [(6, 64), (12, 32), (24, 16)])
def test_recovers_exponent_within_staircase_bound(n_sizes, n_horizons):
    runs, delta = ladder_study(n_sizes, n_horizons)
    result = fit_envelope(runs, flops_range=INNER)
    bound = staircase_bound(delta, result)  # 0.080, 0.0078, 0.0017
    error = result.frontier.a - A_TRUE  # seen: -0.019, -0.0046, +0.0006
    assert abs(error) <= bound
    assert result.frontier.b - float(TRUE.b) == pytest.approx(-error, abs=1e-12)
    assert result.solution.n_runs_on_envelope >= n_sizes - 2


def test_coarse_horizons_limit_resolution():
    """96 sizes but 4 horizons 2.5x apart: the envelope snaps to fixed tokens per parameter."""
    runs, delta = ladder_study(96, 4)
    result = fit_envelope(runs, flops_range=INNER)
    # seen: a = 0.500 (+0.043), far beyond the size staircase's bound of 1e-4
    assert result.frontier.a - A_TRUE > 100 * staircase_bound(delta, result)


def test_ladder_ends_are_left_out():
    runs = load_runs(simulate_training_curves(KEY))
    result = fit_envelope(runs)
    points = result.envelope_points()
    censored = (points.params == points.params.min()) | (points.params == points.params.max())
    assert int(result.solution.n_fitted) == np.count_nonzero(~censored)
    assert result.fit_flops_range[0] > result.flops_range[0]
    assert abs(result.frontier.a - A_TRUE) < 0.01  # seen: -0.0078 (0.113 with the ends kept)


def test_zero_weight_equals_removing_curves():
    frame = simulate_training_curves(KEY, noise=0.01)
    runs = load_runs(frame)
    labels = prepare_curves(runs).labels
    gone = [labels[i] for i in (3, 17, 30)]
    weights = np.where(np.isin(labels, gone), 0.0, 1.0)
    span = (runs.flops.min(), runs.flops.max())
    full = fit_envelope(runs, weights, flops_range=span)
    removed = fit_envelope(load_runs(frame[~frame["run"].isin(gone)]), flops_range=span)
    np.testing.assert_array_equal(full.frontier, removed.frontier)
    np.testing.assert_array_equal(full.solution.log_n_opt, removed.solution.log_n_opt)
    assert full.runs_on_envelope == removed.runs_on_envelope


def test_jit_vmap_over_weights_equals_loop_and_traces_once():
    runs = load_runs(simulate_training_curves(KEY, noise=0.01))
    arrays = envelope_arrays(prepare_curves(runs))
    n_runs = arrays.log_n.shape[0]
    rng = np.random.default_rng(4)
    counts = jnp.asarray(rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), 8), float)
    batch = jax.jit(jax.vmap(fit_envelope_arrays, in_axes=(None, 0)))
    before = envelope.TRACE_COUNTS["fit_envelope_arrays"]
    batched = batch(arrays, counts)
    batch(arrays, counts + 1.0)
    assert envelope.TRACE_COUNTS["fit_envelope_arrays"] == before + 1
    single = jax.jit(fit_envelope_arrays)
    for i in range(counts.shape[0]):
        one = single(arrays, counts[i])
        for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(one), strict=True):
            np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-12)
    assert np.all(np.asarray(batched.status) == Status.OK)


def test_degenerate_weights_are_a_status_not_an_exception_when_traced():
    runs = load_runs(simulate_training_curves(KEY))
    curves = prepare_curves(runs)
    sizes = np.array([c.params for c in curves.curves])
    one_size = (sizes == sizes[0]).astype(float)
    solution = jax.jit(fit_envelope_arrays)(envelope_arrays(curves), jnp.asarray(one_size))
    assert int(solution.status) == Status.TOO_FEW_POINTS
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(solution))
    with pytest.raises(DataError, match="fewer than 2 grid points"):
        fit_envelope(runs, one_size)


def test_unsorted_rows_give_the_same_fit():
    frame = simulate_training_curves(KEY, noise=0.01)
    shuffled = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    first = fit_envelope(load_runs(frame))
    # load_runs numbers runs by first appearance: compare by label, not position.
    second = fit_envelope(load_runs(shuffled))
    np.testing.assert_allclose(first.frontier, second.frontier, rtol=1e-13)
    assert sorted(first.runs_on_envelope) == sorted(second.runs_on_envelope)


def test_one_point_curve_is_excluded_and_reported():
    frame = simulate_training_curves(KEY)
    lonely = frame["run"].iloc[0]
    frame = frame[(frame["run"] != lonely) | (frame.index == 29)].reset_index(drop=True)
    result = fit_envelope(load_runs(frame))
    reason = "only 1 point (row 1); a curve needs 2 to be interpolated"
    assert result.curves.excluded == ((lonely, reason),)
    summary = result.to_dict()
    assert summary["excluded_runs"] == [{"run": lonely, "reason": reason}]
    assert summary["n_runs"] == 48 and summary["n_runs_used"] == 47
    assert lonely not in result.runs_on_envelope
    assert f"curve {lonely!r} excluded: only 1 point" in result.report()


def test_bad_curves_raise_naming_run_and_rows():
    frame = simulate_training_curves(KEY, sizes=(1e8, 3e8, 1e9))
    with pytest.raises(DataError, match="needs a 'run' column"):
        fit_envelope(load_runs(frame.drop(columns="run")))
    label = frame["run"].iloc[0]
    mixed = frame.copy()
    mixed.loc[1, "params"] *= 2
    mixed.loc[1, "flops"] = 6 * mixed.loc[1, "params"] * mixed.loc[1, "tokens"]
    with pytest.raises(DataError, match=f"run '{label}' mixes model sizes"):
        fit_envelope(load_runs(mixed))
    repeated = frame.copy()
    repeated.loc[5, ["tokens", "flops"]] = repeated.loc[4, ["tokens", "flops"]].to_numpy()
    with pytest.raises(DataError, match=f"run '{label}' repeats a FLOP value \\(rows 5 and 6\\)"):
        fit_envelope(load_runs(repeated))
    logged = frame.copy()
    logged.loc[7, "tokens"] = logged.loc[6, "tokens"] * 0.5  # logged FLOPs rise, tokens fall
    with pytest.raises(DataError, match=f"run '{label}': tokens do not increase with FLOPs"):
        fit_envelope(load_runs(logged, flops_tolerance=2.0))
    two_sizes = frame[frame["params"] < 5e8]
    with pytest.raises(DataError, match="at least 3 model sizes.*found 2 size"):
        fit_envelope(load_runs(two_sizes))
    with pytest.raises(DataError, match="one per curve"):
        fit_envelope(load_runs(frame), np.ones(3))


def test_to_dict_is_json():
    result = fit_envelope(load_runs(simulate_training_curves(KEY)))
    summary = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    for key in ("a", "b", "G", "projection", "flops_range", "n_runs_on_envelope"):
        assert key in summary
    assert summary["n_runs_on_envelope"] == len(summary["runs_on_envelope"])
    assert summary["flops_range"][0] < summary["fit_flops_range"][0]


def test_weight_two_equals_appending_a_copy():
    frame = simulate_training_curves(KEY, noise=0.01)
    runs = load_runs(frame)
    span = (runs.flops.min(), runs.flops.max())
    plain = fit_envelope(runs, flops_range=span)
    twice = plain.runs_on_envelope[len(plain.runs_on_envelope) // 2]
    copy = frame[frame["run"] == twice].assign(run="copy")
    weights = np.where(np.asarray(plain.run_labels) == twice, 2.0, 1.0)
    weighted = fit_envelope(runs, weights, flops_range=span)
    appended = fit_envelope(load_runs(pd.concat([frame, copy])), flops_range=span)
    np.testing.assert_allclose(weighted.frontier, appended.frontier, rtol=1e-12)
    assert abs(weighted.frontier.a - plain.frontier.a) > 1e-6


def test_dirichlet_weights_give_spread():
    runs = load_runs(simulate_training_curves(KEY, noise=0.01))
    arrays = envelope_arrays(prepare_curves(runs))
    n_runs = arrays.log_n.shape[0]
    weights = n_runs * jax.random.dirichlet(KEY, jnp.ones(n_runs), (64,))
    fit_many = jax.jit(jax.vmap(fit_envelope_arrays, in_axes=(None, 0)))
    sol = fit_many(arrays, weights)
    a = np.asarray(sol.frontier.a)
    assert np.all(np.asarray(sol.status) == Status.OK)
    assert 1e-3 < np.std(a) < 0.05
    # The Approach-1 posterior is the sweep engine's Bayesian bootstrap: its draws are those of
    # run_sweep (the same compiled program: no new trace) and of a plain vmapped fit of the
    # same Dirichlet weights.
    posterior = posteriors.bayesian_bootstrap_envelope(runs, key=KEY, chains=2, draws=130)
    seed = resample.seed_from_key(KEY)
    traces = resample.TRACE_COUNTS["sweep"]
    problem = resample.prepare(runs, "1", "bayesian")
    sweep = resample.run_sweep(problem, 260, seed=seed, progress=False)
    assert resample.TRACE_COUNTS["sweep"] == traces
    np.testing.assert_array_equal(posterior.draws["a"], sweep.outputs["a"])
    draw = jax.vmap(
        lambda i: resample.draw_unit_weights(jax.random.key(seed), i, "bayesian", n_runs)
    )
    direct = fit_many(arrays, draw(jnp.arange(64)))  # the shape compiled above
    np.testing.assert_allclose(posterior.draws["a"][:64], direct.frontier.a, rtol=1e-12)


# --- residual schemes (wild, wild-gaussian): keep each curve, redraw its points' noise ----------


@pytest.fixture(scope="module")
def small_curves():
    """Eight sizes x three horizons x 12 points with 1% noise: a small Approach-1 study."""
    table = simulate_training_curves(
        jax.random.key(7),
        sizes=np.geomspace(1e8, 1e10, 8),
        horizon_ratios=(0.4, 1.0, 2.5),
        points_per_curve=12,
        noise=0.01,
    )
    return load_runs(table)


@pytest.mark.parametrize("n_points", [1, 2, 5, 30])
def test_traceable_isotonic_matches_pool_adjacent_violators(n_points):
    rng = np.random.default_rng(n_points)
    y = np.cumsum(rng.normal(-0.05, 0.1, n_points)) + rng.normal(0, 0.2, n_points)
    padded = np.concatenate([y, [7.0, -3.0]])  # padding must not leak into the fit
    valid = np.arange(padded.size) < n_points
    fit = np.asarray(envelope.isotonic_decreasing_padded(jnp.asarray(padded), jnp.asarray(valid)))
    np.testing.assert_allclose(fit[:n_points], isotonic_decreasing(y), rtol=0, atol=1e-12)
    assert np.all(fit[n_points:] == 0)


def test_curve_shapes_rebuild_the_losses(small_curves):
    curves = prepare_curves(small_curves)
    shapes = envelope.curve_shapes(curves)
    for r, curve in enumerate(curves.curves):
        n = curve.flops.size
        rebuilt = shapes.fitted[r, :n] + shapes.residual[r, :n]
        np.testing.assert_allclose(rebuilt, np.log(curve.loss), rtol=1e-12)
        assert not shapes.valid[r, n:].any() and np.all(shapes.residual[r, n:] == 0)
    # Units number the points curve after curve; padding points at the extra unit.
    units = shapes.unit[shapes.valid]
    np.testing.assert_array_equal(units, np.arange(len(small_curves)))
    assert shapes.n_units == len(small_curves)
    assert np.all(shapes.unit[~shapes.valid] == shapes.n_units)


def test_residual_draws_are_sign_and_normal_multipliers():
    key = jax.random.key(3)
    signs = np.asarray(resample.draw_unit_weights(key, 4, "wild", 500))
    assert set(np.unique(signs)) == {-1.0, 1.0}
    normal = np.asarray(resample.draw_unit_weights(key, 4, "wild-gaussian", 500))
    assert abs(normal.mean()) < 4 / np.sqrt(500) and 0.8 < normal.std() < 1.2
    again = np.asarray(resample.draw_unit_weights(key, 4, "wild", 500))
    np.testing.assert_array_equal(signs, again)


def test_unit_signs_reproduce_the_point_fit(small_curves):
    """Multipliers of +1 rebuild the data exactly: that resample's envelope is the point fit."""
    problem = resample.prepare(small_curves, "1", "wild", n_grid=300)
    out = resample.fit_weights(problem, np.ones((1, problem.n_units)))
    np.testing.assert_allclose(out["a"], problem.estimate["a"], rtol=1e-9)


def test_zero_residuals_reproduce_the_point_fit():
    """Curves that are exact cubics in ln FLOPs have no residual: every wild resample is the
    data itself, so its envelope is the point fit's."""
    table = simulate_training_curves(
        jax.random.key(0), sizes=np.geomspace(1e8, 1e10, 8), points_per_curve=12
    )
    for _, rows in table.groupby("run").groups.items():
        x = np.log(table.loc[rows, "flops"].to_numpy())
        coef = np.polyfit(x, np.log(table.loc[rows, "loss"].to_numpy()), 3)
        table.loc[rows, "loss"] = np.exp(np.polyval(coef, x))
    runs = load_runs(table)
    problem = resample.prepare(runs, "1", "wild", n_grid=300)
    assert np.max(np.abs(envelope.curve_shapes(problem.point.curves).residual)) < 1e-10
    sweep = resample.run_sweep(problem, 8, seed=1, progress=False)
    np.testing.assert_allclose(sweep.outputs["a"], problem.estimate["a"], rtol=1e-9)


def test_wild_bootstrap_is_seeded_and_narrower_than_the_curve_bootstrap(small_curves):
    """On a fixed design the wild bootstrap redraws only the points' noise; the curve bootstrap
    also drops whole curves (sizes vanish from the envelope), so it spreads more."""
    wild = resample.prepare(small_curves, "1", "wild", n_grid=300)
    assert wild.n_units == len(small_curves) and wild.config["unit"] == "residual"
    first = resample.run_sweep(wild, 60, seed=4, progress=False).outputs["a"]
    again = resample.run_sweep(wild, 60, seed=4, chunk_size=16, progress=False).outputs["a"]
    np.testing.assert_array_equal(first, again)  # same seed, any chunking: same bits
    block = resample.prepare(small_curves, "1", "block", n_grid=300)
    curve_draws = resample.run_sweep(block, 60, seed=4, progress=False).outputs["a"]
    assert np.all(np.isfinite(first)) and 0 < np.std(first) < np.nanstd(curve_draws)


def test_residual_schemes_are_approach_1s_only(small_curves, tmp_path):
    from scalinglaw_jax.laws.simulate import simulate_isoflop

    isoflop = load_runs(simulate_isoflop(KEY, noise=0.01, points_per_budget=5))
    for approach in ("2", "3"):
        with pytest.raises(DataError, match="residuals within training curves"):
            resample.prepare(isoflop, approach, "wild")
    with pytest.raises(DataError, match="--scheme wild"):
        resample.prepare(small_curves, "1", "nonparametric")


def test_resampling_posterior_default_and_named_schemes(small_curves):
    sample, options = posteriors.POSTERIORS["1"], posteriors.PosteriorOptions
    settings = posteriors.NutsSettings(chains=2, draws=20, progress_bar=False)
    posterior = sample(small_curves, key=KEY, settings=settings, options=options(n_grid=300))
    default = posteriors.POSTERIOR_DEFAULTS["1"]["scheme"]
    assert posterior.settings["scheme"] == default == "wild-gaussian"
    assert posterior.draws["a"].shape == (40,) and np.std(posterior.draws["a"]) > 0
    old = sample(small_curves, key=KEY, settings=settings, options=options(scheme="bayesian"))
    assert old.settings["method"] == "bayesian bootstrap over curves"
    with pytest.raises(DataError, match="posterior scheme must be one of"):
        posteriors.resampling_posterior_envelope(small_curves, scheme="block")
    with pytest.raises(DataError, match="posterior scheme must be one of"):
        options(scheme="block")
