"""The ``scalinglaw`` command: one module per sub-command on one template (``template``).

``main(argv)`` parses, sets up the devices and the compilation cache, then runs the command
under the exit-code contract (``core.errors``: 0 ok, 2 user error, 1 bug, 130 Ctrl-C); ``run``
is the installed console entry. Parsing imports no heavy module (matplotlib, numpyro, arviz,
scipy.stats): commands import those when they run.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

from scalinglaw_jax.cli import config as config_file
from scalinglaw_jax.cli import template
from scalinglaw_jax.cli.commands import BY_NAME, COMMANDS
from scalinglaw_jax.cli.options import helps, people, specs
from scalinglaw_jax.core.compile_cache import (
    CACHE_DIR_ENV,
    OFF,
    compile_cache,
    disabled_by_environment,
)
from scalinglaw_jax.core.errors import nearest, print_error, run_command
from scalinglaw_jax.core.solvers import use_cpu_devices
from scalinglaw_jax.report.page import Setting

__all__ = ["build_parser", "main", "run"]
DEBUG_HELP = "show the Python traceback of an internal error (exit code 1)"


def _argparse_type(parse):
    """``parse`` as an argparse ``type``: a value it cannot read is ``expected WHAT, got X``."""

    def convert(raw: str):
        try:
            return parse(raw)
        except ValueError:
            what = getattr(parse, "__name__", "a value")
            raise argparse.ArgumentTypeError(f"expected {what}, got {raw!r}") from None

    return convert


def _help(text: str, spec, default) -> str:
    """The option's help with the value it takes when not given, for people."""
    if spec.kind == "switch":
        return text
    shown = people(default, spec.unset)
    return f"{text} (default: {shown})" if text else f"default: {shown}"


def add_options(parser: argparse.ArgumentParser, record_type: type) -> None:
    """One argument per option field with flags; ``None`` default: "not given"."""
    groups, texts = {}, helps(record_type)
    for name, (spec, default) in specs(record_type).items():
        text = texts.get(name, "").replace("%", "%%")
        if not spec.flags:
            continue  # config only
        if not spec.flags[0].startswith("-"):  # positional
            parser.add_argument(name, choices=spec.choices, help=text)
            continue
        target = parser
        if spec.exclusive:
            target = groups.setdefault(spec.exclusive, parser.add_mutually_exclusive_group())
        extra = {"metavar": spec.metavar, "choices": spec.choices}
        if spec.parse is not None:
            extra["type"] = _argparse_type(spec.parse)
        if spec.kind == "switch":
            extra = {"action": "store_true"}
        elif spec.kind == "list":
            extra["action"] = "append"
        target.add_argument(
            *spec.flags, dest=name, default=None, help=_help(text, spec, default), **extra
        )


def build_parser() -> argparse.ArgumentParser:
    """The ``scalinglaw`` parser: global flags, then one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="scalinglaw",
        description="Fit compute-optimal scaling laws (Chinchilla approaches 1-3) in JAX.",
    )
    parser.add_argument(
        "--cpu-devices",
        default=None,
        help="split fits and sweeps over this many CPU devices, or 'auto' for one per core "
        "(default: auto; results are the same bits on any number of devices)",
    )
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not read or write JAX's persistent compilation cache (default: on, in "
        f"${CACHE_DIR_ENV} or the user cache directory; {CACHE_DIR_ENV}={OFF} also turns it "
        "off; see docs/cli.md)",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    commands = parser.add_subparsers(dest="command", required=True)
    parser.commands = {}
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.description)
        add_options(sub, command.options)
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
        parser.commands[command.name] = sub
    return parser


def parse(parser: argparse.ArgumentParser, argv) -> dict:
    """The parsed command line as a dict; an unknown flag is refused naming the nearest one
    the command takes (``SystemExit(2)``, as argparse does)."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        sub = parser.commands[args.command]
        flags = [flag for action in sub._actions for flag in action.option_strings]
        hint = nearest(unknown[0].split("=")[0], flags) if unknown[0].startswith("-") else ""
        sub.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    return vars(args)


def _devices(value: str | None) -> None:
    """``--cpu-devices``: one device per core unless JAX already runs (``None``), or as told."""
    from scalinglaw_jax.core.errors import ConfigError

    if value is None:
        with contextlib.suppress(RuntimeError):  # a caller that already computed keeps its own
            use_cpu_devices()
        return
    if value != "auto" and not (value.isdigit() and int(value) > 0):
        raise ConfigError(f"--cpu-devices must be a positive integer or 'auto', got {value!r}")
    try:
        use_cpu_devices(None if value == "auto" else int(value))
    except RuntimeError as error:
        raise ConfigError(str(error)) from None


def _global_settings(parsed: dict) -> tuple[Setting, ...]:
    """The global flags as settings: ``cpu_devices``, ``no_compile_cache``, ``debug``."""
    devices = parsed["cpu_devices"]
    return (
        Setting("cpu_devices", devices or "auto", "flag" if devices else "default"),
        *(
            Setting(name, bool(parsed.get(name)), "flag" if parsed.get(name) else "default")
            for name in ("no_compile_cache", "debug")
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Parse, then run the sub-command under the exit-code contract (``core.errors``)."""
    try:
        parsed = parse(build_parser(), argv)
    except SystemExit as exit_request:  # argparse: bad flags exit 2, --help exits 0
        return int(exit_request.code or 0)
    try:
        _devices(parsed["cpu_devices"])
    except Exception as error:  # noqa: BLE001  (a ConfigError: the user's flag)
        return print_error(str(error))
    command = BY_NAME[parsed["command"]]
    with contextlib.ExitStack() as scope:
        if not (parsed["no_compile_cache"] or disabled_by_environment()):
            try:
                scope.enter_context(compile_cache())
            except OSError as error:  # a cache that cannot be written only costs time
                print(f"WARNING: compilation cache off: {error}", file=sys.stderr)

        def execute():
            values = config_file.read_config(parsed.get("config"))
            return template.execute(command, parsed, values, _global_settings(parsed))

        return run_command(
            execute, debug=parsed.get("debug", False), resume_hint=command.resume_hint
        )


def run() -> None:
    """The ``scalinglaw`` command: ``main``, then leave without the interpreter's teardown.

    Every file a command writes is closed when ``main`` returns. What Python would still do
    is tear down JAX's runtime, its compiled programs and every module: about half a second
    (a sixth of a warm ``fit`` on Epoch's table) that writes nothing. So the log handlers and
    both streams are flushed, a multi-process sweep leaves the distributed service, and the
    process exits with ``main``'s code (``os._exit``).
    """
    code = main()
    jax = sys.modules.get("jax")
    if jax is not None and jax.distributed.is_initialized():
        jax.distributed.shutdown()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream
            stream.flush()
    os._exit(code)
