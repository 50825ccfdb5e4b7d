"""``scalinglaw datasets list``: the registered public datasets."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.cli.options import option
from scalinglaw_jax.cli.template import Command


@dataclass(frozen=True)
class Options:
    """action: 'list' shows every dataset"""

    action: str = option(None, "action", choices=("list",))


def run(inputs, report):
    from scalinglaw_jax.core.datasets import DATA_DIR_ENV, list_datasets

    for dataset in list_datasets():
        print(dataset.describe())
    print(
        f"\nlocal copies: set {DATA_DIR_ENV} to a directory holding the files (checksums are "
        "still verified); otherwise files are downloaded into the user cache"
    )


HELP = "registered public datasets"
COMMAND = Command("datasets", HELP, Options, run, out=None)
