"""``scalinglaw sample`` (posterior by NUTS) and ``scalinglaw calibrate`` (coverage study)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import jax

from scalinglaw_jax import cli_common
from scalinglaw_jax.approaches import parametric_spec, registry
from scalinglaw_jax.config import LIKELIHOODS, SEED, flag, integer, learning_rate_flag, number
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.laws.closed_forms import CHINCHILLA_ISOFLOP_BUDGETS
from scalinglaw_jax.report.outputs import check_out_path
from scalinglaw_jax.report.page import REPORT_FILE, Report, settings_of
from scalinglaw_jax.uncertainty import resample
from scalinglaw_jax.uncertainty.bands import band_to_dict, posterior_band

if TYPE_CHECKING:
    from scalinglaw_jax.uncertainty import bayes

POSITIVE = flag(integer(1), int)


def _nuts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chains", type=POSITIVE, default=None, help="NUTS chains (default 4)")
    parser.add_argument(
        "--draws", type=POSITIVE, default=None, help="draws per chain (default 1000)"
    )
    parser.add_argument("--warmup", type=POSITIVE, default=None, help="warmup steps (default 500)")
    parser.add_argument("--seed", type=flag(SEED, int), default=None, help="PRNG seed (default 0)")
    parser.add_argument(
        "--likelihood",
        choices=LIKELIHOODS,
        default=None,
        help="robust likelihood on residuals (default huber)",
    )


def register(subparsers) -> None:
    """Add the ``sample`` and ``calibrate`` sub-commands."""
    sample = subparsers.add_parser(
        "sample",
        help="posterior of an approach by NUTS (Approach 1: Bayesian bootstrap)",
        description="Posterior draws, credible bands and diagnostics; writes DIR/summary.json "
        "(posterior[approach]) and DIR/posterior_approach{N}.nc. Config: [posterior] with "
        "chains, draws, warmup, seed, likelihood, huber_k, student_df, target_accept, "
        "e_below_min_loss, learning_rate, init_starts, nominal_budgets and a [posterior.priors] "
        "table.",
    )
    cli_common.add_data_arguments(sample)
    cli_common.add_law_argument(sample)
    sample.add_argument("--approach", choices=registry.KEYS, default="3")
    _nuts_arguments(sample)
    sample.add_argument(
        "--nominal-budgets",
        choices=("chinchilla", "none"),
        default=None,
        help="Approach 2: match rows to Chinchilla's nine budgets, or cluster FLOPs by gaps "
        "(default: the budget column if any, else gaps)",
    )
    sample.add_argument(
        "--e-below-min-loss", action="store_true", default=None, help="Approach 3: E < min(loss)"
    )
    sample.add_argument(
        "--learning-rate",
        type=learning_rate_flag,
        default=None,
        help="Approach 3: likelihood power eta, or 'sandwich' (default): eta calibrated by a "
        "pilot run so that the (alpha, beta) covariance matches the sandwich covariance; 1 "
        "gives the plain likelihood",
    )
    sample.add_argument("--no-progress", action="store_true", help="no progress bar")
    sample.set_defaults(func=run_sample)

    calibrate = subparsers.add_parser(
        "calibrate",
        help="coverage of bootstrap and posterior intervals on simulated studies",
        description="Simulate K studies from a known law, fit each with the default bootstrap "
        "and posterior of each approach (what `scalinglaw bootstrap` and `scalinglaw sample` "
        "run when no option is set), and report how often nominal 50/80/90/95%% intervals for "
        "a and b cover the truth (with binomial Monte-Carlo standard errors). --scheme and "
        "--learning-rate add other settings beside the defaults, labelled.",
    )
    calibrate.add_argument(
        "--studies", type=flag(integer(1), int), default=20, help="studies per approach"
    )
    cli_common.add_law_argument(calibrate)
    calibrate.add_argument(
        "--approach",
        action="append",
        choices=registry.KEYS,
        default=None,
        help="repeat for several (default: all three)",
    )
    calibrate.add_argument(
        "--noise",
        type=flag(number(0.0, 1.0, open_low=True), float),
        default=0.01,
        help="log-normal loss noise",
    )
    calibrate.add_argument("--points-per-budget", type=flag(integer(3), int), default=9)
    calibrate.add_argument(
        "--span-dex", type=flag(number(0.0, 6.0, open_low=True), float), default=1.2
    )
    calibrate.add_argument(
        "--resamples", type=flag(integer(2), int), default=200, help="bootstrap resamples"
    )
    calibrate.add_argument("--chains", type=POSITIVE, default=4)
    calibrate.add_argument("--draws", type=POSITIVE, default=500)
    calibrate.add_argument("--warmup", type=POSITIVE, default=500)
    calibrate.add_argument("--seed", type=flag(SEED, int), default=0)
    calibrate.add_argument(
        "--scheme",
        action="append",
        choices=resample.SCHEMES,
        default=None,
        help="also measure this bootstrap scheme beside each approach's default (repeatable)",
    )
    calibrate.add_argument(
        "--learning-rate",
        action="append",
        type=learning_rate_flag,
        default=None,
        help="also measure Approach 3's posterior with this likelihood power eta (a number, "
        "e.g. 1 for the plain likelihood) beside the default, "
        f"{parametric_spec.POSTERIOR_DEFAULTS['learning_rate']!r} (repeatable)",
    )
    calibrate.add_argument("--out", type=Path, default=Path("calibration"), help="output folder")
    calibrate.add_argument("--no-progress", action="store_true", help="no progress bar")
    calibrate.set_defaults(func=run_calibrate)


def _learning_rate(value) -> float | str:
    """``"sandwich"`` or a positive number (from the CLI or config)."""
    return value if value == "sandwich" else float(value)


def _pick(cli_value, config: dict, name: str, default):
    return cli_value if cli_value is not None else config.get(name, default)


def _settings(args, config: dict, progress: bool) -> bayes.NutsSettings:
    from scalinglaw_jax.uncertainty import bayes

    defaults = bayes.NutsSettings()
    return bayes.NutsSettings(
        chains=int(_pick(args.chains, config, "chains", defaults.chains)),
        draws=int(_pick(args.draws, config, "draws", defaults.draws)),
        warmup=int(_pick(args.warmup, config, "warmup", defaults.warmup)),
        target_accept=float(config.get("target_accept", defaults.target_accept)),
        progress_bar=progress,
    )


def run_sample(args: argparse.Namespace) -> int:
    """Sample one approach's posterior, print diagnostics and ``az.summary``, write outputs."""
    from scalinglaw_jax import bayes  # numpyro and arviz: imported by the commands that sample

    config = cli_common.read_config(args.config)
    post_config = dict(config.get("posterior", {}))
    law = cli_common.law_from_args(args, config)  # a bad --law is refused before the data
    runs = cli_common.runs_from_args(args, config)
    out = cli_common.output_dir(args, config, "posterior", runs)
    seed = int(_pick(args.seed, post_config, "seed", 0))
    key = jax.random.key(seed)
    settings = _settings(args, post_config, progress=not args.no_progress)
    kind = _pick(args.likelihood, post_config, "likelihood", "huber")
    nominal = _pick(args.nominal_budgets, post_config, "nominal_budgets", "none")
    common = dict(
        key=key,
        settings=settings,
        likelihood_kind=kind,
        huber_k=float(post_config.get("huber_k", bayes.DEFAULT_HUBER_K)),
        student_df=float(post_config.get("student_df", bayes.DEFAULT_STUDENT_DF)),
        priors=post_config.get("priors"),
    )
    posterior = registry.get(args.approach).posterior(
        runs,
        law=law,
        init_starts=post_config.get("init_starts", 64),
        e_below_min_loss=bool(_pick(args.e_below_min_loss, post_config, "e_below_min_loss", False)),
        learning_rate=_learning_rate(
            _pick(
                args.learning_rate,
                post_config,
                "learning_rate",
                parametric_spec.POSTERIOR_DEFAULTS["learning_rate"],
            )
        ),
        nominal=CHINCHILLA_ISOFLOP_BUDGETS if nominal == "chinchilla" else None,
        **common,
    )
    approach = str(args.approach)
    netcdf = out / f"posterior_approach{approach}.nc"
    posterior.save(netcdf)
    band = posterior_band(posterior)
    content = posterior.to_dict()
    content["band"] = band_to_dict(band)
    content["netcdf"] = str(netcdf)
    cli_common.update_summary(out, "posterior", approach, content)
    report = Report("scalinglaw sample", settings_of(args), runs.summary())
    report.table(f"Approach {approach} posterior", posterior.report())
    diag = posterior.diagnostics
    if not diag.ok:
        report.warn(
            f"the Approach {approach} posterior failed its checks: "
            + "; ".join(diag.reasons)
            + ". Do not trust these intervals; run longer (--warmup, --draws) or change priors."
        )
        report.warn(band.note)
    from scalinglaw_jax.figures.study import banded_lines, write_frontier_figures

    lines = banded_lines({approach: posterior.frontier()}, {approach: band})
    written = write_frontier_figures(lines, out, runs=runs, formats=args.figure_formats)
    report.write(out, written)
    print(f"wrote {netcdf}, {out / 'summary.json'}, the figures and {out / REPORT_FILE}")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """Run the coverage study and write ``DIR/calibration.json`` and a printed table."""
    from scalinglaw_jax.uncertainty import bayes, calibrate

    try:
        law = cli_common.law_from_args(args, {})
    except DataError as error:
        return cli_common.fail(str(error))
    approaches = tuple(args.approach or registry.KEYS)
    learning_rates = tuple(_learning_rate(rate) for rate in args.learning_rate or ())
    try:
        for approach in approaches:  # refused schemes are errors before any study runs
            calibrate.methods(approach, schemes=args.scheme or ())
    except DataError as error:
        return cli_common.fail(f"--scheme: {error}")
    if learning_rates and not any(calibrate.takes_learning_rate(a) for a in approaches):
        return cli_common.fail(
            "--learning-rate applies to Approach 3's posterior: add --approach 3"
        )
    out = check_out_path(args.out)
    result = calibrate.run_calibration(
        jax.random.key(args.seed),
        approaches=approaches,
        n_studies=args.studies,
        noise=args.noise,
        points_per_budget=args.points_per_budget,
        span_dex=args.span_dex,
        n_resamples=args.resamples,
        settings=bayes.NutsSettings(
            chains=args.chains, draws=args.draws, warmup=args.warmup, progress_bar=False
        ),
        schemes=tuple(args.scheme or ()),
        learning_rates=learning_rates,
        progress=not args.no_progress,
        parametric_law=law,
    )
    path = result.save(out / "calibration.json")
    report = Report("scalinglaw calibrate", settings_of(args))
    report.table("Coverage of nominal intervals", result.report())
    report.write(out)
    print(f"wrote {path} and {out / REPORT_FILE}")
    return 0
