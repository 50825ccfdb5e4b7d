"""The ``scalinglaw`` command: ``demo``, ``fit`` and the uncertainty sub-commands."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from pathlib import Path

from scalinglaw_jax import cli_common
from scalinglaw_jax.approaches import registry
from scalinglaw_jax.approaches.spec import ApproachOptions
from scalinglaw_jax.config import SEED, flag
from scalinglaw_jax.config import nominal_budgets as check_nominal_budgets
from scalinglaw_jax.core.compile_cache import (
    CACHE_DIR_ENV,
    OFF,
    compile_cache,
    disabled_by_environment,
)
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.core.errors import run_command
from scalinglaw_jax.core.solvers import DEFAULT_SCREENING, use_cpu_devices
from scalinglaw_jax.evaluate.workflow import (
    bootstrap_study,
    demo_tables,
    fit_study,
    posterior_study,
    tables_for,
)
from scalinglaw_jax.figures import DEFAULT_FIGURE_FORMATS
from scalinglaw_jax.laws import closed_forms
from scalinglaw_jax.report.outputs import remove_stale_figures
from scalinglaw_jax.report.page import REPORT_FILE, Report, settings_of
from scalinglaw_jax.uncertainty.bands import band_to_dict

APPROACH_CHOICES = (*registry.KEYS, "all")
DEMO_NUTS = {"chains": 2, "draws": 500, "warmup": 300}
"""NUTS settings of ``demo --posterior``: short, so a posterior that needs longer chains fails
its checks and its band is left out, with the reasons printed."""
DEMO_K_STARTS = 0
"""Grid starts per resample, besides the full-data optimum, of the demo's Approach-3 bands:
none, as the simulated study has one clear optimum (a resample that fails is still counted,
and too many failures leave the band out)."""


def nominal_budgets(value):
    """``"chinchilla"`` -> the paper's nine budgets; a list of numbers as given; None: cluster."""
    if value in (None, "", "none"):
        return None
    if value == "chinchilla":
        return closed_forms.CHINCHILLA_ISOFLOP_BUDGETS
    if isinstance(value, str):
        return tuple(float(v) for v in value.split(","))
    return tuple(float(v) for v in value)


def print_study(study, report: Report) -> None:
    """Print (and record in ``report``) each approach's report and the comparison table."""
    for key, result in sorted(study.results.items()):
        report.table(registry.get(key).name, result.report())
    report.table("Exponents and projections", study.comparison_table())
    for key, reason in sorted(study.skipped.items()):
        report.warn(f"{registry.get(key).name} skipped: {reason}", echo=False)


def write_study(
    study, out: Path, report: Report, *, bands: dict | None = None, formats=DEFAULT_FIGURE_FORMATS
) -> None:
    """Write summary.json, the figures in ``formats`` (``bands``: key -> ``ApproachBand`` on
    the frontier lines) and report.html."""
    # Figures first, summary last: a run that fails while drawing leaves no new summary.
    from scalinglaw_jax.figures.study import write_figures  # matplotlib: when drawing

    written = write_figures(study, out, bands=bands, formats=formats)
    remove_stale_figures(out, written)
    for key, content in study.summary().items():
        cli_common.update_summary(out, "approaches", key, content)
    report.write(out, written)
    print(
        f"\nwrote {out / 'summary.json'}, {out / REPORT_FILE} and {len(written)} figure files "
        f"in {out}"
    )


def study_bands(
    study,
    out: Path,
    report: Report,
    *,
    resamples: int,
    posterior: bool = False,
    seed: int = 0,
    k_starts: int = 8,
    nominal=None,
) -> dict:
    """Bootstrap (or sample) every fitted approach; record results and bands in summary.json
    (``bootstrap`` / ``posterior`` sections, each entry with its ``band``); return the bands."""
    if posterior:
        from scalinglaw_jax import bayes  # numpyro and arviz: only for posteriors

        settings = bayes.NutsSettings(**DEMO_NUTS, progress_bar=False)
        results, bands = posterior_study(study, settings, seed=seed, isoflop_nominal=nominal)
        section = "posterior"
    else:
        results, bands = bootstrap_study(
            study, resamples, seed=seed, k_starts=k_starts, isoflop_nominal=nominal
        )
        section = "bootstrap"
    for key, entry in sorted(bands.items()):
        content = {}
        if key in results:
            result = results[key]
            content = result.to_dict()
            report.table(f"{registry.get(key).name}: {entry.label}", result.report())
        content["band"] = band_to_dict(entry)
        cli_common.update_summary(out, section, key, content)
        if entry.band is None:
            report.warn(entry.note)
    return bands


def run_fit(args: argparse.Namespace) -> int:
    config = cli_common.read_config(args.config)
    # Flag and config values that need no data are refused before the data is read.
    approaches = registry.selected(str(args.approach or config.get("approach", "all")))
    law = cli_common.law_from_args(args, config)
    if args.bootstrap is not None and args.bootstrap < 2:
        return cli_common.fail(f"--bootstrap must be at least 2 resamples, got {args.bootstrap}")
    try:
        runs = cli_common.runs_from_args(args, config)
    except DataError as error:
        return cli_common.fail(str(error))
    out = cli_common.output_dir(args, config, "scalinglaw-out", runs)
    nominal = nominal_budgets(args.isoflop_nominal or config.get("isoflop", {}).get("nominal"))
    options = ApproachOptions.from_keywords(
        nominal=nominal, law=law, screening=None if args.exhaustive else DEFAULT_SCREENING
    )
    study = fit_study(tables_for(runs), approaches, options)
    if not study.results:
        reasons = "; ".join(f"{registry.get(k).name}: {r}" for k, r in study.skipped.items())
        return cli_common.fail(f"no approach could be fitted: {reasons}")
    report = Report("scalinglaw fit", settings_of(args), runs.summary())
    print_study(study, report)
    bands = None
    if args.bootstrap is not None:
        bands = study_bands(study, out, report, resamples=args.bootstrap, nominal=nominal)
    write_study(study, out, report, bands=bands, formats=args.figure_formats)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    config = cli_common.read_config(args.config)
    demo = config.get("demo", {})
    started = time.perf_counter()
    seed = args.seed if args.seed is not None else demo.get("seed", 0)
    resamples = args.resamples if args.resamples is not None else demo.get("resamples", 100)
    if resamples < 2:
        return cli_common.fail(f"--resamples must be at least 2, got {resamples}")
    tables = demo_tables(seed=seed, noise=demo.get("noise", 0.01))
    out = cli_common.output_dir(args, config, "scalinglaw-demo", tables)
    true_a = float(
        closed_forms.CHINCHILLA.frontier(
            closed_forms.CHINCHILLA.from_params(closed_forms.PAPER_PARAMS)
        ).a
    )
    described = (
        f"Simulated a Chinchilla-shaped study from the paper's Approach-3 law (a = {true_a:.4f}):"
        f" {len(tables['1'])} curve points, {len(tables['2'])} IsoFLOP runs, "
        f"{len(tables['3'])} final losses"
    )
    print(described)
    report = Report("scalinglaw demo", settings_of(args), described)
    study = fit_study(tables)
    print_study(study, report)
    bands = study_bands(
        study,
        out,
        report,
        resamples=resamples,
        posterior=args.posterior,
        seed=seed,
        k_starts=DEMO_K_STARTS,
    )
    write_study(study, out, report, bands=bands, formats=args.figure_formats)
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0


def run_laws(args: argparse.Namespace) -> int:
    """Print every registered law: formula, parameters with their boxes, columns, source."""
    from scalinglaw_jax.laws import LAWS

    print("\n\n".join(law.describe() for law in LAWS.values()))
    print("\nA law of your own: --law path/to/file.py:NAME (see docs/closed_forms.md)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scalinglaw",
        description="Fit compute-optimal scaling laws (Chinchilla approaches 1-3) in JAX.",
    )
    parser.add_argument(
        "--cpu-devices",
        default=None,
        help="split fits and sweeps over this many CPU devices, or 'auto' for one per core "
        "(default: auto; results are the same bits on any number of devices)",
    )
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not read or write JAX's persistent compilation cache (default: on, in "
        f"${CACHE_DIR_ENV} or the user cache directory; {CACHE_DIR_ENV}={OFF} also turns it "
        "off; see docs/cli.md)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run all approaches on a built-in simulated study")
    cli_common.add_output_arguments(demo)
    demo.add_argument(
        "--seed", type=flag(SEED, int), default=None, help="PRNG seed of the simulation"
    )
    demo.add_argument("--config", type=Path, default=None, help="TOML config file")
    demo.add_argument(
        "--resamples",
        type=int,
        default=None,
        metavar="N",
        help="bootstrap resamples per approach for the bands (default 100; Approach 3 in "
        "fast mode, Approach 1 with wild residual signs within curves)",
    )
    demo.add_argument(
        "--posterior",
        action="store_true",
        help="posterior bands instead (NUTS for Approaches 2 and 3, Gaussian residual "
        "multipliers for Approach 1; slower)",
    )
    demo.set_defaults(func=run_demo)

    fit = commands.add_parser("fit", help="fit the approaches a table supports")
    cli_common.add_data_arguments(fit)
    fit.add_argument("--approach", choices=APPROACH_CHOICES, default=None)
    fit.add_argument(
        "--isoflop-nominal",
        type=flag(check_nominal_budgets),
        default=None,
        help="'chinchilla' or comma-separated nominal IsoFLOP budgets to cluster rows around "
        "(default: the table's budget column, else clustering by gaps in log FLOPs)",
    )
    fit.add_argument(
        "--bootstrap",
        type=int,
        default=None,
        metavar="N",
        help="also bootstrap every fitted approach with N resamples and draw the bands "
        "(nonparametric over runs; Approach 1: whole curves; Approach 3: fast mode)",
    )
    cli_common.add_law_argument(fit)
    cli_common.add_exhaustive_argument(fit)
    fit.set_defaults(func=run_fit)

    law_command = commands.add_parser("laws", help="the registered laws of Approach 3")
    law_command.add_argument("action", choices=("list",), help="list: formula, parameters, source")
    law_command.set_defaults(func=run_laws)

    # Imported here: these modules use helpers defined above in this one.
    from scalinglaw_jax import cli_backtest, cli_bayes, cli_bootstrap, cli_realdata

    for module in (cli_bootstrap, cli_bayes, cli_realdata, cli_backtest):
        module.register(commands)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    for command in commands.choices.values():
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    return parser


DEBUG_HELP = "show the Python traceback of an internal error (exit code 1)"
RESUME_HINTS = {
    "bootstrap": "rerun the same command with --resume to continue from the finished chunks",
}
"""What Ctrl-C says for commands that can continue where they stopped."""


def main(argv: list[str] | None = None) -> int:
    """Parse, then run the sub-command under the exit-code contract (``errors``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:  # argparse: bad flags exit 2, --help exits 0
        return int(exit_request.code or 0)
    if args.cpu_devices is None:
        # One device per core unless JAX already runs (a caller that imported the CLI after
        # computing keeps the devices it has).
        with contextlib.suppress(RuntimeError):
            use_cpu_devices()
    else:
        value = args.cpu_devices
        if value != "auto" and not (value.isdigit() and int(value) > 0):
            return cli_common.fail(
                f"--cpu-devices must be a positive integer or 'auto', got {value!r}"
            )
        try:
            use_cpu_devices(None if value == "auto" else int(value))
        except RuntimeError as error:
            return cli_common.fail(str(error))
    with contextlib.ExitStack() as scope:
        if not (args.no_compile_cache or disabled_by_environment()):
            try:
                scope.enter_context(compile_cache())
            except OSError as error:  # a cache that cannot be written only costs time
                print(f"WARNING: compilation cache off: {error}", file=sys.stderr)
        return run_command(
            lambda: args.func(args), debug=args.debug, resume_hint=RESUME_HINTS.get(args.command)
        )


def run() -> None:
    """The ``scalinglaw`` command: ``main``, then leave without the interpreter's teardown.

    Every file a command writes is closed when ``main`` returns. What Python would still do
    is tear down JAX's runtime, its compiled programs and every module: about half a second
    (a sixth of a warm ``fit`` on Epoch's table) that writes nothing. So the log handlers and
    both streams are flushed, a multi-process sweep leaves the distributed service, and the
    process exits with ``main``'s code (``os._exit``).
    """
    code = main()
    jax = sys.modules.get("jax")
    if jax is not None and jax.distributed.is_initialized():
        jax.distributed.shutdown()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
