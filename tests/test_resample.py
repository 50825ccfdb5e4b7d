"""Bootstrap sweeps: schemes, chunking, resuming, sharding, intervals and Epoch's SEs."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import kurtosis

from scalinglaw_jax.approaches import parametric_spec
from scalinglaw_jax.approaches.parametric import ParametricArrays, fit_parametric
from scalinglaw_jax.approaches.parametric_spec import fast_starts, parametric_chunk_fit
from scalinglaw_jax.approaches.spec import ApproachOptions
from scalinglaw_jax.core import intervals
from scalinglaw_jax.core.data import DataError, exclude_rows, load_runs
from scalinglaw_jax.core.solvers import WARM_START_OPTIONS, chinchilla_grid
from scalinglaw_jax.laws.closed_forms import CHINCHILLA_ISOFLOP_BUDGETS
from scalinglaw_jax.uncertainty import resample

EPOCH_SE = {"A": 124.5, "B": 1293.3, "E": 0.026, "alpha": 0.015, "beta": 0.021}
EPOCH_RESAMPLES = 4000
# Every 25th start of Chinchilla's grid reaches the 4,500-start optimum on Epoch's data in a
# fraction of the time; the sweeps below only need the full-data optimum.
REDUCED_GRID = chinchilla_grid()[::25]


@pytest.fixture(scope="module")
def runs(simulated_csv):
    """Simulated data: the invariants below must hold on a clean clone, without ../shared."""
    return load_runs(simulated_csv)


@pytest.fixture(scope="module")
def point(runs):
    fit = fit_parametric(runs, starts=REDUCED_GRID)
    assert fit.start_status["converged"] > 0 and np.isfinite(fit.objective)
    return fit


@pytest.fixture(scope="module")
def epoch_warm(epoch_csv):
    """Approach 3 on Epoch's data, one warm start per resample (Epoch's procedure)."""
    epoch = load_runs(epoch_csv, drop_highest_loss=5)
    fit = fit_parametric(epoch, starts=REDUCED_GRID)
    assert fit.objective == pytest.approx(1.01827e-3, rel=1e-5)
    return resample.prepare(epoch, "3", "nonparametric", k_starts=0, point=fit)


@pytest.fixture(scope="module")
def warm(runs, point):
    """Approach 3, one warm start per resample (Epoch's procedure: one fit per resample)."""
    return resample.prepare(runs, "3", "nonparametric", k_starts=0, point=point)


@pytest.fixture(scope="module")
def fast(runs, point):
    """Approach 3 fast mode with two grid starts besides the warm start."""
    return resample.prepare(runs, "3", "nonparametric", k_starts=2, point=point)


@pytest.fixture(scope="module")
def isoflop_block(runs):
    return resample.prepare(runs, "2", "block", nominal=CHINCHILLA_ISOFLOP_BUDGETS)


def draw(scheme, index, n=240, seed=0):
    return np.asarray(resample.draw_unit_weights(jax.random.key(seed), index, scheme, n))


def test_scheme_weights():
    counts = draw("nonparametric", 3)
    assert counts.sum() == 240 and np.all(counts == np.round(counts)) and counts.min() == 0
    dirichlet = draw("bayesian", 3)
    assert dirichlet.sum() == pytest.approx(240) and np.all(dirichlet > 0)
    mask = draw("subsample", 3)
    assert set(np.unique(mask)) == {0.0, 1.0} and mask.sum() == 192
    np.testing.assert_array_equal(draw("bayesian", 3), dirichlet)  # same key: same bits
    assert not np.array_equal(draw("bayesian", 4), dirichlet)
    assert not np.array_equal(draw("bayesian", 3, seed=1), dirichlet)


def test_refused_pairs_name_the_alternatives(runs):
    with pytest.raises(DataError, match="Approach 3 treats runs as independent"):
        resample.prepare(runs, "3", "block")
    with pytest.raises(DataError, match="does not draw points of a curve with replacement"):
        resample.prepare(runs, "1", "nonparametric")
    with pytest.raises(DataError, match="unknown scheme"):
        resample.prepare(runs, "2", "jackknife")


def test_epoch_standard_errors(epoch_warm):
    """4,000 resamples as Epoch: SEs within 10% of theirs, plus Monte-Carlo error.

    An SD estimated from R draws has relative SE sqrt((kurtosis - 1) / (4 R)) (1/sqrt(2(R-1))
    for normal draws; B's skewed, heavy-tailed draws have kurtosis ~8-10). Both our SE and
    Epoch's come from 4,000 resamples, so their ratio carries that error twice; we allow 10%
    plus two of those combined standard errors (~3% for alpha, ~7% for B).
    """
    result = resample.BootstrapResult(
        resample.run_sweep(epoch_warm, EPOCH_RESAMPLES, seed=0, chunk_size=1024, progress=False)
    )
    assert result.to_dict()["n_failed"] == 0
    for name, epoch in EPOCH_SE.items():
        draws = result.draws(name)
        mc = np.sqrt(2 * (kurtosis(draws, fisher=False) - 1) / (4 * EPOCH_RESAMPLES))
        assert result.se(name) == pytest.approx(epoch, rel=0.10 + 2 * mc), name
    assert result.se("a") == pytest.approx(0.020, rel=0.15)


def test_zero_weight_is_removal(runs, point, fast):
    weights = np.ones((1, len(runs)))
    dropped = np.arange(0, len(runs), 7)
    weights[0, dropped] = 0.0
    with_zeros = jax.jit(fast.fit_chunk)(fast.data, jnp.asarray(weights))
    kept = np.setdiff1d(np.arange(len(runs)), dropped)
    logs = [np.log(v) for v in (runs.params, runs.tokens, runs.loss)]
    starts = fast_starts(ParametricArrays(*map(jnp.asarray, logs)), point.theta, 2)
    arrays = ParametricArrays(*(jnp.asarray(v[kept]) for v in logs))
    removed = jax.jit(parametric_chunk_fit(WARM_START_OPTIONS))(
        (arrays, jnp.asarray(starts), jnp.asarray(1e-3)), jnp.ones((1, kept.size))
    )
    # Only the summation order differs; the optimum is ill-conditioned (A and B sit in a flat
    # valley, condition ~1e11), so the solver's stopping point moves by ~1e-9 to 1e-8.
    np.testing.assert_allclose(with_zeros["objective"], removed["objective"], rtol=1e-9)
    for name in ("a", "E", "A", "B", "alpha", "beta"):
        np.testing.assert_allclose(with_zeros[name], removed[name], rtol=1e-6, err_msg=name)
    # Approach 2: zero-weight rows and a table without them give the same frontier.
    problem = resample.prepare(runs, "2", "nonparametric", nominal=CHINCHILLA_ISOFLOP_BUDGETS)
    smaller = exclude_rows(runs, runs.row[dropped], "test")
    other = resample.prepare(smaller, "2", "nonparametric", nominal=CHINCHILLA_ISOFLOP_BUDGETS)
    a = problem.fit_chunk(problem.data, jnp.asarray(weights))["a"]
    b = other.fit_chunk(other.data, jnp.ones((1, kept.size)))["a"]
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_row_buckets():
    sizes = [1, 16, 17, 25, 49, 81, 128, 245, 256, 257, 321, 1000, 240_000]
    buckets = [resample.row_bucket(n) for n in sizes]
    assert buckets == [16, 16, 32, 32, 64, 128, 128, 256, 256, 320, 384, 1024, 262_144]
    assert all(n <= b and (n <= 256 or b <= 1.25 * n) for n, b in zip(sizes, buckets, strict=True))


def test_padded_rows_change_nothing_and_nearby_tables_share_one_program(runs, point, fast):
    """Approach 3's sweep fits its table padded to the row bucket (81 rows -> 128, the padded
    rows at weight 0): its draws are an unpadded sweep's to rounding, and a table of another
    size in that bucket runs the same compiled fit, as does the jackknife of a chunk the size
    of the sweep's."""
    assert fast.data[0][0].log_loss.shape == (128,) and fast.n_units == len(runs)
    plan = parametric_spec.sweep_plan(runs, "row", ApproachOptions(k_starts=2), point)
    unpadded = resample.problem_from_plan(runs, "3", "nonparametric", plan._replace(pad_rows=None))
    assert unpadded.data[0][0].log_loss.shape == (len(runs),)
    padded = resample.run_sweep(fast, 24, seed=8, chunk_size=24, progress=False).outputs
    exact = resample.run_sweep(unpadded, 24, seed=8, chunk_size=24, progress=False).outputs
    np.testing.assert_array_equal(padded["weight_sum"], exact["weight_sum"])
    np.testing.assert_array_equal(padded["status"], exact["status"])
    np.testing.assert_allclose(padded["objective"], exact["objective"], rtol=1e-12)
    for name in ("a", "b", "E", "A", "B", "alpha", "beta"):
        np.testing.assert_allclose(padded[name], exact[name], rtol=1e-6, err_msg=name)
    traces = resample.TRACE_COUNTS["sweep"]
    smaller = exclude_rows(runs, runs.row[:11], "test")
    # Its point fit from REDUCED_GRID reuses the program of ``point``'s (128 rows too).
    fit = fit_parametric(smaller, starts=REDUCED_GRID)
    other = resample.prepare(smaller, "3", "nonparametric", k_starts=2, point=fit)
    assert other.n_units == 70 and other.data[0][0].log_loss.shape == (128,)
    resample.run_sweep(other, 20, seed=8, chunk_size=20, progress=False)
    resample.fit_weights(other, resample.jackknife_weights(other.n_units)[:30], chunk_size=30)
    assert resample.TRACE_COUNTS["sweep"] == traces


@pytest.mark.parametrize("problem_name", ["fast", "isoflop_block"])
def test_chunk_size_does_not_change_results(problem_name, request):
    problem = request.getfixturevalue(problem_name)
    one = resample.run_sweep(problem, 70, seed=5, chunk_size=32, progress=False)
    two = resample.run_sweep(problem, 70, seed=5, chunk_size=128, progress=False)
    for name in one.outputs:
        np.testing.assert_array_equal(one.outputs[name], two.outputs[name], err_msg=name)


def test_killed_and_resumed_equals_uninterrupted(warm, tmp_path, capsys):
    folder = tmp_path / "sweep"
    full = resample.run_sweep(warm, 100, seed=3, chunk_size=32, progress=False)
    killed = resample.run_sweep(
        warm, 100, seed=3, chunk_size=32, checkpoint_dir=folder, progress=False, stop_after_chunks=2
    )
    assert killed.outputs["a"].shape == (64,)
    with pytest.raises(DataError, match="pass --resume"):
        resample.run_sweep(warm, 100, seed=3, chunk_size=32, checkpoint_dir=folder)
    resumed = resample.run_sweep(
        warm, 100, seed=3, chunk_size=32, checkpoint_dir=folder, resume=True, progress=False
    )
    assert resumed.resumed_chunks == 2 and resumed.recomputed_chunks == 0
    for name in full.outputs:
        np.testing.assert_array_equal(full.outputs[name], resumed.outputs[name], err_msg=name)
    # A corrupt chunk (garbage bytes) and a wrong-shaped one are detected and recomputed.
    (folder / "chunk_000001.npz").write_bytes(b"not a chunk")
    with np.load(folder / "chunk_000002.npz") as stored:
        short = {k: stored[k][:5] for k in stored.files if k not in resample.STORED_KEYS}
        binding = str(stored[resample.BINDING_KEY])
    resample._save_chunk(folder / "chunk_000002.npz", short, binding)
    again = resample.run_sweep(
        warm, 100, seed=3, chunk_size=32, checkpoint_dir=folder, resume=True, progress=False
    )
    assert again.recomputed_chunks == 2 and again.resumed_chunks == 2
    assert "chunk 1" in capsys.readouterr().out
    for name in full.outputs:
        np.testing.assert_array_equal(full.outputs[name], again.outputs[name], err_msg=name)
    with pytest.raises(DataError, match="different seed"):
        resample.run_sweep(warm, 100, seed=4, chunk_size=32, checkpoint_dir=folder, resume=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["data_hash"] == warm.data_hash and manifest["chunk_size"] == 32


SHARDED_SCRIPT = textwrap.dedent(
    """
    import sys
    import jax, numpy as np
    from jax.sharding import Mesh
    from scalinglaw_jax.uncertainty import resample
    from scalinglaw_jax.approaches.parametric import fit_parametric
    from scalinglaw_jax.core.data import load_runs
    from scalinglaw_jax.laws.closed_forms import CHINCHILLA_ISOFLOP_BUDGETS

    assert len(jax.devices()) == 4
    runs = load_runs(sys.argv[1])
    point = fit_parametric(runs, starts=np.load(sys.argv[2]))
    problems = {
        "3": resample.prepare(runs, "3", "bayesian", k_starts=2, point=point),
        "2": resample.prepare(runs, "2", "block", nominal=CHINCHILLA_ISOFLOP_BUDGETS),
    }
    single = Mesh(np.array(jax.devices()[:1]), ("resample",))
    out = {}
    for key, problem in problems.items():
        four = resample.run_sweep(problem, 50, seed=9, chunk_size=32, progress=False)
        one = resample.run_sweep(problem, 50, seed=9, chunk_size=32, progress=False, mesh=single)
        for name in four.outputs:
            np.testing.assert_array_equal(four.outputs[name], one.outputs[name])
            out[key + "/" + name] = four.outputs[name]
    np.savez(sys.argv[3], **out)
    """
)


def test_sharded_equals_single_device(runs, point, isoflop_block, simulated_csv, tmp_path):
    """4 simulated CPU devices (in a subprocess): bit-identical to one device, and to here."""
    script = tmp_path / "sharded.py"
    script.write_text(SHARDED_SCRIPT)
    np.save(tmp_path / "starts.npy", REDUCED_GRID)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    env["JAX_PLATFORMS"] = "cpu"
    if platform.machine() == "x86_64":
        # OpenBLAS's generic kernels gave different bits when 4 devices called its LAPACK at
        # once (how jnp.linalg.eigh ran on CPU): the solver must not depend on them.
        env["OPENBLAS_CORETYPE"] = "Prescott"
    paths = [str(simulated_csv), str(tmp_path / "starts.npy"), str(tmp_path / "out.npz")]
    subprocess.run([sys.executable, str(script), *paths], check=True, env=env, timeout=300)
    problems = {
        "3": resample.prepare(runs, "3", "bayesian", k_starts=2, point=point),
        "2": isoflop_block,
    }
    with np.load(tmp_path / "out.npz") as sharded:
        for key, problem in problems.items():
            here = resample.run_sweep(problem, 50, seed=9, chunk_size=32, progress=False)
            for name, value in here.outputs.items():
                np.testing.assert_array_equal(sharded[f"{key}/{name}"], value, err_msg=name)


def test_two_processes_on_localhost_equal_one(runs, simulated_csv, tmp_path):
    """``scalinglaw bootstrap`` as 2 processes on 127.0.0.1 (CPU, gloo), set up through the
    SCALINGLAW_* variables: the draws equal one process's (to 2 ulp), only process 0 writes, and
    ``--resume`` works with the output directory on process 0's disk only."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "scalinglaw_jax.cli", "bootstrap", str(simulated_csv)]
    command += ["--approach", "2", "--scheme", "bayesian"]
    command += ["--nominal-budgets", "chinchilla", "--resamples", "50", "--seed", "9"]
    command += ["--chunk-size", "32", "--no-progress", "--no-bca"]

    def launch(*extra):
        procs = []
        for i in range(2):
            env = dict(os.environ, JAX_PLATFORMS="cpu", SCALINGLAW_COORDINATOR=f"127.0.0.1:{port}")
            env.update(SCALINGLAW_NUM_PROCESSES="2", SCALINGLAW_PROCESS_ID=str(i))
            env.pop("XLA_FLAGS", None)
            out = ["--out", str(tmp_path / f"process{i}")]
            procs.append(
                subprocess.Popen(command + out + list(extra), env=env, stdout=subprocess.PIPE)
            )
        outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        return outputs

    launch()
    assert not (tmp_path / "process1" / "summary.json").exists()
    import xarray as xr

    with xr.open_dataset(tmp_path / "process0" / "bootstrap_approach2.nc") as stored:
        two = stored["a"].values
    problem = resample.prepare(runs, "2", "bayesian", nominal=CHINCHILLA_ISOFLOP_BUDGETS)
    here = resample.run_sweep(problem, 50, seed=9, chunk_size=32, progress=False).outputs["a"]
    # Not bit for bit: on this simulated study one resample of fifty differs by 1 ulp between
    # the 2-process program and one process (in-process device splits are bit-identical).
    np.testing.assert_array_max_ulp(two, here, maxulp=2)
    for output in launch("--resume"):
        assert "resumed 2 finished chunk(s)" in output


def test_intervals_bands_and_netcdf(isoflop_block, tmp_path):
    import xarray as xr

    sweep = resample.run_sweep(isoflop_block, 200, seed=1, progress=False)
    jackknife = resample.fit_weights(
        isoflop_block, resample.jackknife_weights(isoflop_block.n_units)
    )
    result = resample.BootstrapResult(sweep, 0.9, jackknife=jackknife)
    summary = result.to_dict()
    assert summary["n_resamples"] == 200 and summary["level"] == 0.9
    for name in ("a", "b"):
        low, high = summary["interval"][name]
        assert low < result.sweep.problem.estimate[name] < high
        assert summary["se"][name] > 0
        low_bca, high_bca = summary["interval_bca"][name]
        assert low_bca < high_bca
    flops = resample.flops_grid(16)
    band = result.band(flops)
    assert isinstance(band, intervals.Band) and band.kind == "bootstrap" and band.level == 0.9
    assert np.all(band.n_low < band.n_high) and np.all(band.d_low < band.d_high)
    path = result.save(tmp_path / "draws.nc", flops)
    with xr.open_dataset(path, engine="h5netcdf") as stored:
        assert dict(stored.sizes) == {"resample": 200, "flops": 16}
        np.testing.assert_array_equal(stored["a"].values, sweep.outputs["a"])
        np.testing.assert_allclose(stored["n_low"].values, band.n_low)
        assert json.loads(stored.attrs["summary"])["scheme"] == "block"
    assert "BCa" in result.report()


def test_failed_resamples_are_counted_and_excluded_only_on_request(warm):
    # Chunks of 32, the resume test's: one compiled sweep for both.
    sweep = resample.run_sweep(warm, 40, seed=2, chunk_size=32, progress=False)
    status = sweep.outputs["status"].copy()
    status[:3] = 1  # pretend three resamples stopped at max-steps
    sweep = sweep._replace(outputs={**sweep.outputs, "status": status})
    kept = resample.BootstrapResult(sweep)
    dropped = resample.BootstrapResult(sweep, exclude_failed=True)
    assert kept.to_dict()["n_failed"] == 3 and kept.to_dict()["n_used"] == 40
    assert dropped.to_dict()["n_failed"] == 3 and dropped.to_dict()["n_used"] == 37
