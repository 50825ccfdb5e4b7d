"""``scalinglaw sample``: an approach's posterior (NUTS; Approach 1: a resampling posterior),
its credible band and diagnostics."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.cli.inputs import OneLaw, Output, Table, eta, load_table, out_option
from scalinglaw_jax.cli.options import (
    SEED,
    boolean,
    init_starts,
    number,
    option,
    parse_int,
    pick,
    positive_number,
    priors_table,
    switch,
    whole,
)
from scalinglaw_jax.cli.template import Command, Outcome
from scalinglaw_jax.uncertainty.posterior.options import (
    LIKELIHOODS,
    POSTERIOR_DEFAULTS,
    PosteriorOptions,
)

LEARNING_RATE = POSTERIOR_DEFAULTS["3"]["learning_rate"]
ACCEPT = number(0, 1, open_low=True, open_high=True)


def _posterior(name: str, **spec) -> dict:
    """Read from config ``[posterior]`` under the option's own name."""
    return {"config": f"posterior.{name}", **spec}


@dataclass(frozen=True)
class Options(Table, Output, OneLaw):
    """``scalinglaw sample`` (config: a [posterior] table with the long option names).

    approach: the approach whose posterior to sample
    chains: NUTS chains
    draws: draws per chain
    warmup: warmup steps per chain
    seed: PRNG seed
    likelihood: robust likelihood on residuals
    nominal_budgets: Approach 2: match rows to Chinchilla's nine budgets, or (none) the budget
        column if any, else cluster FLOPs by gaps
    e_below_min_loss: Approach 3: E < min(loss)
    learning_rate: Approach 3: likelihood power eta, or 'sandwich': eta calibrated by a pilot
        run so that the (alpha, beta) covariance matches the sandwich covariance; 1 gives the
        plain likelihood
    no_progress: no progress bar
    """

    out: object = out_option("posterior")
    approach: str = option("3", "--approach", choices=registry.KEYS)
    chains: int = whole(4, "--chains", 1, **_posterior("chains"))
    draws: int = whole(1000, "--draws", 1, **_posterior("draws"))
    warmup: int = whole(500, "--warmup", 1, **_posterior("warmup"))
    seed: int = option(0, "--seed", parse=parse_int, check=SEED, **_posterior("seed"))
    likelihood: str = pick("huber", "--likelihood", LIKELIHOODS, **_posterior("likelihood"))
    nominal_budgets: str = pick(
        "none", "--nominal-budgets", ("chinchilla", "none"), **_posterior("nominal_budgets")
    )
    e_below_min_loss: bool = switch(
        "--e-below-min-loss", check=boolean, **_posterior("e_below_min_loss")
    )
    learning_rate: object = eta(LEARNING_RATE, **_posterior("learning_rate"))
    no_progress: bool = switch("--no-progress")
    target_accept: float = option(0.8, check=ACCEPT, **_posterior("target_accept"))
    huber_k: float = option(0.5, check=positive_number, **_posterior("huber_k"))
    student_df: float = option(4.0, check=positive_number, **_posterior("student_df"))
    init_starts: object = option(64, check=init_starts, **_posterior("init_starts"))
    priors: dict | None = option(
        None, check=priors_table, unset="the built-in priors", **_posterior("priors")
    )


def draw_posterior(options, runs):
    """The approach's posterior with the options' settings: the one call into the posterior
    engine (``posterior.POSTERIORS``)."""
    import jax

    from scalinglaw_jax.cli.sweep import nominal_of
    from scalinglaw_jax.uncertainty.posterior import POSTERIORS, NutsSettings  # numpyro, arviz

    settings = NutsSettings(
        chains=options.chains,
        draws=options.draws,
        warmup=options.warmup,
        target_accept=options.target_accept,
        progress_bar=not options.no_progress,
    )
    chosen = PosteriorOptions(
        law=options.law,
        init_starts=options.init_starts,
        e_below_min_loss=options.e_below_min_loss,
        learning_rate=options.learning_rate,
        nominal=nominal_of(options.nominal_budgets),
        likelihood=options.likelihood,
        huber_k=options.huber_k,
        student_df=options.student_df,
        priors=options.priors,
    )
    return POSTERIORS[options.approach](
        runs, key=jax.random.key(options.seed), settings=settings, options=chosen
    )


def run(inputs, report):
    from scalinglaw_jax.cli.sweep import frontier_figures
    from scalinglaw_jax.uncertainty.bands import band_to_dict, posterior_band

    options, approach = inputs.options, inputs.options.approach
    posterior = draw_posterior(options, inputs.tables)
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
    figures = frontier_figures(
        {approach: posterior.frontier()}, {approach: band}, inputs.tables, report, options.law
    )
    return Outcome(sections=(("posterior", approach, content),), figures=figures, files=(netcdf,))


HELP = "posterior of an approach by NUTS (Approach 1: Bayesian bootstrap)"
DESCRIPTION = (
    "Posterior draws, credible bands and diagnostics; writes DIR/summary.json "
    "(posterior[approach]) and DIR/posterior_approach{N}.nc. Config: [posterior] with the "
    "long option names, target_accept, huber_k, student_df, init_starts and a "
    "[posterior.priors] table."
)
COMMAND = Command("sample", HELP, Options, run, DESCRIPTION, data=load_table)
