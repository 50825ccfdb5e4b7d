"""``scalinglaw backtest``: fit each law on the smaller runs, predict the largest, score the
error and the coverage of the predictive intervals."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.cli.heldout import HeldOut, check, split_of
from scalinglaw_jax.cli.inputs import load_table, out_option
from scalinglaw_jax.cli.options import switch
from scalinglaw_jax.cli.template import Command, Outcome
from scalinglaw_jax.core.data import DataError


@dataclass(frozen=True)
class Options(HeldOut):
    """``scalinglaw backtest``.

    rolling: repeat at one cutoff per half-decade of FLOPs; error against extrapolation
        distance
    """

    out: object = out_option("scalinglaw-backtest")
    rolling: bool = switch("--rolling")


def isoflop_sections(runs, split, options, report) -> list:
    """Approach 2's backtest where the table has IsoFLOP budgets (else a warning)."""
    from scalinglaw_jax.evaluate import backtest

    try:
        isoflop = backtest.backtest_isoflop(
            runs, split, n_resamples=options.resamples, seed=options.seed
        )
    except DataError as error:
        print(f"Approach 2 backtest skipped: {error}")
        report.warn(f"Approach 2 backtest skipped: {error}", echo=False)
        return []
    vertices = "\n".join(
        f"Approach 2 at {entry['budget_flops']:.3g} FLOPs: predicted N_opt "
        f"{entry['predicted_n_opt']:.3g}, the budget's own vertex "
        f"{entry['vertex_n_opt'] or float('nan'):.3g}"
        for entry in isoflop["held_out"]
    )
    if vertices:
        report.table("Approach 2 backtest", vertices)
    return [("backtest_isoflop", "2", isoflop)]


def run(inputs, report):
    from scalinglaw_jax.evaluate import backtest

    options, runs = inputs.options, inputs.tables
    split = split_of(options, runs)
    draws = {"n_resamples": options.resamples, "seed": options.seed}
    results = [backtest.backtest_law(runs, law, split, **draws) for law in options.law]
    rolling = {}
    if options.rolling:
        rolling = {law.name: backtest.rolling_backtest(runs, law, **draws) for law in options.law}
    sections = []
    for result in results:
        report.table(f"Backtest of {result.law}", result.report(), echo=False)
        print(result.report())
        sections.append(("backtest", result.law, result.to_dict()))
    sections += isoflop_sections(runs, split, options, report)
    sections += [
        ("backtest_rolling", name, backtest.rolling_summary(series))
        for name, series in rolling.items()
    ]

    def figures(out, formats):
        from scalinglaw_jax.figures import plots  # matplotlib: once there is something to draw

        written = plots.save_figure(plots.plot_backtest(results), out, "backtest", formats)
        if rolling:
            figure = plots.plot_extrapolation_error(rolling)
            written += plots.save_figure(figure, out, "extrapolation_error", formats)
        return written

    return Outcome(sections=tuple(sections), figures=figures)


HELP = "fit on the smaller runs, predict the largest: error and interval coverage per law"
DESCRIPTION = (
    "Writes summary.json (backtest[LAW], backtest_isoflop), backtest.svg and, "
    "with --rolling, extrapolation_error.svg (--figure-formats)."
)
COMMAND = Command("backtest", HELP, Options, run, DESCRIPTION, data=load_table, check=check)
