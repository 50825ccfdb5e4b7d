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
# # Quickstart: from a table of runs to the two Chinchilla figures
#
# This notebook loads a CSV of training runs, fits the three approaches of Hoffmann et al.
# (2022), prints their compute-optimal exponents next to Kaplan et al. (2020), and draws
# Parameters vs FLOPs and Parameters vs Tokens. The runs are simulated from the paper's own
# Approach-3 law, so every fit can be checked against the truth (a = 0.4565).
#
# Settings come from environment variables so the test suite can run it small:
# `SCALINGLAW_NB_STARTS` (Approach-3 random starts; default: the paper's 4,500-point grid) and
# `SCALINGLAW_NB_RESAMPLES` (bootstrap resamples; default 1,000).

# %%
import os
import tempfile
from pathlib import Path

import jax
import numpy as np

import scalinglaw_jax as sl
from scalinglaw_jax.figures import plots
from scalinglaw_jax.uncertainty import resample

n_random_starts = int(os.environ.get("SCALINGLAW_NB_STARTS", "0"))
starts = n_random_starts or "chinchilla"
workdir = Path(tempfile.mkdtemp(prefix="scalinglaw-quickstart-"))

# %% [markdown]
# ## A table of runs
# `simulate_chinchilla_study` returns three tables shaped like the paper's: training curves
# (Approach 1), IsoFLOP profiles at its nine budgets (Approach 2) and final losses (Approach 3),
# with 1% multiplicative noise. We write them to CSV and read them back as a user would.

# %%
study = sl.simulate_chinchilla_study(jax.random.key(0), noise=0.01)
for name, table in study.items():
    table.to_csv(workdir / f"{name}.csv", index=False)
curves = sl.load_runs(workdir / "curves.csv")
isoflop = sl.load_runs(workdir / "isoflop.csv")
final = sl.load_runs(workdir / "final.csv")
print(isoflop.summary())

# %% [markdown]
# ## The three approaches

# %%
envelope = sl.fit_envelope(curves)  # Approach 1: lowest loss over the curves at each budget
profiles = sl.fit_isoflop(isoflop)  # Approach 2: a parabola per IsoFLOP budget
parametric = sl.fit_parametric(final, starts=starts, key=jax.random.key(1))  # Approach 3
print(profiles.report())
print(parametric.params, parametric.start_status)

true_a = float(sl.CHINCHILLA.frontier(sl.CHINCHILLA.from_params(sl.PAPER_PARAMS)).a)
for name, fit in [("1", envelope), ("2", profiles), ("3", parametric)]:
    print(f"Approach {name}: a = {fit.frontier.a:.3f} (truth {true_a:.3f})")
print(f"Kaplan et al. (2020): a = {sl.KAPLAN_FRONTIER.a}")
assert abs(profiles.frontier.a - true_a) < 0.03

# %% [markdown]
# ## Projections (the paper's Table 3)
# FLOPs and tokens at which each model size is compute-optimal.

# %%
for row in sl.projection_table(parametric.frontier)[:5]:
    print(f"N = {row['params']:.3g}: C = {row['flops']:.3g} FLOPs, D = {row['tokens']:.3g} tokens")

# %% [markdown]
# ## The two Chinchilla figures, with bootstrap bands
# Approach lines, Kaplan's dashed line, the runs as dots and the published models as stars.
# Bands come from bootstrap sweeps: whole IsoFLOP budgets resampled for Approach 2, runs for
# Approach 3 (warm-started at the full-data optimum).

# %%
n_resamples = int(os.environ.get("SCALINGLAW_NB_RESAMPLES", "1000"))
flops_grid = np.geomspace(1e18, 1e26, 60)
boot2 = resample.bootstrap(isoflop, "2", "block", n_resamples, progress=False)
boot3 = resample.bootstrap(
    final, "3", "nonparametric", n_resamples, point=parametric, progress=False
)
print(boot3.report())
lines = [
    plots.FrontierLine("Approach 1", envelope.frontier, color="C0"),
    plots.FrontierLine(
        "Approach 2", profiles.frontier, bands=(boot2.band(flops_grid),), color="C1"
    ),
    plots.FrontierLine(
        "Approach 3", parametric.frontier, bands=(boot3.band(flops_grid),), color="C2"
    ),
]
figure_flops = plots.plot_params_vs_flops(lines, runs=final)
figure_tokens = plots.plot_params_vs_tokens(lines, runs=final)
written = plots.save_figure(figure_flops, workdir, "params_vs_flops", formats=("png",))
written += plots.save_figure(figure_tokens, workdir, "params_vs_tokens", formats=("png",))
print([path.name for path in written])
figure_flops
