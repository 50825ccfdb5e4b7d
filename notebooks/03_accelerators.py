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
# # Scaling sweeps to accelerators
#
# A bootstrap resample is only a weight vector, so a sweep is one compiled program vmapped
# over chunks of weight vectors. This notebook shows the pieces: chunked sweeps whose results
# do not depend on the chunk size, checkpointed chunks that let a killed sweep resume, the
# device mesh the resample axis is sharded over, and how to run the fit-speed benchmarks on a
# GPU.

# %%
import os
import tempfile
from pathlib import Path

import jax
import numpy as np

import scalinglaw_jax as sl
from scalinglaw_jax.uncertainty import resample

n_resamples = int(os.environ.get("SCALINGLAW_NB_RESAMPLES", "2000"))
study = sl.simulate_isoflop(jax.random.key(0), noise=0.01)
runs = sl.load_runs(study)
print(jax.devices())

# %% [markdown]
# ## One problem, many chunkings
# `prepare` validates the (approach, scheme) pair and fits the full data once; `run_sweep`
# draws resample i's weights from `fold_in(key, i)`, so the chunk size changes nothing.

# %%
problem = resample.prepare(runs, "2", "block")  # whole IsoFLOP budgets resampled
small = resample.run_sweep(problem, n_resamples, seed=0, chunk_size=8, progress=False)
large = resample.run_sweep(problem, n_resamples, seed=0, chunk_size=64, progress=False)
assert np.array_equal(small.outputs["a"], large.outputs["a"])
print(f"a: {np.mean(small.outputs['a']):.4f} +- {np.std(small.outputs['a']):.4f}")

# %% [markdown]
# ## A sweep that is killed and resumed
# Each finished chunk is written atomically next to a manifest (data hash, settings, seed).
# Here we stop after two chunks, as a kill would, and run the same call again with
# `resume=True`: the stored chunks are reused, the rest computed, and the result is the same.

# %%
folder = Path(tempfile.mkdtemp(prefix="scalinglaw-sweep-"))
resample.run_sweep(
    problem,
    n_resamples,
    seed=0,
    chunk_size=8,
    checkpoint_dir=folder,
    progress=False,
    stop_after_chunks=2,
)
resumed = resample.run_sweep(
    problem, n_resamples, seed=0, chunk_size=8, checkpoint_dir=folder, resume=True, progress=False
)
assert np.array_equal(resumed.outputs["a"], small.outputs["a"])
print("chunks reused:", resumed.resumed_chunks)
print("files:", sorted(path.name for path in folder.rglob("*") if path.is_file())[:4])

# %% [markdown]
# ## Devices
# The resample axis is sharded over `resample.sweep_mesh()` — every local device (and, after
# `jax.distributed.initialize`, every device of every process). On a CPU you can try it with
# `XLA_FLAGS=--xla_force_host_platform_device_count=4` set before JAX starts; the test suite
# checks that four devices give the same bits as one.

# %%
print(resample.sweep_mesh())

# %% [markdown]
# ## Benchmarks on a GPU
# ```bash
# python benchmarks/bench_fit.py --data svg_extracted_data.csv          # 4,500-start grid
# python benchmarks/bench_bootstrap.py --data svg_extracted_data.csv    # fast-mode sweeps
# python benchmarks/bench_bootstrap.py --data svg_extracted_data.csv --skip-fast --gpu-full
# ```
# Each prints JSON; `benchmarks/RESULTS.md` holds the figures measured on an H100.
