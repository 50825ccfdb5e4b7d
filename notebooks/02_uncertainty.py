# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Uncertainty: bootstrap against posterior, and whether either can be trusted
#
# On Epoch AI's digitisation of the Chinchilla runs (Besiroglu et al. 2024) we put intervals
# on the compute-optimal exponent a two ways: a nonparametric bootstrap (resamples as weight
# vectors, batched) and a numpyro posterior (NUTS). Then a miniature calibration study asks how
# often each method's 90% interval covers the truth on data simulated from a known law.
#
# The Epoch file is not shipped with this package. Point `SCALINGLAW_DATA_DIR` at a folder
# holding `svg_extracted_data.csv`; without it the notebook uses a simulated study instead.
# Small settings come from `SCALINGLAW_NB_RESAMPLES`, `SCALINGLAW_NB_DRAWS`,
# `SCALINGLAW_NB_STUDIES`.

# %%
import os

import jax
import numpy as np

import scalinglaw_jax as sl
from scalinglaw_jax.core import datasets
from scalinglaw_jax.figures import plots
from scalinglaw_jax.uncertainty import calibrate, resample
from scalinglaw_jax.uncertainty.posterior import NutsSettings, sample_parametric

n_resamples = int(os.environ.get("SCALINGLAW_NB_RESAMPLES", "2000"))
n_draws = int(os.environ.get("SCALINGLAW_NB_DRAWS", "1000"))
n_studies = int(os.environ.get("SCALINGLAW_NB_STUDIES", "20"))

try:
    runs = datasets.load_dataset("chinchilla_epoch")
    source = "Epoch AI's Chinchilla extraction (240 rows after dropping the 5 highest losses)"
except (sl.DataError, OSError) as error:
    runs = sl.load_runs(sl.simulate_chinchilla_study(jax.random.key(0))["final"])
    source = f"a simulated study (Epoch data unavailable: {error})"
print(source, len(runs), "rows")

# %% [markdown]
# ## Point fit and bootstrap
# Fast mode warm-starts every resample at the full-data optimum (Epoch's single-BFGS-per-
# resample procedure, but batched); non-converged resamples are counted, not hidden.

# %%
point = sl.fit_parametric(runs)
boot = resample.bootstrap(runs, "3", "nonparametric", n_resamples, point=point, progress=False)
print(boot.report())
print("failed resamples:", boot.to_dict()["n_failed"])

# %% [markdown]
# ## Posterior
# Huber-shaped likelihood with a free scale; `learning_rate="sandwich"` tempers it so that its
# spread matches the sandwich covariance of the robust fit (the plain likelihood is too
# confident on these quantised, structured residuals — see `posterior.sample_parametric`).

# %%
settings = NutsSettings(chains=2, draws=n_draws, warmup=n_draws, progress_bar=False)
posterior = sample_parametric(
    runs,
    key=jax.random.key(1),
    init_theta=point.theta,
    settings=settings,
    learning_rate="sandwich",
)
summary = posterior.to_dict()
print({k: summary[k] for k in ("rhat_max", "ess_bulk_min", "divergences")})
for name in ("a", "alpha", "beta"):
    print(f"{name}: bootstrap {boot.interval(name)}  posterior {posterior.interval(name)}")

# %% [markdown]
# ## Both bands on the Chinchilla figure

# %%
flops = np.geomspace(1e18, 1e26, 60)
line = plots.FrontierLine(
    "Approach 3", point.frontier, bands=(boot.band(flops), posterior.band(flops)), color="C2"
)
plots.plot_params_vs_flops([line], runs=runs)

# %% [markdown]
# ## Calibration in miniature
# Simulate studies from a known law, fit each with both methods, count how often the nominal
# intervals cover the true a. With few studies the Monte-Carlo error is large; the benchmark
# results record the large run.

# %%
study = calibrate.run_calibration(
    jax.random.key(2),
    approaches=("2",),
    n_studies=n_studies,
    n_resamples=max(2, n_resamples // 10),
    settings=NutsSettings(
        chains=2, draws=max(20, n_draws // 4), warmup=max(20, n_draws // 5), progress_bar=False
    ),
)
study.table()
