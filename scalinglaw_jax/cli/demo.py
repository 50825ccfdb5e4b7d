"""``scalinglaw demo``: every approach on a built-in simulated study, with bands."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.cli.inputs import ConfigFile, Output, out_option
from scalinglaw_jax.cli.options import SEED, at_least, number, option, parse_int, switch
from scalinglaw_jax.cli.study import band_sections, print_study, study_outcome
from scalinglaw_jax.cli.template import Command
from scalinglaw_jax.evaluate.workflow import demo_tables, fit_study

DEMO_NUTS = {"chains": 2, "draws": 500, "warmup": 300}
"""NUTS settings of ``demo --posterior``: short, so a posterior that needs longer chains fails
its checks and its band is left out, with the reasons printed."""
DEMO_K_STARTS = 0
"""Grid starts per resample, besides the full-data optimum, of the demo's Approach-3 bands:
none, as the simulated study has one clear optimum (a resample that fails is still counted,
and too many failures leave the band out)."""


@dataclass(frozen=True)
class Options(ConfigFile, Output):
    """``scalinglaw demo``.

    seed: PRNG seed of the simulation
    noise: multiplicative log-normal noise on every loss (config only)
    resamples: bootstrap resamples per approach for the bands (Approach 3 in fast mode,
        Approach 1 with wild residual signs within curves)
    posterior: posterior bands instead (NUTS for Approaches 2 and 3, Gaussian residual
        multipliers for Approach 1; slower)
    """

    out: object = out_option("scalinglaw-demo")
    seed: int = option(0, "--seed", parse=parse_int, check=SEED, config="demo.seed")
    noise: float = option(0.01, config="demo.noise", check=number(0.0, 1.0))
    resamples: int = option(
        100, "--resamples", parse=parse_int, check=at_least(2), config="demo.resamples"
    )
    posterior: bool = switch("--posterior")


def simulate(options):
    """The demo's tables and the sentence that describes them."""
    from scalinglaw_jax.laws import closed_forms

    tables = demo_tables(seed=options.seed, noise=options.noise)
    law = closed_forms.CHINCHILLA
    true_a = float(law.frontier(law.from_params(closed_forms.PAPER_PARAMS)).a)
    described = (
        f"Simulated a Chinchilla-shaped study from the paper's Approach-3 law (a = {true_a:.4f}):"
        f" {len(tables['1'])} curve points, {len(tables['2'])} IsoFLOP runs, "
        f"{len(tables['3'])} final losses"
    )
    return tables, described


def run(inputs, report):
    from scalinglaw_jax.evaluate.workflow import bootstrap_study, posterior_study

    options = inputs.options
    study = fit_study(inputs.tables)
    print_study(study, report)
    if options.posterior:
        from scalinglaw_jax.uncertainty import bayes  # numpyro and arviz: only for posteriors

        settings = bayes.NutsSettings(**DEMO_NUTS, progress_bar=False)
        results, bands = posterior_study(study, settings, seed=options.seed)
        section = "posterior"
    else:
        results, bands = bootstrap_study(
            study, options.resamples, seed=options.seed, k_starts=DEMO_K_STARTS
        )
        section = "bootstrap"
    return study_outcome(study, report, bands, band_sections(section, results, bands, report))


HELP = "run all approaches on a built-in simulated study"
COMMAND = Command("demo", HELP, Options, run, data=simulate)
