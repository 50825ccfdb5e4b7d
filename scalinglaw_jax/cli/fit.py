"""``scalinglaw fit``: fit the approaches a table supports (and optionally bootstrap them)."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.cli.inputs import OneLaw, Output, Table, load_table, out_option
from scalinglaw_jax.cli.options import (
    GAPS,
    at_least,
    nominal_budgets,
    option,
    parse_int,
    pick,
    switch,
)
from scalinglaw_jax.cli.study import band_sections, print_study, study_outcome
from scalinglaw_jax.cli.template import Command
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.evaluate.workflow import fit_study, tables_for

APPROACHES = (*registry.KEYS, "all")


@dataclass(frozen=True)
class Options(Table, Output, OneLaw):
    """``scalinglaw fit``.

    approach: the approach to fit, or all that the table supports
    isoflop_nominal: 'chinchilla' or comma-separated nominal IsoFLOP budgets to cluster rows
        around
    bootstrap: also bootstrap every fitted approach with N resamples and draw the bands
        (nonparametric over runs; Approach 1: whole curves; Approach 3: fast mode)
    exhaustive: Approach 3: solve every start of the grid to convergence instead of screening
        all and finishing the most promising (slower; the same optimum on well-posed tables)
    """

    out: object = out_option("scalinglaw-out")
    approach: str = pick("all", "--approach", APPROACHES, config="approach")
    isoflop_nominal: object = option(
        None, "--isoflop-nominal", check=nominal_budgets, config="isoflop.nominal", unset=GAPS
    )
    bootstrap: int | None = option(
        None, "--bootstrap", parse=parse_int, check=at_least(2, "resamples"), unset="none"
    )
    exhaustive: bool = switch("--exhaustive")


def nominal(value):
    """``"chinchilla"`` -> the paper's nine budgets; a list of numbers as given; None: cluster."""
    from scalinglaw_jax.laws import closed_forms

    if value in (None, "", "none"):
        return None
    if value == "chinchilla":
        return closed_forms.CHINCHILLA_ISOFLOP_BUDGETS
    if isinstance(value, str):
        return tuple(float(v) for v in value.split(","))
    return tuple(float(v) for v in value)


def run(inputs, report):
    from scalinglaw_jax.approaches.spec import ApproachOptions
    from scalinglaw_jax.core.solvers import DEFAULT_SCREENING
    from scalinglaw_jax.evaluate.workflow import bootstrap_study

    options = inputs.options
    approach_options = ApproachOptions(
        law=options.law,
        nominal=nominal(options.isoflop_nominal),
        screening=None if options.exhaustive else DEFAULT_SCREENING,
    )
    study = fit_study(
        tables_for(inputs.tables), registry.selected(options.approach), approach_options
    )
    if not study.results:
        reasons = "; ".join(f"{registry.get(k).name}: {r}" for k, r in study.skipped.items())
        raise DataError(f"no approach could be fitted: {reasons}")
    print_study(study, report)
    if options.bootstrap is None:
        return study_outcome(study, report)
    results, bands = bootstrap_study(
        study,
        options.bootstrap,
        seed=0,
        k_starts=8,
        isoflop_nominal=nominal(options.isoflop_nominal),
    )
    return study_outcome(study, report, bands, band_sections("bootstrap", results, bands, report))


HELP = "fit the approaches a table supports"
COMMAND = Command("fit", HELP, Options, run, data=load_table)
