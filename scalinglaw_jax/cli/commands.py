"""Every sub-command, in the order ``scalinglaw --help`` lists them. A new command is one
module with a ``COMMAND`` record (``template.Command``), added here."""

from __future__ import annotations

from scalinglaw_jax.cli.backtest import COMMAND as BACKTEST
from scalinglaw_jax.cli.bootstrap import COMMAND as BOOTSTRAP
from scalinglaw_jax.cli.calibrate import COMMAND as CALIBRATE
from scalinglaw_jax.cli.compare import COMMAND as COMPARE
from scalinglaw_jax.cli.datasets import COMMAND as DATASETS
from scalinglaw_jax.cli.demo import COMMAND as DEMO
from scalinglaw_jax.cli.fit import COMMAND as FIT
from scalinglaw_jax.cli.laws import COMMAND as LAWS
from scalinglaw_jax.cli.replicate import COMMAND as REPLICATE
from scalinglaw_jax.cli.sample import COMMAND as SAMPLE

COMMANDS = (DEMO, FIT, LAWS, BOOTSTRAP, SAMPLE, CALIBRATE, DATASETS, REPLICATE, BACKTEST, COMPARE)
BY_NAME = {command.name: command for command in COMMANDS}
