"""Pieces shared by every ``scalinglaw`` sub-command: data arguments, config, summary.json."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import jax

from scalinglaw_jax.config import flag, integer
from scalinglaw_jax.config import read_config as read_config
from scalinglaw_jax.core.data import Runs, load_runs
from scalinglaw_jax.core.datasets import load_runs_skipping_bad_rows
from scalinglaw_jax.core.errors import ConfigError, print_error
from scalinglaw_jax.core.io import to_jsonable
from scalinglaw_jax.core.law import Law
from scalinglaw_jax.figures import DEFAULT_FIGURE_FORMATS, FIGURE_FORMATS, figure_formats
from scalinglaw_jax.laws import DEFAULT_LAW, get_law
from scalinglaw_jax.report.outputs import (
    check_out_path,
    claim_output_dir,
    data_identity,
)

SUMMARY_FILE = "summary.json"


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``DATA`` plus the options that say how to read it."""
    parser.add_argument("data", help="CSV or Parquet table of runs")
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="CANONICAL=USER",
        help="map a canonical column (params, tokens, flops, loss, run, budget) to a column of "
        "the file, e.g. --column params='Model Size' (repeatable)",
    )
    parser.add_argument(
        "--drop-highest-loss",
        type=flag(integer(0), int),
        default=None,
        metavar="K",
        help="drop the K highest-loss rows (Epoch AI drop 5 on the Chinchilla data); reported",
    )
    parser.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="leave out rows with missing, non-numeric or non-positive values (each one is "
        "listed with its reasons) instead of stopping at the first table with bad cells",
    )
    add_output_arguments(parser)
    parser.add_argument("--config", type=Path, default=None, help="TOML config file")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--out``, ``--overwrite`` (an output folder belongs to one data set) and
    ``--figure-formats``."""
    parser.add_argument("--out", type=Path, default=None, help="output directory")
    parser.add_argument(
        "--figure-formats",
        type=flag(figure_formats),
        default=DEFAULT_FIGURE_FORMATS,
        metavar="LIST",
        help=f"comma-separated figure formats out of {','.join(FIGURE_FORMATS)} (default "
        f"{','.join(DEFAULT_FIGURE_FORMATS)}; report.html shows the SVGs; each format costs "
        "a draw of every figure)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results in --out even when they came from other data (the files "
        "this package wrote there are removed first)",
    )


def add_law_argument(parser: argparse.ArgumentParser) -> None:
    """``--law NAME`` or ``--law path/to/file.py:NAME`` (Approach 3)."""
    parser.add_argument(
        "--law",
        default=None,
        metavar="NAME|FILE.py:NAME",
        help="Approach 3's law: a registered name (scalinglaw laws list) or a Law defined in "
        f"your own file, path/to/file.py:NAME (default: config 'law', else {DEFAULT_LAW})",
    )


def law_from_args(args: argparse.Namespace, config: dict) -> Law:
    """The law named by ``--law`` or config ``law``; ``LawError`` (a ``DataError``) if bad."""
    return get_law(args.law or config.get("law", DEFAULT_LAW))


def parse_column_mapping(pairs: list[str]) -> dict[str, str]:
    """``["params=Model Size", ...]`` -> ``{"params": "Model Size"}``."""
    mapping = {}
    for pair in pairs:
        canonical, sep, user = pair.partition("=")
        if not sep or not canonical.strip() or not user.strip():
            raise ConfigError(f"--column expects CANONICAL=USER, got {pair!r}")
        mapping[canonical.strip()] = user.strip()
    return mapping


def runs_from_args(args: argparse.Namespace, config: dict) -> Runs:
    """Load the table named on the command line, with config ``[data]`` as defaults."""
    data_config = dict(config.get("data", {}))
    columns = dict(data_config.get("columns", {}))
    columns.update(parse_column_mapping(args.column))
    drop = args.drop_highest_loss
    if drop is None:
        drop = int(data_config.get("drop_highest_loss", 0))
    loader = load_runs_skipping_bad_rows if args.skip_bad_rows else load_runs
    runs = loader(args.data, columns=columns or None, drop_highest_loss=drop)
    print(runs.summary())
    return runs


def output_dir(
    args: argparse.Namespace, config: dict, default: str, tables: Runs | dict | None = None
) -> Path:
    """The ``--out`` directory (config ``out`` or ``default`` otherwise), created.

    With ``tables`` (the data the command fits) the folder is bound to that data and the
    command's settings are recorded (``outputs.claim_output_dir``); a folder holding results
    of other data is refused unless ``--overwrite``.
    """
    out = args.out or Path(config.get("out", default))
    if tables is None or jax.process_index() != 0:  # multi-host: process 0 writes summaries
        return check_out_path(out)
    settings = {k: v for k, v in vars(args).items() if k != "func"}
    settings["config_values"] = config
    command = getattr(args, "command", None) or args.func.__name__.removeprefix("run_")
    return claim_output_dir(
        out,
        data_identity(tables),
        command,
        settings,
        overwrite=getattr(args, "overwrite", False),
    )


def update_summary(out_dir: Path, section: str, key: str, content: dict) -> Path:
    """Merge ``content`` into ``out_dir/summary.json`` under ``[section][key]`` atomically."""
    path = Path(out_dir) / SUMMARY_FILE
    summary = json.loads(path.read_text()) if path.is_file() else {}
    summary.setdefault(section, {})[key] = to_jsonable(content)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False))
    os.replace(tmp, path)
    return path


def fail(message: str) -> int:
    """Print a user-facing error and return the CLI's error exit code (2)."""
    return print_error(message)


EXHAUSTIVE_HELP = (
    "Approach 3: solve every start of the grid to convergence instead of screening all and "
    "finishing the most promising (slower; the optimum is the same on well-posed tables)"
)


def add_exhaustive_argument(parser: argparse.ArgumentParser) -> None:
    """``--exhaustive``: Approach 3 without multi-start screening."""
    parser.add_argument("--exhaustive", action="store_true", help=EXHAUSTIVE_HELP)
