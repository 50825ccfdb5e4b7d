"""``scalinglaw backtest`` (hold out the largest runs, score the predictions) and
``scalinglaw compare`` (one table over laws)."""

from __future__ import annotations

import argparse

from scalinglaw_jax.cli_common import (
    add_data_arguments,
    fail,
    output_dir,
    read_config,
    runs_from_args,
    update_summary,
)
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.evaluate import backtest
from scalinglaw_jax.laws import DEFAULT_LAW
from scalinglaw_jax.report.page import REPORT_FILE, Report, settings_of


def _split_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument(
        "--law",
        action="append",
        default=None,
        metavar="NAME|FILE.py:NAME",
        help=f"a law to test (repeatable; default: {DEFAULT_LAW})",
    )
    cutoff = parser.add_mutually_exclusive_group()
    cutoff.add_argument(
        "--holdout-fraction",
        type=float,
        default=None,
        help="hold out the largest-FLOPs fraction F of runs (default 0.2)",
    )
    cutoff.add_argument(
        "--cutoff-flops", type=float, default=None, help="hold out every run with >= C FLOPs"
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=backtest.DEFAULT_RESAMPLES,
        help="bootstrap refits behind the predictive intervals",
    )
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed")


def register(subparsers) -> None:
    """Add the ``backtest`` and ``compare`` sub-commands."""
    tester = subparsers.add_parser(
        "backtest",
        help="fit on the smaller runs, predict the largest: error and interval coverage per law",
        description="Writes summary.json (backtest[LAW], backtest_isoflop), backtest.svg "
        "and, with --rolling, extrapolation_error.svg (--figure-formats).",
    )
    _split_arguments(tester)
    tester.add_argument(
        "--rolling",
        action="store_true",
        help="repeat at one cutoff per half-decade of FLOPs; error against extrapolation distance",
    )
    tester.set_defaults(func=run_backtest)
    comparer = subparsers.add_parser(
        "compare",
        help="one table over laws: objective, PSIS-LOO, backtest error and coverage, exponent a",
        description="Writes summary.json (comparison; each law's 'flags' say what failed), "
        "backtest.svg (held-out runs per law, --figure-formats) and report.html.",
    )
    _split_arguments(comparer)
    comparer.add_argument("--chains", type=int, default=4, help="NUTS chains (PSIS-LOO)")
    comparer.add_argument("--draws", type=int, default=500, help="NUTS draws per chain")
    comparer.add_argument("--warmup", type=int, default=500, help="NUTS warmup steps")
    comparer.set_defaults(func=run_compare)


def _checked(args: argparse.Namespace) -> str | None:
    """The first problem with the flags, before any data is read."""
    if args.resamples < 2:
        return f"--resamples must be at least 2, got {args.resamples}"
    if args.holdout_fraction is not None and not 0 < args.holdout_fraction < 1:
        return f"--holdout-fraction must lie in (0, 1), got {args.holdout_fraction}"
    if args.cutoff_flops is not None and not args.cutoff_flops > 0:
        return f"--cutoff-flops must be positive, got {args.cutoff_flops}"
    for name in ("chains", "draws", "warmup"):
        if getattr(args, name, 1) < (0 if name == "warmup" else 1):
            return f"--{name} must be positive, got {getattr(args, name)}"
    return None


def _prepare(args: argparse.Namespace):
    from scalinglaw_jax.laws import get_law

    problem = _checked(args)
    if problem:
        raise DataError(problem)
    laws = [get_law(spec) for spec in args.law or [DEFAULT_LAW]]
    config = read_config(args.config)
    runs = runs_from_args(args, config)
    split = backtest.split_by_flops(
        runs, holdout_fraction=args.holdout_fraction, cutoff_flops=args.cutoff_flops
    )
    return laws, runs, split, output_dir(args, config, f"scalinglaw-{args.command}", runs)


def run_backtest(args: argparse.Namespace) -> int:
    """Backtest each law (and Approach 2 where the table has IsoFLOP budgets); print, write."""
    try:
        laws, runs, split, out = _prepare(args)
        results = [
            backtest.backtest_law(runs, law, split, n_resamples=args.resamples, seed=args.seed)
            for law in laws
        ]
        rolling = (
            {
                law.name: backtest.rolling_backtest(
                    runs, law, n_resamples=args.resamples, seed=args.seed
                )
                for law in laws
            }
            if args.rolling
            else None
        )
    except DataError as error:
        return fail(str(error))
    report = Report("scalinglaw backtest", settings_of(args), runs.summary())
    for result in results:
        report.table(f"Backtest of {result.law}", result.report(), echo=False)
        print(result.report())
        update_summary(out, "backtest", result.law, result.to_dict())
    try:
        isoflop = backtest.backtest_isoflop(runs, split, n_resamples=args.resamples, seed=args.seed)
    except DataError as error:
        print(f"Approach 2 backtest skipped: {error}")
        report.warn(f"Approach 2 backtest skipped: {error}", echo=False)
    else:
        update_summary(out, "backtest_isoflop", "2", isoflop)
        vertices = "\n".join(
            f"Approach 2 at {entry['budget_flops']:.3g} FLOPs: predicted N_opt "
            f"{entry['predicted_n_opt']:.3g}, the budget's own vertex "
            f"{entry['vertex_n_opt'] or float('nan'):.3g}"
            for entry in isoflop["held_out"]
        )
        if vertices:
            report.table("Approach 2 backtest", vertices)
    from scalinglaw_jax import plots  # matplotlib: loaded once there is something to draw

    written = plots.save_figure(plots.plot_backtest(results), out, "backtest", args.figure_formats)
    if rolling is not None:
        for name, series in rolling.items():
            update_summary(out, "backtest_rolling", name, backtest.rolling_summary(series))
        written += plots.save_figure(
            plots.plot_extrapolation_error(rolling), out, "extrapolation_error", args.figure_formats
        )
    report.write(out, written)
    print(f"wrote {out / 'summary.json'}, {len(written)} figure files and {REPORT_FILE} in {out}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """Compare laws: print the table, write ``comparison`` to summary.json and the figures."""
    from scalinglaw_jax.uncertainty import bayes

    try:
        laws, runs, split, out = _prepare(args)
        settings = bayes.NutsSettings(
            chains=args.chains, draws=args.draws, warmup=args.warmup, progress_bar=False
        )
        comparison = backtest.compare_laws(
            runs, laws, split, n_resamples=args.resamples, nuts_settings=settings, seed=args.seed
        )
    except DataError as error:
        return fail(str(error))
    report = Report("scalinglaw compare", settings_of(args), runs.summary())
    report.table("Laws compared", backtest.comparison_table(comparison))
    for name, entry in comparison["laws"].items():
        update_summary(out, "comparison", name, entry)
        for flag in entry["flags"]:  # printed in the table above, in the same words
            report.warn(f"{name}: {flag}", echo=False)
    update_summary(
        out,
        "comparison_meta",
        "ranking",
        {
            key: comparison[key]
            for key in ("ranking", "ranking_rule", "rankings_agree", "cutoff_flops")
        },
    )
    from scalinglaw_jax.figures import plots

    figure = plots.plot_backtest(list(comparison["backtests"].values()))
    written = plots.save_figure(figure, out, "backtest", args.figure_formats)
    report.write(out, written)
    print(f"wrote {out / 'summary.json'}, {len(written)} figure files and {REPORT_FILE} in {out}")
    return 0
