"""Every sub-command, in the order ``scalinglaw --help`` lists them. A new command is one
module with a ``COMMAND`` record (``template.Command``), added here."""

from __future__ import annotations

from scalinglaw_jax.cli import (
    backtest,
    bootstrap,
    calibrate,
    compare,
    datasets,
    demo,
    fit,
    laws,
    replicate,
    sample,
)

COMMANDS = tuple(
    module.COMMAND
    for module in (
        demo,
        fit,
        laws,
        bootstrap,
        sample,
        calibrate,
        datasets,
        replicate,
        backtest,
        compare,
    )
)
BY_NAME = {command.name: command for command in COMMANDS}
