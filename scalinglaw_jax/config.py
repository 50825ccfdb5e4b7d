"""TOML configs and flag values, checked against one schema before any data is read.

Every key a config may hold is listed in ``schema()`` with its type, range or choices. A
config is checked as a whole when it is read (``read_config``): an unknown key is rejected
with the nearest valid name, a value of the wrong type or out of range names file, table, key
and the accepted values. The same checks serve the command-line flags (``flag``), so
``--draws 0`` and ``draws = 0`` get the same message, before anything is fitted.
"""

from __future__ import annotations

import argparse
import difflib
import math
import tomllib
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

from scalinglaw_jax.core.errors import ConfigError

Check = Callable[[object], object]
"""A value check: returns the (normalised) value or raises ``ValueError`` with the reason."""


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


def either(*checks: Check, wanted: str) -> Check:
    """The first check that accepts the value; ``wanted`` describes them all in the error."""

    def check(value):
        for option in checks:
            try:
                return option(value)
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
    from scalinglaw_jax.core.data import CANONICAL

    if not isinstance(value, Mapping):
        raise ValueError(f'must be a table of canonical = "user column", got {value!r}')
    for canonical, user in value.items():
        if canonical not in CANONICAL:
            raise ValueError(
                f"unknown canonical column {canonical!r}{_nearest(canonical, CANONICAL)}"
            )
        text(user)
    return dict(value)


def priors_table(value):
    """Per-parameter prior overrides, each one buildable by ``posterior.make_prior``."""
    from scalinglaw_jax.uncertainty import posterior

    if not isinstance(value, Mapping):
        raise ValueError(f"must be a table of parameter = {{dist = ...}}, got {value!r}")
    known = sorted(set(posterior.PARAMETRIC_PRIORS) | set(posterior.ISOFLOP_PRIORS))
    for name, spec in value.items():
        if name not in known:
            raise ValueError(f"unknown prior {name!r}{_nearest(name, known)}; known: {known}")
        if not isinstance(spec, Mapping):
            raise ValueError(f'prior {name!r} must be a table like {{dist = "normal", ...}}')
        try:
            posterior.make_prior(spec)
        except KeyError as error:
            raise ValueError(f"prior {name!r} lacks the number {error}") from None
        except (TypeError, ValueError) as error:
            raise ValueError(f"prior {name!r}: {error}") from None
    return dict(value)


def _positive_float(value):
    return number(0.0, open_low=True)(value)


learning_rate = either(choice("sandwich"), _positive_float, wanted="'sandwich' or a number > 0")
init_starts = either(integer(1), choice("chinchilla"), wanted="an integer >= 1 or 'chinchilla'")
SEED = integer(0, 2**32 - 1)
APPROACHES = ("1", "2", "3", "all")


@lru_cache(maxsize=1)
def schema() -> dict:
    """Every key a config may hold: a check per key, a dict per table."""
    from scalinglaw_jax.approaches.parametric_spec import MODES
    from scalinglaw_jax.uncertainty.posterior.options import LIKELIHOODS
    from scalinglaw_jax.uncertainty.resample import SCHEMES

    return {
        "out": text,
        "approach": choice(*APPROACHES, integers_as_text=True),
        "law": text,
        "data": {"drop_highest_loss": integer(0), "columns": columns_table},
        "demo": {"seed": SEED, "noise": number(0.0, 1.0), "resamples": integer(2)},
        "isoflop": {"nominal": nominal_budgets},
        "bootstrap": {
            "approach": choice(*APPROACHES, integers_as_text=True),
            "scheme": choice(*SCHEMES),
            "resamples": integer(2),
            "seed": SEED,
            "mode": choice(*MODES),
            "k_starts": integer(0),
            "level": number(0.0, 1.0, open_low=True, open_high=True),
        },
        "posterior": {
            "chains": integer(1),
            "draws": integer(1),
            "warmup": integer(1),
            "target_accept": number(0.0, 1.0, open_low=True, open_high=True),
            "seed": SEED,
            "likelihood": choice(*LIKELIHOODS),
            "huber_k": _positive_float,
            "student_df": _positive_float,
            "e_below_min_loss": boolean,
            "learning_rate": learning_rate,
            "init_starts": init_starts,
            "nominal_budgets": choice("chinchilla", "none"),
            "priors": priors_table,
        },
    }


def _nearest(name: str, known) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate(config: Mapping, source: str = "config") -> dict:
    """``config`` checked against ``schema()`` (values normalised); raises ``ConfigError``."""
    return _validate_table(config, schema(), source, "")


def _validate_table(table: Mapping, spec: dict, source: str, prefix: str) -> dict:
    where = f"[{prefix}]" if prefix else "the top level"
    checked = {}
    for key, value in table.items():
        if key not in spec:
            raise ConfigError(
                f"{source}: unknown key {key!r} in {where}{_nearest(key, spec)}; valid keys "
                f"there: {', '.join(sorted(spec))} (see docs/config.md)"
            )
        rule = spec[key]
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(rule, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: {name} must be a table [{name}], got {value!r}")
            checked[key] = _validate_table(value, rule, source, name)
            continue
        try:
            checked[key] = rule(value)
        except ValueError as error:
            raise ConfigError(f"{source}: {name} {error}") from None
    return checked


def read_config(path: Path | None) -> dict:
    """Parse and check a TOML config (``{}`` when none is given); raises ``ConfigError``."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found (--config)")
    try:
        with path.open("rb") as handle:
            config = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a text (UTF-8) TOML file: {error}") from None
    return validate(config, str(path))


def flag(check: Check, parse: Callable = str, expected: str | None = None) -> Callable:
    """An argparse ``type`` that parses the text with ``parse`` and applies ``check``;
    ``expected`` describes what ``parse`` accepts (default: its name)."""

    def convert(raw: str):
        try:
            value = parse(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {expected or getattr(parse, '__name__', 'a value')}, got {raw!r}"
            ) from None
        try:
            return check(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def _sandwich_or_number(raw: str):
    return raw if raw == "sandwich" else float(raw)


learning_rate_flag = flag(learning_rate, _sandwich_or_number, "'sandwich' or a number")
"""``--learning-rate``: ``sandwich`` or a positive number."""
