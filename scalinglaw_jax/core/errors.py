"""The ``scalinglaw`` exit-code contract, enforced in one place (``run_command``).

- 0: success.
- 2: a user error (data, flags, config, paths): one paragraph on stderr naming what is wrong,
  where, and what to do; never a traceback.
- 1: a bug: one line asking for a report; the traceback only with ``--debug``.
- 130: interrupted (Ctrl-C): one line, naming ``--resume`` where the sweep can continue.

User errors are ``data.DataError`` (and its subclass ``ConfigError``), TOML syntax errors,
and operating-system errors on a named path (missing, unwritable, a file where a folder is
needed). Anything else escaping a command is a bug.
"""

from __future__ import annotations

import dataclasses
import difflib
import sys
import tomllib
import traceback
from collections.abc import Callable

from scalinglaw_jax.core.data import DataError

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def nearest(name: str, known) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known``, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def refuse_unknown_fields(record_class, keywords, what: str) -> None:
    """``DataError`` for the first of ``keywords`` that is no field of the dataclass
    ``record_class``, naming the nearest field and listing them all."""
    names = [f.name for f in dataclasses.fields(record_class)]
    for name in keywords:
        if name not in names:
            raise DataError(
                f"unknown {what} {name!r}{nearest(name, names)}; options: {', '.join(names)}"
            )


class ConfigError(DataError):
    """A bad TOML config or flag value, named by file, table and key (or by flag)."""


def user_error_message(error: BaseException) -> str | None:
    """The message a user error gets, or None when ``error`` is not a user error (a bug)."""
    if isinstance(error, DataError):
        return str(error)
    if isinstance(error, tomllib.TOMLDecodeError):
        return f"the config file is not valid TOML: {error}"
    if isinstance(error, OSError) and error.filename is not None:
        what = {
            FileNotFoundError: "not found",
            PermissionError: "permission denied",
            IsADirectoryError: "is a folder, a file was expected",
            NotADirectoryError: "a file stands where a folder is needed",
            FileExistsError: "already exists",
        }.get(type(error), error.strerror or "cannot be used")
        return f"{error.filename}: {what}. Check the path, or choose another one."
    return None


def print_error(message: str) -> int:
    """Print ``error: message`` on stderr; return the user-error exit code."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR


def run_command(
    command: Callable[[], int | None], *, debug: bool = False, resume_hint: str | None = None
) -> int:
    """Run one sub-command under the contract and return its exit code.

    ``resume_hint`` is printed after Ctrl-C when the command can continue where it stopped
    (e.g. ``"rerun the same command with --resume to continue from the finished chunks"``).
    """
    try:
        return int(command() or EXIT_OK)
    except KeyboardInterrupt:
        tail = f"; {resume_hint}" if resume_hint else ""
        print(f"interrupted{tail}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001  (the contract: classify everything, once)
        message = user_error_message(error)
        if message is not None:
            if debug:
                traceback.print_exc()
            return print_error(message)
        if debug:
            traceback.print_exc()
        else:
            print(
                f"internal error (a bug in scalinglaw_jax): {type(error).__name__}: {error}. "
                "Rerun with --debug for the traceback and please report it.",
                file=sys.stderr,
            )
        return EXIT_BUG
