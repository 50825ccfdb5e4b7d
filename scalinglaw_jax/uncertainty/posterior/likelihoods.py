"""Likelihood densities on residuals and priors, shared by the posterior models.

``HuberDensity`` is a normalised location-scale density with a normal core and Laplace tails
(so its scale can be a free parameter); ``likelihood`` picks it or a Student-t. ``observe``
multiplies each row's log-likelihood by its weight, so a row with weight 0 is masked out: the
same weight-vector data flow as the point fits and the bootstrap.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.uncertainty.posterior.options import (
    DEFAULT_HUBER_K,
    DEFAULT_STUDENT_DF,
    check_likelihood,
)

SIGMA_PRIOR = {"dist": "halfnormal", "scale": 0.1}
"""Prior of the log-loss residual scale of Approach 3 (10% loss noise), for every law."""


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


def likelihood(kind: str, loc, scale, *, huber_k=DEFAULT_HUBER_K, student_df=DEFAULT_STUDENT_DF):
    """Robust observation density: ``"huber"`` (``HuberDensity``) or ``"student"`` (Student-t)."""
    if check_likelihood(kind) == "huber":
        return HuberDensity(loc, scale, huber_k)
    return dist.StudentT(student_df, loc, scale)


def density_settings(density: Mapping) -> dict:
    """How a posterior records its likelihood ``{kind, huber_k, student_df}``."""
    return {
        "likelihood": density["kind"],
        "huber_k": density["huber_k"],
        "student_df": density["student_df"],
    }


def observe(name, density, weights, obs):
    """Observe ``obs`` with each row's log-likelihood times its weight (weight 0: masked)."""
    present = weights > 0
    with (
        numpyro.handlers.mask(mask=present),
        numpyro.handlers.scale(scale=jnp.where(present, weights, 1.0)),
    ):
        numpyro.sample(name, density, obs=obs)


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


def prior_log_prob(prior: dist.Distribution, value):
    """``prior.log_prob(value)``, ``-inf`` outside the prior's support."""
    return jnp.where(prior.support(value), prior.log_prob(value), -jnp.inf)
