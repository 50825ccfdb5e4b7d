"""What ``backtest`` and ``compare`` share: several laws, the held-out split, its checks."""

from __future__ import annotations

from dataclasses import dataclass

from scalinglaw_jax.cli.inputs import Output, Table
from scalinglaw_jax.cli.options import at_least, inside, option, parse_int, positive, real, text
from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.evaluate.backtest import DEFAULT_RESAMPLES
from scalinglaw_jax.laws import DEFAULT_LAW, get_law

FIFTH = "0.2 (the largest fifth of the runs by FLOPs)"


@dataclass(frozen=True)
class HeldOut(Table, Output):
    """The laws to test, where the split falls, and the bootstrap behind the intervals.

    law: a law to test (repeatable): a registered name or path/to/file.py:NAME
    holdout_fraction: hold out the largest-FLOPs fraction F of the runs
    cutoff_flops: hold out every run with at least C FLOPs
    resamples: bootstrap refits behind the predictive intervals
    seed: PRNG seed
    """

    law: tuple = option(
        (DEFAULT_LAW,),
        "--law",
        kind="list",
        check=text,
        resolve=get_law,
        metavar="NAME|FILE.py:NAME",
    )
    holdout_fraction: float | None = real(
        None, "--holdout-fraction", inside(0, 1), exclusive="cutoff", unset=FIFTH
    )
    cutoff_flops: float | None = real(
        None, "--cutoff-flops", positive, exclusive="cutoff", unset="from the holdout fraction"
    )
    resamples: int = option(DEFAULT_RESAMPLES, "--resamples", parse=parse_int, check=at_least(2))
    seed: int = option(0, "--seed", parse=parse_int, check=at_least(0))


def split_of(options, runs):
    """The train / held-out split the options say."""
    from scalinglaw_jax.evaluate import backtest

    return backtest.split_by_flops(
        runs, holdout_fraction=options.holdout_fraction, cutoff_flops=options.cutoff_flops
    )


def check(options, runs) -> None:
    """Each law named once, and the split holds runs out and leaves each law enough to fit."""
    from scalinglaw_jax.evaluate import backtest

    names = [law.name for law in options.law]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise DataError(f"law {twice[0]!r} is named twice (--law)")
    split = split_of(options, runs)
    for law in options.law:
        backtest.check_split(runs, split, law)
