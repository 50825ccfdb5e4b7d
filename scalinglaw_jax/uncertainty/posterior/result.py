"""``Posterior``: what every sampler returns (InferenceData, flat draws, diagnostics), its
bands, intervals, JSON summary and netCDF file."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import arviz as az
import numpy as np

from scalinglaw_jax.core.frontier import Frontier, log_coefficient_g
from scalinglaw_jax.core.intervals import Band, band_from_draws, percentile_interval
from scalinglaw_jax.uncertainty.posterior.nuts import Diagnostics

INTERVAL_LEVEL = 0.95


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


def add_to_posterior(idata: az.InferenceData, values: Mapping[str, np.ndarray]) -> None:
    """Add flat draws ``values`` to ``idata.posterior`` as (chain, draw) variables it lacks."""
    shape = (idata.posterior.sizes["chain"], idata.posterior.sizes["draw"])
    for name, flat in values.items():
        if name not in idata.posterior:
            idata.posterior[name] = (("chain", "draw"), np.reshape(flat, shape))
