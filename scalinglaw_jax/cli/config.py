"""TOML configs, checked whole against one schema before any data is read.

The schema is not written by hand: it is every config key the commands' option records
declare (``option(..., config="table.key", check=...)``), so a key a command reads is a key
the schema accepts, with the check its flag uses. An unknown key is rejected with the nearest
valid name; a value of the wrong type or out of range names file, table, key and what is
accepted.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from scalinglaw_jax.cli.commands import COMMANDS
from scalinglaw_jax.cli.options import specs
from scalinglaw_jax.core.errors import ConfigError, nearest


@lru_cache(maxsize=1)
def schema() -> dict:
    """Every key a config may hold: a check per key, a dict per table (from the commands)."""
    tree: dict = {}
    for command in COMMANDS:
        for spec, _ in specs(command.options).values():
            if spec.config is None:
                continue
            *tables, key = spec.config.split(".")
            node = tree
            for table in tables:
                node = node.setdefault(table, {})
            node.setdefault(key, spec.check or (lambda value: value))
    return tree


def validate(config: Mapping, source: str = "config") -> dict:
    """``config`` checked against ``schema()`` (values normalised); raises ``ConfigError``."""
    return _validate_table(config, schema(), source, "")


def _validate_table(table: Mapping, spec: dict, source: str, prefix: str) -> dict:
    where = f"[{prefix}]" if prefix else "the top level"
    checked = {}
    for key, value in table.items():
        if key not in spec:
            raise ConfigError(
                f"{source}: unknown key {key!r} in {where}{nearest(key, spec)}; valid keys "
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
