"""The ``scalinglaw`` command: ``demo``, ``fit`` and the uncertainty sub-commands."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from scalinglaw_jax import cli_common, laws
from scalinglaw_jax.approaches import registry
from scalinglaw_jax.config import SEED, flag
from scalinglaw_jax.config import nominal_budgets as check_nominal_budgets
from scalinglaw_jax.data import DataError
from scalinglaw_jax.errors import run_command
from scalinglaw_jax.outputs import remove_stale_figures
from scalinglaw_jax.solvers import use_cpu_devices
from scalinglaw_jax.workflow import (
    demo_tables,
    fit_study,
    tables_for,
    write_figures,
)

APPROACH_CHOICES = (*registry.KEYS, "all")


def nominal_budgets(value):
    """``"chinchilla"`` -> the paper's nine budgets; a list of numbers as given; None: cluster."""
    if value in (None, "", "none"):
        return None
    if value == "chinchilla":
        return laws.CHINCHILLA_ISOFLOP_BUDGETS
    if isinstance(value, str):
        return tuple(float(v) for v in value.split(","))
    return tuple(float(v) for v in value)


def report_study(study, out: Path, section: str = "approaches") -> None:
    """Print each approach's report and the comparison table; write summary and figures."""
    for key, result in sorted(study.results.items()):
        print(f"\n== {registry.get(key).name} ==")
        print(result.report())
    print("\n" + study.comparison_table())
    # Figures first, summary last: a run that fails while drawing leaves no new summary.
    written = write_figures(study, out)
    remove_stale_figures(out, written)
    for key, content in study.summary().items():
        cli_common.update_summary(out, section, key, content)
    print(f"\nwrote {out / 'summary.json'} and {len(written)} figure files in {out}")


def run_fit(args: argparse.Namespace) -> int:
    config = cli_common.read_config(args.config)
    # Flag and config values that need no data are refused before the data is read.
    approaches = registry.selected(str(args.approach or config.get("approach", "all")))
    law = cli_common.law_from_args(args, config)
    try:
        runs = cli_common.runs_from_args(args, config)
    except DataError as error:
        return cli_common.fail(str(error))
    out = cli_common.output_dir(args, config, "scalinglaw-out", runs)
    nominal = nominal_budgets(args.isoflop_nominal or config.get("isoflop", {}).get("nominal"))
    study = fit_study(tables_for(runs), approaches, isoflop_nominal=nominal, law=law)
    if not study.results:
        reasons = "; ".join(f"{registry.get(k).name}: {r}" for k, r in study.skipped.items())
        return cli_common.fail(f"no approach could be fitted: {reasons}")
    report_study(study, out)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    config = cli_common.read_config(args.config)
    demo = config.get("demo", {})
    started = time.perf_counter()
    seed = args.seed if args.seed is not None else demo.get("seed", 0)
    tables = demo_tables(seed=seed, noise=demo.get("noise", 0.01))
    out = cli_common.output_dir(args, config, "scalinglaw-demo", tables)
    true_a = float(laws.CHINCHILLA.frontier(laws.CHINCHILLA.from_params(laws.PAPER_PARAMS)).a)
    print(
        f"Simulated a Chinchilla-shaped study from the paper's Approach-3 law (a = {true_a:.4f}):"
        f" {len(tables['1'])} curve points, {len(tables['2'])} IsoFLOP runs, "
        f"{len(tables['3'])} final losses"
    )
    study = fit_study(tables, isoflop_nominal=None)
    report_study(study, out)
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0


def run_laws(args: argparse.Namespace) -> int:
    """Print every registered law: formula, parameters with their boxes, columns, source."""
    from scalinglaw_jax.lawbook import LAWS

    print("\n\n".join(law.describe() for law in LAWS.values()))
    print("\nA law of your own: --law path/to/file.py:NAME (see docs/laws.md)")
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
        "(faster on multi-core CPUs; default: JAX's single CPU device)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run all approaches on a built-in simulated study")
    cli_common.add_output_arguments(demo)
    demo.add_argument(
        "--seed", type=flag(SEED, int), default=None, help="PRNG seed of the simulation"
    )
    demo.add_argument("--config", type=Path, default=None, help="TOML config file")
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
    cli_common.add_law_argument(fit)
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
    if args.cpu_devices is not None:
        value = args.cpu_devices
        if value != "auto" and not (value.isdigit() and int(value) > 0):
            return cli_common.fail(
                f"--cpu-devices must be a positive integer or 'auto', got {value!r}"
            )
        try:
            use_cpu_devices(None if value == "auto" else int(value))
        except RuntimeError as error:
            return cli_common.fail(str(error))
    return run_command(
        lambda: args.func(args), debug=args.debug, resume_hint=RESUME_HINTS.get(args.command)
    )


if __name__ == "__main__":
    sys.exit(main())
