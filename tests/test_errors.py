"""The exit-code contract (docs/errors.md): bad files, flags, configs and paths exit 2 with a
message naming what and where; bugs exit 1 without a traceback unless --debug; Ctrl-C exits
130 naming --resume. Run in-process through ``cli.main`` (a subprocess only for signals)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

from scalinglaw_jax import cli
from scalinglaw_jax.approaches.isoflop import fit_isoflop
from scalinglaw_jax.approaches.parametric import fit_parametric
from scalinglaw_jax.cli import config
from scalinglaw_jax.core.data import DataError, load_runs
from scalinglaw_jax.core.errors import ConfigError
from scalinglaw_jax.uncertainty import resample

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table(simulated_csv) -> pd.DataFrame:
    return pd.read_csv(simulated_csv)


def run_cli(capsys, *argv) -> tuple[int, str]:
    """Exit code and everything printed (stdout + stderr) of ``scalinglaw ARGV``."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def write(tmp_path: Path, name: str, frame: pd.DataFrame) -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def assert_user_error(code: int, output: str, *words: str) -> None:
    assert code == 2, output
    assert "Traceback" not in output, output
    for word in words:
        assert word in output, (word, output)


# -- bad files -------------------------------------------------------------------------------


def bad_tables(table: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, tuple[str, ...]]]:
    """Name -> (table, words its message must contain)."""
    no_loss = table.drop(columns=["loss"])
    text_loss = table.astype({"loss": object})
    text_loss.loc[3, "loss"] = "abc"
    negative = table.copy()
    negative.loc[0, "params"] = -5.0
    flat = table.assign(loss=2.5)
    repeated = pd.concat([table.iloc[[4]]] * 10, ignore_index=True)
    doubled = table.copy()
    doubled["N"] = doubled["params"]
    infinite = table.copy()
    infinite.loc[2, "tokens"] = np.inf
    return {
        "empty": (table.iloc[:0], ("empty",)),
        "no loss column": (no_loss, ("missing required column", "loss")),
        "text in loss": (text_loss, ("row 4", "'abc' is not a number")),
        "negative params": (negative, ("row 1", "must be > 0")),
        "every loss equal": (flat, ("same value", "check the loss column")),
        "one point repeated": (repeated, ("1 distinct", "at least 5 distinct")),
        "two params columns": (doubled, ("map to 'params'",)),
        "infinite tokens": (infinite, ("row 3", "inf")),
        "four rows": (table.iloc[:4], ("at least 5 rows",)),
    }


@pytest.mark.parametrize(
    "name",
    [
        "empty",
        "no loss column",
        "text in loss",
        "negative params",
        "every loss equal",
        "one point repeated",
        "two params columns",
        "infinite tokens",
        "four rows",
    ],
)
@pytest.mark.parametrize("command", ["fit", "sample"])
def test_bad_tables_exit_2_naming_the_problem(command, name, table, tmp_path, capsys):
    frame, words = bad_tables(table)[name]
    path = write(tmp_path, "bad.csv", frame)
    code, output = run_cli(capsys, command, path, "--out", tmp_path / "out")
    assert_user_error(code, output, str(path), *words)


def test_unreadable_and_missing_files(tmp_path, capsys):
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    assert_user_error(*run_cli(capsys, "fit", binary), "binary.csv")
    assert_user_error(*run_cli(capsys, "fit", tmp_path / "absent.csv"), "file not found")
    text = tmp_path / "runs.txt"
    text.write_text("params,tokens,loss\n")
    assert_user_error(*run_cli(capsys, "bootstrap", text), "unsupported file type '.txt'")


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--column", "params"], ["CANONICAL=USER", "'params'"]),
        (["--column", "size=params"], ["unknown canonical column 'size'"]),
        (["--column", "params=Model Size"], ["'Model Size'", "not in the table"]),
        (["--drop-highest-loss", "-1"], ["--drop-highest-loss", ">= 0"]),
        (["--drop-highest-loss", "81"], ["would drop all 81 rows"]),
        (["--approach", "4"], ["--approach", "invalid choice"]),
    ],
)
def test_bad_fit_flags(flags, words, simulated_csv, tmp_path, capsys):
    code, output = run_cli(capsys, "fit", simulated_csv, "--out", tmp_path / "out", *flags)
    assert_user_error(code, output, *words)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["sample", "DATA", "--draws", "0"], ["--draws", "integer >= 1, got 0"]),
        (["sample", "DATA", "--chains", "0"], ["--chains", "got 0"]),
        (["sample", "DATA", "--warmup", "many"], ["--warmup", "expected int, got 'many'"]),
        (["sample", "DATA", "--learning-rate", "-1"], ["'sandwich' or a number > 0"]),
        (["sample", "DATA", "--approach", "4"], ["--approach", "invalid choice"]),
        (["calibrate", "--studies", "0"], ["--studies", "got 0"]),
        (["calibrate", "--noise", "-0.1"], ["--noise", "> 0"]),
        (["calibrate", "--points-per-budget", "2"], ["--points-per-budget", ">= 3"]),
        (["calibrate", "--scheme", "wilder"], ["--scheme", "invalid choice"]),
        (["calibrate", "--approach", "3", "--scheme", "block"], ["--scheme", "Approach 3"]),
        (["calibrate", "--approach", "2", "--scheme", "wild"], ["--scheme", "wild multiplies"]),
        (["calibrate", "--approach", "2", "--learning-rate", "1"], ["add --approach 3"]),
        (["calibrate", "--learning-rate", "0"], ["'sandwich' or a number > 0"]),
        (["bootstrap", "DATA", "--level", "95"], ["--level", "< 1, got 95.0"]),
        (["bootstrap", "DATA", "--resamples", "1"], ["--resamples", ">= 2"]),
        (["bootstrap", "DATA", "--chunk-size", "0"], ["--chunk-size", ">= 1"]),
        (["bootstrap", "DATA", "--seed", "-1"], ["--seed", ">= 0"]),
        (["bootstrap", "DATA", "--k-starts", "-1"], ["--k-starts", ">= 0"]),
        (["bootstrap", "DATA", "--scheme", "wilder"], ["--scheme", "invalid choice"]),
        (["demo", "--seed", "x"], ["--seed", "expected int"]),
        (["--cpu-devices", "zero", "demo"], ["--cpu-devices", "'zero'"]),
        (["fitt", "DATA"], ["invalid choice: 'fitt'"]),
        (["fit", "DATA", "--resamples", "5"], ["unrecognized arguments: --resamples"]),
        (["replicate", "chinchilla", "--resamples", "0"], ["--resamples", ">= 2, got 0"]),
        (["replicate", "chinchilla", "--chains", "0"], ["--chains", ">= 1"]),
        (["fit", "DATA", "--isoflop-nominal", "1e19,abc"], ["positive FLOP budgets"]),
        (["fit", "DATA", "--law", "nolaw"], ["unknown law 'nolaw'"]),
        (["bootstrap", "DATA", "--law", "nolaw"], ["unknown law 'nolaw'"]),
        (["sample", "DATA", "--law", "missing.py:LAW"], ["missing.py"]),
    ],
)
def test_bad_flags_exit_2_before_any_work(argv, words, simulated_csv, capsys):
    argv = [str(simulated_csv) if a == "DATA" else a for a in argv]
    code, output = run_cli(capsys, *argv)
    assert_user_error(code, output, *words)
    assert "rows kept" not in output  # refused before the data was read


CONFIGS = {
    "syntax error": ("approach = \n", ["not valid TOML", "line 1"]),
    "integer approach out of range": ("approach = 5\n", ["approach must be one of", "got '5'"]),
    "misspelt top-level key": ('aproach = "3"\n', ["unknown key 'aproach'", "'approach'"]),
    "misspelt table key": ("[bootstrap]\nresample = 10\n", ["[bootstrap]", "'resamples'"]),
    "unknown table": ("[bootstrapp]\nresamples = 10\n", ["unknown key 'bootstrapp'"]),
    "level as a percentage": ("[bootstrap]\nlevel = 95\n", ["bootstrap.level", "< 1"]),
    "zero draws": ("[posterior]\ndraws = 0\n", ["posterior.draws", ">= 1"]),
    "unknown likelihood": ('[posterior]\nlikelihood = "gauss"\n', ["'huber', 'student'"]),
    "drop as text": ('[data]\ndrop_highest_loss = "five"\n', ["data.drop_highest_loss"]),
    "unknown canonical column": ('[data.columns]\nparamz = "N"\n', ["'paramz'", "'params'"]),
    "unknown prior dist": (
        '[posterior.priors]\nalpha = {dist = "cauchy", loc = 0}\n',
        ["prior 'alpha'", "cauchy"],
    ),
    "prior without its numbers": (
        '[posterior.priors]\nalpha = {dist = "normal"}\n',
        ["prior 'alpha'", "lacks"],
    ),
    "nominal budgets not numbers": ('[isoflop]\nnominal = "big"\n', ["isoflop.nominal"]),
    "negative noise": ("[demo]\nnoise = -1.0\n", ["demo.noise", ">= 0"]),
    "table given as a value": ("data = 3\n", ["data must be a table"]),
    "boolean as a seed": ("[bootstrap]\nseed = true\n", ["bootstrap.seed", "integer"]),
    "sandwich misspelt": ('[posterior]\nlearning_rate = "sandwhich"\n', ["learning_rate"]),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bad_configs_exit_2_naming_file_and_key(name, simulated_csv, tmp_path, capsys):
    text, words = CONFIGS[name]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, output = run_cli(capsys, "bootstrap", simulated_csv, "--config", path)
    assert_user_error(code, output, "bad.toml", *words)
    assert "rows kept" not in output


def test_config_edge_cases(simulated_csv, tmp_path, capsys):
    assert config.validate({"approach": 3})["approach"] == "3"  # TOML integer, as a user writes
    assert config.validate({"bootstrap": {"approach": 2}})["bootstrap"]["approach"] == "2"
    with pytest.raises(ConfigError, match="not found"):
        config.read_config(tmp_path / "absent.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00approach")
    assert_user_error(*run_cli(capsys, "fit", simulated_csv, "--config", binary), "binary.toml")
    # Every shipped config passes its own schema.
    for shipped in sorted((REPO_ROOT / "configs").glob("*.toml")):
        assert config.read_config(shipped)


# -- paths ---------------------------------------------------------------------------------


def test_out_paths(simulated_csv, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    code, output = run_cli(capsys, "fit", simulated_csv, "--out", a_file)
    assert_user_error(code, output, "is a file, not a folder")
    code, output = run_cli(capsys, "fit", simulated_csv, "--out", a_file / "below")
    assert_user_error(code, output, "cannot create the output folder")
    code, output = run_cli(capsys, "calibrate", "--out", a_file)
    assert_user_error(code, output, "is a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_out(simulated_csv, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, output = run_cli(capsys, "fit", simulated_csv, "--out", locked)
    finally:
        locked.chmod(0o700)
    assert_user_error(code, output, "not writable")


def test_replicate_without_pooch_or_local_copy(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SCALINGLAW_DATA_DIR", raising=False)
    monkeypatch.setitem(sys.modules, "pooch", None)  # as if it were not installed
    code, output = run_cli(capsys, "replicate", "chinchilla", "--out", tmp_path / "r")
    assert_user_error(code, output, "pooch", "--data-dir")
    code, output = run_cli(capsys, "replicate", "chinchilla", "--data-dir", tmp_path / "none")
    assert_user_error(code, output, "not found")


# -- bugs and signals --------------------------------------------------------------------------


def test_a_bug_exits_1_with_the_traceback_only_under_debug(
    simulated_csv, tmp_path, capsys, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(cli.fit, "fit_study", broken)
    code, output = run_cli(capsys, "fit", simulated_csv, "--out", tmp_path / "a")
    assert code == 1 and "internal error" in output and "--debug" in output
    assert "Traceback" not in output
    code, output = run_cli(capsys, "fit", simulated_csv, "--out", tmp_path / "b", "--debug")
    assert code == 1 and "Traceback" in output and "simulated bug" in output


INTERRUPTIBLE_CLI = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'scalinglaw'; runpy.run_module('scalinglaw_jax.cli', run_name='__main__')"
)
"""``python -m scalinglaw_jax.cli`` with Ctrl-C raising KeyboardInterrupt whatever the parent
did with SIGINT."""


def test_ctrl_c_exits_130_naming_resume(simulated_csv, tmp_path):
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "scalinglaw_jax.cli", "bootstrap", str(simulated_csv)]
    command += ["--approach", "2", "--resamples", "200000", "--chunk-size", "16"]
    command += ["--no-progress", "--no-bca", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), JAX_PLATFORMS="cpu")
    # A shell's background job starts with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: the command gets Python's own, as a user's terminal gives it.
    command[1:3] = ["-c", INTERRUPTIBLE_CLI]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first_chunk = out / "bootstrap_approach2_chunks" / "chunk_000000.npz"
    deadline = time.monotonic() + 240
    while not first_chunk.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr and "--resume" in stderr.strip().splitlines()[-1]


# -- output folders ---------------------------------------------------------------------------


def test_output_folder_belongs_to_one_data_set(table, tmp_path, capsys, monkeypatch):
    first = write(tmp_path, "first.csv", table)
    second = write(tmp_path, "second.csv", table.iloc[::2])
    out = tmp_path / "out"
    code, output = run_cli(capsys, "fit", first, "--approach", "2", "--out", out)
    assert code == 0, output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["source"] == str(first.resolve())
    assert len(summary["data"]["file_sha256"]) == 64 and summary["data"]["rows"] == len(table)
    assert summary["settings"]["fit"]["approach"] == "2"
    assert (out / "isoflop_profiles.svg").is_file()

    (out / "parametric_contours.svg").write_bytes(b"from an earlier Approach-3 fit")
    code, output = run_cli(capsys, "fit", second, "--approach", "2", "--out", out)
    assert_user_error(code, output, "holds results of other data", "--overwrite")

    code, output = run_cli(capsys, "fit", second, "--approach", "2", "--out", out, "--overwrite")
    assert code == 0, output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["source"] == str(second.resolve())
    assert summary["data"]["rows"] == len(table.iloc[::2])
    assert set(summary["approaches"]) == {"2", "kaplan", "skipped"}
    assert not (out / "parametric_contours.svg").exists()  # the stale figure is gone
    assert (out / "isoflop_profiles.svg").is_file()

    # A run that fails while drawing leaves the previous summary, not a new half one.
    before = (out / "summary.json").read_text()

    def failing_figures(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(cli.study, "write_figures", failing_figures)
    code, output = run_cli(capsys, "fit", second, "--approach", "2", "--out", out)
    assert code == 1
    after = json.loads((out / "summary.json").read_text())
    assert after["approaches"] == json.loads(before)["approaches"]
    assert not list(out.glob("*.tmp"))


def test_overwrite_removes_only_this_packages_files(table, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "summary.json").write_text("{ truncated")
    path = write(tmp_path, "runs.csv", table)
    code, output = run_cli(capsys, "fit", path, "--approach", "2", "--out", out)
    assert_user_error(code, output, "not readable JSON", "--overwrite")
    code, output = run_cli(capsys, "fit", path, "--approach", "2", "--out", out, "--overwrite")
    assert code == 0, output
    assert (out / "notes.txt").read_text() == "mine"


# -- degenerate data and units (API) ----------------------------------------------------------


RANDOM_STARTS = 64
"""Random starts of the quick fits of ``table`` below: the count of ``test_parametric``'s
random-start fit of the same table, so all of them run one compiled program."""


def test_api_validates_dataframes_like_the_cli(table):
    negative = table.copy()
    negative.loc[5, "loss"] = -1.0
    with pytest.raises(DataError, match="row 6, column 'loss': must be > 0"):
        fit_parametric(negative, starts=RANDOM_STARTS, key=jax.random.key(0))
    with pytest.raises(DataError, match="delta"):
        fit_parametric(table, starts=RANDOM_STARTS, key=jax.random.key(0), delta=0.0)
    with pytest.raises(DataError, match="same value"):
        fit_isoflop(table.assign(loss=3.0))
    with pytest.raises(DataError, match="source must be a path"):
        fit_parametric([1, 2, 3], starts=RANDOM_STARTS, key=jax.random.key(0))
    aliased = table.rename(columns={"params": "N", "tokens": "D", "loss": "L"})
    aliased = aliased.drop(columns=["flops", "budget"])
    by_alias = fit_parametric(aliased, starts=RANDOM_STARTS, key=jax.random.key(0))
    by_name = fit_parametric(load_runs(table), starts=RANDOM_STARTS, key=jax.random.key(0))
    assert by_alias.frontier.a == by_name.frontier.a


def test_exponents_do_not_depend_on_the_loss_unit(table):
    fits = {}
    for scale in (1.0, 1e100, 1e-3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            runs = load_runs(table.assign(loss=table["loss"] * scale))
        fits[scale] = fit_parametric(runs, starts=RANDOM_STARTS, key=jax.random.key(1))
        assert fits[scale].n_converged > 0
    for scale, fit in fits.items():
        assert fit.frontier.a == pytest.approx(fits[1.0].frontier.a, abs=1e-6), scale
        assert fit.params["E"] == pytest.approx(fits[1.0].params["E"] * scale, rel=1e-5)


def test_as_many_parameters_as_points_is_warned(table):
    five = table.iloc[[0, 10, 20, 30, 40]]
    with pytest.warns(UserWarning, match="as many parameters as distinct points"):
        fit_parametric(five, starts=4, key=jax.random.key(0))


def test_implausible_units_are_warned_with_the_fix(table):
    in_billions = table.assign(params=table["params"] / 1e9).drop(columns=["flops"])
    with pytest.warns(UserWarning, match="look like millions or billions"):
        runs = load_runs(in_billions)
    assert any("raw counts" in message for message in runs.warnings)
    with pytest.warns(UserWarning, match="check the unit"):
        load_runs(table.assign(loss=table["loss"] * 1000))


def test_flat_isoflop_budget_is_excluded_not_fitted(table):
    first_budget = table["budget"] == table["budget"].min()
    flat = table.copy()
    flat.loc[first_budget, "loss"] = 2.5
    result = fit_isoflop(flat)
    assert result.solution.n_valid == table["budget"].nunique() - 1
    [(budget, reason)] = result.excluded
    assert budget == pytest.approx(table["budget"].min()) and "no interior minimum" in reason


# -- checkpoints and memory -------------------------------------------------------------------


@pytest.fixture(scope="module")
def isoflop_problem(simulated_csv):
    return resample.prepare(load_runs(simulated_csv), "2", "nonparametric")


def test_swapped_chunk_is_recomputed(isoflop_problem, tmp_path, capsys):
    folder = tmp_path / "chunks"
    options = dict(seed=4, chunk_size=8, progress=False, checkpoint_dir=folder)
    full = resample.run_sweep(isoflop_problem, 24, **options)
    (folder / "chunk_000001.npz").write_bytes((folder / "chunk_000000.npz").read_bytes())
    again = resample.run_sweep(isoflop_problem, 24, resume=True, **options)
    assert again.recomputed_chunks == 1 and again.resumed_chunks == 2
    assert "chunk 1" in capsys.readouterr().out
    np.testing.assert_array_equal(full.outputs["a"], again.outputs["a"])


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_manifest_lost_means_start_afresh(damage, isoflop_problem, tmp_path, capsys):
    folder = tmp_path / "chunks"
    options = dict(chunk_size=8, progress=False, checkpoint_dir=folder)
    resample.run_sweep(isoflop_problem, 24, seed=0, **options)
    manifest = folder / "manifest.json"
    if damage == "deleted":
        manifest.unlink()
    else:
        manifest.write_text(manifest.read_text()[:20])
    capsys.readouterr()
    seed5 = resample.run_sweep(isoflop_problem, 24, seed=5, resume=True, **options)
    assert "starts afresh" in capsys.readouterr().out
    assert seed5.resumed_chunks == 0  # seed-0 chunks never relabelled as seed 5
    fresh = resample.run_sweep(isoflop_problem, 24, seed=5, chunk_size=8, progress=False)
    np.testing.assert_array_equal(fresh.outputs["a"], seed5.outputs["a"])


def test_explicit_chunk_size_is_capped(isoflop_problem, capsys, monkeypatch):
    sweep = resample.run_sweep(isoflop_problem, 6, seed=1, chunk_size=10**9, progress=False)
    assert sweep.chunk_size == 6 and "capped at 6 (the resamples asked for)" in (
        capsys.readouterr().out
    )
    memory = 32 * isoflop_problem.bytes_per_resample / resample.MEMORY_FRACTION
    monkeypatch.setattr(resample, "free_memory_bytes", lambda device=None: memory)
    sweep = resample.run_sweep(isoflop_problem, 100, seed=1, chunk_size=10**6, progress=False)
    assert sweep.chunk_size == 32 and "free memory" in capsys.readouterr().out
