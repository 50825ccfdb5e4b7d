"""``scalinglaw laws list``: every registered law with formula, parameters, columns, source."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.cli.options import option
from scalinglaw_jax.cli.template import Command


@dataclass(frozen=True)
class Options:
    """action: list: formula, parameters, source"""

    action: str = option(None, "action", choices=("list",))


def run(inputs, report):
    from scalinglaw_jax.laws import LAWS

    print("\n\n".join(law.describe() for law in LAWS.values()))
    print("\nA law of your own: --law path/to/file.py:NAME (see docs/laws.md)")


HELP = "the registered laws of Approach 3"
COMMAND = Command("laws", HELP, Options, run, out=None)
