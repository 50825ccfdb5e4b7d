"""Approach 3: the multi-start Huber fit against scipy, published numbers and exact laws."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from scalinglaw_jax.approaches import parametric
from scalinglaw_jax.approaches.parametric import fit_parametric
from scalinglaw_jax.core.data import DataError, load_runs
from scalinglaw_jax.core.solvers import chinchilla_grid, product_grid
from scalinglaw_jax.core.status import Status
from scalinglaw_jax.laws import closed_forms
from scalinglaw_jax.laws.simulate import simulate_final_losses
from tests import scipy_reference

# A small grid (72 starts) inside Chinchilla's that still reaches the global optimum.
REDUCED_GRID = product_grid(
    a=[5.0, 10.0, 15.0], b=[5.0, 10.0, 15.0], e=[-0.5, 0.5], alpha=[0.5, 1.0], beta=[0.5, 1.0]
)
# Epoch AI's refit with the 4,500-start grid and L-BFGS-B (REFERENCE.md).
EPOCH_OPTIMUM = {"objective": 1.01827e-3, "A": 477.8, "B": 2143.4, "E": 1.8172}


@pytest.fixture(scope="module")
def epoch_runs(epoch_csv):
    return load_runs(epoch_csv, drop_highest_loss=5)


@pytest.fixture(scope="module")
def simulated_runs(simulated_csv):
    """Simulated IsoFLOP study: the invariants below must hold on a clean clone too."""
    return load_runs(simulated_csv)


def log_arrays(runs):
    return np.log(runs.params), np.log(runs.tokens), np.log(runs.loss)


def test_epoch_optimum_matches_scipy_and_published(epoch_runs):
    assert len(epoch_runs) == 240
    fit = fit_parametric(epoch_runs, starts=REDUCED_GRID)
    reference = scipy_reference.fit_grid(REDUCED_GRID, *log_arrays(epoch_runs))
    # Same objective as scipy's best start, to 1e-6 relative, and never worse.
    assert fit.objective == pytest.approx(reference.fun, rel=1e-6)
    assert fit.objective <= reference.fun * (1 + 1e-9)
    # The published optimum (printed to 6 significant figures).
    assert fit.objective == pytest.approx(EPOCH_OPTIMUM["objective"], rel=1e-5)
    params = fit.params
    assert params["E"] == pytest.approx(EPOCH_OPTIMUM["E"], abs=1e-4)
    assert params["alpha"] == pytest.approx(0.3473, abs=1e-4)
    assert params["beta"] == pytest.approx(0.3672, abs=1e-4)
    # A and B sit in a flat valley; 0.1% still pins them to the published values.
    assert params["A"] == pytest.approx(EPOCH_OPTIMUM["A"], rel=1e-3)
    assert params["B"] == pytest.approx(EPOCH_OPTIMUM["B"], rel=1e-3)
    assert fit.frontier.a == pytest.approx(0.514, abs=1e-3)
    assert fit.status == Status.CONVERGED
    assert fit.grad_norm < 1e-8
    # Every start is accounted for: solved (screening finishes the best 64) or screened out.
    assert sum(fit.start_status.values()) == len(REDUCED_GRID)
    assert fit.start_status["screened-out"] == len(REDUCED_GRID) - fit.screening.candidates


def test_gradient_and_objective_agree_with_scipy(simulated_runs):
    log_n, log_d, log_loss = log_arrays(simulated_runs)
    rng = np.random.default_rng(0)
    weights = rng.integers(0, 3, size=log_n.size).astype(float)
    arrays = parametric.ParametricArrays(
        jnp.asarray(log_n), jnp.asarray(log_d), jnp.asarray(log_loss)
    )
    # The paper's law, a grid start, then the A term, the B term and both (tied) on top.
    thetas = [np.array(closed_forms.PAPER_THETA), chinchilla_grid()[1234]]
    thetas += [np.array(t) for t in ([25.0, 0, 0, 0, 0], [0, 25.0, 0, 0, 0], [5.0, 5.0, 0, 0, 0])]
    for theta in thetas:
        value, grad, hess = closed_forms.chinchilla_huber_derivatives(
            jnp.asarray(theta), arrays, jnp.asarray(weights), 1e-3
        )
        ref_value, ref_grad = scipy_reference.objective_and_grad(
            theta, log_n, log_d, log_loss, weights
        )
        assert float(value) == pytest.approx(ref_value, rel=1e-12)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-15)
        auto = jax.hessian(parametric.parametric_objective)(
            jnp.asarray(theta), arrays, jnp.asarray(weights), 1e-3
        )
        np.testing.assert_allclose(hess, auto, rtol=1e-9, atol=1e-12)


def test_majorised_hessian_adds_irls_curvature_of_rows_outside_delta(epoch_runs):
    """``majorize = m`` adds ``m * sum_{|r| > delta} w delta/|r| J J^T`` to the exact Hessian
    (J: autodiff gradient of the predicted log-loss), and leaves value and gradient alone."""
    log_n, log_d, log_loss = (jnp.asarray(v) for v in log_arrays(epoch_runs))
    arrays = parametric.ParametricArrays(log_n, log_d, log_loss)
    weights = jnp.asarray(np.random.default_rng(1).integers(0, 3, size=log_n.size), float)
    theta = jnp.asarray(chinchilla_grid()[1234])
    delta = 1e-3
    exact = closed_forms.chinchilla_huber_derivatives(theta, arrays, weights, delta)
    jac = jax.jacobian(lambda t: closed_forms.CHINCHILLA.log_loss(t, log_n, log_d))(theta)
    abs_r = np.abs(np.asarray(closed_forms.CHINCHILLA.log_loss(theta, log_n, log_d) - log_loss))
    outside = np.where(abs_r > delta, np.asarray(weights) * delta / abs_r, 0.0)
    assert 0 < np.count_nonzero(outside) < np.count_nonzero(weights)  # both kinds of row
    irls = np.einsum("r,ri,rk->ik", outside, jac, jac)
    for majorize in (0.25, 1.0):
        value, grad, hess = closed_forms.chinchilla_huber_derivatives(
            theta, arrays, weights, delta, majorize
        )
        assert float(value) == float(exact[0])
        np.testing.assert_array_equal(grad, exact[1])
        np.testing.assert_allclose(hess, exact[2] + majorize * irls, rtol=1e-10, atol=1e-14)


def test_noise_free_simulation_recovers_the_law():
    n = np.geomspace(5e7, 2e10, 12)
    d = np.geomspace(1e9, 5e11, 10)
    table = simulate_final_losses(jax.random.key(0), n, d, grid=True)
    runs = load_runs(table)
    fit = fit_parametric(runs, starts=REDUCED_GRID)
    truth = closed_forms.PAPER_PARAMS.as_dict()
    for name, value in fit.params.items():
        assert value == pytest.approx(truth[name], rel=1e-6), name
    assert fit.objective < 1e-18


def test_weight_zero_equals_removal(simulated_runs):
    drop = np.arange(0, len(simulated_runs), 7)
    weights = np.ones(len(simulated_runs))
    weights[drop] = 0.0
    weighted = fit_parametric(simulated_runs, weights, starts=REDUCED_GRID)
    from scalinglaw_jax.core.data import exclude_rows

    removed = fit_parametric(
        exclude_rows(simulated_runs, simulated_runs.row[drop], "test"), starts=REDUCED_GRID
    )
    assert weighted.objective == pytest.approx(removed.objective, rel=1e-12)
    np.testing.assert_allclose(weighted.theta, removed.theta, rtol=1e-7)


def test_integer_weights_equal_duplicated_rows(simulated_runs):
    weights = np.ones(len(simulated_runs))
    weights[:40] = 2.0
    weighted = fit_parametric(simulated_runs, weights, starts=REDUCED_GRID)
    table = simulated_runs.to_frame()
    doubled = load_runs(__import__("pandas").concat([table, table.iloc[:40]]).drop(columns="row"))
    duplicated = fit_parametric(doubled, starts=REDUCED_GRID)
    assert weighted.objective == pytest.approx(duplicated.objective, rel=1e-10)


def test_same_shape_does_not_retrace(simulated_runs):
    fit_parametric(simulated_runs, starts=REDUCED_GRID)
    before = parametric.TRACE_COUNTS["fit_parametric_arrays"]
    table = simulated_runs.to_frame().drop(columns="row")
    table["loss"] = table["loss"] * 1.01
    fit_parametric(load_runs(table), starts=REDUCED_GRID)
    fit_parametric(simulated_runs, np.full(len(simulated_runs), 0.5), starts=REDUCED_GRID)
    assert parametric.TRACE_COUNTS["fit_parametric_arrays"] == before


def test_tables_are_fitted_padded_to_their_row_bucket(simulated_runs):
    """81 rows are summed as 128 (copies of the last row at weight 0): the unpadded table's
    optimum to rounding, and a table of 70 rows runs the same program."""
    from scalinglaw_jax.core.data import exclude_rows
    from scalinglaw_jax.core.solvers import DEFAULT_OPTIONS, DEFAULT_SCREENING, Screening

    assert [parametric.padded_rows(n, None) for n in (5, 49, 81, 2048, 2049)] == [
        16,
        64,
        128,
        2048,
        2049,
    ]
    assert parametric.padded_rows(81, Screening(rows=64)) == 81  # screened on strided rows
    fit = fit_parametric(simulated_runs, starts=REDUCED_GRID)
    arrays = parametric.parametric_arrays(simulated_runs)
    grid = parametric.placed_starts(REDUCED_GRID, simulated_runs.loss)
    unpadded = parametric._fit_jit(
        arrays,
        jnp.ones(len(simulated_runs)),
        jnp.asarray(grid),
        jnp.asarray(parametric.DEFAULT_DELTA),
        options=DEFAULT_OPTIONS,
        law=fit.law,
        keep_starts=False,
        mesh=None,
        screening=DEFAULT_SCREENING,
    )
    assert arrays.log_loss.shape == (81,)
    assert fit.objective == pytest.approx(float(unpadded.objective), rel=1e-12)
    np.testing.assert_allclose(fit.theta, unpadded.theta, rtol=1e-7)
    before = parametric.TRACE_COUNTS["fit_parametric_arrays"]
    smaller = fit_parametric(
        exclude_rows(simulated_runs, simulated_runs.row[:11], "test"), starts=REDUCED_GRID
    )
    assert parametric.TRACE_COUNTS["fit_parametric_arrays"] == before
    assert np.isfinite(smaller.objective) and smaller.status == Status.CONVERGED


def test_same_inputs_same_bits(simulated_runs):
    first = fit_parametric(simulated_runs, starts=REDUCED_GRID)
    second = fit_parametric(simulated_runs, starts=REDUCED_GRID)
    assert np.array_equal(first.theta, second.theta)
    assert first.objective == second.objective


SPLIT_SCRIPT = textwrap.dedent(
    """
    import sys
    import jax, numpy as np
    from scalinglaw_jax.approaches import parametric
    from scalinglaw_jax.approaches.parametric import CPU_BLOCK_ELEMENTS, fit_mesh, fit_parametric
    from scalinglaw_jax.core.data import load_runs
    from scalinglaw_jax.core.solvers import DEFAULT_OPTIONS as OPTIONS
    from scalinglaw_jax.core.solvers import DEFAULT_SCREENING, start_mesh

    starts = np.load(sys.argv[1])
    assert start_mesh(len(starts)).size == 2  # the starts really are split
    assert start_mesh(128) is None  # 64 per device: no more than one queue each, not split
    one_block = CPU_BLOCK_ELEMENTS // 64  # rows 64 lanes sum at once
    assert fit_mesh(4500, one_block, 8, OPTIONS, None, None).size == 2
    assert fit_mesh(4500, one_block + 1, 8, OPTIONS, None, None) is None  # row blocks: one device
    assert fit_mesh(4500, 10**6, 8, OPTIONS, None, DEFAULT_SCREENING).size == 2  # screening
    for name, csv in zip(("small", "blocked"), sys.argv[2:4]):
        whole_fits = parametric.TRACE_COUNTS["fit_parametric_arrays"]
        per_start = fit_parametric(load_runs(csv), starts=starts).per_start
        one_program = parametric.TRACE_COUNTS["fit_parametric_arrays"] > whole_fits
        assert one_program == (name == "small"), name  # blocked: screen, then finish alone
        fields = dict(x=per_start.x, value=per_start.value, steps=per_start.steps)
        np.savez(f"{sys.argv[4]}/{name}.npz", **fields)
    """
)


def test_starts_split_over_two_devices_give_the_same_bits(simulated_runs, simulated_csv, tmp_path):
    """Two simulated CPU devices (in a subprocess) split the starts; every start's result is
    bit-identical to one device's: on a small table (one program), and on one summed in row
    blocks, whose screening is split and whose finishing stage runs as a program of one
    device. An exhaustive fit splits only a table of one row block."""
    starts = chinchilla_grid()[::30]  # 150 starts: 75 per device, more than a 64-lane queue
    np.save(tmp_path / "starts.npy", starts)
    blocked = pd.concat([pd.read_csv(simulated_csv)] * 8)  # 648 rows: two 512-row blocks
    blocked.to_csv(tmp_path / "blocked.csv", index=False)
    (tmp_path / "split.py").write_text(SPLIT_SCRIPT)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    env["JAX_PLATFORMS"] = "cpu"
    csvs = [str(simulated_csv), str(tmp_path / "blocked.csv")]
    subprocess.run(
        [
            sys.executable,
            str(tmp_path / "split.py"),
            str(tmp_path / "starts.npy"),
            *csvs,
            str(tmp_path),
        ],
        check=True,
        env=env,
        timeout=300,
    )
    for name, runs in (("small", simulated_runs), ("blocked", load_runs(tmp_path / "blocked.csv"))):
        here = fit_parametric(runs, starts=starts).per_start
        with np.load(tmp_path / f"{name}.npz") as split:
            for field in ("x", "value", "steps"):
                np.testing.assert_array_equal(split[field], getattr(here, field), err_msg=name)


def test_float32_fast_path_is_close(epoch_runs):
    fit64 = fit_parametric(epoch_runs, starts=REDUCED_GRID)
    fit32 = fit_parametric(epoch_runs, starts=REDUCED_GRID, dtype=jnp.float32)
    assert fit32.theta.dtype == np.float32
    # float32 resolves the objective to ~1e-7 relative per row; the exponent to ~1e-3.
    assert fit32.objective == pytest.approx(fit64.objective, rel=1e-3)
    assert fit32.frontier.a == pytest.approx(fit64.frontier.a, abs=5e-3)
    # Stall tolerances floored at float32's resolution: starts converge, none run to max-steps.
    assert fit32.start_status["max-steps"] == 0
    assert fit32.start_status["converged"] + fit32.start_status["screened-out"] == fit32.n_starts


def test_random_starts_need_a_key(simulated_runs):
    with pytest.raises(ValueError, match="PRNG key"):
        fit_parametric(simulated_runs, starts=10)
    fit = fit_parametric(simulated_runs, starts=64, key=jax.random.key(1))
    assert fit.n_starts == 64


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (np.ones(3), r"weights must have shape \(81,\)"),
        (np.r_[-1.0, np.ones(80)], r"finite and >= 0; bad at positions 0"),
        (np.r_[np.nan, np.ones(80)], "finite and >= 0"),
        (np.r_[np.ones(4), np.zeros(77)], "only 4 rows have weight > 0"),
    ],
)
def test_bad_weights_are_refused(simulated_runs, weights, message):
    assert len(simulated_runs) == 81
    with pytest.raises(DataError, match=message):
        fit_parametric(simulated_runs, weights, starts=REDUCED_GRID)


def test_bad_starts_are_refused(simulated_runs):
    with pytest.raises(ValueError, match=r"shape \(n_starts, 5\)"):
        fit_parametric(simulated_runs, starts=np.ones((3, 4)))
    with pytest.raises(ValueError, match="unknown start grid"):
        fit_parametric(simulated_runs, starts="paper")


def test_chinchilla_grid_is_the_papers():
    grid = chinchilla_grid()
    assert grid.shape == (4500, 5)
    assert sorted(set(grid[:, 3])) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert sorted(set(grid[:, 2])) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert sorted(set(grid[:, 0])) == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]


def test_paper_frontier_reproduces_published_projection():
    # Approach 3's closed-form frontier from the paper's unrounded parameters: a = 0.46.
    frontier = closed_forms.CHINCHILLA.frontier(jnp.asarray(closed_forms.PAPER_THETA))
    assert float(frontier.a) == pytest.approx(0.4565, abs=1e-4)
    assert float(frontier.a + frontier.b) == pytest.approx(1.0, abs=1e-12)
    # N_opt and D_opt multiply back to C / 6 exactly.
    flops = 1e22
    assert float(frontier.n_opt(flops) * frontier.d_opt(flops)) == pytest.approx(flops / 6)
