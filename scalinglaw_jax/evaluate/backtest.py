"""Extrapolation backtests: fit on the smaller runs, predict the largest, score the predictions.

The question a user has is not "what are A and alpha" but "how well will a fit on my ladder
predict a run 100x larger, and which law should I believe?". The published practice (Hoffmann
et al. 2022; Besiroglu et al. 2024; Choshen et al. 2024) holds out the largest runs. Here:

- ``split_by_flops``: training runs are those below a FLOPs cutoff (the largest-FLOPs fraction
  ``holdout_fraction`` of runs is held out, or an explicit ``cutoff_flops``);
- ``backtest_law``: the law fitted on the training runs predicts every held-out run's loss,
  with a **predictive interval** for a new run, not only for the mean curve: each bootstrap
  refit of the law (rows resampled, fast mode) predicts the held-out run and adds one
  observation-noise draw, a residual of the point fit on the training runs drawn with
  replacement (``interval_method = "bootstrap+residuals"``). Refits carry the uncertainty of
  the parameters, residuals the scatter of a single run around the law (which a mean-curve
  band leaves out, so it would under-cover); drawing residuals rather than a normal keeps the
  data's own tails;
- scores on the log scale: median and maximum absolute error, mean signed error (bias), and
  the fraction of held-out runs inside their 50% and 90% predictive intervals;
- ``rolling_backtest``: one cutoff per half-decade of FLOPs, error against extrapolation
  distance (a held-out run's FLOPs over the largest training run's);
- ``backtest_isoflop``: Approach 2, the power law through the vertices of the budgets below the
  cutoff predicts ``N_opt`` at the held-out budgets, against their own vertices.
"""

from __future__ import annotations

import math
import sys
import textwrap
from dataclasses import dataclass, field
from functools import cache

import jax
import numpy as np

from scalinglaw_jax.approaches.isoflop import fit_isoflop
from scalinglaw_jax.approaches.parametric import (
    fit_parametric,
    parametric_arrays,
    placed_starts,
)
from scalinglaw_jax.approaches.spec import row_bucket
from scalinglaw_jax.core.data import DataError, Runs, exclude_rows
from scalinglaw_jax.core.intervals import percentile_interval, tail_percents
from scalinglaw_jax.core.law import Law
from scalinglaw_jax.core.status import Status
from scalinglaw_jax.uncertainty import resample

INTERVAL_METHOD = "bootstrap+residuals"
DEFAULT_HOLDOUT_FRACTION = 0.2
DEFAULT_RESAMPLES = 200
LEVELS = (0.5, 0.9)
ROLLING_STEP_DEX = 0.5


@dataclass(frozen=True)
class Split:
    """Training rows (FLOPs below ``cutoff_flops``) and held-out rows (at or above it)."""

    train: np.ndarray
    test: np.ndarray
    cutoff_flops: float


def split_by_flops(
    runs: Runs, *, holdout_fraction: float | None = None, cutoff_flops: float | None = None
) -> Split:
    """Hold out the largest runs: the top ``holdout_fraction`` by FLOPs (default 0.2; runs tied
    at the boundary are held out together), or every run at or above ``cutoff_flops``."""
    if holdout_fraction is not None and cutoff_flops is not None:
        raise DataError("give a holdout fraction or a FLOPs cutoff, not both")
    flops = np.asarray(runs.flops)
    if cutoff_flops is None:
        fraction = DEFAULT_HOLDOUT_FRACTION if holdout_fraction is None else holdout_fraction
        if not 0.0 < fraction < 1.0:
            raise DataError(f"the holdout fraction must lie in (0, 1), got {fraction}")
        n_test = max(1, math.ceil(fraction * len(runs)))
        cutoff_flops = float(np.sort(flops)[::-1][n_test - 1])
    elif not (math.isfinite(cutoff_flops) and cutoff_flops > 0):
        raise DataError(f"the FLOPs cutoff must be a positive number, got {cutoff_flops}")
    test = flops >= cutoff_flops
    return Split(~test, test, float(cutoff_flops))


def _check_split(runs: Runs, split: Split, n_params: int, what: str) -> None:
    n_train, n_test = int(split.train.sum()), int(split.test.sum())
    if n_test == 0:
        raise DataError(
            f"no run has at least {split.cutoff_flops:.3g} FLOPs (the largest has "
            f"{runs.flops.max():.3g}): nothing is held out; lower the cutoff"
        )
    distinct = len(
        {(n, d) for n, d in zip(runs.params[split.train], runs.tokens[split.train], strict=True)}
    )
    if distinct <= n_params:
        raise DataError(
            f"the cutoff {split.cutoff_flops:.3g} FLOPs leaves {n_train} training runs "
            f"({distinct} distinct (N, D) points), too few for {what} with {n_params} "
            "parameters; raise the cutoff or lower the holdout fraction"
        )


def check_split(runs: Runs, split: Split, law: Law) -> None:
    """``DataError`` when ``split`` holds nothing out, or leaves too few distinct training
    points for ``law``: what ``backtest_law`` refuses, said before any fit."""
    _check_split(runs, split, law.n_params, f"law {law.name!r}")


def _coverage(low, high, observed) -> float:
    return float(np.mean((low <= observed) & (observed <= high)))


@dataclass(frozen=True)
class LawBacktest:
    """One law's held-out predictions (log scale) and their scores."""

    law: str
    cutoff_flops: float
    n_train: int
    test_rows: np.ndarray
    test_flops: np.ndarray
    observed: np.ndarray
    predicted: np.ndarray
    intervals: dict
    max_train_flops: float
    n_resamples: int
    n_failed: int
    metrics: dict = field(default_factory=dict)

    @property
    def errors(self) -> np.ndarray:
        """Signed log errors, predicted minus observed."""
        return self.predicted - self.observed

    @property
    def flops_ratio(self) -> np.ndarray:
        """Extrapolation distance per held-out run: its FLOPs over the largest training run's."""
        return self.test_flops / self.max_train_flops

    def to_dict(self) -> dict:
        return {
            "law": self.law,
            **self.metrics,
            "interval_method": INTERVAL_METHOD,
            "n_resamples": self.n_resamples,
            "n_failed_resamples": self.n_failed,
            "held_out": [
                {
                    "row": int(row),
                    "flops": float(c),
                    "flops_ratio": float(c / self.max_train_flops),
                    "observed_loss": float(np.exp(obs)),
                    "predicted_loss": float(np.exp(pred)),
                    **{
                        f"interval_{round(100 * level)}": [
                            float(np.exp(self.intervals[level][0][j])),
                            float(np.exp(self.intervals[level][1][j])),
                        ]
                        for level in LEVELS
                    },
                }
                for j, (row, c, obs, pred) in enumerate(
                    zip(self.test_rows, self.test_flops, self.observed, self.predicted, strict=True)
                )
            ],
        }

    def report(self) -> str:
        m = self.metrics
        return (
            f"{self.law}: trained on {m['n_train']} runs below {m['cutoff_flops']:.3g} FLOPs, "
            f"{m['n_test']} held out; |log error| median {m['median_abs_log_error']:.4f}, "
            f"max {m['max_abs_log_error']:.4f}, bias {m['bias_log']:+.4f}; predictive "
            f"coverage 50%: {m['coverage_50']:.2f}, 90%: {m['coverage_90']:.2f}"
        )


def _theta_draws(law, outputs: dict) -> np.ndarray:
    """Each resample's parameters (natural scale, by name) in the law's coordinates."""
    values = np.stack([np.asarray(outputs[name], dtype=np.float64) for name in law.param_names], 1)
    log = np.array(law.log_scaled)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(log, np.log(values), values)


def _training_fit(runs: Runs, train_runs: Runs, split: Split, law, seed: int, starts):
    """``fit_parametric(train_runs, starts=starts, key=key(seed))``, fitted as the whole table
    with the held-out rows weighted zero, from the starts the training runs alone would get.

    A zero weight adds exactly nothing to the Huber sum, so the optimum is the training runs'
    (the same to ~1e-12 relative); the table keeps its shape, so every cutoff of a rolling
    backtest and ``compare_laws``' full-data fit share one compiled program instead of
    compiling one per number of training runs."""
    grid = placed_starts(starts, train_runs.loss, key=jax.random.key(seed), law=law)
    return fit_parametric(runs, split.train.astype(np.float64), starts=grid, law=law)


@cache
def _predictor(law):
    """``law.log_loss`` of every row for each of a batch of parameter vectors, jitted once per
    law (``_log_losses`` pads its shapes to buckets, so every cutoff shares its programs)."""
    return jax.jit(jax.vmap(law.log_loss, in_axes=(0, None)))


def _log_losses(law, thetas, runs: Runs, rows) -> np.ndarray:
    """Predicted log-losses ``(len(thetas), rows.sum())`` of the rows of mask ``rows`` under
    each parameter vector (NaN rows give NaN). Rows and parameter vectors are padded to their
    buckets (``spec.row_bucket``) by copies, and the padding dropped: one compiled program
    serves every cutoff of a table and every number of kept resamples."""
    thetas = np.asarray(thetas, dtype=np.float64)
    index = np.flatnonzero(rows)
    # Selected and padded on the host: eager gathers and pads would compile per shape.
    picks = np.concatenate([index, np.repeat(index[-1:], row_bucket(index.size) - index.size)])
    arrays = jax.tree_util.tree_map(
        lambda leaf: np.asarray(leaf)[picks], parametric_arrays(runs, law=law)
    )
    extra = row_bucket(len(thetas)) - len(thetas)
    batch = np.concatenate([thetas, np.repeat(thetas[-1:], extra, axis=0)])
    values = _predictor(law)(batch, arrays)
    return np.asarray(values)[: len(thetas), : index.size]


def _law_bootstrap(runs: Runs, law, n_resamples: int, seed: int, starts, point=None):
    """Approach 3 of ``law``: the point fit from ``starts`` (or ``point``, a fit of ``runs``
    by ``law``), then refits on row resamples warm-started from it (no BCa). Returns
    ``(point, BootstrapResult)``."""
    if point is None:
        point = fit_parametric(runs, law=law, starts=starts, key=jax.random.key(seed))
    boot = resample.bootstrap(
        runs,
        "3",
        "nonparametric",
        n_resamples,
        law=law,
        point=point,
        seed=seed,
        bca=False,
        progress=False,
    )
    return point, boot


def backtest_law(
    runs: Runs,
    law: Law,
    split: Split,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    starts="grid",
) -> LawBacktest:
    """Fit ``law`` on ``split.train``, predict ``split.test`` with predictive intervals.

    ``starts`` are the point fit's (``fit_parametric``; an int draws random starts from
    ``seed``). The point fit is the whole table's with the held-out rows weighted zero: the
    training runs' optimum, compiled once for every split of the table (``_training_fit``).

    Raises ``DataError`` when the split leaves no held-out run or fewer distinct training
    points than the law has parameters (plus one).
    """
    _check_split(runs, split, law.n_params, f"law {law.name!r}")
    held_out = runs.row[split.test]
    train_runs = exclude_rows(runs, held_out, f"held out (FLOPs >= {split.cutoff_flops:.3g})")
    point = _training_fit(runs, train_runs, split, law, seed, starts)
    point, boot = _law_bootstrap(train_runs, law, n_resamples, seed, starts, point)
    test = np.flatnonzero(split.test)
    predicted = _log_losses(law, point.theta[None], runs, split.test)[0]
    thetas = _theta_draws(law, boot.sweep.outputs)
    kept = np.all(np.isfinite(thetas), axis=1) & (boot.sweep.outputs["status"] == Status.OK)
    draws = _log_losses(law, thetas, runs, split.test)[kept]
    train_log_loss = np.log(runs.loss[split.train])
    residuals = _log_losses(law, point.theta[None], runs, split.train)[0] - train_log_loss
    rng = np.random.default_rng(seed)
    noisy = draws + rng.choice(residuals, size=draws.shape, replace=True)
    observed = np.log(runs.loss[test])
    intervals = {
        level: tuple(np.percentile(noisy, tail_percents(level), axis=0)) for level in LEVELS
    }
    errors = predicted - observed
    metrics = {
        "n_train": int(split.train.sum()),
        "n_test": int(test.size),
        "cutoff_flops": split.cutoff_flops,
        "median_abs_log_error": float(np.median(np.abs(errors))),
        "max_abs_log_error": float(np.max(np.abs(errors))),
        "bias_log": float(np.mean(errors)),
        **{
            f"coverage_{round(100 * level)}": _coverage(*intervals[level], observed)
            for level in LEVELS
        },
    }
    return LawBacktest(
        law=law.name,
        cutoff_flops=split.cutoff_flops,
        n_train=int(split.train.sum()),
        test_rows=runs.row[test],
        test_flops=runs.flops[test],
        observed=observed,
        predicted=predicted,
        intervals=intervals,
        max_train_flops=float(runs.flops[split.train].max()),
        n_resamples=n_resamples,
        n_failed=int(n_resamples - kept.sum()),
        metrics=metrics,
    )


def rolling_cutoffs(runs: Runs, min_train: int) -> list[float]:
    """One cutoff per half-decade of FLOPs that leaves ``min_train`` training runs and one
    held-out run or more."""
    flops = np.asarray(runs.flops)
    low = math.floor(np.log10(flops.min()) / ROLLING_STEP_DEX) * ROLLING_STEP_DEX
    cutoffs = []
    for exponent in np.arange(low, np.log10(flops.max()) + 1e-9, ROLLING_STEP_DEX):
        cutoff = 10.0**exponent
        if np.sum(flops < cutoff) >= min_train and np.any(flops >= cutoff):
            cutoffs.append(float(cutoff))
    return cutoffs


def rolling_backtest(
    runs: Runs, law: Law, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, starts="grid"
):
    """``backtest_law`` at every ``rolling_cutoffs`` cutoff whose training runs determine the
    law (cutoffs that do not are skipped); a list of ``LawBacktest``, smallest cutoff first."""
    results = []
    for cutoff in rolling_cutoffs(runs, law.n_params + 1):
        split = split_by_flops(runs, cutoff_flops=cutoff)
        try:
            results.append(
                backtest_law(runs, law, split, n_resamples=n_resamples, seed=seed, starts=starts)
            )
        except DataError:
            continue  # too few distinct training points at this cutoff
    if not results:
        raise DataError(
            f"no half-decade FLOPs cutoff leaves enough training runs for law {law.name!r} "
            f"({law.n_params} parameters) and a held-out run"
        )
    return results


def rolling_summary(results: list[LawBacktest]) -> dict:
    """Per cutoff: the scores; and every held-out run's (FLOPs ratio, signed log error)."""
    return {
        "cutoffs": [r.metrics for r in results],
        "points": [
            {"cutoff_flops": r.cutoff_flops, "flops_ratio": float(ratio), "log_error": float(e)}
            for r in results
            for ratio, e in zip(r.flops_ratio, r.errors, strict=True)
        ],
    }


def _vertex_interval(profile, z: float = 1.959963984540054) -> tuple[float, float] | None:
    """95% interval of a parabola's vertex ``ln N`` by the delta method (least squares on the
    budget's points); None when the parabola has no minimum or no residual degrees of freedom."""
    x, y = profile.log_n, profile.loss
    if not np.isfinite(profile.vertex_log_n) or x.size <= 3:
        return None
    design = np.stack([np.ones_like(x), x, x**2], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    covariance = residual @ residual / (x.size - 3) * np.linalg.inv(design.T @ design)
    c1, c2 = coef[1], coef[2]
    gradient = np.array([0.0, -1.0 / (2.0 * c2), c1 / (2.0 * c2**2)])
    se = float(np.sqrt(gradient @ covariance @ gradient))
    return profile.vertex_log_n - z * se, profile.vertex_log_n + z * se


def backtest_isoflop(
    runs: Runs, split: Split, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> dict:
    """Approach 2: the vertices' power law from the budgets below the cutoff predicts ``N_opt``
    at each held-out budget (95% interval from a row bootstrap of those budgets), against that
    budget's own vertex (95% interval by the delta method on its parabola).

    Raises ``DataError`` when fewer than two budgets lie below the cutoff or none above it.
    """
    full = fit_isoflop(runs)
    budgets = np.asarray(full.budget_flops)
    below = budgets < split.cutoff_flops
    if below.sum() < 2 or below.all():
        raise DataError(
            f"Approach 2 needs two IsoFLOP budgets below the cutoff {split.cutoff_flops:.3g} "
            "FLOPs and one at or above it; the table's budgets: "
            + ", ".join(f"{c:.3g}" for c in budgets)
        )
    index = np.asarray(full.assignment.index)
    held = (index >= 0) & ~below[np.maximum(index, 0)]
    outside = (index < 0) & (runs.flops >= split.cutoff_flops)
    train = exclude_rows(runs, runs.row[held | outside], "held-out IsoFLOP budget")
    boot = resample.bootstrap(
        train, "2", "nonparametric", n_resamples, seed=seed, bca=False, progress=False
    )
    point = boot.sweep.problem.point
    band = boot.band(budgets[~below])
    held_out = []
    for k in np.flatnonzero(~below):
        profile = full.profiles()[k]
        j = int(np.sum(~below[:k]))
        predicted = float(point.frontier.n_opt(budgets[k]))
        vertex = _vertex_interval(profile)
        own = math.exp(profile.vertex_log_n) if np.isfinite(profile.vertex_log_n) else None
        held_out.append(
            {
                "budget_flops": float(budgets[k]),
                "predicted_n_opt": predicted,
                "predicted_interval_95": [float(band.n_low[j]), float(band.n_high[j])],
                "vertex_n_opt": own,
                "vertex_interval_95": None if vertex is None else [math.exp(v) for v in vertex],
                "log_error": None if own is None else math.log(predicted / own),
                "vertex_in_predicted_interval": (
                    None if own is None else bool(band.n_low[j] <= own <= band.n_high[j])
                ),
            }
        )
    return {
        "cutoff_flops": split.cutoff_flops,
        "n_train_budgets": int(below.sum()),
        "a": float(point.frontier.a),
        "held_out": held_out,
    }


RANKING_RULE = (
    "laws are ranked by the backtest's median absolute log error on the held-out largest runs "
    "(the question is extrapolation); PSIS-LOO's elpd (in-sample, leave-one-out) is reported "
    "beside it, with its own ranking, and 'rankings_agree' says whether the two orders match"
)


def compare_laws(
    runs: Runs,
    laws: list[Law],
    split: Split,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    nuts_settings=None,
    seed: int = 0,
    starts="grid",
    progress: bool | None = None,
) -> dict:
    """One table over ``laws``: parameters, in-sample objective, PSIS-LOO of a NUTS fit (ArviZ,
    with its SE and Pareto-k warnings), the backtest's error and coverage, and the exponent
    ``a`` with its 95% bootstrap interval; ranked by ``RANKING_RULE``. ``starts`` as in
    ``backtest_law``.

    Each law's entry carries ``flags``: one sentence per failed or doubtful result (posterior
    checks failed, with the reasons; bootstrap or backtest resamples that failed; PSIS-LOO
    warnings; a backtest error that is not finite), and ``ok`` (no flags). The result also
    holds ``backtests`` (law name -> ``LawBacktest``, for ``plots.plot_backtest``; not part
    of summary.json). ``progress`` (default: when stderr is a terminal) shows a tqdm bar over
    the steps (bootstrap, NUTS, backtest per law).

    LOO uses the plain posterior (likelihood power 1): it is defined for the model's own
    likelihood, not for a tempered one.
    """
    import arviz as az
    from tqdm.auto import tqdm

    from scalinglaw_jax.uncertainty.posterior import NutsSettings, sample_parametric

    settings = nuts_settings or NutsSettings(draws=500, warmup=500, progress_bar=False)
    entries, backtests = {}, {}
    if progress is None:
        progress = sys.stderr.isatty()
    bar = tqdm(total=3 * len(laws), desc="compare", unit="step", disable=not progress)
    for k, law in enumerate(laws):
        if law.name in entries:
            raise DataError(f"law {law.name!r} is named twice")
        bar.set_postfix_str(f"{law.name}: bootstrap")
        point, boot = _law_bootstrap(runs, law, n_resamples, seed, starts)
        bar.update()
        bar.set_postfix_str(f"{law.name}: NUTS")
        posterior = sample_parametric(
            runs,
            law=law,
            init_theta=point.theta,
            settings=settings,
            key=jax.random.fold_in(jax.random.key(seed), k),
            learning_rate=1.0,
        )
        bar.update()
        loo = az.loo(posterior.idata, pointwise=True, var_name="log_loss")
        pareto_k = np.asarray(loo.pareto_k)
        bar.set_postfix_str(f"{law.name}: backtest")
        tested = backtest_law(runs, law, split, n_resamples=n_resamples, seed=seed, starts=starts)
        bar.update()
        backtests[law.name] = tested
        a_draws = boot.draws("a")
        n_boot_failed = int(np.size(boot.kept) - np.count_nonzero(boot.kept))
        flags = comparison_flags(
            posterior.diagnostics, tested, n_boot_failed, n_resamples, int(np.sum(pareto_k > 0.7))
        )
        entries[law.name] = {
            "n_params": law.n_params,
            "objective": point.objective,
            "elpd_loo": float(loo.elpd_loo),
            "elpd_loo_se": float(loo.se),
            "p_loo": float(loo.p_loo),
            "pareto_k_over_0.7": int(np.sum(pareto_k > 0.7)),
            "loo_warning": bool(loo.warning),
            "posterior_ok": posterior.diagnostics.ok,
            "posterior_reasons": list(posterior.diagnostics.reasons),
            "ok": not flags,
            "flags": flags,
            "a": float(point.frontier.a),
            "a_interval_95": percentile_interval(a_draws, 0.95),
            "backtest": tested.metrics,
        }
    bar.close()
    by_error = sorted(entries, key=lambda n: entries[n]["backtest"]["median_abs_log_error"])
    by_loo = sorted(entries, key=lambda n: -entries[n]["elpd_loo"])
    for name in entries:
        entries[name]["rank"] = by_error.index(name) + 1
        entries[name]["rank_loo"] = by_loo.index(name) + 1
    return {
        "laws": entries,
        "ranking": by_error,
        "ranking_rule": RANKING_RULE,
        "rankings_agree": by_error == by_loo,
        "cutoff_flops": split.cutoff_flops,
        "backtests": backtests,
    }


def comparison_flags(diagnostics, tested, n_boot_failed: int, n_resamples: int, n_bad_k: int):
    """The sentences that flag one law's comparison entry (empty: nothing failed)."""
    flags = []
    if not diagnostics.ok:
        reasons = "; ".join(diagnostics.reasons) or "see posterior diagnostics"
        flags.append(f"posterior failed its checks ({reasons}): elpd_loo is not reliable")
    if n_boot_failed:
        flags.append(f"{n_boot_failed} of {n_resamples} bootstrap resamples failed (a interval)")
    if tested.n_failed:
        flags.append(
            f"{tested.n_failed} of {tested.n_resamples} backtest resamples failed "
            "(predictive intervals)"
        )
    if not np.isfinite(tested.metrics.get("median_abs_log_error", np.nan)):
        flags.append("backtest failed: the held-out error is not finite")
    if n_bad_k:
        flags.append(f"PSIS-LOO: {n_bad_k} runs with Pareto k > 0.7")
    return flags


def comparison_table(comparison: dict) -> str:
    """The comparison as aligned text, best law first; a flagged law is marked ``!`` and its
    flags follow the table as ``WARNING:`` lines (the report shows them as warning rows)."""
    header = (
        f"{'rank':<5}{'law':<28}{'params':>6}{'objective':>12}{'elpd_loo (SE)':>20}"
        f"{'k>0.7':>6}{'med |err|':>10}{'cov90':>7}{'a [95%]':>24}"
    )
    lines = [header]
    for name in comparison["ranking"]:
        e = comparison["laws"][name]
        low, high = e["a_interval_95"]
        loo = f"{e['elpd_loo']:.1f} ({e['elpd_loo_se']:.1f})"
        exponent = f"{e['a']:.3f} [{low:.3f}, {high:.3f}]"
        tested = e["backtest"]
        shown = name if e.get("ok", True) else f"{name} !"
        lines.append(
            f"{e['rank']:<5}{shown:<28}{e['n_params']:>6}{e['objective']:>12.5g}{loo:>20}"
            f"{e['pareto_k_over_0.7']:>6}{tested['median_abs_log_error']:>10.4f}"
            f"{tested['coverage_90']:>7.2f}{exponent:>24}"
        )
    for name in comparison["ranking"]:
        for flag in comparison["laws"][name].get("flags", ()):
            lines.append(f"WARNING: {name}: {flag}")
    lines += textwrap.wrap(
        f"ranking: {comparison['ranking_rule']}", width=len(header), subsequent_indent="  "
    )
    if not comparison["rankings_agree"]:
        lines.append("note: PSIS-LOO orders the laws differently (see rank_loo)")
    return "\n".join(lines)
