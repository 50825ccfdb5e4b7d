"""Loader and validation: every bad input names its row, column and problem."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from scalinglaw_jax.core.data import DataError, Exclusion, exclude_rows, load_runs


def good_table(n: int = 8) -> pd.DataFrame:
    params = np.geomspace(1e8, 1e10, n)
    tokens = 20.0 * params
    return pd.DataFrame(
        {
            "params": params,
            "tokens": tokens,
            "flops": 6.0 * params * tokens,
            "loss": np.linspace(3.0, 2.0, n),
        }
    )


def with_value(column: str, row: int, value) -> pd.DataFrame:
    """The good table with one cell (1-based ``row``) replaced; object dtype for strings."""
    table = good_table()
    table[column] = table[column].astype(object)
    table.loc[row - 1, column] = value
    return table


def test_load_good_table():
    runs = load_runs(good_table())
    assert len(runs) == 8
    np.testing.assert_array_equal(runs.row, np.arange(1, 9))
    assert runs.params.dtype == np.float64
    assert runs.run is None and runs.budget is None
    assert runs.exclusions == () and runs.warnings == ()


@pytest.mark.parametrize(
    ("column", "row", "value", "problem"),
    [
        ("loss", 7, "abc", r"row 7, column 'loss': 'abc' is not a number"),
        ("params", 3, np.nan, r"row 3, column 'params': value is NaN"),
        ("params", 3, None, r"row 3, column 'params': value is NaN"),
        ("flops", 2, np.inf, r"row 2, column 'flops': value is inf"),
        ("tokens", 6, -5.0, r"row 6, column 'tokens': must be > 0, got -5"),
        ("loss", 1, 0.0, r"row 1, column 'loss': must be > 0, got 0"),
    ],
)
def test_bad_value_names_row_column_problem(column, row, value, problem):
    with pytest.raises(DataError, match=problem):
        load_runs(with_value(column, row, value))


def test_bad_value_in_aliased_column_names_user_column():
    table = good_table().rename(columns={"params": "Model Size"})
    table.loc[4, "Model Size"] = -1.0
    with pytest.raises(DataError, match=r"row 5, column 'Model Size' \(params\): must be > 0"):
        load_runs(table)


def test_many_bad_rows_lists_first_five_and_count():
    table = good_table(12)
    table.loc[1:9, "loss"] = -1.0
    with pytest.raises(DataError) as info:
        load_runs(table)
    message = str(info.value)
    assert "9 bad values in 9 rows" in message
    assert "rows 2, 3, 4, 5, 6, ... (9 rows in all)" in message
    assert "row 6, column 'loss': must be > 0, got -1" in message
    assert "row 7," not in message
    assert "and 4 more" in message


def test_missing_required_column_lists_present_and_aliases():
    with pytest.raises(DataError, match=r"missing required column\(s\) loss") as info:
        load_runs(good_table().drop(columns="loss"))
    assert "'params', 'tokens', 'flops'" in str(info.value)
    assert "final loss" in str(info.value)


def test_missing_tokens_and_flops():
    with pytest.raises(DataError, match="tokens or flops"):
        load_runs(good_table().drop(columns=["tokens", "flops"]))


def test_too_few_rows():
    with pytest.raises(DataError, match="need at least 5 rows to fit 5 parameters, got 3"):
        load_runs(good_table(3))
    assert len(load_runs(good_table(3), min_rows=3)) == 3


def test_empty_table():
    with pytest.raises(DataError, match="empty"):
        load_runs(good_table().iloc[:0])


def test_bad_sources(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_runs(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="unsupported file type '.xlsx'"):
        load_runs(tmp_path / "runs.xlsx")
    with pytest.raises(DataError, match="pandas DataFrame"):
        load_runs(42)


def test_missing_run_label():
    table = good_table()
    table["run"] = ["a"] * 4 + [None] + ["b"] * 3
    with pytest.raises(DataError, match=r"row 5, column 'run': value is missing"):
        load_runs(table)


@pytest.mark.parametrize(
    "names",
    [
        {"params": "N", "tokens": "D", "flops": "C", "loss": "L"},
        {"params": "Model Size", "tokens": "Training Tokens", "flops": "Training FLOP"},
        {"params": "n_params", "tokens": "n_tokens", "flops": "training_flops"},
        {"params": " PARAMETERS ", "tokens": "data", "flops": "compute", "loss": "eval_loss"},
        {"params": "model_size", "loss": "Final Loss"},
    ],
)
def test_aliases(names):
    runs = load_runs(good_table().rename(columns=names))
    np.testing.assert_array_equal(runs.params, good_table()["params"])
    np.testing.assert_array_equal(runs.loss, good_table()["loss"])
    assert runs.meta["columns"]["params"] == names["params"]


def test_explicit_mapping_overrides_aliases():
    table = good_table().rename(columns={"loss": "val"})
    table["loss"] = 9.0  # would be picked by alias, but the mapping wins
    runs = load_runs(table, columns={"loss": "val"})
    np.testing.assert_array_equal(runs.loss, good_table()["loss"])
    assert "loss" in runs.meta["ignored_columns"]


def test_explicit_mapping_missing_column():
    with pytest.raises(DataError, match="column 'val' given for 'loss' is not in the table"):
        load_runs(good_table(), columns={"loss": "val"})
    with pytest.raises(DataError, match="unknown canonical column 'lr'"):
        load_runs(good_table(), columns={"lr": "loss"})


def test_two_columns_for_one_canonical():
    table = good_table()
    table["N"] = table["params"]
    with pytest.raises(DataError, match=r"columns \['params', 'N'\] all map to 'params'"):
        load_runs(table)


def test_extra_columns_ignored_and_recorded():
    table = good_table()
    table["lr"] = 1e-3
    table["notes"] = "x"
    runs = load_runs(table)
    assert runs.meta["ignored_columns"] == ["lr", "notes"]


def test_csv_parquet_dataframe_identical(tmp_path):
    table = good_table()
    table["run"] = ["r1", "r1", "r2", "r2", "r3", "r3", "r3", "r1"]
    table.to_csv(tmp_path / "runs.csv", index=False)
    table.to_parquet(tmp_path / "runs.parquet", index=False)
    loaded = [load_runs(src) for src in (table, tmp_path / "runs.csv", tmp_path / "runs.parquet")]
    for other in loaded[1:]:
        for name in ("params", "tokens", "flops", "loss", "row", "run"):
            np.testing.assert_array_equal(getattr(other, name), getattr(loaded[0], name))
        assert other.run_labels == loaded[0].run_labels
        assert other.content_hash() == loaded[0].content_hash()
    assert loaded[1].source.endswith("runs.csv")


def test_derived_flops_and_tokens():
    table = good_table()
    from_tokens = load_runs(table.drop(columns="flops"))
    np.testing.assert_allclose(from_tokens.flops, table["flops"], rtol=1e-15)
    assert from_tokens.meta["derived"] == ["flops = 6nd (6·params·tokens)"]
    from_flops = load_runs(table.drop(columns="tokens"))
    np.testing.assert_allclose(from_flops.tokens, table["tokens"], rtol=1e-15)


def test_callable_flop_formula():
    def with_attention(n, d):
        return 6.0 * n * d * 1.05

    table = good_table().drop(columns="flops")
    runs = load_runs(table, flop_formula=with_attention)
    np.testing.assert_allclose(runs.flops, 1.05 * 6.0 * table["params"] * table["tokens"])
    no_tokens = good_table().drop(columns="tokens")
    with pytest.raises(DataError, match="tokens can't be derived"):
        load_runs(no_tokens, flop_formula=with_attention)
    relaxed = load_runs(no_tokens, flop_formula=with_attention, require_tokens=False)
    assert np.isnan(relaxed.tokens).all()
    with pytest.raises(DataError, match="flop_formula must be '6nd' or a callable"):
        load_runs(table, flop_formula="6ND+attention")


def test_flop_mismatch_warns_and_keeps_logged_flops():
    table = good_table()
    table.loc[[1, 4], "flops"] *= [1.5, 1.2]
    with pytest.warns(UserWarning, match=r"in 2 of 8 rows \(rows 2, 5\); worst ratio .* = 1.5 at"):
        runs = load_runs(table)
    assert len(runs.warnings) == 1 and "row 2" in runs.warnings[0]
    np.testing.assert_array_equal(runs.flops, table["flops"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_runs(table, flops_tolerance=0.6)


def test_drop_highest_loss_recorded():
    table = good_table()
    table.loc[5, "loss"] = 5.006
    runs = load_runs(table, drop_highest_loss=2)
    assert len(runs) == 6
    assert runs.exclusions == (
        Exclusion(6, "one of the 2 highest-loss rows (loss=5.006), dropped by drop_highest_loss=2"),
        Exclusion(1, "one of the 2 highest-loss rows (loss=3), dropped by drop_highest_loss=2"),
    )
    assert 6 not in runs.row and 1 not in runs.row
    assert "row 6: one of the 2 highest-loss rows" in runs.summary()
    with pytest.raises(DataError, match="got 4 after drop_highest_loss=4"):
        load_runs(table, drop_highest_loss=4)


def test_exclude_rows():
    table = good_table()
    table["run"] = ["a", "a", "b", "b", "c", "c", "c", "a"]
    runs = load_runs(table)
    fewer = exclude_rows(runs, [3, 4], "diverged")
    np.testing.assert_array_equal(fewer.row, [1, 2, 5, 6, 7, 8])
    assert fewer.run_labels == ("a", "c")
    np.testing.assert_array_equal(fewer.run, [0, 0, 1, 1, 1, 0])
    assert fewer.exclusions == (Exclusion(3, "diverged"), Exclusion(4, "diverged"))
    with pytest.raises(DataError, match="cannot exclude row"):
        exclude_rows(fewer, [3], "again")
    with pytest.raises(DataError, match="need at least 5 rows"):
        exclude_rows(fewer, [1, 2], "too many")


def test_run_labels_and_budget():
    table = good_table()
    table["curve"] = ["s", "m", "s", 7, "m", 7, "s", "m"]
    table["isoflop"] = table["flops"]
    runs = load_runs(table)
    assert runs.run_labels == ("s", "m", 7)
    np.testing.assert_array_equal(runs.run, [0, 1, 0, 2, 1, 2, 0, 1])
    np.testing.assert_array_equal(runs.budget, table["flops"])
    frame = runs.to_frame()
    assert list(frame.columns) == ["row", "params", "tokens", "flops", "loss", "run", "budget"]
    assert frame["run"].tolist() == table["curve"].tolist()


def test_log_arrays_and_hash():
    runs = load_runs(good_table())
    logs = runs.log_arrays()
    assert set(logs) == {"log_params", "log_tokens", "log_flops", "log_loss"}
    np.testing.assert_allclose(logs["log_loss"], np.log(good_table()["loss"]))
    assert all(v.dtype == np.float64 for v in logs.values())
    changed = good_table()
    changed.loc[0, "loss"] = 3.0000001
    assert load_runs(changed).content_hash() != runs.content_hash()
    assert load_runs(good_table()).content_hash() == runs.content_hash()
    with pytest.raises(ValueError, match="read-only"):
        runs.loss[0] = 1.0


def test_epoch_file(epoch_csv):
    runs = load_runs(epoch_csv, drop_highest_loss=5)
    assert len(runs) == 240
    assert len(runs.exclusions) == 5
    assert runs.meta["columns"] == {
        "params": "Model Size",
        "flops": "Training FLOP",
        "loss": "loss",
    }
    np.testing.assert_allclose(6.0 * runs.params * runs.tokens, runs.flops, rtol=1e-12)
    assert runs.loss.max() < 3.5
