"""Option records several commands share (the config file, the table, the output folder, the
law) and the one way a table is read. A command's own record inherits the groups it takes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scalinglaw_jax.cli.options import (
    columns_table,
    figure_formats,
    learning_rate,
    option,
    out_path,
    parse_sandwich_or_number,
    switch,
    text,
    whole,
)
from scalinglaw_jax.figures import DEFAULT_FIGURE_FORMATS
from scalinglaw_jax.laws import DEFAULT_LAW, get_law


def column_pair(value) -> tuple[str, str]:
    """``"params=Model Size"`` -> ``("params", "Model Size")``."""
    canonical, sep, user = str(value).partition("=")
    if not sep or not canonical.strip() or not user.strip():
        raise ValueError(f"expects CANONICAL=USER, got {value!r}")
    return canonical.strip(), user.strip()


@dataclass(frozen=True)
class ConfigFile:
    """config: TOML config file; flags win over its values, its values over the defaults"""

    config: Path | None = option(None, "--config", parse=Path, unset="none")


@dataclass(frozen=True)
class Table(ConfigFile):
    """The table of runs and how to read it.

    data: CSV or Parquet table of runs
    column: map a canonical column (params, tokens, flops, loss, run, budget, unique_tokens)
        to a column of the file, e.g. --column params='Model Size' (repeatable; on top of
        config [data.columns])
    drop_highest_loss: drop the K highest-loss rows (Epoch AI drop 5 on the Chinchilla
        data); reported
    skip_bad_rows: leave out rows with missing, non-numeric or non-positive values (each one
        is listed with its reasons) instead of stopping at the first table with bad cells
    """

    data: str | None = option(None, "data")
    column: tuple = option(
        (), "--column", kind="list", check=column_pair, metavar="CANONICAL=USER", unset="none"
    )
    columns: dict | None = option(
        None, config="data.columns", check=columns_table, unset="the table's own names"
    )
    drop_highest_loss: int = whole(0, "--drop-highest-loss", 0, config="data.drop_highest_loss")
    skip_bad_rows: bool = switch("--skip-bad-rows")


@dataclass(frozen=True)
class Output:
    """Where results go. A command redeclares ``out`` with its own default folder.

    out: output directory (config 'out')
    figure_formats: comma-separated figure formats out of png, svg, pdf (report.html shows
        the SVGs; each format costs a draw of every figure)
    overwrite: replace the results in --out even when they came from other data (the files
        this package wrote there are removed first)
    """

    out: Path = option(Path("scalinglaw-out"), "--out", parse=Path, config="out", check=out_path)
    figure_formats: tuple = option(
        DEFAULT_FIGURE_FORMATS, "--figure-formats", check=figure_formats, metavar="LIST"
    )
    overwrite: bool = switch("--overwrite")


@dataclass(frozen=True)
class OneLaw:
    """law: Approach 3's law, a registered name (scalinglaw laws list) or a Law in your own
    file, path/to/file.py:NAME (config 'law')
    """

    law: object = option(
        DEFAULT_LAW, "--law", check=text, config="law", resolve=get_law, metavar="NAME|FILE.py:NAME"
    )


def eta(default, **spec):
    """``--learning-rate``: a likelihood power (a number > 0) or ``sandwich``."""
    return option(
        default, "--learning-rate", parse=parse_sandwich_or_number, check=learning_rate, **spec
    )


def load_table(options: Table):
    """The table named by ``options.data`` read with its column map, drops and bad-row rule:
    (``Runs``, its printed summary)."""
    from scalinglaw_jax.core.data import load_runs
    from scalinglaw_jax.core.datasets import load_runs_skipping_bad_rows

    columns = dict(options.columns or {})
    columns.update(dict(options.column))
    loader = load_runs_skipping_bad_rows if options.skip_bad_rows else load_runs
    runs = loader(
        options.data, columns=columns or None, drop_highest_loss=options.drop_highest_loss
    )
    return runs, runs.summary()


def out_option(default: str):
    """``--out`` with ``default`` as the folder (config ``out``)."""
    return option(Path(default), "--out", parse=Path, config="out", check=out_path)
