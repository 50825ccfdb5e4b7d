"""Bayesian posteriors for the three approaches (numpyro NUTS, ArviZ output).

* **Approach 3** (``parametric_model``): priors on ``log E, log A, log B, alpha, beta`` and a
  robust likelihood on log-loss residuals with a free scale ``sigma``: a Huber-shaped density
  (``HuberDensity``) or a Student-t. Optionally ``E < min(loss)``. Optionally a generalised
  posterior (likelihood to a power ``eta``) whose ``eta`` is calibrated so that the (alpha,
  beta) covariance matches the sandwich covariance ``S J S`` (``sandwich_learning_rate``): the
  iid likelihood is too confident when residuals are structured, as on Epoch's data.
* **Approach 2** (``isoflop_model``): one joint model. Each budget ``k`` has a parabola
  ``loss = depth_k + curvature_k (ln N - vertex_k)^2`` (``curvature_k > 0``) and the vertices
  scatter (``tau``) around the power law ``vertex_k = intercept + a (ln C_k - mean ln C)``, so
  the uncertainty of each vertex propagates into ``a`` and ``b = 1 - a``.
* **Approach 1** (``bayesian_bootstrap_envelope``): the Bayesian bootstrap over training curves
  (Rubin 1981). Dirichlet(1, ..., 1) weights on the curves are exact draws from the posterior
  of a nonparametric model (a Dirichlet-process posterior with vanishing prior mass, supported
  on the observed curves); each draw is pushed through the envelope fit. No MCMC is needed, so
  R-hat and ESS only confirm that the draws are independent.

Per-row weights multiply each row's log-likelihood (a row with weight 0 is masked out), so the
same weight-vector data flow holds as for the point fits and the bootstrap. Every result is a
``Posterior``: ArviZ ``InferenceData`` plus flattened draws of the frontier, diagnostics and a
pass/fail verdict with reasons.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.infer import MCMC, NUTS, Predictive, init_to_value, log_likelihood

from scalinglaw_jax.core.data import DataError, Runs, as_runs, check_weights
from scalinglaw_jax.core.frontier import Frontier, log_coefficient_g
from scalinglaw_jax.core.intervals import Band, band_from_draws, percentile_interval
from scalinglaw_jax.core.status import Status
from scalinglaw_jax.laws import DEFAULT_LAW, LAWS, get_law
from scalinglaw_jax.laws.closed_forms import CHINCHILLA

LIKELIHOODS = ("huber", "student")
"""Likelihoods on residuals (the command line offers the same two: ``cli.options``)."""
DEFAULT_HUBER_K = 0.5
"""Threshold of the Huber density on the standardised residual: near-Laplace tails, close to
the point fit's Huber delta = 1e-3 at the residual scale of Epoch's data (sigma ~ 2e-3)."""
DEFAULT_STUDENT_DF = 4.0
RHAT_MAX = 1.01
ESS_MIN = 400.0
INTERVAL_LEVEL = 0.95

PARAMETRIC_PRIORS: dict[str, dict] = {
    "log_A": {"dist": "normal", "loc": 6.0, "scale": 5.0},
    "log_B": {"dist": "normal", "loc": 6.0, "scale": 5.0},
    "log_E": {"dist": "normal", "loc": 0.5, "scale": 1.0},
    "alpha": {"dist": "uniform", "low": 0.0, "high": 2.0},
    "beta": {"dist": "uniform", "low": 0.0, "high": 2.0},
    "sigma": {"dist": "halfnormal", "scale": 0.1},
}
"""Approach-3 priors. Flat-ish: the normals are wide on the log scale (``A, B`` from about
``e^-4`` to ``e^16``), exponents uniform over Chinchilla's start grid, ``sigma`` (log-loss
residual scale) half-normal with scale 0.1 (10% loss noise)."""

ISOFLOP_PRIORS: dict[str, dict] = {
    "a": {"dist": "normal", "loc": 0.5, "scale": 0.5},
    "intercept": {"dist": "normal", "loc": 0.0, "scale": 10.0},
    "tau": {"dist": "halfnormal", "scale": 0.5},
    "depth": {"dist": "normal", "loc": 0.0, "scale": 10.0},
    "curvature": {"dist": "halfnormal", "scale": 2.0},
    "sigma": {"dist": "halfnormal", "scale": 0.5},
}
"""Approach-2 priors. ``intercept`` (the vertex ``ln N`` at the mean ``ln C``) and ``depth``
(each parabola's minimum loss) are centred on the data's mean ``ln N`` and mean loss; ``tau`` is
the vertices' scatter around the power law in ``ln N``; ``sigma`` the loss residual scale."""


def huber_rho(x, k):
    """Huber function of a standardised residual: ``x^2/2`` within ``k``, else ``k|x| - k^2/2``."""
    ax = jnp.abs(x)
    return jnp.where(ax <= k, 0.5 * x * x, k * ax - 0.5 * k * k)


def huber_log_normaliser(k: float) -> float:
    """``log Z(k)``, ``Z = int exp(-rho_k(x)) dx = sqrt(2 pi)(2 Phi(k) - 1) + 2 exp(-k^2/2) / k``.

    The core integrates a standard normal kernel over ``[-k, k]``; each tail is
    ``int_k^inf exp(k^2/2 - k x) dx = exp(-k^2/2) / k``.
    """
    return math.log(_huber_core_mass(k) + 2.0 * math.exp(-0.5 * k * k) / k)


def _huber_core_mass(k: float) -> float:
    """``sqrt(2 pi) (2 Phi(k) - 1)``, with ``2 Phi(k) - 1 = erf(k / sqrt 2)``."""
    return math.sqrt(2.0 * math.pi) * math.erf(k / math.sqrt(2.0))


@functools.partial(jax.jit, static_argnums=3)
def _huber_log_prob(value, loc, scale, k):
    """Jitted, so that the model's eager runs (init, traces) compile one kernel, not many."""
    x = (value - loc) / scale
    return -huber_rho(x, k) - jnp.log(scale) - huber_log_normaliser(k)


class HuberDensity(dist.Distribution):
    """Location-scale density ``exp(-rho_k((x - loc) / scale)) / (scale Z(k))``.

    A normal core within ``k`` scale units and Laplace tails beyond, normalised exactly, so
    ``scale`` can be a free parameter. Sampling draws the core (truncated normal) or a tail
    (``k`` plus an exponential of rate ``k``) with their exact probabilities.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    reparametrized_params = ["loc", "scale"]

    def __init__(self, loc=0.0, scale=1.0, k=DEFAULT_HUBER_K, *, validate_args=None):
        self.loc, self.scale = jnp.asarray(loc), jnp.asarray(scale)
        self.k = float(k)
        batch_shape = jax.lax.broadcast_shapes(jnp.shape(loc), jnp.shape(scale))
        super().__init__(batch_shape=batch_shape, validate_args=validate_args)

    def log_prob(self, value):
        return _huber_log_prob(value, self.loc, self.scale, self.k)

    def sample(self, key, sample_shape=()):
        shape = sample_shape + self.batch_shape
        k = self.k
        p_core = _huber_core_mass(k) / math.exp(huber_log_normaliser(k))
        k_core, k_tail, k_sign, k_pick = jax.random.split(key, 4)
        core = jax.random.truncated_normal(k_core, -k, k, shape)
        tail = k + jax.random.exponential(k_tail, shape) / k
        sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, shape), 1.0, -1.0)
        x = jnp.where(jax.random.bernoulli(k_pick, p_core, shape), core, sign * tail)
        return self.loc + self.scale * x

    @property
    def mean(self):
        return jnp.broadcast_to(self.loc, self.batch_shape)


def make_prior(spec: Mapping, *, high: float | None = None) -> dist.Distribution:
    """A numpyro distribution from ``{"dist": "normal" | "uniform" | "halfnormal" | "lognormal",
    ...}`` (keys ``loc, scale, low, high``); ``high`` adds an upper bound (normal, uniform).

    The numbers may be traced (inside a compiled NUTS program); an empty uniform is then not
    caught here, so callers check their concrete priors first (``resolve_priors``).
    """
    kind = spec.get("dist")
    if kind == "normal":
        low = spec.get("low")
        upper = _upper_bound(spec.get("high"), high)
        if low is None and upper is None:
            return dist.Normal(spec["loc"], spec["scale"])
        return dist.TruncatedNormal(spec["loc"], spec["scale"], low=low, high=upper)
    if kind == "uniform":
        upper = _upper_bound(spec["high"], high)
        traced = any(isinstance(v, jax.core.Tracer) for v in (upper, spec["low"]))
        if not traced and not upper > spec["low"]:
            raise DataError(f"prior {dict(spec)} is empty under the upper bound {high}")
        return dist.Uniform(spec["low"], upper)
    if high is not None:
        raise DataError(f"an upper bound needs a normal or uniform prior, got {kind!r}")
    if kind == "halfnormal":
        return dist.HalfNormal(spec["scale"])
    if kind == "lognormal":
        return dist.LogNormal(spec["loc"], spec["scale"])
    raise DataError(
        f"unknown prior {kind!r}; use normal (loc, scale[, low, high]), uniform (low, high), "
        "halfnormal (scale) or lognormal (loc, scale)"
    )


def _upper_bound(own, extra):
    """The tighter of a prior's own upper bound and an extra one (``None``: no bound); traceable,
    since the compiled NUTS programs take prior numbers and ``E``'s bound as arguments."""
    if own is None or extra is None:
        return extra if own is None else own
    return jnp.minimum(own, extra)


def resolve_priors(defaults: Mapping[str, dict], overrides: Mapping | None) -> dict[str, dict]:
    """Defaults updated by ``overrides`` (e.g. TOML ``[posterior.priors]``), names checked."""
    priors = {name: dict(spec) for name, spec in defaults.items()}
    for name, spec in (overrides or {}).items():
        if name not in priors:
            raise DataError(f"unknown prior {name!r}; known: {sorted(priors)}")
        priors[name] = dict(spec)
        make_prior(priors[name])
    return priors


LIKELIHOOD_OPTIONS = ("likelihood_kind", "huber_k", "student_df", "priors")


def likelihood_options(options: Mapping) -> dict:
    """The likelihood and prior keywords of ``sample_parametric`` / ``sample_isoflop`` among
    ``options`` (approach records pass their keywords through here)."""
    return {name: options[name] for name in LIKELIHOOD_OPTIONS if name in options}


def likelihood(kind: str, loc, scale, *, huber_k=DEFAULT_HUBER_K, student_df=DEFAULT_STUDENT_DF):
    """Robust observation density: ``"huber"`` (``HuberDensity``) or ``"student"`` (Student-t)."""
    if kind == "huber":
        return HuberDensity(loc, scale, huber_k)
    if kind == "student":
        return dist.StudentT(student_df, loc, scale)
    raise DataError(f"likelihood must be one of {LIKELIHOODS}, got {kind!r}")


def _observe(name, density, weights, obs):
    """Observe ``obs`` with each row's log-likelihood times its weight (weight 0: masked)."""
    present = weights > 0
    with (
        numpyro.handlers.mask(mask=present),
        numpyro.handlers.scale(scale=jnp.where(present, weights, 1.0)),
    ):
        numpyro.sample(name, density, obs=obs)


def _prior_log_prob(prior: dist.Distribution, value):
    """``prior.log_prob(value)``, ``-inf`` outside the prior's support."""
    return jnp.where(prior.support(value), prior.log_prob(value), -jnp.inf)


def reference_point(log_n, log_d, weights):
    """Weighted means of ``ln N`` and ``ln D``: where ``X`` and ``Y`` are defined."""
    total = jnp.sum(weights)
    return jnp.sum(weights * log_n) / total, jnp.sum(weights * log_d) / total


@jax.jit
def _parametric_terms(e, x, y, alpha, beta, log_n, log_d, weights):
    """Logs of ``E, X, Y`` (1 where not all positive), ``log A, log B`` and the predicted
    log-loss; one jitted kernel for the model's eager runs."""
    log_n0, log_d0 = reference_point(log_n, log_d, weights)
    positive = (e > 0) & (x > 0) & (y > 0)
    log_e, log_x, log_y = (jnp.log(jnp.where(positive, v, 1.0)) for v in (e, x, y))
    theta = jnp.stack([log_x, log_y, log_e, alpha, beta])
    mean = CHINCHILLA.log_loss(theta, log_n - log_n0, log_d - log_d0)
    return positive, log_x + alpha * log_n0, log_y + beta * log_d0, log_e, log_x, log_y, mean


def parametric_model(
    log_n,
    log_d,
    weights,
    log_loss=None,
    *,
    priors: Mapping[str, dict],
    kind: str = "huber",
    huber_k: float = DEFAULT_HUBER_K,
    student_df: float = DEFAULT_STUDENT_DF,
    log_e_max: float | None = None,
):
    """Approach 3: ``log L ~ density(log(E + X (N/N0)^-alpha + Y (D/D0)^-beta), sigma)``.

    NUTS moves on ``E, X, Y`` (the loss terms at the reference point ``N0, D0`` of
    ``reference_point``) on the natural scale: for fixed exponents the loss is linear in them,
    which halves the leapfrog steps per draw against ``log A, log B, log E``. The priors stay
    on ``log A = log X + alpha ln N0``, ``log B`` and ``log E`` (with the Jacobian of the logs);
    ``log_A, log_B, log_E`` are recorded as deterministic sites.
    """
    real = dist.ImproperUniform(constraints.real, (), ())
    e, x, y = (numpyro.sample(name, real) for name in ("E", "X", "Y"))
    alpha = numpyro.sample("alpha", make_prior(priors["alpha"]))
    beta = numpyro.sample("beta", make_prior(priors["beta"]))
    sigma = numpyro.sample("sigma", make_prior(priors["sigma"]))
    positive, log_a, log_b, log_e, log_x, log_y, mean = _parametric_terms(
        e, x, y, alpha, beta, log_n, log_d, weights
    )
    numpyro.deterministic("log_A", log_a)
    numpyro.deterministic("log_B", log_b)
    numpyro.deterministic("log_E", log_e)
    prior = (
        _prior_log_prob(make_prior(priors["log_A"]), log_a)
        + _prior_log_prob(make_prior(priors["log_B"]), log_b)
        + _prior_log_prob(make_prior(priors["log_E"], high=log_e_max), log_e)
        - log_e
        - log_x
        - log_y
    )
    numpyro.factor("log_prior_E_X_Y", jnp.where(positive, prior, -jnp.inf))
    density = likelihood(kind, mean, sigma, huber_k=huber_k, student_df=student_df)
    _observe("log_loss", density, weights, log_loss)


def law_model(
    arrays,
    weights,
    log_loss=None,
    *,
    priors: Mapping[str, dict],
    law,
    kind: str = "huber",
    huber_k: float = DEFAULT_HUBER_K,
    student_df: float = DEFAULT_STUDENT_DF,
):
    """Approach 3 for any ``law.Law``: ``log L ~ density(law's log-loss, sigma)``.

    NUTS moves on the law's coordinates (``law.theta_names``: logs of parameters whose box lies
    above 0), each with its prior (``Law.prior_specs``: the law's own, else normal over its
    box); ``arrays`` are ``parametric.ParametricArrays``.
    """
    theta = jnp.stack([numpyro.sample(name, make_prior(priors[name])) for name in law.theta_names])
    sigma = numpyro.sample("sigma", make_prior(priors["sigma"]))
    density = likelihood(
        kind, law.log_loss(theta, arrays), sigma, huber_k=huber_k, student_df=student_df
    )
    _observe("log_loss", density, weights, log_loss)


def isoflop_model(
    log_n,
    budget,
    log_c,
    weights,
    loss=None,
    *,
    priors: Mapping[str, dict],
    kind: str = "huber",
    huber_k: float = DEFAULT_HUBER_K,
    student_df: float = DEFAULT_STUDENT_DF,
):
    """Approach 2 joint model: parabolas per budget and the power law on their vertices.

    ``budget`` holds each row's budget index (rows with weight 0 are ignored whatever it is);
    ``log_c`` the budgets' ``ln C``. The power law is centred at the mean ``ln C``.
    """
    centre = jnp.mean(log_c)
    a = numpyro.sample("a", make_prior(priors["a"]))
    intercept = numpyro.sample("intercept", make_prior(priors["intercept"]))
    tau = numpyro.sample("tau", make_prior(priors["tau"]))
    sigma = numpyro.sample("sigma", make_prior(priors["sigma"]))
    with numpyro.plate("budget", log_c.shape[0]):
        vertex = numpyro.sample("vertex", dist.Normal(intercept + a * (log_c - centre), tau))
        depth = numpyro.sample("depth", make_prior(priors["depth"]))
        curvature = numpyro.sample("curvature", make_prior(priors["curvature"]))
    mean = depth[budget] + curvature[budget] * (log_n - vertex[budget]) ** 2
    density = likelihood(kind, mean, sigma, huber_k=huber_k, student_df=student_df)
    _observe("loss", density, weights, loss)


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


PILOT_DRAWS = 250
"""Draws and warmup per chain (at most) of the pilot run that calibrates
``learning_rate="sandwich"``; when the main run is no longer, it reuses the compiled pilot."""


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


@dataclass(frozen=True)
class Posterior:
    """Posterior of one approach: InferenceData, flat draws of the frontier, diagnostics.

    ``draws`` maps names (``a, b, log_g_n, log_g_d, G`` and the approach's parameters) to
    1-D arrays over all chains and draws. ``reported`` lists the names summarised in JSON.
    """

    approach: str
    idata: az.InferenceData
    draws: dict[str, np.ndarray]
    diagnostics: Diagnostics
    reported: tuple[str, ...]
    settings: dict = field(default_factory=dict)
    law: str | None = None

    def band(self, flops, level: float = INTERVAL_LEVEL) -> Band:
        """Credible band of ``N_opt(C)`` and ``D_opt(C)`` on ``flops`` (``kind="posterior"``)."""
        d = self.draws
        return band_from_draws(
            flops, d["log_g_n"], d["a"], d["log_g_d"], d["b"], level=level, kind="posterior"
        )

    def frontier(self) -> Frontier:
        """The frontier at the posterior means of its four coefficients."""
        return Frontier(*(float(np.mean(self.draws[k])) for k in ("a", "b", "log_g_n", "log_g_d")))

    def interval(self, name: str, level: float = INTERVAL_LEVEL) -> list[float]:
        """Central credible interval of ``name`` at ``level``."""
        return percentile_interval(self.draws[name], level)

    def summary_table(self):
        """``az.summary`` of the reported quantities (a pandas DataFrame)."""
        names = [n for n in self.reported if n in self.idata.posterior]
        return az.summary(self.idata, var_names=names, hdi_prob=INTERVAL_LEVEL)

    def report(self) -> str:
        """``summary_table`` as text, then the convergence checks."""
        diag = self.diagnostics
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            table = self.summary_table().to_string()
        return (
            f"{table}\nR-hat max {diag.rhat_max:.4f}, bulk ESS min {diag.ess_bulk_min:.0f}, "
            f"divergences {diag.divergences}"
        )

    def to_dict(self) -> dict:
        """JSON-ready summary: mean, sd and 95% interval per quantity, plus diagnostics."""
        out: dict = {"approach": self.approach}
        if self.law is not None:
            out["law"] = self.law
        for name in self.reported:
            values = self.draws[name]
            out[name] = {
                "mean": float(np.mean(values)),
                "sd": float(np.std(values, ddof=1)),
                "interval": self.interval(name),
            }
        diag = self.diagnostics.to_dict()
        out.update(diag)
        out["settings"] = self.settings
        return out

    def save(self, path) -> None:
        """Write the InferenceData to netCDF (h5netcdf engine)."""
        self.idata.to_netcdf(str(path), engine="h5netcdf")

    def warn_if_bad(self) -> None:
        """Emit a RuntimeWarning naming every failed check (a bad run must be loud)."""
        if not self.diagnostics.ok:
            warnings.warn(
                f"Approach {self.approach} posterior failed its checks: "
                + "; ".join(self.diagnostics.reasons),
                RuntimeWarning,
                stacklevel=2,
            )


def frontier_draws(frontier: Frontier) -> dict[str, np.ndarray]:
    """Flat arrays ``a, b, log_g_n, log_g_d, G`` of a batched frontier."""
    out = {k: np.array(v, dtype=np.float64).ravel() for k, v in frontier._asdict().items()}
    out["G"] = np.exp(np.asarray(log_coefficient_g(frontier), dtype=np.float64).ravel())
    return out


def _add_to_posterior(idata: az.InferenceData, values: Mapping[str, np.ndarray]) -> None:
    shape = (idata.posterior.sizes["chain"], idata.posterior.sizes["draw"])
    for name, flat in values.items():
        if name not in idata.posterior:
            idata.posterior[name] = (("chain", "draw"), np.reshape(flat, shape))


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
class _NutsRun:
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


def _run_nuts(
    model, args, *, key, init_values, priors, settings, options, traced_options=None
) -> _NutsRun:
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
    return _NutsRun(
        samples, diverging, log_lik, predicted, {name: np.asarray(args[-1]) for name in log_lik}
    )


def _check_settings(settings: NutsSettings) -> None:
    for name in ("chains", "draws", "warmup"):
        if getattr(settings, name) < (1 if name != "warmup" else 0):
            raise DataError(f"{name} must be positive, got {getattr(settings, name)}")


def _settings_dict(settings: NutsSettings, **extra) -> dict:
    out = {
        "chains": settings.chains,
        "draws": settings.draws,
        "warmup": settings.warmup,
        "target_accept": settings.target_accept,
        "max_tree_depth": settings.max_tree_depth,
        "dense_mass": settings.dense_mass,
        "chain_method": settings.chain_method(),
    }
    out.update(extra)
    return out


def _row_log_density(theta, sigma, log_n, log_d, log_loss, kind, huber_k, student_df):
    mean = CHINCHILLA.log_loss(theta, log_n, log_d)
    density = likelihood(kind, mean, sigma, huber_k=huber_k, student_df=student_df)
    return density.log_prob(log_loss)


def _law_row_log_density(theta, sigma, arrays, law, kind, huber_k, student_df):
    density = likelihood(
        kind, law.log_loss(theta, arrays), sigma, huber_k=huber_k, student_df=student_df
    )
    return density.log_prob(arrays.log_loss)


def _sandwich_eta(theta_draws, row_scores, weights, block) -> float:
    """``eta = k / tr(S_bb^-1 V_bb)`` over the ``k`` coordinates of ``block`` (see
    ``sandwich_learning_rate``); ``row_scores(theta_mean)`` are the per-row scores."""
    theta_draws = np.asarray(theta_draws, dtype=np.float64)
    scores = np.asarray(row_scores(jnp.asarray(theta_draws.mean(axis=0))))
    w = np.asarray(weights)
    centred = scores - np.average(scores, axis=0, weights=w)
    j = (centred * w[:, None]).T @ centred
    s = np.cov(theta_draws.T)
    v = s @ j @ s
    block = np.asarray(block)
    ratio = np.linalg.solve(s[np.ix_(block, block)], v[np.ix_(block, block)])
    return float(block.size / np.trace(ratio))


def sandwich_learning_rate(theta_draws, sigma, args, weights, **density) -> float:
    """Learning rate ``eta`` that matches the posterior's (alpha, beta) covariance to a sandwich.

    ``theta_draws`` (draws x 5, ``log A, log B, log E, alpha, beta``) come from the plain
    (``eta = 1``) posterior; their covariance ``S`` stands in for ``H^-1``. ``J`` is the weighted
    sum of outer products of the per-row scores (centred) at the posterior mean, so
    ``V = S J S`` is the sandwich covariance (Mueller 2013), which a row bootstrap estimates.
    Raising the likelihood to the power ``eta`` scales the posterior covariance by ``1 / eta``;
    ``eta = 2 / tr(S_ab^-1 V_ab)`` on the (alpha, beta) block, the block that fixes ``a, b``.
    """
    log_n, log_d, log_loss = args

    def row_scores(theta):
        return jax.jacfwd(_row_log_density)(theta, sigma, log_n, log_d, log_loss, **density)

    return _sandwich_eta(theta_draws, row_scores, weights, block=(3, 4))


def sample_parametric(
    runs: Runs,
    weights=None,
    *,
    key=None,
    init_theta=None,
    settings: NutsSettings = NutsSettings(),
    likelihood_kind: str = "huber",
    huber_k: float = DEFAULT_HUBER_K,
    student_df: float = DEFAULT_STUDENT_DF,
    priors: Mapping | None = None,
    e_below_min_loss: bool = False,
    learning_rate: float | str = 1.0,
    law=DEFAULT_LAW,
) -> Posterior:
    """Approach-3 posterior by NUTS, initialised at ``init_theta`` (e.g. ``fit_parametric``).

    ``law`` other than Chinchilla's runs ``law_model`` (``_sample_law``); the rest of this
    docstring is about the Chinchilla law's own, faster parametrisation.

    ``init_theta`` is ``(log A, log B, log E, alpha, beta)``; without it a 64-start fit runs
    first. ``priors`` override ``PARAMETRIC_PRIORS`` by name. ``e_below_min_loss`` bounds ``E``
    by the smallest observed loss. ``learning_rate`` ``eta`` raises the likelihood to a power
    (a generalised posterior): a number, or ``"sandwich"`` to calibrate it by a pilot run of
    the plain posterior (``PILOT_DRAWS``) and ``sandwich_learning_rate``; ``settings``
    records ``eta`` and the pilot's (plain) SDs of alpha and beta. The plain
    likelihood (``eta = 1``) trusts the iid noise model; on Epoch's data (quantised losses,
    residuals shared by model size) it gives SDs of alpha, beta about 0.7 and 0.5 of the row
    bootstrap's, and ``"sandwich"`` (``eta`` about 0.4) restores them; the CLI default.
    """
    runs = as_runs(runs)
    _check_settings(settings)
    if likelihood_kind not in LIKELIHOODS:
        raise DataError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood_kind!r}")
    law = get_law(law)
    if law is not LAWS[DEFAULT_LAW]:
        if e_below_min_loss:
            raise DataError("e_below_min_loss applies to the Chinchilla law's E only")
        density = dict(kind=likelihood_kind, huber_k=huber_k, student_df=student_df)
        return _sample_law(
            runs, law, weights, key, init_theta, settings, density, priors, learning_rate
        )
    key = jax.random.key(0) if key is None else key
    weights = check_weights(weights, len(runs), "row")
    priors = resolve_priors(PARAMETRIC_PRIORS, priors)
    log_n, log_d, log_loss = (np.log(getattr(runs, c)) for c in ("params", "tokens", "loss"))
    if init_theta is None:
        from scalinglaw_jax.approaches.parametric import fit_parametric

        key, key_fit = jax.random.split(key)
        init_theta = fit_parametric(runs, weights, starts=64, key=key_fit).theta
    init_theta = np.asarray(init_theta, dtype=np.float64)
    log_e_max = float(log_loss[weights > 0].min()) if e_below_min_loss else None
    if log_e_max is not None and init_theta[2] >= log_e_max:
        init_theta = init_theta.copy()
        init_theta[2] = log_e_max - 0.01
    residual = np.asarray(CHINCHILLA.log_loss(jnp.asarray(init_theta), log_n, log_d)) - log_loss
    used = residual[weights > 0]
    sigma0 = max(1.4826 * float(np.median(np.abs(used - np.median(used)))), 1e-4)
    names = ("log_A", "log_B", "log_E", "alpha", "beta")
    log_n0, log_d0 = (float(v) for v in reference_point(log_n, log_d, weights))
    log_a, log_b, log_e, alpha, beta = (float(v) for v in init_theta)
    init = {
        "E": math.exp(log_e),
        "X": math.exp(log_a - alpha * log_n0),
        "Y": math.exp(log_b - beta * log_d0),
        "alpha": alpha,
        "beta": beta,
        "sigma": sigma0,
    }
    if log_e_max is not None:
        make_prior(priors["log_E"], high=log_e_max)  # the model's trace cannot check this bound
    run = functools.partial(
        _run_nuts,
        parametric_model,
        init_values=init,
        priors=priors,
        options=dict(kind=likelihood_kind, huber_k=huber_k, student_df=student_df),
        traced_options={"log_e_max": log_e_max},
    )
    names_sigma = names + ("sigma",)
    if learning_rate == "sandwich":
        key, key_pilot = jax.random.split(key)
        args = tuple(jnp.asarray(x) for x in (log_n, log_d, weights, log_loss))
        pilot_settings = replace(
            settings,
            draws=min(settings.draws, PILOT_DRAWS),
            warmup=min(settings.warmup, PILOT_DRAWS),
        )
        pilot = run(args, key=key_pilot, settings=pilot_settings).samples
        eta = sandwich_learning_rate(
            np.stack([np.ravel(pilot[n]) for n in names], axis=1),
            float(np.mean(pilot["sigma"])),
            args[:2] + args[3:],
            weights,
            kind=likelihood_kind,
            huber_k=huber_k,
            student_df=student_df,
        )
        plain_sd = {n: float(np.std(pilot[n], ddof=1)) for n in ("alpha", "beta")}
    elif isinstance(learning_rate, str) or not learning_rate > 0:
        raise DataError(f"learning_rate must be > 0 or 'sandwich', got {learning_rate!r}")
    else:
        eta, plain_sd = float(learning_rate), None
    args = tuple(jnp.asarray(x) for x in (log_n, log_d, eta * weights, log_loss))
    result = run(args, key=key, settings=settings)
    samples = result.samples
    idata = result.inference_data(coords={"row": runs.row}, dims={"log_loss": ["row"]})
    theta = jnp.stack([samples[n] for n in names], axis=-1)
    draws = frontier_draws(CHINCHILLA.frontier(theta))
    for name, value in CHINCHILLA.to_params(theta)._asdict().items():
        draws[name] = np.asarray(value).ravel()
    _add_to_posterior(idata, draws)
    draws.update({n: np.asarray(samples[n]).ravel() for n in names_sigma})
    diagnostics = diagnose(idata, names_sigma)
    return Posterior(
        approach="3",
        idata=idata,
        draws=draws,
        diagnostics=diagnostics,
        reported=("a", "b", "G", "E", "A", "B", "alpha", "beta", "sigma"),
        law=DEFAULT_LAW,
        settings=_settings_dict(
            settings,
            likelihood=likelihood_kind,
            huber_k=huber_k,
            student_df=student_df,
            e_below_min_loss=e_below_min_loss,
            priors=priors,
            learning_rate=eta,
            learning_rate_method="sandwich" if learning_rate == "sandwich" else "fixed",
            pilot_plain_sd=plain_sd,
        ),
    )


def _sample_law(
    runs: Runs, law, weights, key, init_theta, settings, density, priors, learning_rate
):
    """Approach-3 posterior of any law by NUTS on its coordinates (``law_model``).

    ``init_theta`` (the law's coordinates) defaults to a fit from the law's start grid.
    ``priors`` override ``law.prior_specs()`` (and ``sigma``'s half-normal) by coordinate
    name. ``learning_rate="sandwich"`` calibrates ``eta`` as for Chinchilla's law, over every
    coordinate of the law (``_sandwich_eta``). The frontier of each draw is the law's own
    (closed form, else numeric).
    """
    from scalinglaw_jax.approaches.parametric import fit_parametric, parametric_arrays

    law = get_law(law)
    key = jax.random.key(0) if key is None else key
    weights = check_weights(weights, len(runs), "row")
    defaults = {**law.prior_specs(), "sigma": PARAMETRIC_PRIORS["sigma"]}
    priors = resolve_priors(defaults, priors)
    arrays = parametric_arrays(runs, law=law)
    if init_theta is None:
        init_theta = fit_parametric(runs, weights, law=law).theta
    init_theta = np.asarray(init_theta, dtype=np.float64)
    residual = np.asarray(law.log_loss(jnp.asarray(init_theta), arrays) - arrays.log_loss)
    used = residual[weights > 0]
    sigma0 = max(1.4826 * float(np.median(np.abs(used - np.median(used)))), 1e-4)
    init = dict(zip(law.theta_names, (float(v) for v in init_theta), strict=True))
    init["sigma"] = sigma0
    run = functools.partial(
        _run_nuts, law_model, init_values=init, priors=priors, options=dict(law=law, **density)
    )
    names = law.theta_names
    if learning_rate == "sandwich":
        key, key_pilot = jax.random.split(key)
        pilot_settings = replace(
            settings,
            draws=min(settings.draws, PILOT_DRAWS),
            warmup=min(settings.warmup, PILOT_DRAWS),
        )
        pilot = run(
            (arrays, jnp.asarray(weights), arrays.log_loss), key=key_pilot, settings=pilot_settings
        ).samples
        sigma = float(np.mean(pilot["sigma"]))
        eta = _sandwich_eta(
            np.stack([np.ravel(pilot[n]) for n in names], axis=1),
            lambda theta: jax.jacfwd(_law_row_log_density)(theta, sigma, arrays, law, **density),
            weights,
            block=range(law.n_params),
        )
    elif isinstance(learning_rate, str) or not learning_rate > 0:
        raise DataError(f"learning_rate must be > 0 or 'sandwich', got {learning_rate!r}")
    else:
        eta = float(learning_rate)
    result = run((arrays, jnp.asarray(eta * weights), arrays.log_loss), key=key, settings=settings)
    samples = result.samples
    idata = result.inference_data(coords={"row": runs.row}, dims={"log_loss": ["row"]})
    theta = jnp.stack([jnp.ravel(samples[n]) for n in names], axis=-1)
    draws = frontier_draws(jax.jit(jax.vmap(law.frontier_of))(theta))
    draws.update({k: np.asarray(v).ravel() for k, v in law.to_params(theta).items()})
    _add_to_posterior(idata, draws)
    draws.update({n: np.asarray(samples[n]).ravel() for n in (*names, "sigma")})
    return Posterior(
        approach="3",
        idata=idata,
        draws=draws,
        diagnostics=diagnose(idata, (*names, "sigma")),
        reported=("a", "b", "G", *law.param_names, "sigma"),
        settings=_settings_dict(
            settings,
            likelihood=density["kind"],
            huber_k=density["huber_k"],
            student_df=density["student_df"],
            priors=priors,
            learning_rate=eta,
            learning_rate_method="sandwich" if learning_rate == "sandwich" else "fixed",
        ),
        law=law.name,
    )


def sample_isoflop(
    runs: Runs,
    weights=None,
    *,
    key=None,
    budgets=None,
    nominal=None,
    settings: NutsSettings = NutsSettings(),
    likelihood_kind: str = "huber",
    huber_k: float = DEFAULT_HUBER_K,
    student_df: float = DEFAULT_STUDENT_DF,
    priors: Mapping | None = None,
) -> Posterior:
    """Approach-2 joint posterior by NUTS, initialised at the per-budget point fit.

    Budgets come from ``approaches.isoflop.fit_isoflop`` (``budgets``/``nominal`` are passed
    on); rows it leaves unassigned, and budgets without an interior minimum in the point fit,
    are left out of the model and recorded in ``settings``.
    """
    from scalinglaw_jax.approaches.isoflop import fit_isoflop

    runs = as_runs(runs)
    _check_settings(settings)
    key = jax.random.key(0) if key is None else key
    weights = check_weights(weights, len(runs), "row")
    point = fit_isoflop(runs, weights, budgets=budgets, nominal=nominal)
    sol, assignment = point.solution, point.assignment
    valid = np.asarray(sol.valid, dtype=bool)
    keep = np.flatnonzero(valid)
    recode = np.full(assignment.n_budgets, -1)
    recode[keep] = np.arange(keep.size)
    index = np.where(assignment.index >= 0, recode[np.maximum(assignment.index, 0)], -1)
    row_weights = np.where(index >= 0, weights, 0.0)
    log_n = np.log(runs.params)
    loss = np.asarray(runs.loss, dtype=np.float64)
    log_c = np.log(assignment.flops[keep])
    used = row_weights > 0
    defaults = {name: dict(spec) for name, spec in ISOFLOP_PRIORS.items()}
    defaults["intercept"]["loc"] = float(np.average(log_n[used], weights=row_weights[used]))
    defaults["depth"]["loc"] = float(np.average(loss[used], weights=row_weights[used]))
    priors = resolve_priors(defaults, priors)
    vertex0 = np.asarray(sol.vertex_log_n)[keep]
    a0 = float(point.frontier.a)
    coef = np.asarray(sol.coef)[keep][np.maximum(index, 0)]
    resid = loss - (coef[:, 0] + coef[:, 1] * log_n + coef[:, 2] * log_n**2)
    init = {
        "a": a0,
        "intercept": np.mean(vertex0 - a0 * (log_c - log_c.mean())),
        "tau": max(float(np.std(vertex0 - a0 * log_c)), 1e-3),
        "sigma": max(1.4826 * float(np.median(np.abs(resid[used]))), 1e-4),
        "vertex": vertex0,
        "depth": np.asarray(sol.vertex_loss)[keep],
        "curvature": np.asarray(sol.coef)[keep, 2],
    }
    args = (
        jnp.asarray(log_n),
        jnp.asarray(np.maximum(index, 0)),
        jnp.asarray(log_c),
        jnp.asarray(row_weights),
        jnp.asarray(loss),
    )
    result = _run_nuts(
        isoflop_model,
        args,
        key=key,
        init_values=init,
        priors=priors,
        settings=settings,
        options=dict(kind=likelihood_kind, huber_k=huber_k, student_df=student_df),
    )
    samples = result.samples
    idata = result.inference_data(
        coords={"row": runs.row, "budget": assignment.flops[keep]},
        dims={"loss": ["row"], "vertex": ["budget"], "depth": ["budget"], "curvature": ["budget"]},
    )
    a = np.asarray(samples["a"])
    log_g_n = np.asarray(samples["intercept"]) - a * log_c.mean()
    log6 = math.log(6.0)
    draws = frontier_draws(Frontier(a, 1.0 - a, log_g_n, -log6 - log_g_n))
    _add_to_posterior(idata, draws)
    for name in ("tau", "sigma"):
        draws[name] = np.asarray(samples[name]).ravel()
    excluded = [float(c) for c in assignment.flops[~valid]]
    return Posterior(
        approach="2",
        idata=idata,
        draws=draws,
        diagnostics=diagnose(idata, ("a", "intercept", "tau", "sigma", "vertex")),
        reported=("a", "b", "G", "tau", "sigma"),
        settings=_settings_dict(
            settings,
            likelihood=likelihood_kind,
            huber_k=huber_k,
            student_df=student_df,
            priors=priors,
            budgets=[float(c) for c in assignment.flops[keep]],
            excluded_budgets=excluded,
            n_unassigned_rows=assignment.n_unassigned,
        ),
    )


RESAMPLING_POSTERIORS = {
    "wild-gaussian": "Gaussian residual multipliers within curves",
    "bayesian": "bayesian bootstrap over curves",
}
"""Approach 1's resampling posteriors by scheme, with the method name their settings carry."""


def bayesian_bootstrap_envelope(
    runs: Runs, *, key=None, chains: int = 4, draws: int = 1000, n_grid: int | None = None
) -> Posterior:
    """Approach-1 posterior: the Bayesian bootstrap over training curves.

    Each draw puts Dirichlet(1, ..., 1) weights (scaled to sum to the number of curves) on the
    curves and refits the envelope, which is an exact draw from the posterior of a
    nonparametric model whose prior is a Dirichlet process with vanishing mass (Rubin 1981).
    It treats the curves as a random sample, so it includes the error of which sizes and
    horizons were trained; ``resampling_posterior_envelope`` explains the default instead.
    """
    return resampling_posterior_envelope(
        runs, scheme="bayesian", key=key, chains=chains, draws=draws, n_grid=n_grid
    )


def resampling_posterior_envelope(
    runs: Runs,
    *,
    scheme: str = "wild-gaussian",
    key=None,
    chains: int = 4,
    draws: int = 1000,
    n_grid: int | None = None,
) -> Posterior:
    """Approach-1 posterior draws by the sweep engine's ``scheme`` (``RESAMPLING_POSTERIORS``).

    The envelope is an algorithm, not a likelihood, so Approach 1 has no NUTS posterior.
    ``"wild-gaussian"`` (the default) keeps each curve's fitted shape and redraws its noise:
    every point becomes shape x exp(z x residual) with z standard normal, and the whole
    estimator is rerun. That is a draw of the frontier under a Gaussian noise model whose
    per-point variance is the point's squared residual (a parametric bootstrap given the
    shapes, and the smooth counterpart of the ``wild`` bootstrap's signs, as the Bayesian
    bootstrap is of the multinomial one); it covers the error from the points' noise given
    the design. ``"bayesian"``: the Bayesian bootstrap over curves. The draws are seeded from
    ``key`` (``resample.run_sweep``), chunked and sharded like any bootstrap; the
    ``chains x draws`` draws are independent and laid out as chains only so that the same
    diagnostics and outputs apply. Draws whose envelope fit fails are dropped and reported in
    ``Diagnostics.reasons``. Raises ``DataError`` for another scheme.
    """
    from scalinglaw_jax.approaches.envelope import DEFAULT_N_GRID
    from scalinglaw_jax.uncertainty import resample

    if scheme not in RESAMPLING_POSTERIORS:
        raise DataError(
            f"Approach 1's posterior scheme must be one of {', '.join(RESAMPLING_POSTERIORS)}, "
            f"got {scheme!r}"
        )
    runs = as_runs(runs)
    key = jax.random.key(0) if key is None else key
    problem = resample.prepare(runs, "1", scheme, n_grid=n_grid or DEFAULT_N_GRID)
    sweep = resample.run_sweep(
        problem, chains * draws, seed=resample.seed_from_key(key), progress=False
    )
    outputs = sweep.outputs
    frontier = Frontier(*(outputs[name] for name in ("a", "b", "log_g_n", "log_g_d")))
    draws_flat = frontier_draws(frontier)
    failed = outputs["status"] != Status.OK
    for values in draws_flat.values():
        values[failed] = np.nan
    shape = (chains, draws)
    idata = az.from_dict(posterior={k: v.reshape(shape) for k, v in draws_flat.items()})
    diagnostics = diagnose(idata, ("a", "log_g_n"))
    reasons = diagnostics.reasons
    if failed.any():
        reasons = (*reasons, f"{int(failed.sum())} draws without a usable envelope")
    if np.nanstd(draws_flat["a"]) == 0.0:
        reasons = (
            *reasons,
            f"all draws give the same frontier: the {scheme} draws carry no uncertainty",
        )
    if reasons != diagnostics.reasons:
        diagnostics = Diagnostics(**{**diagnostics.__dict__, "ok": False, "reasons": reasons})
    kept = {k: v[~failed] for k, v in draws_flat.items()}
    return Posterior(
        approach="1",
        idata=idata,
        draws=kept,
        diagnostics=diagnostics,
        reported=("a", "b", "G"),
        settings={
            "method": RESAMPLING_POSTERIORS[scheme],
            "scheme": scheme,
            "chains": chains,
            "draws": draws,
        },
    )
