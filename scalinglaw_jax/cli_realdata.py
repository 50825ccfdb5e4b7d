"""``scalinglaw datasets list`` and ``scalinglaw replicate chinchilla``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scalinglaw_jax.cli_common import fail
from scalinglaw_jax.config import SEED, flag, integer
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.report.page import REPORT_FILE, Report, settings_of


def run_datasets(args: argparse.Namespace) -> int:
    from scalinglaw_jax.core.datasets import DATA_DIR_ENV, list_datasets

    for dataset in list_datasets():
        print(dataset.describe())
    print(
        f"\nlocal copies: set {DATA_DIR_ENV} to a directory holding the files (checksums are "
        "still verified); otherwise files are downloaded into the user cache"
    )
    return 0


def run_replicate(args: argparse.Namespace) -> int:
    from scalinglaw_jax.evaluate.replicate import replicate_chinchilla, save_report
    from scalinglaw_jax.figures.study import write_replication_figures

    try:
        report, fits = replicate_chinchilla(
            args.data_dir,
            resamples=args.resamples,
            draws=args.draws,
            chains=args.chains,
            seed=args.seed,
        )
    except DataError as error:
        return fail(str(error))
    page = Report("scalinglaw replicate chinchilla", settings_of(args), fits["runs"].summary())
    page.table("Replication of Hoffmann et al. (2022) on Epoch AI's data", report.report())
    written = save_report(report, args.out) + write_replication_figures(fits, args.out)
    page.write(args.out, written)
    print(f"wrote {len(written)} files and {REPORT_FILE} in {args.out}")
    return 0


def register(subparsers) -> None:
    """Add the ``datasets`` and ``replicate`` sub-commands to the ``scalinglaw`` parser."""
    datasets = subparsers.add_parser("datasets", help="registered public datasets")
    datasets.add_argument("action", choices=("list",), help="'list' shows every dataset")
    datasets.set_defaults(func=run_datasets)

    replicate = subparsers.add_parser(
        "replicate", help="replicate a published study on its public data"
    )
    replicate.add_argument("study", choices=("chinchilla",))
    replicate.add_argument(
        "--resamples", type=flag(integer(2), int), default=400, help="bootstrap resamples"
    )
    replicate.add_argument(
        "--draws",
        type=flag(integer(0), int),
        default=500,
        help="NUTS draws (and warmup) per chain; 0 skips",
    )
    replicate.add_argument("--chains", type=flag(integer(1), int), default=2, help="NUTS chains")
    replicate.add_argument("--seed", type=flag(SEED, int), default=0)
    replicate.add_argument(
        "--data-dir",
        default=None,
        help="directory holding the data file (else $SCALINGLAW_DATA_DIR, else download)",
    )
    replicate.add_argument("--out", type=Path, default=Path("replication"), help="output directory")
    replicate.set_defaults(func=run_replicate)
