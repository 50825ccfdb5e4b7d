"""Typed option records: how a command declares its options, and the value checks.

A command's options are one frozen dataclass whose fields are declared with ``option(...)``:
the default, the flags, the check, the config key and the help text sit on the field. The
template (``cli.template``) reads the fields to build the parser, resolves each value from the
command line, the config file or the default (recording which: a ``Setting``), checks it, and
hands the command an instance of the record: typed values, no ``**kwargs``.

The checks (``integer``, ``number``, ``choice``, ...) return the normalised value or raise
``ValueError`` with the reason; the same check serves a flag and a config key, so ``--draws 0``
and ``draws = 0`` get the same words.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from scalinglaw_jax.core.errors import nearest

Check = Callable[[object], object]
"""A value check: returns the (normalised) value or raises ``ValueError`` with the reason."""


@dataclass(frozen=True)
class Spec:
    """How one option is given. ``flags``: its command-line names (a name without dashes is a
    positional argument; none: config only); ``parse``: text -> value for the command line;
    ``check``: the value check (flag and config alike); ``config``: its key in the TOML file
    (``"table.key"``); ``kind``: ``"value"``, ``"switch"`` (a flag without value) or
    ``"list"`` (a repeatable flag); ``unset``: what a None value means, for people;
    ``exclusive``: options sharing this name may not be given together (the help text is
    the record's docstring line ``name: text``, see ``helps``); ``resolve``: the
    checked value -> what the command receives (a law's name -> its ``Law``), once, here."""

    flags: tuple[str, ...]
    parse: Callable | None = None
    check: Check | None = None
    choices: tuple | None = None
    config: str | None = None
    kind: str = "value"
    metavar: str | None = None
    unset: str | None = None
    exclusive: str | None = None
    resolve: Callable | None = None


def option(default=None, *flags: str, **spec):
    """A field of an options record: ``default`` and the ``Spec`` keywords (see ``Spec``)."""
    return field(default=default, metadata={"option": Spec(tuple(flags), **spec)})


def switch(flag: str, **spec):
    """A flag without a value: False unless given."""
    return option(False, flag, kind="switch", **spec)


def whole(default, flag: str, low: int, **spec):
    """An integer option ``>= low``."""
    return option(default, flag, parse=parse_int, check=integer(low), **{"metavar": "N", **spec})


def real(default, flag: str, check: Check, **spec):
    """A number option with its check."""
    return option(default, flag, parse=float, check=check, **spec)


def pick(default, flag: str, choices: tuple, **spec):
    """One of ``choices`` (a config may write an integer choice as a TOML integer)."""
    return option(
        default, flag, choices=choices, check=choice(*choices, integers_as_text=True), **spec
    )


def specs(record_type) -> dict[str, tuple[Spec, object]]:
    """Field name -> (``Spec``, default) of an options record type, in declaration order."""
    return {f.name: (f.metadata["option"], f.default) for f in fields(record_type)}


def helps(record_type) -> dict[str, str]:
    """Field name -> help text, from the docstrings of the record and the groups it inherits:
    a paragraph starting ``name: text`` (the lines up to the next such line or blank line)
    documents field ``name``."""
    found: dict[str, str] = {}
    for cls in reversed(record_type.__mro__):
        name = None
        for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
            head, sep, text = line.strip().partition(": ")
            if sep and head.isidentifier() and not line.startswith(" "):
                name, found[head] = head, text.strip()
            elif name and line.strip():
                found[name] += " " + line.strip()
            else:
                name = None
    return found


# -- checks -----------------------------------------------------------------------------------


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(low: int | None = None, high: int | None = None) -> Check:
    """An integer in ``[low, high]`` (either bound optional)."""

    def check(value):
        if not _is_int(value) or (low is not None and value < low):
            raise ValueError(f"must be an integer >= {low}, got {value!r}")
        if high is not None and value > high:
            raise ValueError(f"must be an integer <= {high}, got {value!r}")
        return value

    return check


def at_least(low: int, unit: str = "") -> Check:
    """An integer ``>= low``, said as ``must be at least LOW[ UNIT], got V``."""
    words = f" {unit}" if unit else ""

    def check(value):
        if not _is_int(value) or value < low:
            raise ValueError(f"must be at least {low}{words}, got {value!r}")
        return value

    return check


def number(
    low: float | None = None, high: float | None = None, *, open_low=False, open_high=False
) -> Check:
    """A finite number within the bounds (open or closed at each end)."""
    left = f"{'>' if open_low else '>='} {low:g}" if low is not None else ""
    right = f"{'<' if open_high else '<='} {high:g}" if high is not None else ""
    bounds = " and ".join(part for part in (left, right) if part)
    wanted = f" {bounds}" if bounds else ""

    def check(value):
        ok = (_is_int(value) or isinstance(value, float)) and math.isfinite(value)
        if ok and low is not None:
            ok = value > low if open_low else value >= low
        if ok and high is not None:
            ok = value < high if open_high else value <= high
        if not ok:
            raise ValueError(f"must be a finite number{wanted}, got {value!r}")
        return float(value)

    return check


def inside(low: float, high: float) -> Check:
    """A number in the open interval, said as ``must lie in (LOW, HIGH), got V``."""

    def check(value):
        if not (isinstance(value, int | float) and low < value < high):
            raise ValueError(f"must lie in ({low:g}, {high:g}), got {value!r}")
        return float(value)

    return check


def positive(value):
    """A finite number > 0, said as ``must be positive, got V``."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"must be positive, got {value!r}")
    return float(value)


def choice(*options: str, integers_as_text: bool = False) -> Check:
    """One of ``options``; with ``integers_as_text`` an integer ``3`` is read as ``"3"``."""

    def check(value):
        if integers_as_text and _is_int(value):
            value = str(value)
        if value not in options:
            raise ValueError(f"must be one of {', '.join(map(repr, options))}, got {value!r}")
        return value

    return check


def boolean(value):
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def text(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    return value


def out_path(value):
    """An output folder: a non-empty path (text from a config, a ``Path`` from a flag)."""
    from pathlib import Path

    if isinstance(value, Path) and str(value):
        return value
    return Path(text(value))


def either(*checks: Check, wanted: str) -> Check:
    """The first check that accepts the value; ``wanted`` describes them all in the error."""

    def check(value):
        for one in checks:
            try:
                return one(value)
            except ValueError:
                continue
        raise ValueError(f"must be {wanted}, got {value!r}")

    return check


def nominal_budgets(value):
    """``"chinchilla"``, ``"none"``, a comma-separated string or a list of positive numbers."""
    if value in ("chinchilla", "none"):
        return value
    items = value.split(",") if isinstance(value, str) else value
    try:
        numbers = [float(item) for item in items]
    except (TypeError, ValueError):
        numbers = []
    if not numbers or not all(math.isfinite(v) and v > 0 for v in numbers):
        raise ValueError(
            "must be 'chinchilla', 'none', or positive FLOP budgets (a list or a comma-separated "
            f"string), got {value!r}"
        )
    return value


def columns_table(value):
    """``[data.columns]``: canonical column -> the file's column."""
    from scalinglaw_jax.core.data import CANONICAL

    if not isinstance(value, Mapping):
        raise ValueError(f'must be a table of canonical = "user column", got {value!r}')
    for canonical, user in value.items():
        if canonical not in CANONICAL:
            raise ValueError(
                f"unknown canonical column {canonical!r}{nearest(canonical, CANONICAL)}"
            )
        text(user)
    return dict(value)


def priors_table(value):
    """Per-parameter prior overrides, each one buildable by ``posterior.make_prior`` (numpyro is
    imported only when a config holds priors)."""
    from scalinglaw_jax.uncertainty import posterior

    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table of parameter = {{dist = ...}}, got {value!r}")
    known = sorted(set(posterior.PARAMETRIC_PRIORS) | set(posterior.ISOFLOP_PRIORS))
    for name, spec in value.items():
        if name not in known:
            raise ValueError(f"unknown prior {name!r}{nearest(name, known)}; known: {known}")
        if not isinstance(spec, Mapping):
            raise ValueError(f'prior {name!r} must be a table like {{dist = "normal", ...}}')
        try:
            posterior.make_prior(spec)
        except KeyError as error:
            raise ValueError(f"prior {name!r} lacks the number {error}") from None
        except (TypeError, ValueError) as error:
            raise ValueError(f"prior {name!r}: {error}") from None
    return dict(value)


positive_number = number(0.0, open_low=True)
learning_rate = either(choice("sandwich"), positive_number, wanted="'sandwich' or a number > 0")
init_starts = either(integer(1), choice("chinchilla"), wanted="an integer >= 1 or 'chinchilla'")
SEED = integer(0, 2**32 - 1)
GAPS = "the budget column, else gaps in log FLOPs"
"""What an unset nominal-budgets option means."""


# -- command-line text -> value -----------------------------------------------------------


def parse_int(raw: str) -> int:
    return int(raw)


parse_int.__name__ = "int"


def parse_sandwich_or_number(raw: str):
    return raw if raw == "sandwich" else float(raw)


parse_sandwich_or_number.__name__ = "'sandwich' or a number"


def figure_formats(value) -> tuple[str, ...]:
    """``"svg,png"`` (or a tuple) -> ``("svg", "png")``, each one known."""
    from scalinglaw_jax.figures import figure_formats as parse

    return parse(value if isinstance(value, str) else ",".join(value))


def people(value, unset: str | None = None) -> str:
    """A value for people (``report.page.format_value``): a law by its name, an unset value
    by what it means (``unset``)."""
    from scalinglaw_jax.core.law import Law
    from scalinglaw_jax.report.page import format_value

    if value is None and unset:
        return unset
    if isinstance(value, Law):
        return value.name
    if isinstance(value, tuple) and any(isinstance(v, Law) for v in value):
        value = tuple(v.name if isinstance(v, Law) else v for v in value)
    return format_value(value)
