"""``scalinglaw calibrate``: coverage of bootstrap and posterior intervals on simulated
studies drawn from a known law."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.cli.inputs import OneLaw, eta, out_option
from scalinglaw_jax.cli.options import SEED, number, option, parse_int, real, switch, whole
from scalinglaw_jax.cli.template import Command, Outcome
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.uncertainty.resample import SCHEMES


@dataclass(frozen=True)
class Options(OneLaw):
    """``scalinglaw calibrate``.

    out: output folder
    studies: simulated studies per approach
    approach: an approach to calibrate (repeatable)
    noise: log-normal loss noise of the simulated studies
    points_per_budget: runs per IsoFLOP budget of the simulated studies
    span_dex: decades of model size each budget spans
    resamples: bootstrap resamples
    chains: NUTS chains
    draws: NUTS draws per chain
    warmup: NUTS warmup steps per chain
    seed: PRNG seed
    scheme: also measure this bootstrap scheme beside each approach's default (repeatable)
    learning_rate: also measure Approach 3's posterior with this likelihood power eta beside
        the default, 'sandwich' (repeatable)
    no_progress: no progress bar
    """

    out: object = out_option("calibration")
    studies: int = whole(20, "--studies", 1)
    approach: tuple | None = option(
        None, "--approach", kind="list", choices=registry.KEYS, unset="all three"
    )
    noise: float = real(0.01, "--noise", number(0.0, 1.0, open_low=True))
    points_per_budget: int = whole(9, "--points-per-budget", 3)
    span_dex: float = real(1.2, "--span-dex", number(0.0, 6.0, open_low=True))
    resamples: int = whole(200, "--resamples", 2)
    chains: int = whole(4, "--chains", 1)
    draws: int = whole(500, "--draws", 1)
    warmup: int = whole(500, "--warmup", 1)
    seed: int = option(0, "--seed", parse=parse_int, check=SEED)
    scheme: tuple = option((), "--scheme", kind="list", choices=SCHEMES, unset="none")
    learning_rate: tuple = eta((), kind="list", unset="none")
    no_progress: bool = switch("--no-progress")


def check(options, tables) -> None:
    """Refused schemes and a learning rate without Approach 3 are errors before any study."""
    from scalinglaw_jax.uncertainty import calibrate

    approaches = options.approach or registry.KEYS
    try:
        for approach in approaches:
            calibrate.methods(approach, schemes=options.scheme)
    except DataError as error:
        raise DataError(f"--scheme: {error}") from None
    if options.learning_rate and not any(map(calibrate.takes_learning_rate, approaches)):
        raise DataError("--learning-rate applies to Approach 3's posterior: add --approach 3")


def run(inputs, report):
    import jax

    from scalinglaw_jax.uncertainty import calibrate
    from scalinglaw_jax.uncertainty.posterior import NutsSettings

    options = inputs.options
    result = calibrate.run_calibration(
        jax.random.key(options.seed),
        approaches=tuple(options.approach or registry.KEYS),
        n_studies=options.studies,
        noise=options.noise,
        points_per_budget=options.points_per_budget,
        span_dex=options.span_dex,
        n_resamples=options.resamples,
        settings=NutsSettings(
            chains=options.chains, draws=options.draws, warmup=options.warmup, progress_bar=False
        ),
        schemes=options.scheme,
        learning_rates=options.learning_rate,
        progress=not options.no_progress,
        parametric_law=options.law,
    )
    path = result.save(inputs.out / "calibration.json")
    report.table("Coverage of nominal intervals", result.report())
    return Outcome(files=(path,))


HELP = "coverage of bootstrap and posterior intervals on simulated studies"
DESCRIPTION = (
    "Simulate K studies from a known law, fit each with the default bootstrap "
    "and posterior of each approach (what `scalinglaw bootstrap` and `scalinglaw sample` "
    "run when no option is set), and report how often nominal 50/80/90/95%% intervals for "
    "a and b cover the truth (with binomial Monte-Carlo standard errors). --scheme and "
    "--learning-rate add other settings beside the defaults, labelled."
)
COMMAND = Command("calibrate", HELP, Options, run, DESCRIPTION, check=check, out="plain")
