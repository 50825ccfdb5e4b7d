"""``scalinglaw replicate chinchilla``: Hoffmann et al. (2022) on Epoch AI's public data."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.cli.inputs import out_option
from scalinglaw_jax.cli.options import SEED, integer, option, parse_int
from scalinglaw_jax.cli.template import Command, Outcome

DATASET = "chinchilla_epoch"


@dataclass(frozen=True)
class Options:
    study: str = option(None, "study", choices=("chinchilla",), help="the published study")
    out: object = out_option("replication")
    resamples: int = option(
        400, "--resamples", parse=parse_int, check=integer(2), help="bootstrap resamples"
    )
    draws: int = option(
        500,
        "--draws",
        parse=parse_int,
        check=integer(0),
        help="NUTS draws (and warmup) per chain; 0 skips",
    )
    chains: int = option(2, "--chains", parse=parse_int, check=integer(1), help="NUTS chains")
    seed: int = option(0, "--seed", parse=parse_int, check=SEED)
    data_dir: str | None = option(
        None,
        "--data-dir",
        unset="$SCALINGLAW_DATA_DIR, else the download cache",
        help="directory holding the data file (else $SCALINGLAW_DATA_DIR, else download)",
    )


def load(options):
    """The study's table, fetched (or found) and checked before anything is fitted."""
    from scalinglaw_jax.core.datasets import load_dataset

    runs = load_dataset(DATASET, options.data_dir)
    return runs, runs.summary()


def run(inputs, report):
    from scalinglaw_jax.evaluate.replicate import replicate_chinchilla, save_report

    options = inputs.options
    replication, fits = replicate_chinchilla(
        options.data_dir,
        resamples=options.resamples,
        draws=options.draws,
        chains=options.chains,
        seed=options.seed,
    )
    report.table("Replication of Hoffmann et al. (2022) on Epoch AI's data", replication.report())
    return Outcome(figures=lambda out, formats: save_report(replication, fits, out))


HELP = "replicate a published study on its public data"
COMMAND = Command(
    "replicate", HELP, Options, run, title="scalinglaw replicate chinchilla", data=load, out="plain"
)
