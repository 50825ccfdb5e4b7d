"""``scalinglaw bootstrap``: resampling sweeps, intervals, bands, checkpoints (resumable)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from scalinglaw_jax.approaches import parametric_spec, registry
from scalinglaw_jax.cli.inputs import OneLaw, Output, Table, load_table, out_option
from scalinglaw_jax.cli.options import SEED, choice, integer, number, option, parse_int, specs
from scalinglaw_jax.cli.template import Command, Outcome
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.uncertainty.resample import COORDINATOR_ENV, SCHEMES

APPROACHES = (*registry.KEYS, "all")
OWN_SCHEMES = ", ".join(f"{k}: {registry.get(k).default_scheme}" for k in registry.KEYS)


def _flag(default, name, check, parse=parse_int, config=True, **spec):
    """A valued option, read from config ``[bootstrap]`` under its own name."""
    where = f"bootstrap.{name.removeprefix('--').replace('-', '_')}" if config else None
    return option(default, name, parse=parse, check=check, config=where, **spec)


@dataclass(frozen=True)
class Options(Table, Output, OneLaw):
    out: object = out_option("scalinglaw-bootstrap")
    approach: str = _flag(
        "3", "--approach", choice(*APPROACHES, integers_as_text=True), None, choices=APPROACHES
    )
    scheme: str | None = _flag(
        None,
        "--scheme",
        choice(*SCHEMES),
        None,
        choices=SCHEMES,
        unset=f"each approach's own ({OWN_SCHEMES})",
        help="weights per resample: rows (nonparametric), Dirichlet "
        "(bayesian), 80%% subsamples, whole budgets or curves (block), residual signs or "
        "Gaussian multipliers within curves (wild, wild-gaussian; Approach 1)",
    )
    resamples: int = _flag(1000, "--resamples", integer(2), metavar="N")
    seed: int = _flag(0, "--seed", SEED, metavar="S", help="PRNG seed")
    mode: str = _flag(
        parametric_spec.BOOTSTRAP_DEFAULTS["mode"],
        "--mode",
        choice(*parametric_spec.MODES),
        None,
        choices=parametric_spec.MODES,
        help="Approach 3: fast = warm start from the "
        "full-data optimum plus the best --k-starts grid starts; full = all grid starts",
    )
    k_starts: int = _flag(parametric_spec.BOOTSTRAP_DEFAULTS["k_starts"], "--k-starts", integer(0))
    level: float = _flag(0.95, "--level", number(0, 1, open_low=True, open_high=True), float)
    chunk_size: int | None = _flag(
        None,
        "--chunk-size",
        integer(1),
        config=False,
        metavar="K",
        unset="sized from free memory",
        help="resamples per chunk (a multiple of the devices)",
    )
    nominal_budgets: str | None = _flag(
        None,
        "--nominal-budgets",
        choice("chinchilla", "none"),
        None,
        config=False,
        choices=("chinchilla", "none"),
        unset="the budget column, else gaps in log FLOPs",
        help="Approach 2: match rows to Chinchilla's nine budgets, or cluster FLOPs by gaps",
    )
    resume: bool = option(False, "--resume", kind="switch", help="continue the sweep in --out")
    exclude_failed: bool = option(
        False,
        "--exclude-failed",
        kind="switch",
        help="leave Approach-3 resamples that "
        "stopped at max-steps out of the intervals (they are always counted)",
    )
    no_bca: bool = option(False, "--no-bca", kind="switch", help="skip the BCa jackknife")
    float32: bool = option(False, "--float32", kind="switch", help="the float32 fast path")
    no_progress: bool = option(False, "--no-progress", kind="switch", help="no progress bar")
    exhaustive: bool = option(
        False, "--exhaustive", kind="switch", help="Approach 3 without multi-start screening"
    )
    coordinator: str | None = _flag(
        None,
        "--coordinator",
        None,
        str,
        config=False,
        metavar="HOST:PORT",
        unset="one process",
        help=f"multi-host: jax.distributed coordinator (or ${COORDINATOR_ENV})",
    )
    num_processes: int | None = _flag(None, "--num-processes", integer(1), config=False)
    process_id: int | None = _flag(None, "--process-id", integer(0), config=False)


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
        sections=tuple(sections), figures=frontier_figures(frontiers, bands, inputs.tables)
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
