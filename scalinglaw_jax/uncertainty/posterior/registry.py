"""``POSTERIORS``: approach key -> its posterior sampler, all with one signature."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Protocol

from scalinglaw_jax.core.data import Runs
from scalinglaw_jax.uncertainty.posterior.isoflop import approach2_posterior
from scalinglaw_jax.uncertainty.posterior.nuts import NutsSettings
from scalinglaw_jax.uncertainty.posterior.options import PosteriorOptions
from scalinglaw_jax.uncertainty.posterior.parametric import approach3_posterior
from scalinglaw_jax.uncertainty.posterior.resampling import approach1_posterior
from scalinglaw_jax.uncertainty.posterior.result import Posterior


class Sampler(Protocol):
    """``sampler(runs, *, key, settings, options) -> Posterior``: each approach reads the
    ``PosteriorOptions`` it knows (Approach 1 reads ``settings``' chains and draws only)."""

    def __call__(
        self, runs: Runs, *, key, settings: NutsSettings, options: PosteriorOptions
    ) -> Posterior: ...


POSTERIORS: Mapping[str, Sampler] = MappingProxyType(
    {"1": approach1_posterior, "2": approach2_posterior, "3": approach3_posterior}
)
"""Approach 1: a resampling posterior (``resampling``); 2: the joint IsoFLOP model
(``isoflop``); 3: NUTS for any law (``parametric``). Their defaults: ``POSTERIOR_DEFAULTS``."""
