"""``scalinglaw sample``: an approach's posterior (NUTS; Approach 1: a resampling posterior),
its credible band and diagnostics."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.approaches import parametric_spec, registry
from scalinglaw_jax.cli.inputs import OneLaw, Output, Table, load_table, out_option
from scalinglaw_jax.cli.options import (
    LIKELIHOODS,
    SEED,
    boolean,
    choice,
    init_starts,
    integer,
    learning_rate,
    number,
    option,
    parse_int,
    parse_sandwich_or_number,
    positive_number,
    priors_table,
)
from scalinglaw_jax.cli.template import Command, Outcome


def _posterior(default, name, check, parse=parse_int, **spec):
    """An option read from config ``[posterior]`` under its own name (flag or config only)."""
    key = name.removeprefix("--").replace("-", "_")
    flags = (name,) if name.startswith("--") else ()
    return option(default, *flags, parse=parse, check=check, config=f"posterior.{key}", **spec)


@dataclass(frozen=True)
class Options(Table, Output, OneLaw):
    out: object = out_option("posterior")
    approach: str = option("3", "--approach", choices=registry.KEYS, help="the approach")
    chains: int = _posterior(4, "--chains", integer(1), help="NUTS chains")
    draws: int = _posterior(1000, "--draws", integer(1), help="draws per chain")
    warmup: int = _posterior(500, "--warmup", integer(1), help="warmup steps")
    seed: int = _posterior(0, "--seed", SEED, help="PRNG seed")
    likelihood: str = _posterior(
        "huber",
        "--likelihood",
        choice(*LIKELIHOODS),
        None,
        choices=LIKELIHOODS,
        help="robust likelihood on residuals",
    )
    nominal_budgets: str = _posterior(
        "none",
        "--nominal-budgets",
        choice("chinchilla", "none"),
        None,
        choices=("chinchilla", "none"),
        help="Approach 2: match rows to Chinchilla's nine "
        "budgets, or (none) the budget column if any, else cluster FLOPs by gaps",
    )
    e_below_min_loss: bool = _posterior(
        False, "--e-below-min-loss", boolean, None, kind="switch", help="Approach 3: E < min(loss)"
    )
    learning_rate: object = _posterior(
        parametric_spec.POSTERIOR_DEFAULTS["learning_rate"],
        "--learning-rate",
        learning_rate,
        parse_sandwich_or_number,
        help="Approach 3: likelihood power eta, or 'sandwich': eta "
        "calibrated by a pilot run so that the (alpha, beta) covariance matches the sandwich "
        "covariance; 1 gives the plain likelihood",
    )
    no_progress: bool = option(False, "--no-progress", kind="switch", help="no progress bar")
    target_accept: float = _posterior(
        0.8, "target_accept", number(0, 1, open_low=True, open_high=True)
    )
    huber_k: float = _posterior(0.5, "huber_k", positive_number)
    student_df: float = _posterior(4.0, "student_df", positive_number)
    init_starts: object = _posterior(64, "init_starts", init_starts)
    priors: dict | None = _posterior(None, "priors", priors_table, unset="the built-in priors")


def run(inputs, report):
    import jax

    from scalinglaw_jax.cli.sweep import frontier_figures, nominal_of
    from scalinglaw_jax.uncertainty import bayes  # numpyro and arviz: when sampling
    from scalinglaw_jax.uncertainty.bands import band_to_dict, posterior_band

    options, approach = inputs.options, inputs.options.approach
    settings = bayes.NutsSettings(
        chains=options.chains,
        draws=options.draws,
        warmup=options.warmup,
        target_accept=options.target_accept,
        progress_bar=not options.no_progress,
    )
    posterior = registry.get(approach).posterior(
        inputs.tables,
        law=options.law,
        init_starts=options.init_starts,
        e_below_min_loss=options.e_below_min_loss,
        learning_rate=options.learning_rate,
        nominal=nominal_of(options.nominal_budgets),
        key=jax.random.key(options.seed),
        settings=settings,
        likelihood_kind=options.likelihood,
        huber_k=options.huber_k,
        student_df=options.student_df,
        priors=options.priors,
    )
    netcdf = inputs.out / f"posterior_approach{approach}.nc"
    posterior.save(netcdf)
    band = posterior_band(posterior)
    content = {**posterior.to_dict(), "band": band_to_dict(band), "netcdf": str(netcdf)}
    report.table(f"Approach {approach} posterior", posterior.report())
    if not posterior.diagnostics.ok:
        report.warn(
            f"the Approach {approach} posterior failed its checks: "
            + "; ".join(posterior.diagnostics.reasons)
            + ". Do not trust these intervals; run longer (--warmup, --draws) or change priors."
        )
        report.warn(band.note)
    figures = frontier_figures({approach: posterior.frontier()}, {approach: band}, inputs.tables)
    return Outcome(sections=(("posterior", approach, content),), figures=figures, files=(netcdf,))


HELP = "posterior of an approach by NUTS (Approach 1: Bayesian bootstrap)"
DESCRIPTION = (
    "Posterior draws, credible bands and diagnostics; writes DIR/summary.json "
    "(posterior[approach]) and DIR/posterior_approach{N}.nc. Config: [posterior] with the "
    "long option names, target_accept, huber_k, student_df, init_starts and a "
    "[posterior.priors] table."
)
COMMAND = Command("sample", HELP, Options, run, DESCRIPTION, data=load_table)
