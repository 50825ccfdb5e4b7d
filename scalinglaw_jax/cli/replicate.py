"""``scalinglaw replicate chinchilla``: Hoffmann et al. (2022) on Epoch AI's public data."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.cli.inputs import out_option
from scalinglaw_jax.cli.options import SEED, option, parse_int, whole
from scalinglaw_jax.cli.template import Command, Outcome

DATASET = "chinchilla_epoch"


@dataclass(frozen=True)
class Options:
    """``scalinglaw replicate``.

    study: the published study
    out: output directory
    resamples: bootstrap resamples
    draws: NUTS draws (and warmup) per chain; 0 skips
    chains: NUTS chains
    seed: PRNG seed
    data_dir: directory holding the data file (else $SCALINGLAW_DATA_DIR, else download)
    """

    study: str = option(None, "study", choices=("chinchilla",))
    out: object = out_option("replication")
    resamples: int = whole(400, "--resamples", 2)
    draws: int = whole(500, "--draws", 0)
    chains: int = whole(2, "--chains", 1)
    seed: int = option(0, "--seed", parse=parse_int, check=SEED)
    data_dir: str | None = option(
        None, "--data-dir", unset="$SCALINGLAW_DATA_DIR, else the download cache"
    )


def load(options):
    """The study's table, fetched (or found) and checked before anything is fitted."""
    from scalinglaw_jax.core.datasets import load_dataset

    runs = load_dataset(DATASET, options.data_dir)
    return runs, runs.summary()


def run(inputs, report):
    from scalinglaw_jax.evaluate.replicate import replicate_chinchilla, save_report
    from scalinglaw_jax.figures.study import write_replication_figures as figures

    options = inputs.options
    replication, fits = replicate_chinchilla(
        options.data_dir,
        resamples=options.resamples,
        draws=options.draws,
        chains=options.chains,
        seed=options.seed,
    )
    report.table("Replication of Hoffmann et al. (2022) on Epoch AI's data", replication.report())
    return Outcome(figures=lambda out, formats: save_report(replication, out) + figures(fits, out))


HELP = "replicate a published study on its public data"
COMMAND = Command(
    "replicate", HELP, Options, run, title="scalinglaw replicate chinchilla", data=load, out="plain"
)
