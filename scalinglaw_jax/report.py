"""``report.html``: one self-contained page per command run.

Every ``scalinglaw`` command collects what it printed (tables), its settings, a summary of the
data and its warnings in a :class:`Report`, and writes them next to ``summary.json`` with the
figures inlined as SVG. The page references nothing outside itself (no scripts, styles, images
or links to other files or hosts), so it opens from a disk, an e-mail or an archive, offline.
"""

from __future__ import annotations

import html
import math
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from scalinglaw_jax import __version__ as package_version

REPORT_FILE = "report.html"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222;
       padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
.meta { color: #666; margin-top: 0; }
.warnings { background: #fff4e5; border-left: 4px solid #e69500; padding: 0.5em 1em; }
.figures { display: flex; flex-wrap: wrap; gap: 1.5em; }
figure { margin: 0; flex: 1 1 40em; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; text-align: center; }
pre { background: #f6f6f6; padding: 0.6em 0.8em; font-size: 0.85em;
      white-space: pre-wrap; overflow-wrap: anywhere; }
pre .warning-row { display: inline-block; width: 100%; background: #fff4e5;
                   border-left: 4px solid #e69500; margin-left: -0.8em; padding-left: 0.6em; }
table.settings { border-collapse: collapse; font-size: 0.9em; max-width: 100%; }
table.settings th { text-align: left; padding: 0.2em 0.8em 0.2em 0; color: #555; }
table.settings td { border-top: 1px solid #ddd; padding: 0.2em 0.8em 0.2em 0; vertical-align: top;
                    overflow-wrap: anywhere; }
table.settings td:first-child { font-family: monospace; white-space: nowrap; }
table.settings td.source { color: #666; white-space: nowrap; }
"""
WARNING_PREFIX = "WARNING:"
"""A printed table line starting with this is a flagged result (a failed posterior or
backtest, failed resamples, a band left out): the page shows it as a warning row, in the
same words as the console."""
SOURCES = ("flag", "config", "default")
"""Where a setting's value came from: the command line, the config file, or the command's
built-in default."""


class Setting(NamedTuple):
    """One resolved setting of a command run: ``name``, the ``value`` that ran, and its
    ``source`` (one of ``SOURCES``)."""

    name: str
    value: object
    source: str


_XML_PROLOG = re.compile(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<metadata>.*?</metadata>", re.S)
# Namespace declarations: an inline <svg> in HTML is in the SVG namespace without them.
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')
_ID = re.compile(r'\bid="([^"]+)"')
_FRAGMENT = re.compile(r'(href="#|url\(#)([^")]+)')


@dataclass
class Report:
    """What one command run shows: tables it printed, settings, data summary, warnings.

    Built up while the command runs (``table`` and ``warn`` also print, so the console and the
    page say the same), then written once with ``write``.
    """

    title: str
    settings: list[Setting] | Mapping = field(default_factory=list)
    data_summary: str = ""
    tables: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self):
        settings, self.settings = self.settings, []
        self.add_settings(settings.items() if isinstance(settings, Mapping) else settings)

    def add_settings(self, settings: Iterable) -> None:
        """Record resolved settings: ``Setting`` records or ``(name, value, source)`` tuples
        (``source`` in ``SOURCES``; a ``(name, value)`` pair is taken as a default). A later
        entry of the same name replaces the earlier one."""
        for entry in settings:
            name, value, *rest = entry
            source = rest[0] if rest else "default"
            if source not in SOURCES:
                raise ValueError(
                    f"setting {name!r}: source must be one of {SOURCES}, got {source!r}"
                )
            self.settings = [s for s in self.settings if s.name != name]
            self.settings.append(Setting(str(name), value, source))

    def table(self, heading: str, text: str, *, echo: bool = True) -> None:
        """Record a printed table (``echo``: print it too, under its heading)."""
        if echo:
            print(f"\n== {heading} ==\n{text}" if heading else text)
        self.tables.append((heading, text))

    def warn(self, message: str, *, echo: bool = True) -> None:
        """Record a warning (``echo``: print it to stderr too)."""
        if echo:
            print(f"WARNING: {message}", file=sys.stderr)
        self.warnings.append(message)

    def to_html(self, figures: Sequence[Path] = ()) -> str:
        """The page: warnings, figures (each SVG file inlined), tables, data, settings."""
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(self.title)}</title>",
            f"<style>{_STYLE}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
            f'<p class="meta">scalinglaw_jax {html.escape(package_version)}</p>',
        ]
        if self.warnings:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
            parts.append(f'<div class="warnings"><h2>Warnings</h2><ul>{items}</ul></div>')
        svgs = [Path(f) for f in figures if Path(f).suffix == ".svg"]
        if svgs:
            parts.append('<h2>Figures</h2><div class="figures">')
            for number, path in enumerate(svgs, start=1):
                parts.append(
                    f"<figure>{inline_svg(path.read_text(), f'fig{number}')}"
                    f"<figcaption>{html.escape(path.stem)}</figcaption></figure>"
                )
            parts.append("</div>")
        if self.tables:
            parts.append("<h2>Results</h2>")
            for heading, text in self.tables:
                if heading:
                    parts.append(f"<h3>{html.escape(heading)}</h3>")
                parts.append(f"<pre>{_table_html(text)}</pre>")
        if self.data_summary:
            parts.append(f"<h2>Data</h2><pre>{html.escape(self.data_summary)}</pre>")
        if self.settings:
            rows = "".join(
                f"<tr><td>{html.escape(s.name)}</td><td>{html.escape(format_value(s.value))}"
                f'</td><td class="source">{html.escape(s.source)}</td></tr>'
                for s in self.settings
            )
            parts.append(
                '<h2>Settings</h2><table class="settings"><tr><th>setting</th><th>value that '
                f"ran</th><th>from</th></tr>{rows}</table>"
            )
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    def write(self, out_dir, figures: Sequence[Path] = ()) -> Path:
        """Write ``out_dir/report.html`` atomically (the SVGs among ``figures`` are inlined)."""
        for i, setting in enumerate(self.settings):
            if setting.name == "out" and setting.value is None:  # resolved by the command
                self.settings[i] = setting._replace(value=Path(out_dir))
        path = Path(out_dir) / REPORT_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_html(figures), encoding="utf-8")
        os.replace(tmp, path)
        return path


def inline_svg(svg: str, suffix: str) -> str:
    """An SVG file's text made fit to sit inside an HTML page beside other SVGs.

    Drops the XML prolog, DOCTYPE, metadata and namespace declarations (they name external
    URLs), and appends ``--suffix`` to every id and every ``#id`` reference, so that figures
    sharing ids (matplotlib reuses glyph and clip-path ids) do not resolve into each other.
    Ids keep their beginning, so a band group stays findable as ``id="band...``.
    """
    svg = _XML_PROLOG.sub("", svg)
    svg = _NAMESPACES.sub("", svg)
    svg = _ID.sub(lambda m: f'id="{m.group(1)}--{suffix}"', svg)
    svg = _FRAGMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}--{suffix}", svg)
    return svg.strip()


def settings_of(args, *, config: Mapping | None = None, argv: Sequence[str] | None = None):
    """The parsed command line as resolved settings (``Setting`` records), best effort.

    A value is from a ``flag`` when its option (or positional argument) is on the command
    line ``argv`` (default ``sys.argv``); else from the ``config`` file (``config``: the
    parsed TOML; default: read from ``args.config``) when it holds the key at the top level,
    in the command's table (``[demo]``, ``[bootstrap]``, ``[posterior]``), in ``[data]`` or
    ``[isoflop]``; else a ``default``: the parsed value, or for an option left ``None`` the
    default its ``--help`` text names (``out`` is filled in by ``Report.write``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    given = {
        token[2:].split("=", 1)[0].replace("-", "_") for token in argv if token.startswith("--")
    }
    command = getattr(args, "command", None)
    if config is None:
        config = _read_toml(getattr(args, "config", None))
    helps = _help_defaults(command)
    positional = {"data"}
    settings = []
    for name, value in sorted(vars(args).items()):
        if callable(value) or name == "command":
            continue
        if name in given or (name in positional and value is not None):
            settings.append(Setting(name, value, "flag"))
            continue
        found, config_value = _config_value(config, command, name)
        if found:
            settings.append(Setting(name, config_value, "config"))
        elif value is None and (command, name) in _BUILT_IN:
            settings.append(Setting(name, _BUILT_IN[command, name], "default"))
        elif value is None and name in _BUILT_IN_ANY:
            settings.append(Setting(name, _BUILT_IN_ANY[name], "default"))
        elif value is None and name in helps:
            settings.append(Setting(name, helps[name], "default"))
        else:
            settings.append(Setting(name, value, "default"))
    return settings


_BUILT_IN = {("demo", "seed"): 0, ("demo", "resamples"): 100, ("fit", "approach"): "all"}
"""Defaults that commands apply to options left ``None`` and that their ``--help`` does not
name (read from ``cli.run_demo`` and ``cli.run_fit``)."""
_BUILT_IN_ANY = {"drop_highest_loss": 0}

_CONFIG_TABLES = {"demo": "demo", "bootstrap": "bootstrap", "sample": "posterior"}
_CONFIG_ALIASES = {"isoflop_nominal": ("isoflop", "nominal"), "column": ("data", "columns")}


def _config_value(config: Mapping, command, name: str):
    """``(True, value)`` where ``config`` sets ``name`` for ``command``, else ``(False, None)``."""
    if not config:
        return False, None
    places = [(name,)]
    if command in _CONFIG_TABLES:
        places.append((_CONFIG_TABLES[command], name))
    places += [("data", name), _CONFIG_ALIASES.get(name, ())]
    for place in places:
        table = config
        for key in place:
            if not isinstance(table, Mapping) or key not in table:
                break
            table = table[key]
        else:
            if place:
                return True, table
    return False, None


def _read_toml(path) -> dict:
    if path is None or not Path(path).is_file():
        return {}
    try:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


_DEFAULT_IN_HELP = re.compile(
    r"\(default:?\s+([^;()]+?)[;)]|default:?\s+([^\s;,()]+)\)?$|\(([0-9.e+-]+)\)$"
)


def _help_defaults(command) -> dict:
    """``{dest: default text}`` for options of ``command`` whose ``--help`` names a default
    (e.g. ``"default 1000"``, ``"(0.95)"``). Read from the command-line parser, imported
    here only to read it (the report does not depend on it otherwise)."""
    if command is None:
        return {}
    try:
        from scalinglaw_jax.cli import build_parser

        parser = build_parser()
    except Exception:  # noqa: BLE001 - a report is written even when this cannot be read
        return {}
    sub = None
    for action in parser._actions:
        if getattr(action, "choices", None) and isinstance(action.choices, dict):
            sub = action.choices.get(command)
    if sub is None:
        return {}
    found = {}
    for action in [*parser._actions, *sub._actions]:  # global options, then the command's
        match = _DEFAULT_IN_HELP.search((action.help or "").strip())
        if match:
            text = next(g for g in match.groups() if g).strip()
            text = text.rpartition("else ")[2]  # "config 'law', else chinchilla" -> chinchilla
            if not text.startswith("of "):
                found[action.dest] = text
    return found


def format_value(value) -> str:
    """A setting's value for people: ``('svg',)`` -> ``svg``, ``None`` -> ``not set``,
    ``True`` -> ``yes``, ``1e+20`` -> ``1e+20``, ``0.1`` -> ``0.1``, paths as text, tables
    as ``key = value`` pairs."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k} = {format_value(v)}" for k, v in value.items()) or "none"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(format_value(v) for v in value) or "none"
    return str(value)


def _table_html(text: str) -> str:
    """A printed table, escaped, with its ``WARNING:`` lines marked as warning rows."""
    lines = []
    for line in text.split("\n"):
        escaped = html.escape(line)
        if line.lstrip().startswith(WARNING_PREFIX):
            escaped = f'<span class="warning-row">{escaped}</span>'
        lines.append(escaped)
    return "\n".join(lines)
