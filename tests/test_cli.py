"""The ``scalinglaw`` command end to end: fit, demo, configs and error messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jax
import pandas as pd
import pytest

from scalinglaw_jax.cli import main
from tests.test_report import assert_self_contained

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def read_summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_fit_approach3_writes_summary(epoch_csv, tmp_path, capsys):
    code = main(
        [
            "fit",
            str(epoch_csv),
            "--approach",
            "3",
            "--drop-highest-loss",
            "5",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    entry = read_summary(tmp_path)["approaches"]["3"]
    assert set(entry["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert entry["objective"] == pytest.approx(1.01827e-3, rel=1e-5)
    assert entry["n_starts"] == 4500
    assert entry["n_converged"] <= 4500
    assert entry["a"] == pytest.approx(0.514, abs=1e-3)
    assert entry["G"] > 0
    printed = capsys.readouterr().out
    assert "objective (summed Huber" in printed
    assert "dropped by drop_highest_loss=5" in printed


def test_fit_all_with_config_reports_skips(epoch_csv, tmp_path, capsys):
    code = main(
        [
            "fit",
            str(epoch_csv),
            "--config",
            str(CONFIGS / "epoch_chinchilla.toml"),
            "--approach",
            "2",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    summary = read_summary(tmp_path)["approaches"]
    assert 0.46 < summary["2"]["a"] < 0.54
    assert summary["2"]["n_unassigned"] > 50
    assert (tmp_path / "isoflop_profiles.svg").stat().st_size > 0
    capsys.readouterr()
    code = main(
        [
            "fit",
            str(epoch_csv),
            "--config",
            str(CONFIGS / "epoch_chinchilla.toml"),
            "--approach",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "run" in capsys.readouterr().err


def test_demo_runs_all_approaches(tmp_path, capsys):
    config = ["--config", str(CONFIGS / "demo.toml")]
    assert main(["demo", "--out", str(tmp_path), *config, "--resamples", "20"]) == 0
    summary = read_summary(tmp_path)["approaches"]
    assert {"1", "2", "3", "kaplan"} <= set(summary)
    truth_a = 0.45652591
    # Noise 1% on the demo's losses: every approach lands near the true exponent (see the
    # approach tests for the noise-free bounds); Kaplan's 0.73 is far from all of them.
    for key in ("1", "2", "3"):
        assert summary[key]["a"] == pytest.approx(truth_a, abs=0.04), key
    assert summary["kaplan"]["a"] == 0.73
    for stem in ("params_vs_flops", "params_vs_tokens", "isoflop_profiles", "parametric_contours"):
        assert (tmp_path / f"{stem}.svg").stat().st_size > 1000  # the default format
        for suffix in ("png", "pdf"):  # on request
            assert not (tmp_path / f"{stem}.{suffix}").exists()
    printed = capsys.readouterr().out
    assert "Kaplan et al. (2020)" in printed
    # A bootstrap band on every approach line of both seed figures, recorded in summary.json.
    bootstrap = read_summary(tmp_path)["bootstrap"]
    for key, name in (("1", "envelope"), ("2", "isoflop"), ("3", "parametric")):
        assert bootstrap[key]["n_resamples"] == 20 and bootstrap[key]["band"]["drawn"], key
        for stem in ("params_vs_flops", "params_vs_tokens"):
            svg = (tmp_path / f"{stem}.svg").read_text()
            assert f'<g id="band-bootstrap-approach-{key}-{name}">' in svg, (key, stem)
    assert_self_contained(tmp_path / "report.html", n_figures=4)


def test_bad_table_is_a_clear_error(tmp_path, capsys):
    table = pd.DataFrame(
        {
            "N": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9],
            "D": [1e9] * 6,
            "loss": [3.0, 2.9, "oops", 2.7, 2.6, 2.5],
        }
    )
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    assert main(["fit", str(path), "--approach", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "row 3" in err and "'loss'" in err and "oops" in err


def test_column_mapping_flag(tmp_path):
    sizes, tokens = [1e8, 4e8, 1.6e9, 6.4e9], [2e9, 2e10, 2e11]
    table = pd.DataFrame([(n, d) for n in sizes for d in tokens], columns=["size", "toks"])
    table["val"] = 1.7 + 400 / table["size"] ** 0.34 + 410 / table["toks"] ** 0.28
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    args = [
        "fit",
        str(path),
        "--approach",
        "3",
        "--out",
        str(tmp_path),
        "--column",
        "params=size",
        "--column",
        "tokens=toks",
        "--column",
        "loss=val",
    ]
    assert main(args) == 0
    params = read_summary(tmp_path)["approaches"]["3"]["params"]
    assert params["alpha"] == pytest.approx(0.34, rel=1e-5)
    assert params["beta"] == pytest.approx(0.28, rel=1e-5)


def test_skip_bad_rows_lists_every_exclusion(tmp_path, capsys):
    sizes, tokens = [1e8, 4e8, 1.6e9, 6.4e9], [2e9, 2e10, 2e11]
    table = pd.DataFrame([(n, d) for n in sizes for d in tokens], columns=["Model Size", "D"])
    table["Training FLOP"] = 6 * table["Model Size"] * table["D"] * 1.3  # logged, not 6ND
    table["final loss"] = (
        1.7 + 400 / table["Model Size"] ** 0.34 + 410 / table["D"] ** 0.28
    ).astype(object)
    table.loc[2, "final loss"] = "n/a"
    table.loc[7, "D"] = -1.0
    path = tmp_path / "runs.csv"
    table.to_csv(path, index=False)
    args = ["fit", str(path), "--approach", "3", "--out", str(tmp_path), "--skip-bad-rows"]
    with pytest.warns(UserWarning, match="6"):
        assert main(args) == 0
    printed = capsys.readouterr().out
    assert "row 3" in printed and "row 8" in printed
    assert read_summary(tmp_path)["approaches"]["3"]["n_starts"] == 4500


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("zero", "--cpu-devices must be a positive integer or 'auto', got 'zero'"),
        ("0", "--cpu-devices must be a positive integer or 'auto', got '0'"),
        # This process has already run JAX computations: too late to add devices.
        ("2", "cannot switch to 2 CPU devices: JAX has already run a computation"),
    ],
)
def test_cpu_devices_flag_errors_are_clear(value, message, tmp_path, capsys):
    jax.numpy.zeros(1).block_until_ready()  # make sure JAX has started
    assert main(["--cpu-devices", value, "demo", "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "summary.json").exists()


def test_calibrate_writes_report(tmp_path):
    args = ["calibrate", "--studies", "1", "--approach", "2", "--resamples", "10"]
    args += ["--chains", "1", "--draws", "30", "--warmup", "30", "--no-progress"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    page = assert_self_contained(tmp_path / "report.html", n_figures=0)
    assert "coverage" in "".join(page.text)


# -- the command template ----------------------------------------------------------------------


def test_backtest_law_missing_a_column_exits_2_at_once_writing_nothing(
    simulated_csv, tmp_path, capsys, monkeypatch
):
    """README's two-law backtest on a table without ``unique_tokens``: refused before any fit
    (every law's columns are checked against the table up front), nothing written."""
    from scalinglaw_jax.evaluate import backtest

    def no_fit(*args, **kwargs):
        raise AssertionError("a fit started before the table was checked")

    monkeypatch.setattr(backtest, "backtest_law", no_fit)
    out = tmp_path / "out"
    argv = ["backtest", str(simulated_csv), "--law", "chinchilla", "--law", "data_constrained"]
    code = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "law 'data_constrained' needs column 'unique_tokens'" in err
    assert not out.exists()


def test_an_approach_missing_its_column_exits_2_writing_nothing(simulated_csv, tmp_path, capsys):
    """Approach 1 asked for alone on a table without training curves: refused before any fit,
    nothing written (``--approach all`` skips it instead)."""
    out = tmp_path / "out"
    assert main(["fit", str(simulated_csv), "--approach", "1", "--out", str(out)]) == 2
    assert "needs a 'run' column grouping rows into training curves" in capsys.readouterr().err
    assert not out.exists()


def test_a_misspelt_flag_names_the_nearest_one(simulated_csv, capsys):
    assert main(["bootstrap", str(simulated_csv), "--resampels", "10"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --resampels" in err and "'--resamples'" in err


def test_settings_are_recorded_with_their_sources(simulated_csv, tmp_path):
    """summary.json records each setting's value and source; report.html shows the resolved
    values formatted for people, never "(default)"."""
    config = tmp_path / "c.toml"
    config.write_text('approach = "1"\n[data]\ndrop_highest_loss = 1\n')
    out = tmp_path / "out"
    argv = ["fit", str(simulated_csv), "--config", str(config), "--approach", "2"]
    assert main([*argv, "--out", str(out)]) == 0
    settings = read_summary(out)["settings"]["fit"]
    assert settings["approach"] == "2" and settings["sources"]["approach"] == "flag"
    assert settings["drop_highest_loss"] == 1
    assert settings["sources"]["drop_highest_loss"] == "config"
    assert settings["law"] == "chinchilla" and settings["sources"]["law"] == "default"
    assert settings["config_values"]["data"] == {"drop_highest_loss": 1}
    page = (out / "report.html").read_text()
    assert "(default)" not in page
    row = r"<tr><td>{}</td><td>{}</td><td[^>]*>{}</td></tr>"
    assert re.search(row.format("figure_formats", "svg", "default"), page)
    assert re.search(row.format("drop_highest_loss", "1", "config"), page)
    assert re.search(row.format("approach", "2", "flag"), page)
    assert re.search(row.format("law", "chinchilla", "default"), page)
    budgets = "the budget column, else gaps in log FLOPs"
    assert re.search(row.format("isoflop_nominal", budgets, "default"), page)


def test_option_defaults_match_the_library():
    """Defaults the command line shows without importing numpyro are the library's."""
    from scalinglaw_jax.cli import sample
    from scalinglaw_jax.cli.options import specs
    from scalinglaw_jax.uncertainty import posterior

    defaults = {name: default for name, (_, default) in specs(sample.Options).items()}
    nuts = posterior.NutsSettings()
    for name in ("chains", "draws", "warmup", "target_accept"):
        assert defaults[name] == getattr(nuts, name), name
    assert defaults["huber_k"] == posterior.DEFAULT_HUBER_K
    assert defaults["student_df"] == posterior.DEFAULT_STUDENT_DF
    assert sample.LIKELIHOODS == posterior.LIKELIHOODS


def test_every_command_declares_help_and_config_keys_the_schema_accepts():
    """Each flag has its help text (the options record's docstring); each config key a
    command reads is in the schema, with the flag's check."""
    from scalinglaw_jax.cli import config
    from scalinglaw_jax.cli.commands import COMMANDS
    from scalinglaw_jax.cli.options import helps, specs

    schema = config.schema()
    for command in COMMANDS:
        texts = helps(command.options)
        for name, (spec, _) in specs(command.options).items():
            if spec.flags:
                assert texts.get(name), (command.name, name)
            if spec.config:
                node = schema
                for part in spec.config.split("."):
                    node = node[part]
                assert callable(node), (command.name, name)
