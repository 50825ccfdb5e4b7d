"""The ``scalinglaw bootstrap`` sub-command: resampling sweeps, intervals, bands, checkpoints."""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp

from scalinglaw_jax import cli_common
from scalinglaw_jax.approaches import parametric_spec, registry
from scalinglaw_jax.config import SEED, flag, integer, number
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.core.solvers import BOOTSTRAP_SCREENING
from scalinglaw_jax.laws import closed_forms
from scalinglaw_jax.report.page import REPORT_FILE, Report, settings_of
from scalinglaw_jax.uncertainty import resample
from scalinglaw_jax.uncertainty.bands import band_to_dict, bootstrap_band

LEVEL = number(0.0, 1.0, open_low=True, open_high=True)

DEFAULTS = {
    "approach": "3",
    "scheme": None,
    "resamples": 1000,
    "seed": 0,
    **parametric_spec.BOOTSTRAP_DEFAULTS,
    "level": 0.95,
}
"""Settings when neither flag nor config gives one. ``scheme`` None: each approach's own
``default_scheme`` (rows for Approaches 2 and 3, wild residual signs for Approach 1); mode and
k_starts come from Approach 3's record, which ``calibrate`` reads too."""


def register(subparsers) -> None:
    """Add the ``bootstrap`` sub-command."""
    parser = subparsers.add_parser(
        "bootstrap",
        help="bootstrap intervals for the approaches (batched, sharded, resumable sweeps)",
        description="Refit an approach on N resamples of the runs (weight vectors: multinomial "
        "counts, Dirichlet weights, 80%% subsamples, or whole budgets / curves), chunked and "
        "sharded over the local devices. Writes DIR/summary.json (bootstrap[approach]: "
        "n_resamples, n_failed, se, interval), DIR/bootstrap_approach{N}.nc (per-resample "
        "draws and N_opt/D_opt bands) and checkpoints in DIR/bootstrap_approach{N}_chunks/ "
        "(rerun with --resume to continue a killed sweep). Config: a [bootstrap] table with "
        "the long option names (approach, scheme, resamples, seed, mode, k_starts, level).",
    )
    cli_common.add_data_arguments(parser)
    cli_common.add_law_argument(parser)
    parser.add_argument("--approach", choices=(*registry.KEYS, "all"), default=None)
    parser.add_argument(
        "--scheme",
        choices=resample.SCHEMES,
        default=None,
        help="nonparametric: rows with replacement (default of Approaches 2 and 3); bayesian: "
        "Dirichlet weights; subsample: 80%% without replacement (Chinchilla's Table 2); block: "
        "whole budgets (Approach 2) or curves (Approach 1) with replacement; wild: residual "
        "signs within each training curve (Approach 1's default); wild-gaussian: Gaussian "
        "residual multipliers (Approach 1)",
    )
    parser.add_argument(
        "--resamples", type=flag(integer(2), int), default=None, metavar="N", help="default 1000"
    )
    parser.add_argument(
        "--seed", type=flag(SEED, int), default=None, metavar="S", help="PRNG seed (0)"
    )
    parser.add_argument(
        "--mode",
        choices=parametric_spec.MODES,
        default=None,
        help="Approach 3: fast = warm start from the full-data optimum plus the best "
        "--k-starts grid starts (default); full = all 4,500 grid starts per resample",
    )
    parser.add_argument(
        "--k-starts",
        type=flag(integer(0), int),
        default=None,
        metavar="K",
        help=f"default {DEFAULTS['k_starts']}",
    )
    parser.add_argument(
        "--chunk-size",
        type=flag(integer(1), int),
        default=None,
        metavar="K",
        help="resamples per chunk (default: sized from free memory; a multiple of the devices)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the sweep in --out")
    parser.add_argument(
        "--level", type=flag(LEVEL, float), default=None, help="interval level (0.95)"
    )
    parser.add_argument(
        "--exclude-failed",
        action="store_true",
        help="leave Approach-3 resamples that stopped at max-steps out of the intervals "
        "(they are always counted)",
    )
    parser.add_argument("--no-bca", action="store_true", help="skip the BCa jackknife")
    parser.add_argument(
        "--float32", action="store_true", help="the float32 fast path (default float64)"
    )
    parser.add_argument(
        "--nominal-budgets",
        choices=("chinchilla", "none"),
        default=None,
        help="Approach 2: match rows to Chinchilla's nine budgets, or cluster FLOPs by gaps "
        "(default: the budget column if any, else gaps)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    cli_common.add_exhaustive_argument(parser)
    parser.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="multi-host: coordinator address for jax.distributed.initialize (or "
        "SCALINGLAW_COORDINATOR); with --num-processes and --process-id",
    )
    parser.add_argument("--num-processes", type=flag(integer(1), int), default=None)
    parser.add_argument("--process-id", type=flag(integer(0), int), default=None)
    parser.set_defaults(func=run)


def _setting(args: argparse.Namespace, config: dict, name: str):
    value = getattr(args, name)
    if value is None:
        value = config.get(name, DEFAULTS[name])
    return value


def run(args: argparse.Namespace) -> int:
    """Run the sweeps, print a table per approach, write summary.json and netCDF files."""
    if args.coordinator or args.num_processes is not None or resample.COORDINATOR_ENV in os.environ:
        try:
            resample.initialize_distributed(args.coordinator, args.num_processes, args.process_id)
        except RuntimeError as error:
            return cli_common.fail(f"jax.distributed.initialize failed: {error}")
    config = cli_common.read_config(args.config)
    settings = config.get("bootstrap", {})
    try:
        approaches = registry.selected(str(_setting(args, settings, "approach")))
    except DataError as error:
        return cli_common.fail(str(error))
    scheme = _setting(args, settings, "scheme")
    n_resamples = int(_setting(args, settings, "resamples"))
    if n_resamples < 2:
        return cli_common.fail(f"--resamples must be at least 2, got {n_resamples}")
    law = cli_common.law_from_args(args, config)  # a bad --law is refused before the data
    try:
        runs = cli_common.runs_from_args(args, config)
    except DataError as error:
        return cli_common.fail(str(error))
    out = cli_common.output_dir(args, config, "scalinglaw-bootstrap", runs)
    nominal = (
        closed_forms.CHINCHILLA_ISOFLOP_BUDGETS if args.nominal_budgets == "chinchilla" else None
    )
    dtype = jnp.float32 if args.float32 else jnp.float64
    report = Report("scalinglaw bootstrap", settings_of(args), runs.summary())
    skipped, frontiers, bands = [], {}, {}
    for key in approaches:
        scheme_used = scheme or registry.get(key).default_scheme
        heading = f"{registry.get(key).title}: {scheme_used} bootstrap, {n_resamples} resamples"
        print(f"\n== {heading} ==")
        try:
            problem = resample.prepare(
                runs,
                key,
                scheme_used,
                mode=_setting(args, settings, "mode"),
                k_starts=int(_setting(args, settings, "k_starts")),
                nominal=nominal,
                dtype=dtype,
                law=law,
                sweep_screening=None if args.exhaustive else BOOTSTRAP_SCREENING,
            )
        except DataError as error:
            # With --approach all, an approach the table or scheme does not support is skipped.
            if len(approaches) == 1:
                return cli_common.fail(str(error))
            print(f"skipped: {error}")
            report.warn(f"{registry.get(key).title} skipped: {error}", echo=False)
            skipped.append(key)
            continue
        try:
            result = resample.run_bootstrap(
                problem,
                n_resamples,
                level=float(_setting(args, settings, "level")),
                exclude_failed=args.exclude_failed,
                bca=not args.no_bca,
                seed=int(_setting(args, settings, "seed")),
                chunk_size=args.chunk_size,
                checkpoint_dir=out / f"bootstrap_approach{key}_chunks",
                resume=args.resume,
                progress=not args.no_progress,
            )
        except DataError as error:
            return cli_common.fail(str(error))
        sweep = result.sweep
        if sweep.resumed_chunks or sweep.recomputed_chunks:
            print(
                f"resumed {sweep.resumed_chunks} finished chunk(s), recomputed "
                f"{sweep.recomputed_chunks} corrupt one(s)"
            )
        report.table(heading, result.report(), echo=False)
        print(result.report())
        frontiers[key] = problem.point.frontier
        bands[key] = bootstrap_band(result)
        if bands[key].band is None:
            report.warn(bands[key].note)
        if jax.process_index() != 0:
            continue  # multi-host: every process holds the results; process 0 writes them
        netcdf = result.save(out / f"bootstrap_approach{key}.nc", resample.flops_grid())
        content = result.to_dict()
        content["netcdf"] = netcdf.name
        content["band"] = band_to_dict(bands[key])
        cli_common.update_summary(out, "bootstrap", key, content)
    if not frontiers:
        return cli_common.fail(f"no approach could be bootstrapped (skipped: {', '.join(skipped)})")
    if jax.process_index() == 0:
        from scalinglaw_jax.figures.study import banded_lines, write_frontier_figures

        written = write_frontier_figures(
            banded_lines(frontiers, bands), out, runs=runs, formats=args.figure_formats
        )
        report.write(out, written)
        print(
            f"\nwrote {out / 'summary.json'} (bootstrap), the draws as netCDF, the figures with "
            f"bands and {REPORT_FILE} in {out}"
        )
    return 0
