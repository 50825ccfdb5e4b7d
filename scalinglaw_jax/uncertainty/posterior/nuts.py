"""The NUTS driver: settings, one compiled program per model and shapes, and diagnostics.

``run_nuts`` runs a numpyro model (observed values last in its arguments) and returns the
draws grouped by chain, the divergences, the pointwise log-likelihood and the posterior
predictive; ``diagnose`` turns an ``InferenceData`` into R-hat, ESS, divergences and a verdict.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import arviz as az
import jax
import numpy as np
from numpyro.infer import MCMC, NUTS, Predictive, init_to_value, log_likelihood

from scalinglaw_jax.core.data import DataError

RHAT_MAX = 1.01
ESS_MIN = 400.0


@dataclass(frozen=True)
class NutsSettings:
    """NUTS run settings; the defaults reach R-hat < 1.01 and bulk ESS > 400 on Epoch's data."""

    chains: int = 4
    draws: int = 1000
    warmup: int = 500
    target_accept: float = 0.8
    max_tree_depth: int = 10
    dense_mass: bool = True
    progress_bar: bool = True

    def chain_method(self) -> str:
        """Always ``"vectorized"``: chains mapped over devices (``"parallel"``) round
        differently, so the same seed would give other draws on another device count."""
        return "vectorized"

    def check(self) -> NutsSettings:
        """The settings, once chains and draws are >= 1 and warmup >= 0."""
        for name in ("chains", "draws", "warmup"):
            if getattr(self, name) < (1 if name != "warmup" else 0):
                raise DataError(f"{name} must be positive, got {getattr(self, name)}")
        return self

    def to_dict(self, **extra) -> dict:
        """The settings a posterior records, then ``extra``."""
        out = {
            "chains": self.chains,
            "draws": self.draws,
            "warmup": self.warmup,
            "target_accept": self.target_accept,
            "max_tree_depth": self.max_tree_depth,
            "dense_mass": self.dense_mass,
            "chain_method": self.chain_method(),
        }
        out.update(extra)
        return out


DEFAULT_NUTS = NutsSettings()


@dataclass(frozen=True)
class Diagnostics:
    """Convergence checks; ``ok`` is False with ``reasons`` when any check fails."""

    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    n_draws: int
    ok: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "rhat_max": self.rhat_max,
            "ess_bulk_min": self.ess_bulk_min,
            "ess_tail_min": self.ess_tail_min,
            "divergences": self.divergences,
            "n_draws": self.n_draws,
            "ok": self.ok,
            "reasons": list(self.reasons),
        }


def diagnose(idata: az.InferenceData, var_names, *, rhat_max=RHAT_MAX, ess_min=ESS_MIN):
    """R-hat, bulk/tail ESS over ``var_names`` and the divergence count, with a verdict."""
    post = idata.posterior[list(var_names)]
    rhat = float(np.max([np.max(v.values) for v in az.rhat(post).data_vars.values()]))
    ess_bulk = float(min(np.nanmin(v.values) for v in az.ess(post, method="bulk").values()))
    ess_tail = float(min(np.nanmin(v.values) for v in az.ess(post, method="tail").values()))
    divergences = 0
    if "sample_stats" in idata and "diverging" in idata.sample_stats:
        divergences = int(idata.sample_stats["diverging"].values.sum())
    reasons = []
    if not rhat < rhat_max:
        reasons.append(f"R-hat {rhat:.4f} >= {rhat_max}")
    if not ess_bulk > ess_min:
        reasons.append(f"bulk ESS {ess_bulk:.0f} <= {ess_min:.0f}")
    if divergences:
        reasons.append(f"{divergences} divergent transitions")
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])
    return Diagnostics(rhat, ess_bulk, ess_tail, divergences, n_draws, not reasons, tuple(reasons))


_PRIOR_NUMBERS = ("loc", "scale", "low", "high")
"""Keys of a prior spec passed to ``_nuts_program`` as traced numbers (the kind stays static)."""


@functools.lru_cache(maxsize=16)
def _nuts_program(model, options: tuple, prior_kinds: tuple, settings: NutsSettings):
    """NUTS run, posterior predictive and pointwise log-likelihood of ``model`` as one function
    ``program(key, init_values, args, prior_numbers, traced_options)``.

    Everything that varies between fits (data, weights, starting point, the priors' numbers,
    ``traced_options``) is an argument, and the function is cached per model, static
    ``options``, prior kinds and ``settings``; so, without a progress bar, it is jitted and every
    fit on data of the same shapes (the studies of a calibration, the pilot and main run of
    ``learning_rate="sandwich"``) reuses one compiled program. numpyro's progress bar drives a
    Python loop, so with it the function runs eagerly (compiled per call, as for one fit).
    """

    def program(key, init_values, args, prior_numbers, traced_options):
        priors = {name: {"dist": kind, **prior_numbers[name]} for name, kind in prior_kinds}
        bound = functools.partial(model, priors=priors, **dict(options), **traced_options)
        kernel = NUTS(
            bound,
            init_strategy=init_to_value(values=init_values),
            target_accept_prob=settings.target_accept,
            max_tree_depth=settings.max_tree_depth,
            dense_mass=settings.dense_mass,
        )
        mcmc = MCMC(
            kernel,
            num_warmup=settings.warmup,
            num_samples=settings.draws,
            num_chains=settings.chains,
            chain_method=settings.chain_method(),
            progress_bar=settings.progress_bar,
            jit_model_args=True,
        )
        key_run, key_pred = jax.random.split(key)
        mcmc.run(key_run, *args, extra_fields=("diverging",))
        samples = mcmc.get_samples(group_by_chain=True)
        log_lik = log_likelihood(bound, samples, *args, batch_ndims=2)
        predictive = Predictive(
            bound, posterior_samples=samples, return_sites=list(log_lik), batch_ndims=2
        )
        predicted = predictive(key_pred, *args[:-1], None)
        diverging = mcmc.get_extra_fields(group_by_chain=True)["diverging"]
        return samples, diverging, log_lik, predicted

    return program if settings.progress_bar else jax.jit(program)


@dataclass(frozen=True)
class NutsRun:
    """Draws (grouped by chain) of one NUTS run, with its divergences, the pointwise
    log-likelihood and the posterior predictive of the observed site."""

    samples: dict[str, np.ndarray]
    diverging: np.ndarray
    log_lik: dict[str, np.ndarray]
    predicted: dict[str, np.ndarray]
    observed: dict[str, np.ndarray]

    def inference_data(self, coords, dims) -> az.InferenceData:
        """ArviZ groups as ``az.from_numpyro`` makes them, with ``coords`` and ``dims``."""
        return az.from_dict(
            posterior=self.samples,
            sample_stats={"diverging": self.diverging},
            log_likelihood=self.log_lik,
            posterior_predictive=self.predicted,
            observed_data=self.observed,
            coords=coords,
            dims=dims,
        )


def run_nuts(
    model, args, *, key, init_values, priors, settings, options, traced_options=None
) -> NutsRun:
    """Run ``model`` (observed values last in ``args``) by ``_nuts_program``: ``priors`` are
    split into static kinds and traced numbers, ``options`` are static model keywords and
    ``traced_options`` traced ones."""
    kinds = tuple((name, spec["dist"]) for name, spec in priors.items())
    numbers = {
        name: {k: np.asarray(spec[k], dtype=np.float64) for k in _PRIOR_NUMBERS if k in spec}
        for name, spec in priors.items()
    }
    program = _nuts_program(model, tuple(sorted(options.items())), kinds, settings)
    init_values = {k: np.asarray(v, dtype=np.float64) for k, v in init_values.items()}
    out = program(key, init_values, args, numbers, traced_options or {})
    samples, diverging, log_lik, predicted = jax.device_get(out)
    return NutsRun(
        samples, diverging, log_lik, predicted, {name: np.asarray(args[-1]) for name in log_lik}
    )
