"""Posteriors (``uncertainty.posterior``): Huber density, Approach-3 and Approach-2 NUTS on
Epoch's data, CLI outputs."""

from __future__ import annotations

import json
import math
import warnings

import jax
import numpy as np
import pytest
from scipy import integrate

from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.laws.closed_forms import CHINCHILLA, CHINCHILLA_ISOFLOP_BUDGETS, PAPER_PARAMS
from scalinglaw_jax.uncertainty import posterior

warnings.filterwarnings("ignore", category=FutureWarning)

# The 4,500-start optimum on Epoch's 240 points (REFERENCE.md) and Epoch's bootstrap SEs.
OPTIMUM = {"A": 477.8, "B": 2143.4, "E": 1.8172, "alpha": 0.3473, "beta": 0.3672}
OPTIMUM_THETA = (6.16924637, 7.67015673, 0.59730681, 0.3473105, 0.36717243)
EPOCH_SE = {"alpha": 0.015, "beta": 0.021}
SMALL = posterior.NutsSettings(chains=2, draws=250, warmup=250, progress_bar=False)


@pytest.fixture(scope="module")
def epoch_runs(epoch_csv):
    return load_runs(epoch_csv, drop_highest_loss=5)


@pytest.fixture(scope="module")
def simulated_runs(simulated_csv):
    """Simulated from the paper's law: for invariants that must hold on a clean clone."""
    return load_runs(simulated_csv)


TRUE_THETA = tuple(float(v) for v in CHINCHILLA.from_params(PAPER_PARAMS))
"""The simulation's own law, (log A, log B, log E, alpha, beta): a good NUTS start."""


@pytest.fixture(scope="module")
def epoch_posterior(epoch_runs):
    """The sandwich-calibrated generalised posterior (the CLI default for real data)."""
    return posterior.sample_parametric(
        epoch_runs,
        init_theta=OPTIMUM_THETA,
        settings=SMALL,
        key=jax.random.key(3),
        learning_rate="sandwich",
    )


def _integral(f, k):
    edges = (-np.inf, -k, k, np.inf)
    return sum(
        integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-11)[0]
        for lo, hi in zip(edges, edges[1:], strict=False)
    )


@pytest.mark.parametrize("k", [0.2, 0.5, 1.345, 3.0])
def test_huber_density_normalised(k):
    z = math.exp(posterior.huber_log_normaliser(k))
    assert z == pytest.approx(_integral(lambda x: math.exp(-float(posterior.huber_rho(x, k))), k))
    density = posterior.HuberDensity(0.3, 2.0, k)
    mass = _integral(lambda x: math.exp(float(density.log_prob(0.3 + 2.0 * x))) * 2.0, k)
    assert mass == pytest.approx(1.0, rel=1e-8)


def test_huber_sampler_matches_density():
    k, n = 0.5, 200_000
    x = np.asarray(posterior.HuberDensity(0.0, 1.0, k).sample(jax.random.key(0), (n,)))
    core = (
        math.sqrt(2 * math.pi)
        * math.erf(k / math.sqrt(2))
        / math.exp(posterior.huber_log_normaliser(k))
    )
    share = np.mean(np.abs(x) <= k)
    assert abs(share - core) < 4 * math.sqrt(core * (1 - core) / n)
    tail = np.abs(x[np.abs(x) > k]) - k
    assert np.mean(tail) == pytest.approx(1 / k, rel=0.02)


def test_priors_override_and_errors():
    priors = posterior.resolve_priors(
        posterior.PARAMETRIC_PRIORS, {"alpha": {"dist": "halfnormal", "scale": 1}}
    )
    assert priors["alpha"]["dist"] == "halfnormal"
    with pytest.raises(ValueError, match="unknown prior"):
        posterior.resolve_priors(posterior.PARAMETRIC_PRIORS, {"gamma": {"dist": "normal"}})
    with pytest.raises(ValueError, match="unknown prior"):
        posterior.make_prior({"dist": "cauchy"})
    bounded = posterior.make_prior({"dist": "normal", "loc": 0.5, "scale": 1.0}, high=0.7)
    assert float(bounded.support.upper_bound) == pytest.approx(0.7)


def test_epoch_posterior_centred_on_optimum(epoch_posterior):
    post = epoch_posterior.to_dict()
    for name, value in OPTIMUM.items():
        assert abs(post[name]["mean"] - value) < post[name]["sd"], name
    assert post["rhat_max"] < 1.05
    assert post["divergences"] == 0
    assert set(epoch_posterior.idata.groups()) >= {
        "posterior",
        "sample_stats",
        "observed_data",
        "posterior_predictive",
    }


def test_epoch_posterior_sd_within_30pct_of_bootstrap(epoch_posterior):
    post = epoch_posterior.to_dict()
    assert 0.3 < post["settings"]["learning_rate"] < 0.5  # seen: 0.39
    for name, se in EPOCH_SE.items():
        assert abs(post[name]["sd"] / se - 1) < 0.3, name  # seen: 1.09 (alpha), 0.86 (beta)
    # The plain iid likelihood (the pilot, eta = 1) is too confident: seen 0.7 and 0.5.
    plain = post["settings"]["pilot_plain_sd"]
    assert plain["alpha"] / EPOCH_SE["alpha"] < 0.8 and plain["beta"] / EPOCH_SE["beta"] < 0.6


def test_zero_weight_rows_are_masked(simulated_runs):
    weights = np.ones(len(simulated_runs))
    weights[:10] = 0.0
    tiny = posterior.NutsSettings(chains=1, draws=20, warmup=20, progress_bar=False)
    post = posterior.sample_parametric(
        simulated_runs, weights, init_theta=TRUE_THETA, settings=tiny, likelihood_kind="student"
    )
    log_lik = post.idata.log_likelihood["log_loss"].values
    assert np.all(log_lik[..., :10] == 0.0)
    assert np.all(np.isfinite(log_lik))


def test_epoch_isoflop_posterior_contains_049(epoch_runs):
    post = posterior.sample_isoflop(
        epoch_runs, nominal=CHINCHILLA_ISOFLOP_BUDGETS, settings=SMALL, key=jax.random.key(2)
    )
    low, high = post.interval("a")
    assert low < 0.49 < high
    band = post.band(np.array([1e19, 1e21]))
    assert band.kind == "posterior" and np.all(band.n_low < band.n_high)


def test_cli_sample_writes_summary(simulated_csv, tmp_path):
    from scalinglaw_jax.cli import main

    config = tmp_path / "c.toml"
    config.write_text("[posterior]\ninit_starts = 4\n")
    argv = [
        "sample",
        str(simulated_csv),
        "--approach",
        "3",
        "--chains",
        "1",
        "--draws",
        "30",
        "--warmup",
        "30",
        "--no-progress",
        "--learning-rate",
        "1",
        "--out",
        str(tmp_path),
        "--config",
        str(config),
    ]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())["posterior"]["3"]
    for name in ("a", "b", "E", "A", "B", "alpha", "beta"):
        assert set(summary[name]) == {"mean", "sd", "interval"}
    for name in ("rhat_max", "ess_bulk_min", "divergences", "ok", "reasons"):
        assert name in summary
    assert summary["ok"] is False  # 30 draws cannot reach ESS > 400: the run says so
    assert (tmp_path / "posterior_approach3.nc").is_file()
    # ... and its band is left out of the figures, with the reason in summary and report.
    assert summary["band"]["drawn"] is False and "failed its checks" in summary["band"]["note"]
    assert 'id="band' not in (tmp_path / "params_vs_flops.svg").read_text()
    assert "no posterior band for Approach 3" in (tmp_path / "report.html").read_text()


DEVICES_SCRIPT = """
import sys
import jax, numpy as np
from scalinglaw_jax.uncertainty import posterior
from scalinglaw_jax.core.data import load_runs

assert jax.local_device_count() == int(sys.argv[3])
settings = posterior.NutsSettings(chains=2, draws=15, warmup=15, progress_bar=False)
post = posterior.sample_parametric(
    load_runs(sys.argv[1]), init_theta=tuple(map(float, sys.argv[4:])), settings=settings,
    key=jax.random.key(7),
)
np.save(sys.argv[2], post.idata.posterior["alpha"].values)
"""


def test_same_seed_same_draws_on_one_or_two_devices(simulated_csv, tmp_path):
    """``sample`` on 2 (simulated CPU) devices gives the bits it gives on 1."""
    import os
    import subprocess
    import sys

    script = tmp_path / "devices.py"
    script.write_text(DEVICES_SCRIPT)
    draws = {}
    for count in (1, 2):
        env = dict(os.environ, JAX_PLATFORMS="cpu")
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={count}"
        out = tmp_path / f"alpha{count}.npy"
        argv = [str(simulated_csv), str(out), str(count), *map(str, TRUE_THETA)]
        subprocess.run([sys.executable, str(script), *argv], check=True, env=env, timeout=300)
        draws[count] = np.load(out)
    assert draws[1].shape == (2, 15)
    np.testing.assert_array_equal(draws[1], draws[2])
