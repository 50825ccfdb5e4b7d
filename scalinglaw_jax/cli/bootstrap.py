"""``scalinglaw bootstrap``: resampling sweeps, intervals, bands, checkpoints (resumable)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from scalinglaw_jax.approaches import parametric_spec, registry
from scalinglaw_jax.cli.inputs import OneLaw, Output, Table, load_table, out_option
from scalinglaw_jax.cli.options import (
    GAPS,
    SEED,
    number,
    option,
    parse_int,
    pick,
    real,
    specs,
    switch,
    whole,
)
from scalinglaw_jax.cli.template import Command, Outcome
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.uncertainty.resample import COORDINATOR_ENV, SCHEMES

APPROACHES = (*registry.KEYS, "all")
NOMINAL = ("chinchilla", "none")
OWN_SCHEMES = (
    "each approach's own ("
    + ", ".join(f"{key}: {registry.get(key).default_scheme}" for key in registry.KEYS)
    + ")"
)
DEFAULT_MODE = parametric_spec.BOOTSTRAP_DEFAULTS["mode"]
DEFAULT_K = parametric_spec.BOOTSTRAP_DEFAULTS["k_starts"]


def _config(name: str, **spec) -> dict:
    """Read from config ``[bootstrap]`` under the option's own name."""
    return {"config": f"bootstrap.{name}", **spec}


@dataclass(frozen=True)
class Options(Table, Output, OneLaw):
    """``scalinglaw bootstrap`` (config: a [bootstrap] table with the long option names).

    approach: the approach to bootstrap, or all that the table supports
    scheme: weights per resample: rows (nonparametric), Dirichlet (bayesian), 80% subsamples
        (subsample), whole budgets or curves (block), residual signs or Gaussian multipliers
        within curves (wild, wild-gaussian; Approach 1)
    resamples: resamples per approach
    seed: PRNG seed
    mode: Approach 3: fast = warm start from the full-data optimum plus the best --k-starts
        grid starts; full = all grid starts per resample
    k_starts: Approach 3's grid starts per resample in fast mode
    level: interval level
    chunk_size: resamples per chunk (a multiple of the devices)
    nominal_budgets: Approach 2: match rows to Chinchilla's nine budgets, or cluster FLOPs
    resume: continue the sweep in --out from its finished chunks
    exclude_failed: leave Approach-3 resamples that stopped at max-steps out of the intervals
        (they are always counted)
    no_bca: skip the BCa jackknife
    float32: the float32 fast path (default float64)
    no_progress: no progress bar
    exhaustive: Approach 3 without multi-start screening
    coordinator: multi-host: the jax.distributed coordinator HOST:PORT (or
        $SCALINGLAW_COORDINATOR), with --num-processes and --process-id
    num_processes: multi-host: how many processes
    process_id: multi-host: this process's index
    """

    out: object = out_option("scalinglaw-bootstrap")
    approach: str = pick("3", "--approach", APPROACHES, **_config("approach"))
    scheme: str | None = pick(None, "--scheme", SCHEMES, **_config("scheme"), unset=OWN_SCHEMES)
    resamples: int = whole(1000, "--resamples", 2, **_config("resamples"))
    seed: int = option(0, "--seed", parse=parse_int, check=SEED, **_config("seed"))
    mode: str = pick(DEFAULT_MODE, "--mode", parametric_spec.MODES, **_config("mode"))
    k_starts: int = whole(DEFAULT_K, "--k-starts", 0, **_config("k_starts"))
    level: float = real(
        0.95, "--level", number(0, 1, open_low=True, open_high=True), **_config("level")
    )
    chunk_size: int | None = whole(None, "--chunk-size", 1, unset="sized from free memory")
    nominal_budgets: str | None = pick(None, "--nominal-budgets", NOMINAL, unset=GAPS)
    resume: bool = switch("--resume")
    exclude_failed: bool = switch("--exclude-failed")
    no_bca: bool = switch("--no-bca")
    float32: bool = switch("--float32")
    no_progress: bool = switch("--no-progress")
    exhaustive: bool = switch("--exhaustive")
    coordinator: str | None = option(None, "--coordinator", metavar="HOST:PORT", unset="none")
    num_processes: int | None = whole(None, "--num-processes", 1, unset="one process")
    process_id: int | None = whole(None, "--process-id", 0, unset="none")


DEFAULTS = {name: default for name, (_, default) in specs(Options).items()}
"""Each option's value when neither flag nor config gives one (``scheme`` None: each
approach's ``default_scheme``); mode and k_starts are Approach 3's record's, which
``calibrate`` reads too."""


def begin(options) -> None:
    """Join a multi-host sweep before any JAX work."""
    from scalinglaw_jax.uncertainty import resample

    if options.coordinator or options.num_processes is not None or COORDINATOR_ENV in os.environ:
        try:
            resample.initialize_distributed(
                options.coordinator, options.num_processes, options.process_id
            )
        except RuntimeError as error:
            raise DataError(f"jax.distributed.initialize failed: {error}") from None


def check(options, runs) -> None:
    """A scheme the one approach asked for refuses is an error before any fit."""
    from scalinglaw_jax.cli.sweep import scheme_of
    from scalinglaw_jax.uncertainty.resample import resampled_unit

    if options.approach != "all":
        resampled_unit(registry.get(options.approach), scheme_of(options, options.approach))


def run(inputs, report):
    from scalinglaw_jax.cli.sweep import frontier_figures, prepare_one, sweep_one

    frontiers, bands, sections = {}, {}, []
    approaches = registry.selected(inputs.options.approach)
    for key in approaches:
        try:
            problem = prepare_one(inputs, key)
        except DataError as error:
            if len(approaches) == 1:  # with --approach all, an approach that cannot is skipped
                raise
            print(f"skipped: {error}")
            report.warn(f"{registry.get(key).title} skipped: {error}", echo=False)
            continue
        bands[key], section = sweep_one(inputs, key, problem, report)
        frontiers[key] = problem.point.frontier
        sections.append(section)
    if not frontiers:
        raise DataError(f"no approach could be bootstrapped (skipped: {', '.join(approaches)})")
    return Outcome(
        sections=tuple(sections),
        figures=frontier_figures(frontiers, bands, inputs.tables, report, inputs.options.law),
    )


HELP = "bootstrap intervals for the approaches (batched, sharded, resumable sweeps)"
DESCRIPTION = (
    "Refit an approach on N resamples of the runs (weight vectors), chunked and "
    "sharded over the local devices. Writes DIR/summary.json (bootstrap[approach]), "
    "DIR/bootstrap_approach{N}.nc (draws and bands) and checkpoints in "
    "DIR/bootstrap_approach{N}_chunks/ (rerun with --resume to continue a killed sweep). "
    "Config: a [bootstrap] table with the long option names."
)
RESUME = "rerun the same command with --resume to continue from the finished chunks"
COMMAND = Command(
    "bootstrap",
    HELP,
    Options,
    run,
    DESCRIPTION,
    data=load_table,
    check=check,
    begin=begin,
    resume_hint=RESUME,
)
