"""Variable projection: same optimum as the 5-parameter grid fit, better conditioned."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from scalinglaw_jax.approaches.parametric import fit_parametric, parametric_arrays
from scalinglaw_jax.approaches.varpro import conditioning, fit_varpro, nnls_start
from scalinglaw_jax.core.data import DataError, load_runs
from scalinglaw_jax.core.solvers import product_grid
from scalinglaw_jax.core.status import Status
from scalinglaw_jax.laws import closed_forms
from scalinglaw_jax.laws.simulate import simulate_final_losses

REDUCED_GRID = product_grid(
    a=[5.0, 10.0, 15.0], b=[5.0, 10.0, 15.0], e=[-0.5, 0.5], alpha=[0.5, 1.0], beta=[0.5, 1.0]
)


@pytest.fixture(scope="module")
def epoch_runs(epoch_csv):
    return load_runs(epoch_csv, drop_highest_loss=5)


def test_epoch_optimum_no_worse_than_grid_fit(epoch_runs):
    grid = fit_parametric(epoch_runs, starts=REDUCED_GRID)
    fit = fit_varpro(epoch_runs)
    assert fit.objective <= grid.objective * (1 + 1e-6)
    assert fit.objective == pytest.approx(1.01827e-3, rel=1e-5)
    assert fit.status == Status.CONVERGED and fit.grad_norm < 1e-8
    assert fit.params["alpha"] == pytest.approx(0.3473, abs=1e-4)
    assert fit.params["B"] == pytest.approx(2143.4, rel=1e-3)
    assert fit.frontier.a == pytest.approx(0.514, abs=1e-3)
    assert fit.to_dict()["method"] == "variable projection"
    # The reduced 2-D problem is conditioned many orders of magnitude better.
    kappa = conditioning(fit.theta, parametric_arrays(epoch_runs))
    assert kappa["kappa_5d"] > 1e6
    assert kappa["kappa_2d"] < 1e2


def test_recovers_exact_law():
    sizes, tokens = np.geomspace(1e8, 1e10, 6), np.geomspace(2e9, 4e11, 6)
    runs = load_runs(simulate_final_losses(jax.random.key(0), sizes, tokens, grid=True))
    fit = fit_varpro(runs)
    truth = closed_forms.PAPER_PARAMS.as_dict()
    assert fit.objective < 1e-12
    for name in ("alpha", "beta", "E"):
        assert fit.params[name] == pytest.approx(truth[name], rel=1e-5)


def test_nnls_start_is_exact_for_noise_free_data():
    sizes, tokens = np.geomspace(1e8, 1e10, 4), np.geomspace(2e9, 4e11, 4)
    runs = load_runs(simulate_final_losses(jax.random.key(0), sizes, tokens, grid=True))
    law = closed_forms.PAPER_PARAMS
    start = nnls_start(law.alpha, law.beta, parametric_arrays(runs), np.ones(len(runs)))
    np.testing.assert_allclose(np.exp(start), [law.A, law.B, law.E], rtol=1e-6)


def test_bad_input_raises_before_tracing(simulated_csv):
    runs = load_runs(simulated_csv)
    with pytest.raises(DataError, match="weight > 0"):
        fit_varpro(runs, weights=np.r_[np.ones(3), np.zeros(len(runs) - 3)])
    with pytest.raises(ValueError, match="alpha_grid"):
        fit_varpro(runs, alpha_grid=[0.3])
