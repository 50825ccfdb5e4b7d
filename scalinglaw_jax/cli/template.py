"""The one command template: declare inputs and options, validate everything, run, write.

A command is a ``Command`` record: its name and help, its options record type (a frozen
dataclass of ``options.option`` fields), where its data comes from (``data``), any check that
needs the data (``check``), what it runs (``run``) and where its outputs go (``out``). The
template, for every command alike (``execute``):

1. receives the config file's values (``cli.config``: checked whole against the schema of
   every command's keys);
2. resolves every option from flag, config or default into the typed record, checking each
   value and recording its ``Setting`` (value and source); laws become ``Law`` values here;
3. reads the data and checks every ``Law`` among the options against the table's columns,
   then the command's own ``check``, then the output folder: all of it before any fit, so a
   refused run writes nothing;
4. claims the output folder (bound to the data, settings recorded in summary.json), runs the
   command, then writes its figures, its summary.json sections and report.html, and prints
   what it wrote.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.cli.options import Spec, specs
from scalinglaw_jax.core.data import DataError, Runs
from scalinglaw_jax.core.errors import ConfigError
from scalinglaw_jax.core.io import to_jsonable
from scalinglaw_jax.core.law import Law
from scalinglaw_jax.report.page import Setting

SUMMARY_FILE = "summary.json"
_MISSING = object()


@dataclass(frozen=True)
class Inputs:
    """What a command runs on, all resolved and checked: its ``options`` record, the
    ``settings`` behind it (with sources), the data (``tables``: one ``Runs``, a dict of
    them, or None) and the output folder ``out`` (None for commands that write nothing)."""

    options: object
    settings: tuple[Setting, ...]
    tables: Runs | Mapping | None
    out: Path | None


@dataclass(frozen=True)
class Outcome:
    """What a command hands back to be written: ``sections`` of summary.json as
    ``(section, key, content)``, a ``figures(out, formats) -> [paths]`` drawer, and the other
    ``files`` it wrote itself (named in the closing line)."""

    sections: tuple[tuple[str, str, object], ...] = ()
    figures: Callable[[Path, tuple[str, ...]], list[Path]] | None = None
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Command:
    """One sub-command. ``options``: its options record type. ``data(options)`` -> (tables,
    printed summary) or None when it reads no data. ``check(options, tables)``: validation
    that needs the data (raise ``DataError``). ``run(inputs, report)`` -> ``Outcome`` or None
    (nothing to write). ``out``: ``"bound"`` (the folder belongs to the data: claimed, with
    summary.json), ``"plain"`` (a folder checked and written) or None (prints only).
    ``begin(options)``: set-up before the data is read (joining a multi-host run).
    ``resume_hint``: what Ctrl-C says."""

    name: str
    help: str
    options: type
    run: Callable
    description: str | None = None
    title: str | None = None
    data: Callable | None = None
    check: Callable | None = None
    out: str | None = "bound"
    begin: Callable | None = None
    resume_hint: str | None = None


# -- resolving options ------------------------------------------------------------------------


def _config_value(config: Mapping, key: str | None):
    if key is None:
        return _MISSING
    table = config
    for part in key.split("."):
        if not isinstance(table, Mapping) or part not in table:
            return _MISSING
        table = table[part]
    return table


def _flag_value(name: str, spec: Spec, given):
    """A command-line value through the option's check; ``ConfigError`` naming the flag."""
    if spec.check is None:
        return tuple(given) if spec.kind == "list" else given
    try:
        if spec.kind == "list":
            return tuple(spec.check(value) for value in given)
        return spec.check(given)
    except ValueError as error:
        raise ConfigError(f"{spec.flags[0] if spec.flags else name} {error}") from None


def resolve(record_type: type, parsed: Mapping, config: Mapping):
    """The options record and its settings: each field from the flag (``parsed``), else the
    config, else its default, checked, then ``resolve``d (a law's name -> ``Law``)."""
    values, settings = {}, []
    for name, (spec, default) in specs(record_type).items():
        given = parsed.get(name)
        found = _config_value(config, spec.config)
        if given is not None:
            value, source = _flag_value(name, spec, given), "flag"
        elif found is not _MISSING:
            value, source = found, "config"
        else:
            value, source = default, "default"
        if spec.resolve is not None and value is not None:
            many = spec.kind == "list"
            value = tuple(map(spec.resolve, value)) if many else spec.resolve(value)
        values[name] = value
        settings.append(Setting(name, value, source))
    return record_type(**values), tuple(settings)


def laws_of(options) -> tuple[Law, ...]:
    """Every ``Law`` the options hold (a field holding one law or a tuple of them)."""
    found = []
    for name in specs(type(options)):
        value = getattr(options, name)
        found.extend(
            v for v in (value if isinstance(value, tuple) else (value,)) if isinstance(v, Law)
        )
    return tuple(found)


def check_law_columns(laws, tables) -> None:
    """Every law's columns are in the table (``unique_tokens`` is the one that may be absent),
    before any fit: one message naming each law and what it lacks."""
    runs = tables if isinstance(tables, Runs) else None
    if runs is None:
        return
    problems = [
        f"law {law.name!r} needs column {column!r}, which {runs.source} does not have"
        + (" (aliases: 'unique tokens', 'U_D')" if column == "unique_tokens" else "")
        for law in laws
        for column in law.columns
        if getattr(runs, column, None) is None
    ]
    if problems:
        raise DataError("; ".join(problems) + ". Nothing was fitted.")


def check_approach_columns(approach, tables) -> None:
    """The one approach asked for (not ``all``, which skips what a table cannot support) finds
    the columns it cannot do without in the table, before any fit."""
    if approach == "all" or not isinstance(tables, Runs):
        return
    spec = registry.get(approach)
    missing = [
        f"{spec.name} needs a {column!r} column {purpose}"
        for column, purpose in spec.columns.items()
        if getattr(tables, column, None) is None
    ]
    if missing:
        raise DataError(f"{'; '.join(missing)}; {tables.source} has none. Nothing was fitted.")


# -- the output folder and summary.json -----------------------------------------------------


def plain_settings(command: str, settings, config: Mapping) -> dict:
    """Settings as summary.json records them: name -> value (laws by name), their sources,
    the config's values and the command."""
    recorded = {s.name: _recorded(s.value) for s in settings}
    recorded["sources"] = {s.name: s.source for s in settings}
    recorded["config_values"] = dict(config)
    recorded["command"] = command
    return recorded


def _recorded(value):
    if isinstance(value, Law):
        return value.name
    if isinstance(value, tuple):
        return [_recorded(v) for v in value]
    return value


def prepare_out(command: Command, options, settings, config, tables) -> Path | None:
    """The output folder, checked (and for a ``"bound"`` command claimed: bound to the data,
    settings written to summary.json). The last check before the command runs."""
    from scalinglaw_jax.report import outputs

    if command.out is None:
        return None
    out = Path(options.out)
    if command.out == "plain" or tables is None:
        return outputs.check_out_path(out)
    import jax

    if jax.process_index() != 0:  # multi-host: process 0 writes the summaries
        return outputs.check_out_path(out)
    return outputs.claim_output_dir(
        out,
        outputs.data_identity(tables),
        command.name,
        plain_settings(command.name, settings, config),
        overwrite=bool(getattr(options, "overwrite", False)),
    )


def update_summary(out_dir: Path, section: str, key: str, content) -> Path:
    """Merge ``content`` into ``out_dir/summary.json`` under ``[section][key]`` atomically."""
    path = Path(out_dir) / SUMMARY_FILE
    summary = json.loads(path.read_text()) if path.is_file() else {}
    summary.setdefault(section, {})[key] = to_jsonable(content)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=False))
    os.replace(tmp, path)
    return path


# -- the run --------------------------------------------------------------------------------


def settings_for_page(settings, record_type: type) -> list[Setting]:
    """What report.html shows (``Report.add_settings``): each setting with its source, a law
    by its name, an unset option by what it means ("sized from free memory"), never a bare
    "not set" where the option says what happens."""
    unset = {name: spec.unset for name, (spec, _) in specs(record_type).items()}
    return [
        s._replace(value=_recorded(s.value) if s.value is not None else unset.get(s.name))
        for s in settings
    ]


def execute(command: Command, parsed: Mapping, config: Mapping, extra_settings=()) -> int:
    """Run ``command`` on the parsed command line (dest -> value, None when not given) and
    the checked ``config``; ``extra_settings``: the global flags, recorded beside."""
    from scalinglaw_jax.report.page import Report

    options, settings = resolve(command.options, parsed, config)
    settings = (*settings, *extra_settings)
    if command.begin is not None:
        command.begin(options)
    tables, described = command.data(options) if command.data else (None, "")
    if described:
        print(described)
    check_law_columns(laws_of(options), tables)
    check_approach_columns(getattr(options, "approach", "all"), tables)
    if command.check is not None:
        command.check(options, tables)
    out = prepare_out(command, options, settings, config, tables)
    report = Report(command.title or f"scalinglaw {command.name}", data_summary=described)
    report.add_settings(settings_for_page(settings, command.options))
    outcome = command.run(Inputs(options, settings, tables, out), report)
    if outcome is not None and out is not None:
        write_outcome(outcome, out, report, getattr(options, "figure_formats", ()))
    return 0


def write_outcome(outcome: Outcome, out: Path, report, formats) -> None:
    """Figures first, then the summary.json sections, then report.html: a run that fails while
    drawing leaves no new summary. Multi-host: process 0 writes."""
    import jax

    if jax.process_index() != 0:
        return
    written = list(outcome.figures(out, tuple(formats))) if outcome.figures else []
    for section, key, content in outcome.sections:
        update_summary(out, section, key, content)
    report.write(out, written)
    named = [out / SUMMARY_FILE] if outcome.sections else []
    named += [Path(p) for p in outcome.files]
    listed = "".join(f"{p}, " for p in named)
    print(f"\nwrote {listed}{len(written)} figure files and report.html in {out}")
