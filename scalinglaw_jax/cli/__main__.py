"""``python -m scalinglaw_jax.cli``: the ``scalinglaw`` command."""

from scalinglaw_jax.cli import run

run()
