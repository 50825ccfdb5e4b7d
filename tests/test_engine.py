"""The engine's shared pieces: approach registry, status enumeration, intervals, layering."""

from __future__ import annotations

import ast
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.approaches.spec import ApproachSpec
from scalinglaw_jax.core import intervals
from scalinglaw_jax.core.data import DataError, load_runs
from scalinglaw_jax.core.status import SOLVER_CODES, Status, status_counts
from scalinglaw_jax.laws import LAWS
from scalinglaw_jax.laws.simulate import simulate_isoflop
from scalinglaw_jax.uncertainty import resample

PACKAGE = Path(__file__).resolve().parents[1] / "scalinglaw_jax"


# --- registry ----------------------------------------------------------------------------


def test_every_approach_has_one_record():
    assert registry.KEYS == ("1", "2", "3")
    for key in registry.KEYS:
        spec = registry.get(key)
        assert isinstance(spec, ApproachSpec) and spec.key == key
        assert registry.get(int(key)) is spec  # an int key finds the same record
        assert spec.default_scheme in spec.units
        # Every scheme is either supported (with a unit) or refused with a reason.
        for scheme in resample.SCHEMES:
            assert (scheme in spec.units) != (scheme in spec.refusals), (key, scheme)
    assert registry.selected("all") == registry.KEYS
    assert registry.selected(2) == ("2",)


@pytest.mark.parametrize("key", ["4", 0, "one", None])
def test_unknown_approach_is_a_clear_data_error(key):
    with pytest.raises(DataError, match=r"unknown approach .*use one of 1, 2, 3"):
        registry.get(key)


def test_refused_scheme_names_the_alternatives():
    runs = load_runs(simulate_isoflop(jax.random.key(0), points_per_budget=5))
    with pytest.raises(DataError, match="block resampling is for budgets"):
        resample.prepare(runs, "3", "block")
    with pytest.raises(DataError, match="unknown approach"):
        resample.prepare(runs, "7", "nonparametric")


def _approach_key_literals(node) -> bool:
    """Whether ``node`` is an approach key literal ("1", 2, ...) or a tuple/list/set of them."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in registry.KEYS
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_approach_key_literals(element) for element in node.elts)
    return False


def test_no_branching_on_approach_keys_outside_the_registry():
    """No ``approach == "3"``, ``key in ("1", "2")``...: dispatch goes through the registry;
    and no ``approach=3``: the key is a string everywhere."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg in ("approach", "approaches"):
                # The key has one type: an int literal here would be the second one.
                literals = [n for n in ast.walk(node.value) if isinstance(n, ast.Constant)]
                if any(isinstance(n.value, int) for n in literals):
                    offenders.append(f"{path.name}:{node.value.lineno}: {ast.unparse(node)}")
            if not isinstance(node, ast.Compare):
                continue
            sides = (node.left, *node.comparators)
            # An int key is only recognisable by the name it is compared with.
            named = isinstance(node.left, ast.Name | ast.Attribute)
            named = named and "approach" in ast.unparse(node.left)
            named = named and any(
                isinstance(side, ast.Constant) and side.value in (1, 2, 3) for side in sides
            )
            if named or any(_approach_key_literals(side) for side in sides):
                offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []


# --- status ------------------------------------------------------------------------------


def test_status_names_and_counts():
    assert Status.OK is Status.CONVERGED and Status.OK == 0
    labels = [Status(code).label for code in range(len(set(Status)))]
    assert len(set(labels)) == len(labels)  # one distinct name per code
    assert Status.TOO_FEW_BUDGETS.message.startswith("fewer than 2 budgets")
    counts = status_counts(np.array([0, 0, 1, 2, 2, 2]))
    assert counts == {
        "converged": 2,
        "max-steps": 1,
        "non-finite": 3,
        "screened-out": 0,
    }
    assert tuple(counts) == tuple(Status(c).label for c in SOLVER_CODES)
    # Members are plain integers inside jit.
    pick = jax.jit(lambda x: jnp.where(x > 0, Status.ONE_SIZE, Status.TOO_FEW_POINTS))
    assert int(pick(1.0)) == Status.ONE_SIZE and int(pick(-1.0)) == Status.TOO_FEW_POINTS


# --- intervals ---------------------------------------------------------------------------


def test_percentile_interval_matches_numpy_and_drops_non_finite():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(501)
    for level in (0.5, 0.9, 0.95):
        expected = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
        with_nan = np.concatenate([values, [np.nan, np.inf]])
        np.testing.assert_array_equal(intervals.percentile_interval(with_nan, level), expected)
    assert intervals.covers(values, 0.0, 0.5) and not intervals.covers(values, 5.0, 0.95)
    with pytest.raises(ValueError, match="level"):
        intervals.percentile_interval(values, 95)


def test_bca_reduces_to_percentile_without_bias_or_skew():
    """With the estimate at the draws' median (z0 = 0) and a symmetric jackknife (no
    acceleration) BCa is the percentile interval; a shifted estimate moves it (Efron 1987)."""
    draws = np.linspace(-3.0, 3.0, 2000)
    jackknife = np.array([-1.0, 0.0, 1.0])
    np.testing.assert_allclose(
        intervals.bca_interval(draws, 0.0, jackknife, 0.9),
        intervals.percentile_interval(draws, 0.9),
        rtol=1e-12,
    )
    # Estimate above 60% of the draws: z0 = Phi^-1(0.6); the interval's tails move up by 2 z0.
    estimate = np.percentile(draws, 60)
    z0 = norm.ppf(np.mean(draws < estimate))
    tails = norm.cdf(2 * z0 + norm.ppf([0.05, 0.95]))
    np.testing.assert_allclose(
        intervals.bca_interval(draws, estimate, jackknife, 0.9),
        np.percentile(draws, 100 * tails),
        rtol=1e-12,
    )


LAYERS = ("core", "laws", "approaches", "uncertainty", "evaluate", "figures", "report", "cli")
"""The package's folders, bottom to top (docs/architecture.md): each imports only from its own
folder and the folders below it."""


def _package_imports() -> dict[str, set[str]]:
    """Every module of the package -> the package modules it imports (inside functions too)."""
    modules = {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(
            ".__init__"
        ): path
        for path in PACKAGE.rglob("*.py")
    }
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            imported.update(t for t in targets if t in modules and t != name)
        graph[name] = imported
    return graph


def _layer(module: str) -> int | None:
    """The layer of ``scalinglaw_jax.FOLDER...``; None for the package's own ``__init__``."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 else None


def test_layers_import_only_downward():
    """No module imports from a folder above its own (statistics never import figures or the
    CLI; approaches never import posteriors or figures)."""
    upward = [
        f"{module} -> {target}"
        for module, targets in _package_imports().items()
        for target in targets
        if _layer(module) is not None
        and _layer(target) is not None
        and _layer(target) > _layer(module)
    ]
    assert not upward, upward


def test_no_import_cycles():
    """The import graph (imports inside functions included) has no cycle."""
    graph = _package_imports()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return [*path, module, target]
            if target not in state and (cycle := visit(target, [*path, module])):
                return cycle
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [])
            assert cycle is None, " -> ".join(cycle)


# --- every many-weight fit goes through the sweep engine ---------------------------------


@pytest.fixture(scope="module")
def isoflop_study():
    return load_runs(simulate_isoflop(jax.random.key(1), points_per_budget=7, noise=0.01))


def test_calibration_bootstrap_is_the_sweep(isoflop_study):
    from scalinglaw_jax.uncertainty import calibrate

    bootstrap = calibrate.methods("2")[0]
    point = calibrate._point_fit("2", isoflop_study, LAWS["chinchilla"])
    draws = calibrate._bootstrap_draws(
        "2", isoflop_study, point, bootstrap, 11, 24, LAWS["chinchilla"]
    )
    problem = resample.prepare(isoflop_study, "2", "nonparametric")
    sweep = resample.run_sweep(problem, 24, seed=11, chunk_size=8, progress=False)
    np.testing.assert_array_equal(draws, sweep.outputs["a"])
    assert np.all(np.isfinite(draws)) and np.std(draws) > 0


@pytest.mark.slow
def test_replication_bootstrap_is_the_sweep(isoflop_study):
    from scalinglaw_jax.approaches.isoflop import fit_isoflop
    from scalinglaw_jax.approaches.parametric import fit_parametric
    from scalinglaw_jax.approaches.varpro import varpro_sweep_plan
    from scalinglaw_jax.core.solvers import chinchilla_grid
    from scalinglaw_jax.evaluate import replicate

    fit2 = fit_isoflop(isoflop_study)
    fit3 = fit_parametric(isoflop_study, starts=chinchilla_grid()[::50])
    draws = replicate.bootstrap_draws(isoflop_study, fit2, fit3, 6, seed=5)
    # Both approaches see the same resamples: those the sweep draws for seed 5.
    weights = jax.vmap(
        lambda i: resample.draw_unit_weights(
            jax.random.key(5), i, "nonparametric", len(isoflop_study)
        )
    )(jnp.arange(6))
    problem2 = resample.prepare(isoflop_study, "2", "nonparametric", point=fit2)
    by_weights = resample.fit_weights(problem2, np.asarray(weights))
    np.testing.assert_array_equal(draws["approach2 a"], by_weights["a"])
    # Approach 3 is the sweep of the variable-projection plan: the same compiled program
    # (no new trace) gives the same bits.
    traces = resample.TRACE_COUNTS["sweep"]
    plan = varpro_sweep_plan(isoflop_study, fit3)
    problem3 = resample.problem_from_plan(isoflop_study, "3", "nonparametric", plan)
    sweep3 = resample.run_sweep(problem3, 6, seed=5, progress=False)
    assert resample.TRACE_COUNTS["sweep"] == traces
    np.testing.assert_array_equal(draws["approach3 a"], sweep3.outputs["a"])
    np.testing.assert_array_equal(draws["alpha"], sweep3.outputs["alpha"])
    assert np.all(draws["status"] == Status.OK)
