"""Laws as values: a user's Law, the shipped laws, autodiff against closed forms, recovery."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scalinglaw_jax as sl
from scalinglaw_jax.approaches.parametric import fit_parametric, parametric_arrays
from scalinglaw_jax.core.law import (
    Law,
    LawError,
    huber_derivatives,
    load_law_file,
    numeric_frontier,
)
from scalinglaw_jax.laws import LAWS, get_law
from scalinglaw_jax.laws.closed_forms import PAPER_THETA
from scalinglaw_jax.laws.simulate import repeated_epoch_design, simulate_law

USER_LAW_FILE = Path(__file__).with_name("user_law.py")
CHINCHILLA_TRUTH = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}
TRUTHS = {
    "chinchilla": CHINCHILLA_TRUTH,
    "chinchilla_shared_exponent": {"A": 406.4, "B": 1410.7, "E": 1.69, "alpha": 0.31},
    "kaplan": {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095},
    "data_constrained": {**CHINCHILLA_TRUTH, "R_N": 5.3, "R_D": 15.4},
}
NOISE = 2e-4
"""Log-loss noise well inside the Huber delta (1e-3): the fit is then least squares, whose
standard errors (Gauss-Newton) set the recovery tolerances."""


def chinchilla_as_user_law() -> Law:
    """Chinchilla's law with none of its fast paths: autodiff, numeric frontier."""
    return Law(
        name="chinchilla_generic",
        params=dict(LAWS["chinchilla"].params),
        predict=LAWS["chinchilla"].predict,
        start_grid=sl.chinchilla_grid,
    )


def grid_table(law, truth, key=0, noise=NOISE):
    n, d = np.meshgrid(np.geomspace(5e7, 1e10, 8), np.geomspace(1e9, 3e11, 8), indexing="ij")
    law = LAWS[law] if isinstance(law, str) else law
    frame = simulate_law(jax.random.key(key), law, truth, n.ravel(), d.ravel(), noise=noise)
    return sl.load_runs(frame)


def test_the_issue_example_runs_from_a_users_file():
    law = load_law_file(f"{USER_LAW_FILE}:law")
    assert law.columns == ("params", "tokens")
    assert law.theta_names == ("log_E", "log_A", "log_B", "log_alpha")
    assert law.grid().shape == (4096, 4)  # 8 points per axis
    truth = {"E": 1.7, "A": 500.0, "B": 1500.0, "alpha": 0.33}
    fit = fit_parametric(
        grid_table(law, truth, noise=0.0), law=law, starts=128, key=jax.random.key(1)
    )
    assert fit.status == 0
    for name, value in truth.items():
        assert fit.params[name] == pytest.approx(value, rel=1e-6)


def test_an_unchanged_law_file_loads_as_the_same_law(tmp_path):
    """Laws hash by identity (compiled programs take them as static arguments): loading an
    unchanged file again gives the same law, whose programs are then reused; an edited file
    gives a new one."""
    path = tmp_path / "my_law.py"
    source = USER_LAW_FILE.read_text()
    path.write_text(source)
    first = load_law_file(f"{path}:law")
    assert load_law_file(f"{path}:law") is first
    path.write_text(source + "\n# edited\n")
    assert load_law_file(f"{path}:law") is not first


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("missing_file.py:law", "does not exist"),
        (f"{USER_LAW_FILE}:nope", "defines no 'nope'; laws defined there: law"),
        (f"{USER_LAW_FILE}:Law", "is a type, not a scalinglaw_jax.Law"),
        ("chinchila", "did you mean 'chinchilla'"),
    ],
)
def test_bad_law_specs_get_clear_errors(spec, words):
    with pytest.raises(LawError, match=words):
        get_law(spec)


def test_a_law_file_that_fails_to_import_is_named(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module\n")
    with pytest.raises(LawError, match="broken.py' failed to import: ModuleNotFoundError"):
        get_law(f"{broken}:law")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"params": {"E": (3.0, 1.0)}}, "lo < hi"),
        ({"params": {"E": 2.0}}, "needs a box"),
        ({"predict": lambda p, x: p["E"] + x["epochs"]}, "reads column 'epochs'"),
        ({"predict": lambda p, x: jnp.stack([p["E"], x["params"]])}, "one scalar loss per row"),
        ({"predict": lambda p, x: p["F"] * x["params"]}, "failed on one row: KeyError"),
        ({"predict": lambda p, x: p["E"] * x["flops"]}, "reads neither params nor tokens"),
    ],
)
def test_bad_law_definitions_are_refused_at_once(kwargs, words):
    definition = {"name": "bad", "params": {"E": (1.0, 3.0)}, "predict": lambda p, x: p["E"]}
    definition["predict"] = lambda p, x: p["E"] + x["params"]
    with pytest.raises(LawError, match=words):
        Law(**{**definition, **kwargs})


def test_autodiff_derivatives_match_the_closed_form_with_and_without_majoriser():
    runs = grid_table("chinchilla", CHINCHILLA_TRUTH, noise=0.02)
    generic = chinchilla_as_user_law()
    arrays = parametric_arrays(runs, law=generic)
    weights = jnp.asarray(np.random.default_rng(0).integers(0, 3, len(runs)), float)
    for theta in (jnp.asarray(PAPER_THETA), jnp.asarray(sl.chinchilla_grid()[1234])):
        for majorize in (0.0, 0.5, 1.0):
            closed = LAWS["chinchilla"].derivatives(theta, arrays, weights, 1e-3, majorize)
            auto = huber_derivatives(generic, theta, arrays, weights, 1e-3, majorize)
            for c, a in zip(closed, auto, strict=True):
                np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-12)


def test_generic_path_reaches_the_closed_form_optimum():
    runs = grid_table("chinchilla", CHINCHILLA_TRUTH, noise=0.01)
    closed = fit_parametric(runs)
    generic = fit_parametric(runs, law=chinchilla_as_user_law())
    assert generic.objective == pytest.approx(closed.objective, rel=1e-9)
    for name, value in closed.params.items():
        assert generic.params[name] == pytest.approx(value, rel=1e-6)


def test_generic_path_on_epoch_data_matches_todays_optimum(epoch_csv):
    runs = sl.load_runs(epoch_csv, drop_highest_loss=5)
    closed = fit_parametric(runs)
    assert closed.objective == pytest.approx(1.0182740178e-3, rel=1e-9)
    generic = fit_parametric(runs, law=chinchilla_as_user_law())
    assert generic.objective == pytest.approx(closed.objective, rel=1e-9)


@pytest.mark.parametrize("name", ["chinchilla", "chinchilla_shared_exponent", "kaplan"])
def test_numeric_frontier_equals_the_closed_form(name):
    law = LAWS[name]
    theta = jnp.asarray(law.from_params(TRUTHS[name]))
    numeric = numeric_frontier(law, theta)
    closed = law.frontier_of(theta)
    np.testing.assert_allclose(np.exp(numeric.log_n_opt), closed.n_opt(numeric.flops), rtol=1e-6)
    for got, want in zip(numeric.frontier, closed, strict=True):
        assert float(got) == pytest.approx(float(want), rel=1e-6, abs=1e-9)


def test_data_constrained_is_chinchilla_with_fresh_data_and_no_excess_parameters():
    law, chinchilla = LAWS["data_constrained"], LAWS["chinchilla"]
    truth = TRUTHS["data_constrained"]
    tokens = np.geomspace(1e9, 1e12, 7)
    # N at or below the compute-optimal size for its tokens: N' = N, D' = D.
    n_opt = (0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.34) * tokens ** (0.28 / 0.34)
    inputs = {"params": jnp.asarray(n_opt * 0.5), "tokens": jnp.asarray(tokens)}
    inputs["unique_tokens"] = inputs["tokens"]
    theta = jnp.asarray(law.from_params(truth))
    chin_theta = jnp.asarray(chinchilla.from_params(CHINCHILLA_TRUTH))
    np.testing.assert_allclose(
        law.predict_rows(theta, inputs), chinchilla.predict_rows(chin_theta, inputs), rtol=1e-14
    )
    # Repeated data is worth less than fresh: the same tokens over 8 epochs lose more.
    repeated = dict(inputs, unique_tokens=inputs["tokens"] / 8)
    assert np.all(law.predict_rows(theta, repeated) > law.predict_rows(theta, inputs))
    # And its frontier (fresh data) is Chinchilla's.
    numeric = numeric_frontier(law, theta)
    want = chinchilla.frontier_of(chin_theta)
    np.testing.assert_allclose(np.exp(numeric.log_n_opt), want.n_opt(numeric.flops), rtol=1e-6)


def standard_errors(law, theta, runs):
    """Gauss-Newton standard errors of ``theta`` for least squares on log loss."""
    arrays = parametric_arrays(runs, law=law)
    residual = np.asarray(law.log_loss(jnp.asarray(theta), arrays) - arrays.log_loss)
    jac = np.asarray(jax.jacfwd(lambda t: law.log_loss(t, arrays))(jnp.asarray(theta)))
    sigma2 = residual @ residual / (len(runs) - law.n_params)
    return np.sqrt(np.diag(sigma2 * np.linalg.inv(jac.T @ jac)))


@pytest.mark.parametrize("name", sorted(TRUTHS))
def test_simulated_studies_recover_each_shipped_law(name):
    """Within 5 standard errors per coordinate (a false alarm about once in 3 million)."""
    law = LAWS[name]
    if name == "data_constrained":
        design = repeated_epoch_design(
            sizes=np.geomspace(1e8, 3e9, 4), epochs=(1, 2, 4, 8, 16, 32, 64)
        )
        frame = simulate_law(jax.random.key(3), law, TRUTHS[name], **design, noise=NOISE)
        runs = sl.load_runs(frame)
        fit = fit_parametric(runs, law=law, starts=256, key=jax.random.key(4))
    else:
        runs = grid_table(law, TRUTHS[name], key=3)
        fit = fit_parametric(runs, law=law)
    assert fit.status == 0
    truth = law.from_params(TRUTHS[name])
    se = standard_errors(law, fit.theta, runs)
    assert np.all(np.abs(fit.theta - truth) < 5 * se), (fit.theta - truth) / se
    if name == "data_constrained":
        assert fit.params["R_D"] == pytest.approx(15.4, rel=0.1)


def test_registry_lists_the_shipped_laws_with_formula_and_source():
    assert set(LAWS) == set(TRUTHS)
    for law in LAWS.values():
        assert law.formula and law.source
        assert law.name in law.describe()


def test_a_missing_column_is_named():
    runs = grid_table("chinchilla", CHINCHILLA_TRUTH)
    with pytest.raises(LawError, match="needs column 'unique_tokens'.*'U_D'"):
        fit_parametric(runs, law=LAWS["data_constrained"])
