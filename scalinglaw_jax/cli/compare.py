"""``scalinglaw compare``: one table over laws (objective, PSIS-LOO, backtest error and
coverage, exponent a), ranked."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.cli.heldout import HeldOut, check, split_of
from scalinglaw_jax.cli.inputs import load_table, out_option
from scalinglaw_jax.cli.options import whole
from scalinglaw_jax.cli.template import Command, Outcome

META = ("ranking", "ranking_rule", "rankings_agree", "cutoff_flops")


@dataclass(frozen=True)
class Options(HeldOut):
    """``scalinglaw compare``.

    chains: NUTS chains (PSIS-LOO)
    draws: NUTS draws per chain
    warmup: NUTS warmup steps
    """

    out: object = out_option("scalinglaw-compare")
    chains: int = whole(4, "--chains", 1)
    draws: int = whole(500, "--draws", 1)
    warmup: int = whole(500, "--warmup", 0)


def run(inputs, report):
    from scalinglaw_jax.evaluate import backtest
    from scalinglaw_jax.uncertainty.posterior import NutsSettings

    options, runs = inputs.options, inputs.tables
    settings = NutsSettings(
        chains=options.chains, draws=options.draws, warmup=options.warmup, progress_bar=False
    )
    comparison = backtest.compare_laws(
        runs,
        list(options.law),
        split_of(options, runs),
        n_resamples=options.resamples,
        nuts_settings=settings,
        seed=options.seed,
    )
    report.table("Laws compared", backtest.comparison_table(comparison))
    sections = []
    for name, entry in comparison["laws"].items():
        sections.append(("comparison", name, entry))
        for flag in entry["flags"]:  # printed in the table above, in the same words
            report.warn(f"{name}: {flag}", echo=False)
    sections.append(("comparison_meta", "ranking", {key: comparison[key] for key in META}))
    tested = list(comparison["backtests"].values())

    def figures(out, formats):
        from scalinglaw_jax.figures import plots  # matplotlib: once there is something to draw

        return plots.save_figure(plots.plot_backtest(tested), out, "backtest", formats)

    return Outcome(sections=tuple(sections), figures=figures)


HELP = "one table over laws: objective, PSIS-LOO, backtest error and coverage, exponent a"
DESCRIPTION = "Writes summary.json (comparison) and report.html."
COMMAND = Command("compare", HELP, Options, run, DESCRIPTION, data=load_table, check=check)
