"""Registry of named public scaling-law datasets: where they come from and how they are cleaned.

Files are never shipped with the package. ``load_dataset`` reads a file from a local directory
when one is given (``data_dir=`` or the ``SCALINGLAW_DATA_DIR`` environment variable; the file
must sit there under its original name), and otherwise downloads it with pooch into a user cache.
Either way its sha256 is checked against the registry, so a result always belongs to the data
the registry describes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from scalinglaw_jax.core.data import DataError, Runs, load_runs

DATA_DIR_ENV = "SCALINGLAW_DATA_DIR"
CACHE_NAME = "scalinglaw_jax"


@dataclass(frozen=True)
class Dataset:
    """One registered dataset: provenance, licence note and the cleaning ``load_dataset`` does."""

    name: str
    filename: str
    url: str
    sha256: str
    description: str
    citation: tuple[str, ...]
    licence: str
    columns: dict = field(default_factory=dict)
    drop_highest_loss: int = 0
    cleaning: tuple[str, ...] = ()

    def describe(self) -> str:
        """Multi-line account for ``scalinglaw datasets list``."""
        lines = [f"{self.name}: {self.description}", f"  file: {self.filename}"]
        lines.append(f"  source: {self.url}")
        lines.append(f"  sha256: {self.sha256}")
        lines.extend(f"  cite: {entry}" for entry in self.citation)
        lines.append(f"  licence: {self.licence}")
        lines.extend(f"  cleaning: {step}" for step in self.cleaning)
        return "\n".join(lines)


EPOCH_COMMIT = "92258837425e1b5f2851d624287f0120583a3d0e"

REGISTRY: dict[str, Dataset] = {
    "chinchilla_epoch": Dataset(
        name="chinchilla_epoch",
        filename="svg_extracted_data.csv",
        url=(
            "https://raw.githubusercontent.com/epoch-research/analyzing-chinchilla/"
            f"{EPOCH_COMMIT}/data/svg_extracted_data.csv"
        ),
        sha256="193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30",
        description=(
            "245 Chinchilla training runs (N, C, final loss) digitised by Epoch AI from Figure 4 "
            "of Hoffmann et al. (2022); loss is quantised (read from a colour scale)"
        ),
        citation=(
            "Hoffmann et al. (2022), Training Compute-Optimal Large Language Models, "
            "arXiv:2203.15556",
            "Besiroglu et al. (2024), Chinchilla Scaling: A replication attempt, arXiv:2404.10102",
        ),
        licence=(
            "none stated by the source repository; publicly available research data, "
            "not redistributed by this package (downloaded on demand)"
        ),
        columns={"params": "Model Size", "flops": "Training FLOP", "loss": "loss"},
        drop_highest_loss=5,
        cleaning=(
            "columns: params <- 'Model Size', flops <- 'Training FLOP', loss <- 'loss' "
            "(x, y, color, hex_color ignored)",
            "tokens = flops / (6 * params) (the file has no token counts)",
            "drop the 5 highest-loss rows (as Epoch AI do; 240 rows remain)",
        ),
    ),
}


def get_dataset(name: str) -> Dataset:
    """The registry entry called ``name`` (``DataError`` naming the known ones otherwise)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(name: str, data_dir: str | Path | None = None) -> Path:
    """Path of the dataset's file, checksum verified.

    ``data_dir`` (else ``$SCALINGLAW_DATA_DIR``) names a local directory holding the file under
    its original name; without either the file is downloaded with pooch into the user cache.
    """
    dataset = get_dataset(name)
    data_dir = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if data_dir:
        path = Path(data_dir).expanduser() / dataset.filename
        if not path.is_file():
            raise DataError(
                f"dataset {name!r}: {path} not found; put {dataset.filename} (from "
                f"{dataset.url}) in {Path(data_dir).expanduser()}, or unset {DATA_DIR_ENV} "
                "to download it"
            )
        actual = file_sha256(path)
        if actual != dataset.sha256:
            raise DataError(
                f"dataset {name!r}: checksum mismatch for {path}: sha256 {actual}, expected "
                f"{dataset.sha256}. The file is not the registered version; replace it with "
                f"the one at {dataset.url}"
            )
        return path
    try:
        import pooch
    except ImportError:
        raise DataError(
            f"dataset {name!r}: downloading needs pooch, a dependency of this package missing "
            f"here (pip install pooch); or put {dataset.filename} (from {dataset.url}) in a "
            f"folder and pass it with --data-dir (or {DATA_DIR_ENV})"
        ) from None

    try:
        return Path(
            pooch.retrieve(
                dataset.url,
                known_hash=f"sha256:{dataset.sha256}",
                fname=dataset.filename,
                path=pooch.os_cache(CACHE_NAME),
            )
        )
    except ValueError as error:  # pooch raises ValueError on a hash mismatch
        raise DataError(f"dataset {name!r}: {error}") from error


def load_dataset(name: str, data_dir: str | Path | None = None, **load_options) -> Runs:
    """The named dataset as validated ``Runs``, cleaned as its registry entry says.

    ``load_options`` go to ``data.load_runs`` and override the entry's own (e.g.
    ``drop_highest_loss=0`` keeps every row).
    """
    dataset = get_dataset(name)
    path = fetch(name, data_dir)
    options = {"columns": dataset.columns, "drop_highest_loss": dataset.drop_highest_loss}
    options.update(load_options)
    runs = load_runs(path, **options)
    meta = {**runs.meta, "dataset": name, "sha256": dataset.sha256, "url": dataset.url}
    return replace(runs, source=f"{name} ({path})", meta=meta)


def list_datasets() -> list[Dataset]:
    """Every registered dataset, by name."""
    return [REGISTRY[name] for name in sorted(REGISTRY)]


def load_runs_skipping_bad_rows(source, *, columns=None, **load_options) -> Runs:
    """``data.load_runs``, but rows with bad numeric cells are excluded instead of failing.

    Each excluded row is recorded in ``Runs.exclusions`` with every problem found in it (in the
    words ``load_runs`` would have used), and row numbers still refer to the user's table, so no
    row is lost silently.
    """
    from scalinglaw_jax.core import data

    table, name = data._read_table(source)
    table = table.set_axis([str(c) for c in table.columns], axis=1)
    mapping, _ = data._map_columns(table, columns, name)
    reasons: dict[int, list[str]] = {}
    for canon in data.NUMERIC:
        if canon in mapping:
            _, problems = data._numeric_problems(table[mapping[canon]], canon, mapping[canon])
            for row, message in problems:
                reasons.setdefault(row, []).append(message.split(", ", 1)[1])
    bad = sorted(reasons)
    kept_rows = np.setdiff1d(np.arange(1, table.shape[0] + 1), bad)
    runs = data.load_runs(table.iloc[kept_rows - 1], columns=columns, **load_options)
    skipped = tuple(data.Exclusion(row, "; ".join(reasons[row])) for row in bad)
    renumbered = tuple(
        data.Exclusion(int(kept_rows[ex.row - 1]), ex.reason) for ex in runs.exclusions
    )
    meta = {**runs.meta, "n_source_rows": int(table.shape[0])}
    return replace(
        runs,
        row=data._frozen(kept_rows[runs.row - 1]),
        exclusions=skipped + renumbered,
        source=name,
        meta=meta,
    )
