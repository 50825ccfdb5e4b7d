"""Runs tables: schema, validation, column aliases, FLOP accounting.

``load_runs`` turns a CSV / Parquet file or a DataFrame into a validated ``Runs`` container of
float64 arrays. Bad input raises ``DataError`` before anything is computed, naming the row(s),
column and problem; rows are only ever left out on purpose and every exclusion is recorded.
Row numbers are 1-based positions in the user's table: the first data row is row 1 (in a CSV
file that is the line after the header).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd


class DataError(ValueError):
    """Bad user input, raised before any tracing, naming the row(s), column and problem."""


@dataclass(frozen=True)
class Exclusion:
    """A row left out of the fit on purpose, with the reason (reported, never silent)."""

    row: int
    reason: str


@dataclass(frozen=True)
class Runs:
    """A validated table of training runs as float64 NumPy arrays (one entry per row).

    ``row`` holds each kept row's 1-based position in the user's table, so every message can
    point back at the input. ``run`` (integer codes into ``run_labels``) groups the rows of a
    training curve; ``budget`` is the IsoFLOP budget of each row when the table gives one;
    ``unique_tokens`` the distinct tokens a run saw (repeated-epoch studies) when given.
    """

    params: np.ndarray
    tokens: np.ndarray
    flops: np.ndarray
    loss: np.ndarray
    row: np.ndarray
    run: np.ndarray | None = None
    run_labels: tuple = ()
    budget: np.ndarray | None = None
    unique_tokens: np.ndarray | None = None
    exclusions: tuple[Exclusion, ...] = ()
    warnings: tuple[str, ...] = ()
    source: str = "<table>"
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.loss.shape[0])

    def to_frame(self) -> pd.DataFrame:
        """The kept rows as a DataFrame with canonical columns, ``row`` first."""
        frame = {
            "row": self.row,
            "params": self.params,
            "tokens": self.tokens,
            "flops": self.flops,
            "loss": self.loss,
        }
        if self.run is not None:
            frame["run"] = [self.run_labels[code] for code in self.run]
        if self.budget is not None:
            frame["budget"] = self.budget
        if self.unique_tokens is not None:
            frame["unique_tokens"] = self.unique_tokens
        return pd.DataFrame(frame)

    def log_arrays(self) -> dict[str, np.ndarray]:
        """Natural logs of params, tokens, flops and loss as float64 arrays (what the fits use)."""
        return {
            f"log_{name}": np.log(getattr(self, name)).astype(np.float64)
            for name in ("params", "tokens", "flops", "loss")
        }

    def content_hash(self) -> str:
        """SHA-256 of the float64 arrays, to tell whether a saved sweep belongs to this data."""
        digest = hashlib.sha256()
        named = {name: getattr(self, name) for name in ("params", "tokens", "flops", "loss")}
        named["row"] = self.row
        if self.run is not None:
            named["run"] = self.run
        if self.budget is not None:
            named["budget"] = self.budget
        if self.unique_tokens is not None:
            named["unique_tokens"] = self.unique_tokens
        for name, values in named.items():
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        return digest.hexdigest()

    def summary(self) -> str:
        """Human-readable account of what was loaded, derived, excluded and warned about."""
        total = self.meta.get("n_source_rows", len(self) + len(self.exclusions))
        lines = [f"{self.source}: {len(self)} of {total} rows kept"]
        columns = self.meta.get("columns")
        if columns:
            mapped = ", ".join(f"{canon} <- {user!r}" for canon, user in columns.items())
            lines.append(f"columns: {mapped}")
        if self.meta.get("ignored_columns"):
            lines.append(f"ignored columns: {', '.join(map(repr, self.meta['ignored_columns']))}")
        if self.meta.get("derived"):
            lines.append(f"derived: {'; '.join(self.meta['derived'])}")
        if self.run is not None:
            lines.append(f"runs: {len(self.run_labels)} training curves")
        lines.append(f"exclusions: {len(self.exclusions) or 'none'}")
        lines.extend(f"  row {ex.row}: {ex.reason}" for ex in self.exclusions)
        lines.append(f"warnings: {len(self.warnings) or 'none'}")
        lines.extend(f"  {message}" for message in self.warnings)
        return "\n".join(lines)


CANONICAL = ("params", "tokens", "flops", "loss", "run", "budget", "unique_tokens")
NUMERIC = ("params", "tokens", "flops", "loss", "budget", "unique_tokens")

ALIASES: dict[str, tuple[str, ...]] = {
    "params": ("params", "N", "n_params", "parameters", "model size", "model_size"),
    "tokens": ("tokens", "D", "n_tokens", "training tokens", "data"),
    "flops": ("flops", "C", "compute", "training flop", "training_flops"),
    "loss": ("loss", "L", "final loss", "eval loss"),
    "run": ("run", "run_id", "curve"),
    "budget": ("budget", "isoflop", "budget_flops"),
    "unique_tokens": ("unique_tokens", "unique tokens", "U_D", "unique_data"),
}
"""Column names accepted for each canonical column (case, spaces and underscores ignored)."""

MAX_LISTED = 5
"""How many offending rows a message lists before giving only the count."""


def _normalise(name: object) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


_ALIAS_LOOKUP = {_normalise(alias): canon for canon, names in ALIASES.items() for alias in names}


def _column_label(canon: str, user: str) -> str:
    return f"column {user!r}" if _normalise(user) == canon else f"column {user!r} ({canon})"


def _list_rows(rows: Iterable[int]) -> str:
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:MAX_LISTED])
    return shown if len(rows) <= MAX_LISTED else f"{shown}, ... ({len(rows)} rows in all)"


def _read_table(source) -> tuple[pd.DataFrame, str]:
    if isinstance(source, pd.DataFrame):
        return source, "<DataFrame>"
    if not isinstance(source, str | Path):
        raise DataError(
            f"source must be a path to a CSV/Parquet file or a pandas DataFrame, "
            f"got {type(source).__name__}"
        )
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv, .parquet or .pq")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        table = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: could not be read as {suffix[1:]}: {err}") from err
    return table, str(path)


def _map_columns(
    table: pd.DataFrame, columns: Mapping[str, str] | None, source: str
) -> tuple[dict[str, str], list[str]]:
    """Map canonical names to the user's columns: explicit mapping first, then aliases."""
    present = [str(c) for c in table.columns]
    repeated = sorted({c for c in present if present.count(c) > 1})
    if repeated:
        raise DataError(f"{source}: column name(s) {repeated} occur more than once")
    mapping: dict[str, str] = {}
    for canon, user in (columns or {}).items():
        if canon not in CANONICAL:
            raise DataError(f"columns: unknown canonical column {canon!r}; known: {CANONICAL}")
        if user not in present:
            matches = [c for c in present if _normalise(c) == _normalise(user)]
            if len(matches) != 1:
                raise DataError(
                    f"{source}: column {user!r} given for {canon!r} is not in the table; "
                    f"columns present: {present}"
                )
            user = matches[0]
        if user in mapping.values():
            raise DataError(f"columns: column {user!r} is given for more than one canonical name")
        mapping[canon] = user
    claimed: dict[str, list[str]] = {}
    for name in present:
        canon = _ALIAS_LOOKUP.get(_normalise(name))
        if canon is not None and canon not in mapping and name not in mapping.values():
            claimed.setdefault(canon, []).append(name)
    for canon, names in claimed.items():
        if len(names) > 1:
            raise DataError(
                f"{source}: columns {names} all map to {canon!r}; keep one or pick one with "
                f"columns={{{canon!r}: ...}}"
            )
        mapping[canon] = names[0]
    ignored = [name for name in present if name not in mapping.values()]
    return mapping, ignored


def _require_columns(mapping: dict[str, str], present: list[str], source: str) -> None:
    needed = {"params": ("params",), "loss": ("loss",), "tokens or flops": ("tokens", "flops")}
    missing = {
        what: names for what, names in needed.items() if not any(n in mapping for n in names)
    }
    if missing:
        accepted = "; ".join(
            f"{n}: {', '.join(ALIASES[n])}" for names in missing.values() for n in names
        )
        raise DataError(
            f"{source}: missing required column(s) {', '.join(missing)}. Columns present: "
            f"{present}. Accepted names (case, spaces and underscores ignored): {accepted}; "
            f"or pass columns={{'params': 'your column', ...}}"
        )


def _numeric_problems(values: pd.Series, canon: str, user: str) -> tuple[np.ndarray, list]:
    """Float64 values of a column and a (row, message) per bad cell."""
    label = _column_label(canon, user)
    raw = values.to_numpy(dtype=object)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    problems = []
    for i in np.flatnonzero(~np.isfinite(numbers) | (numbers <= 0)):
        row = int(i) + 1
        value, original = numbers[i], raw[i]
        if np.isnan(value) and not pd.isna(original):
            problem = f"{original!r} is not a number"
        elif np.isnan(value):
            problem = "value is NaN"
        elif np.isinf(value):
            problem = f"value is {value}"
        else:
            problem = f"must be > 0, got {value:g}"
        problems.append((row, f"row {row}, {label}: {problem}"))
    return numbers, problems


def _raise_problems(problems: list, source: str) -> None:
    if not problems:
        return
    problems.sort(key=lambda item: item[0])
    if len(problems) == 1:
        raise DataError(f"{source}: {problems[0][1]}")
    rows = sorted({row for row, _ in problems})
    head = "\n  ".join(message for _, message in problems[:MAX_LISTED])
    more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    raise DataError(
        f"{source}: {len(problems)} bad values in {len(rows)} rows (rows {_list_rows(rows)}):"
        f"\n  {head}{more}"
    )


def _too_few(source: str, min_rows: int, got: int, after: str = "") -> DataError:
    why = "to fit 5 parameters" if min_rows == 5 else "(min_rows)"
    tail = f" after {after}" if after else ""
    return DataError(f"{source}: need at least {min_rows} rows {why}, got {got}{tail}")


def _run_codes(labels: np.ndarray) -> tuple[np.ndarray, tuple]:
    codes, uniques = pd.factorize(labels, sort=False)
    return codes.astype(np.int64), tuple(uniques.tolist())


def _flop_warning(logged, formula_flops, rows, tolerance, formula_name) -> str | None:
    ratio = logged / formula_flops
    off = np.abs(ratio - 1.0) > tolerance
    if not off.any():
        return None
    worst = int(np.argmax(np.abs(np.log(ratio))))
    return (
        f"flops disagree with the {formula_name} formula by more than {tolerance:.0%} in "
        f"{int(off.sum())} of {len(ratio)} rows (rows {_list_rows(rows[off])}); worst ratio "
        f"logged/formula = {ratio[worst]:.4g} at row {rows[worst]}. The logged flops are kept."
    )


def _check_load_options(flop_formula, flops_tolerance: float, drop_highest_loss: int) -> None:
    """``load_runs``' own options, checked before the file is read."""
    if not (flop_formula == "6nd" or callable(flop_formula)):
        raise DataError(f"flop_formula must be '6nd' or a callable, got {flop_formula!r}")
    if int(drop_highest_loss) != drop_highest_loss or drop_highest_loss < 0:
        raise DataError(
            f"drop_highest_loss must be a non-negative integer, got {drop_highest_loss}"
        )
    if flops_tolerance < 0:
        raise DataError(f"flops_tolerance must be >= 0, got {flops_tolerance}")


def _numeric_values(table: pd.DataFrame, mapping: dict, name: str) -> dict[str, np.ndarray]:
    """The numeric columns as float arrays; every bad cell (and missing run id) is reported at
    once, row and column named."""
    values: dict[str, np.ndarray] = {}
    problems: list = []
    for canon in NUMERIC:
        if canon in mapping:
            values[canon], bad = _numeric_problems(table[mapping[canon]], canon, mapping[canon])
            problems.extend(bad)
    if "run" in mapping:
        for i in np.flatnonzero(table[mapping["run"]].isna().to_numpy()):
            label = _column_label("run", mapping["run"])
            problems.append((int(i) + 1, f"row {int(i) + 1}, {label}: value is missing"))
    _raise_problems(problems, name)
    return values


def _derive_flops_or_tokens(values: dict, flop_formula, formula_name: str, name: str):
    """Fill in whichever of flops / tokens is missing (in place) and say how; None when both
    were given (the caller checks them against each other)."""
    params = values["params"]
    if "tokens" in values and "flops" in values:
        return None
    if "tokens" in values:
        values["flops"] = _apply_formula(flop_formula, params, values["tokens"], name)
        return [f"flops = {formula_name}"]
    if flop_formula == "6nd":
        values["tokens"] = values["flops"] / (6.0 * params)
        return ["tokens = flops / (6·params)"]
    values["tokens"] = np.full(len(params), np.nan)
    return ["tokens unavailable (custom flop_formula, no tokens column): NaN"]


def _drop_highest_loss(loss, rows, k: int, min_rows: int, name: str):
    """The rows kept after dropping the ``k`` highest losses, and an ``Exclusion`` for each
    dropped one."""
    keep = np.ones(len(loss), dtype=bool)
    if not k:
        return keep, []
    if k >= len(loss):
        raise DataError(f"{name}: drop_highest_loss={k} would drop all {len(loss)} rows")
    order = np.argsort(-loss, kind="stable")[:k]
    keep[order] = False
    exclusions = [
        Exclusion(
            int(rows[i]),
            f"one of the {k} highest-loss rows (loss={loss[i]:.4g}), dropped by "
            f"drop_highest_loss={k}",
        )
        for i in order
    ]
    if keep.sum() < min_rows:
        raise _too_few(name, min_rows, int(keep.sum()), f"drop_highest_loss={k}")
    return keep, exclusions


def load_runs(
    source,
    *,
    columns: Mapping[str, str] | None = None,
    flop_formula: str | Callable = "6nd",
    flops_tolerance: float = 0.1,
    drop_highest_loss: int = 0,
    min_rows: int = 5,
    require_tokens: bool = True,
) -> Runs:
    """Load and validate a table of runs from a CSV/Parquet path or a DataFrame.

    Canonical columns are ``params``, ``tokens``, ``flops``, ``loss`` and the optional ``run``
    (training-curve id) and ``budget`` (IsoFLOP budget); ``ALIASES`` lists the names accepted
    for each, and ``columns={"canonical": "user column"}`` overrides them. ``flop_formula``
    (``"6nd"`` or a callable ``(params, tokens) -> flops``) derives whichever of flops / tokens
    is missing; when both are given, rows off the formula by more than ``flops_tolerance``
    (relative) raise a warning only, since logged FLOPs may legitimately differ. With
    ``require_tokens=False`` a table whose tokens cannot be derived still loads, with NaN tokens
    (enough for IsoFLOP fits, which need only params, flops and loss).
    ``drop_highest_loss=k`` drops the k highest-loss rows (Epoch AI drop 5 on Chinchilla's
    data), recording each in ``exclusions``. At least ``min_rows`` rows must remain.

    Returns a ``Runs``. Raises ``DataError`` for an unreadable, missing or unsupported file,
    unknown, repeated or missing columns, non-numeric / missing / non-positive values, a bad
    ``flop_formula`` or ``flops_tolerance``, or fewer than ``min_rows`` rows left.
    """
    _check_load_options(flop_formula, flops_tolerance, drop_highest_loss)
    table, name = _read_table(source)
    if table.shape[0] == 0:
        raise DataError(f"{name}: the table is empty (no data rows)")
    present = [str(c) for c in table.columns]
    table = table.set_axis(present, axis=1)
    mapping, ignored = _map_columns(table, columns, name)
    _require_columns(mapping, present, name)
    if "tokens" not in mapping and flop_formula != "6nd" and require_tokens:
        raise DataError(
            f"{name}: no tokens column, and tokens can't be derived from flops with a custom "
            f"flop_formula; add a tokens column, use flop_formula='6nd', or pass "
            f"require_tokens=False"
        )
    n_rows = table.shape[0]
    if n_rows < min_rows:
        raise _too_few(name, min_rows, n_rows)

    values = _numeric_values(table, mapping, name)
    rows = np.arange(1, n_rows + 1, dtype=np.int64)
    formula_name = (
        "6nd (6·params·tokens)" if flop_formula == "6nd" else _callable_name(flop_formula)
    )
    recorded: list[str] = []
    derived = _derive_flops_or_tokens(values, flop_formula, formula_name, name)
    if derived is None:  # both given: the logged FLOPs are checked against the formula
        formula_flops = _apply_formula(flop_formula, values["params"], values["tokens"], name)
        message = _flop_warning(values["flops"], formula_flops, rows, flops_tolerance, formula_name)
        if message:
            warnings.warn(f"{name}: {message}", UserWarning, stacklevel=2)
            recorded.append(message)
        derived = []

    if "unique_tokens" in values:
        _check_unique_tokens(values["unique_tokens"], values["tokens"], mapping, name)

    keep, exclusions = _drop_highest_loss(values["loss"], rows, drop_highest_loss, min_rows, name)
    kept = {name: values[name][keep] for name in ("params", "tokens", "loss")}
    check_not_degenerate(kept["params"], kept["tokens"], kept["loss"], name, min_rows)
    for message in unit_warnings(kept["params"], kept["tokens"], kept["loss"]):
        warnings.warn(f"{name}: {message}", UserWarning, stacklevel=2)
        recorded.append(message)

    run = run_labels = None
    if "run" in mapping:
        run, run_labels = _run_codes(table[mapping["run"]].to_numpy(dtype=object)[keep])
    meta = {
        "columns": dict(mapping),
        "ignored_columns": ignored,
        "derived": derived,
        "flop_formula": formula_name,
        "n_source_rows": n_rows,
        "min_rows": min_rows,
    }
    return Runs(
        params=_frozen(values["params"][keep]),
        tokens=_frozen(values["tokens"][keep]),
        flops=_frozen(values["flops"][keep]),
        loss=_frozen(values["loss"][keep]),
        row=_frozen(rows[keep]),
        run=None if run is None else _frozen(run),
        run_labels=run_labels or (),
        budget=_frozen(values["budget"][keep]) if "budget" in values else None,
        unique_tokens=(
            _frozen(values["unique_tokens"][keep]) if "unique_tokens" in values else None
        ),
        exclusions=tuple(exclusions),
        warnings=tuple(recorded),
        source=name,
        meta=meta,
    )


LOSS_SPREAD_MIN = 1e-9
"""Below this standard deviation of log-loss the losses are equal up to rounding: no signal."""
PARAMS_MIN_PLAUSIBLE = 1e4
"""Smaller parameter (or token) counts look like millions or billions, not raw counts."""
LOSS_PLAUSIBLE = (1e-2, 1e2)
"""Cross-entropy losses (nats per token) outside this range suggest another unit or a typo."""


def distinct_points(params: np.ndarray, tokens: np.ndarray) -> int:
    """How many distinct (params, tokens) pairs there are (NaN tokens: params alone)."""
    tokens = np.where(np.isfinite(tokens), tokens, 0.0)
    return int(np.unique(np.stack([params, tokens], axis=1), axis=0).shape[0])


def check_not_degenerate(params, tokens, loss, source: str, min_points: int, what="") -> None:
    """Refuse tables nothing can be learnt from: too few distinct (N, D) points, or losses
    that are all equal. ``what`` names the fit that needs ``min_points`` (e.g. "Approach 3")."""
    n_distinct = distinct_points(np.asarray(params), np.asarray(tokens))
    if n_distinct < min_points:
        need = f"{what} needs" if what else "fitting needs"
        raise DataError(
            f"{source}: only {n_distinct} distinct (params, tokens) point(s) among {len(loss)} "
            f"rows; {need} at least {min_points} distinct points (repeated rows add no "
            "information). Add runs at other model sizes or token counts."
        )
    if n_distinct == min_points and what:
        warnings.warn(
            f"{source}: {what} has as many parameters as distinct points ({n_distinct}): the "
            "fit interpolates them, so its residuals are zero and say nothing about the error "
            "of the exponents. Add runs before trusting it.",
            UserWarning,
            stacklevel=3,
        )
    spread = float(np.std(np.log(loss))) if len(loss) > 1 else np.inf
    if spread < LOSS_SPREAD_MIN:
        raise DataError(
            f"{source}: every loss is (nearly) the same value ({float(loss[0]):.6g}; spread of "
            f"log-loss {spread:.1e}), so no scaling law can be fitted; check the loss column."
        )


def unit_warnings(params, tokens, loss) -> list[str]:
    """Warnings, each with its fix, for counts and losses in implausible units."""
    messages = []
    for name, values in (("params", params), ("tokens", tokens)):
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() < PARAMS_MIN_PLAUSIBLE:
            messages.append(
                f"{name} go down to {finite.min():.4g}: counts below {PARAMS_MIN_PLAUSIBLE:.0e} "
                f"look like millions or billions; give raw counts (e.g. 7e7, not 70 or 0.07), "
                "or the fitted N_opt and D_opt are off by that factor"
            )
    low, high = LOSS_PLAUSIBLE
    if loss.size and (loss.min() < low or loss.max() > high):
        messages.append(
            f"losses range over [{loss.min():.4g}, {loss.max():.4g}], outside the usual "
            f"[{low:g}, {high:g}] for cross-entropy in nats per token; check the unit (the "
            "exponents do not depend on it, but E, A and B do)"
        )
    return messages


def as_runs(table, *, min_points: int | None = None, what: str = "") -> Runs:
    """A validated ``Runs`` from a ``Runs``, a DataFrame or a path (``load_runs`` defaults).

    The one entry check of the approaches' Python API, so a DataFrame gets the same
    validation (and column aliases) as a file on the command line; ``min_points`` distinct
    (params, tokens) points are required of ``what`` (e.g. ``"Approach 3"``).
    """
    runs = table if isinstance(table, Runs) else load_runs(table)
    if min_points is not None:
        check_not_degenerate(runs.params, runs.tokens, runs.loss, runs.source, min_points, what)
    return runs


def _check_unique_tokens(unique, tokens, mapping, source: str) -> None:
    """A run cannot see more distinct tokens than tokens: such rows are an error, named."""
    bad = np.flatnonzero(unique > tokens * (1.0 + 1e-9)) + 1
    if bad.size:
        label = _column_label("unique_tokens", mapping["unique_tokens"])
        raise DataError(
            f"{source}: {label} exceeds the tokens seen at rows {_list_rows(bad)}; unique tokens "
            "count the distinct tokens of a run, at most its tokens (epochs = tokens / unique)"
        )


def exclude_rows(runs: Runs, rows: Iterable[int], reason: str) -> Runs:
    """A copy of ``runs`` without the given 1-based source rows, each recorded with ``reason``.

    Raises ``DataError`` for a row that is not among the kept rows, or when fewer rows than the
    table's ``min_rows`` would remain.
    """
    rows = [int(r) for r in rows]
    unknown = sorted(set(rows) - set(runs.row.tolist()))
    if unknown:
        raise DataError(
            f"{runs.source}: cannot exclude row(s) {_list_rows(unknown)}: not among the kept rows"
        )
    keep = ~np.isin(runs.row, rows)
    min_rows = max(runs.meta.get("min_rows", 1), 1)
    if keep.sum() < min_rows:
        raise _too_few(runs.source, min_rows, int(keep.sum()), f"excluding {len(set(rows))} rows")
    run, run_labels = runs.run, runs.run_labels
    if run is not None:
        kept_labels = np.empty(int(keep.sum()), dtype=object)
        kept_labels[:] = [runs.run_labels[code] for code in run[keep]]
        run, run_labels = _run_codes(kept_labels)
        run = _frozen(run)
    return replace(
        runs,
        params=_frozen(runs.params[keep]),
        tokens=_frozen(runs.tokens[keep]),
        flops=_frozen(runs.flops[keep]),
        loss=_frozen(runs.loss[keep]),
        row=_frozen(runs.row[keep]),
        run=run,
        run_labels=run_labels,
        budget=None if runs.budget is None else _frozen(runs.budget[keep]),
        unique_tokens=None if runs.unique_tokens is None else _frozen(runs.unique_tokens[keep]),
        exclusions=runs.exclusions + tuple(Exclusion(r, reason) for r in dict.fromkeys(rows)),
    )


def _callable_name(formula: Callable) -> str:
    return getattr(formula, "__name__", type(formula).__name__)


def _apply_formula(formula, params: np.ndarray, tokens: np.ndarray, source: str) -> np.ndarray:
    """FLOPs from the formula, checked to be finite and positive for every row."""
    if formula == "6nd":
        return 6.0 * params * tokens
    flops = np.broadcast_to(np.asarray(formula(params, tokens), dtype=np.float64), params.shape)
    bad = np.flatnonzero(~(np.isfinite(flops) & (flops > 0))) + 1
    if bad.size:
        raise DataError(
            f"{source}: flop_formula {_callable_name(formula)} gave non-finite or non-positive "
            f"flops at rows {_list_rows(bad)}"
        )
    return np.array(flops)


def _frozen(values: np.ndarray) -> np.ndarray:
    out = np.array(values)
    out.flags.writeable = False
    return out


def format_rows(rows, limit: int = 8) -> str:
    """'1, 2, 3' for a short list of rows; the first ``limit`` and the count for a long one."""
    rows = [int(r) for r in rows]
    shown = ", ".join(map(str, rows[:limit]))
    return shown if len(rows) <= limit else f"{shown}, ... ({len(rows)} rows in all)"


def check_weights(weights, n: int, what: str = "row") -> np.ndarray:
    """Validate a weight vector (one per ``what``) before tracing; ``None`` means all ones.

    Raises ``DataError`` for a wrong shape or for NaN, inf or negative entries (positions
    0-based, as in the vector).
    """
    if weights is None:
        return np.ones(n)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (n,):
        raise DataError(f"weights must have shape ({n},) (one per {what}), got {weights.shape}")
    bad = np.flatnonzero(~np.isfinite(weights) | (weights < 0))
    if bad.size:
        raise DataError(f"weights must be finite and >= 0; bad at positions {format_rows(bad)}")
    return weights
