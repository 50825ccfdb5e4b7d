"""Dataset registry (no network: SCALINGLAW_DATA_DIR points at ../shared/data) and tolerant
loading of user tables."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from scalinglaw_jax.cli import main
from scalinglaw_jax.core import datasets
from scalinglaw_jax.core.data import DataError


@pytest.fixture
def shared_dir(epoch_csv, monkeypatch):
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(epoch_csv.parent))
    return epoch_csv.parent


def test_load_chinchilla_epoch_from_local_dir(shared_dir):
    runs = datasets.load_dataset("chinchilla_epoch")
    assert len(runs) == 240 and len(runs.exclusions) == 5
    assert runs.meta["dataset"] == "chinchilla_epoch"
    assert runs.tokens == pytest.approx(runs.flops / (6 * runs.params))
    assert len(datasets.load_dataset("chinchilla_epoch", drop_highest_loss=0)) == 245


def test_wrong_checksum_and_missing_file(simulated_csv, tmp_path):
    """Any file under the registered name fails the checksum (no need for the real one)."""
    filename = datasets.get_dataset("chinchilla_epoch").filename
    (tmp_path / filename).write_bytes(simulated_csv.read_bytes())
    with pytest.raises(DataError, match="checksum mismatch"):
        datasets.fetch("chinchilla_epoch", tmp_path)
    with pytest.raises(DataError, match="not found"):
        datasets.fetch("chinchilla_epoch", tmp_path / "nowhere")
    with pytest.raises(DataError, match="unknown dataset"):
        datasets.get_dataset("nope")


def test_local_copy_under_original_name(epoch_csv, tmp_path):
    shutil.copy(epoch_csv, tmp_path / epoch_csv.name)
    assert datasets.fetch("chinchilla_epoch", tmp_path) == tmp_path / epoch_csv.name


def test_datasets_list_command(capsys):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "chinchilla_epoch" in out and "arXiv:2404.10102" in out and "licence" in out


def user_table(tmp_path):
    """Different column names, logged FLOPs (no tokens), and three bad rows."""
    frame = pd.DataFrame(
        {
            "Model Params": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9, 1.28e10],
            "compute": [1e19, 1e19, "abc", 1e20, 1e20, 1e20, 1e21, 1e21],
            "eval loss": [3.1, 3.0, 2.95, 2.8, 2.7, -1.0, 2.5, None],
        }
    )
    path = tmp_path / "ladder.csv"
    frame.to_csv(path, index=False)
    return path


def test_bad_rows_are_excluded_with_reasons(tmp_path):
    path = user_table(tmp_path)
    with pytest.raises(DataError, match="rows 3, 6, 8"):
        datasets.load_runs(path, columns={"params": "Model Params"})
    runs = datasets.load_runs_skipping_bad_rows(path, columns={"params": "Model Params"})
    assert list(runs.row) == [1, 2, 4, 5, 7]
    reasons = {ex.row: ex.reason for ex in runs.exclusions}
    assert set(reasons) == {3, 6, 8}
    assert "'abc' is not a number" in reasons[3]
    assert "must be > 0" in reasons[6] and "NaN" in reasons[8]
    assert len(runs) + len(runs.exclusions) == 8
    assert "5 of 8 rows kept" in runs.summary()
