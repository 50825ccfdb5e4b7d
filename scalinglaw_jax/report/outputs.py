"""Honest output folders: what data and settings produced them, no stale or half-written files.

An output folder belongs to one data set. ``claim_output_dir`` records the data's identity
(path, file hash, content hash of the rows fitted) and the command's settings in
``summary.json``, and refuses a folder whose summary belongs to other data unless
``overwrite`` is given, in which case the files this package wrote there are removed first.
JSON files are written to a temporary name and renamed last, so a failed run never leaves a
truncated ``summary.json``; figures an approach no longer produces are removed
(``remove_stale_figures``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from scalinglaw_jax.core.data import DataError, Runs
from scalinglaw_jax.core.datasets import file_sha256
from scalinglaw_jax.figures import FIGURE_FORMATS

SUMMARY_FILE = "summary.json"
FIGURE_STEMS = ("params_vs_flops", "params_vs_tokens", "isoflop_profiles", "parametric_contours")
"""Figures of ``fit`` and ``demo``, one per approach or view: a rerun removes those it no longer
draws."""
FIGURE_SUFFIXES = tuple(f".{fmt}" for fmt in FIGURE_FORMATS)
OTHER_FIGURE_STEMS = ("backtest", "extrapolation_error")
OWNED_GLOBS = (
    SUMMARY_FILE,
    "report.html",
    "bootstrap_approach*.nc",
    "posterior_approach*.nc",
    "bootstrap_approach*_chunks",
    *(
        f"{stem}{suffix}"
        for stem in FIGURE_STEMS + OTHER_FIGURE_STEMS
        for suffix in FIGURE_SUFFIXES
    ),
)
"""What ``--overwrite`` may delete: only names this package writes, never anything else."""


def write_json_atomic(path: Path, content) -> Path:
    """Write JSON to ``path.tmp`` and rename it over ``path``: readers see all of it or none."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=2, allow_nan=False))
    os.replace(tmp, path)
    return path


def data_identity(tables: Runs | dict[str, Runs]) -> dict:
    """The data behind a run: source, file hash (when a file) and a hash of the rows fitted.

    ``tables`` is one ``Runs`` or one per approach (``demo``); the content hash covers all.
    """
    runs = {"all": tables} if isinstance(tables, Runs) else dict(sorted(tables.items()))
    digest = hashlib.sha256()
    for key, table in runs.items():
        digest.update(key.encode())
        digest.update(table.content_hash().encode())
    first = next(iter(runs.values()))
    identity = {
        "source": first.source,
        "rows": int(sum(len(table) for table in runs.values())),
        "content_sha256": digest.hexdigest(),
    }
    if Path(first.source).is_file():
        identity["source"] = str(Path(first.source).resolve())
        identity["file_sha256"] = file_sha256(Path(first.source))
    return identity


def check_out_path(out: Path, flag: str = "--out") -> Path:
    """Create ``out`` (with parents) or say clearly why it cannot be an output folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{flag} {out} is a file, not a folder; choose a folder for the outputs")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"{flag} {out}: cannot create the output folder ({error.strerror}); choose a "
            "writable place"
        ) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise DataError(f"{flag} {out}: the folder is not writable; choose another one")
    return out


def read_summary(out: Path) -> dict:
    """``out/summary.json`` as a dict (``{}`` when absent); a corrupt one is a user error."""
    path = Path(out) / SUMMARY_FILE
    if not path.is_file():
        return {}
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(
            f"{path} is not readable JSON (a run was cut short?); pass --overwrite to replace "
            "it, or choose another --out"
        ) from None
    if not isinstance(summary, dict):
        raise DataError(f"{path} is not a scalinglaw summary; pass --overwrite or another --out")
    return summary


def owned_outputs(out: Path) -> list[Path]:
    """Files and checkpoint folders in ``out`` that this package writes (see ``OWNED_GLOBS``)."""
    return sorted({path for pattern in OWNED_GLOBS for path in Path(out).glob(pattern)})


def remove_outputs(out: Path) -> list[Path]:
    """Delete what ``owned_outputs`` lists; returns what was removed."""
    removed = owned_outputs(out)
    for path in removed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed


def claim_output_dir(
    out: Path, identity: dict, command: str, settings: dict, *, overwrite: bool = False
) -> Path:
    """Bind ``out`` to the data ``identity`` and record ``settings`` under ``command``.

    A folder whose ``summary.json`` records other data (or none: results of unknown origin) is
    refused unless ``overwrite``; with it, the package's files there are removed first.
    """
    out = check_out_path(out)
    try:
        summary = read_summary(out)
    except DataError:
        if not overwrite:
            raise
        summary = {}
    recorded = summary.get("data", {}).get("content_sha256") if summary else None
    foreign = bool(summary) and recorded != identity["content_sha256"]
    if (foreign or overwrite) and owned_outputs(out):
        if not overwrite:
            what = summary.get("data", {}).get("source", "data of unknown origin")
            raise DataError(
                f"{out} holds results of other data ({what}); refusing to mix them with "
                f"{identity['source']}. Pass --overwrite to replace them, or choose another --out"
            )
        removed = remove_outputs(out)
        print(f"--overwrite: removed {len(removed)} earlier output(s) from {out}")
        summary = {}
    summary["data"] = identity
    summary.setdefault("settings", {})[command] = _plain(settings)
    write_json_atomic(out / SUMMARY_FILE, summary)
    return out


def remove_stale_figures(out: Path, written) -> list[Path]:
    """Delete the package's figures in ``out`` that this run did not (re)write."""
    keep = {Path(path).resolve() for path in written}
    stale = [
        path
        for stem in FIGURE_STEMS
        for suffix in FIGURE_SUFFIXES
        if (path := Path(out) / f"{stem}{suffix}").is_file() and path.resolve() not in keep
    ]
    for path in stale:
        path.unlink()
    return stale


def _plain(value):
    """Settings as JSON: paths as text, NumPy scalars as numbers, unknown objects by repr."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value if not (isinstance(value, float) and not np.isfinite(value)) else None
    return repr(value)
