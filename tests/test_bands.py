"""Bands on the approach lines: which are drawn, from which draws, and what the SVG shows."""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path

import jax
import numpy as np
import pytest

from scalinglaw_jax.approaches import parametric_spec, registry
from scalinglaw_jax.cli import main
from scalinglaw_jax.core import intervals
from scalinglaw_jax.core.solvers import chinchilla_grid
from scalinglaw_jax.figures import plots
from scalinglaw_jax.laws import closed_forms
from scalinglaw_jax.laws.simulate import simulate_final_losses
from scalinglaw_jax.uncertainty import bands, resample
from scalinglaw_jax.uncertainty.posterior import Diagnostics, Posterior
from tests.test_report import assert_self_contained

# --- which draws a band uses ----------------------------------------------------------------


def _sweep_result(n: int, n_failed: int, level: float = 0.9) -> resample.BootstrapResult:
    """A bootstrap of Approach 2 whose first ``n_failed`` resamples have no frontier."""
    rng = np.random.default_rng(0)
    a = 0.5 + 0.01 * rng.standard_normal(n)
    outputs = {"a": a, "b": 1.0 - a, "log_g_n": -2.0 + 0.1 * rng.standard_normal(n)}
    outputs["log_g_d"] = -np.log(6.0) - outputs["log_g_n"]
    outputs["status"] = np.zeros(n, dtype=np.int32)
    outputs["status"][:n_failed] = 1
    for name in ("a", "b", "log_g_n", "log_g_d"):
        outputs[name][:n_failed] = np.nan
    problem = resample.Problem(
        approach="2",
        scheme="nonparametric",
        n_units=10,
        fit_chunk=None,
        data=None,
        point=None,
        estimate={},
        quantities=("a", "b"),
        data_hash="",
        config={},
        bytes_per_resample=0.0,
        jackknife_affordable=True,
    )
    return resample.BootstrapResult(resample.Sweep(outputs, problem, 0, n, 0, 0, 1.0), level)


def test_bootstrap_band_uses_successful_resamples_only():
    result = _sweep_result(100, 10)
    entry = bands.bootstrap_band(result, flops=np.array([1e20, 1e24]))
    ok = slice(10, None)
    out = result.sweep.outputs
    expected = intervals.band_from_draws(
        np.array([1e20, 1e24]),
        out["log_g_n"][ok],
        out["a"][ok],
        out["log_g_d"][ok],
        out["b"][ok],
        level=0.9,
    )
    assert entry.band.n_draws == 90 and entry.note == ""
    np.testing.assert_array_equal(entry.band.n_high, expected.n_high)
    assert entry.label == "90% nonparametric bootstrap band (100 resamples)"


def test_bootstrap_band_left_out_when_too_many_resamples_failed():
    entry = bands.bootstrap_band(_sweep_result(100, 11))
    assert entry.band is None
    assert "11 of 100 resamples failed" in entry.note
    record = bands.band_to_dict(entry)
    assert record["drawn"] is False and record["note"] == entry.note


def _posterior(ok: bool) -> Posterior:
    rng = np.random.default_rng(1)
    a = 0.5 + 0.01 * rng.standard_normal(400)
    log_g_n = -2.0 + 0.1 * rng.standard_normal(400)
    draws = {"a": a, "b": 1 - a, "log_g_n": log_g_n, "log_g_d": -np.log(6.0) - log_g_n}
    reasons = () if ok else ("R-hat 1.2000 >= 1.01",)
    diagnostics = Diagnostics(1.0 if ok else 1.2, 500.0, 500.0, 0, 400, ok, reasons)
    return Posterior(3, None, draws, diagnostics, ("a",))


def test_posterior_band_only_when_diagnostics_pass():
    good = bands.posterior_band(_posterior(True))
    assert good.band.kind == "posterior" and good.band.n_draws == 400
    assert good.label == "95% posterior band (NUTS, 400 draws)"
    bad = bands.posterior_band(_posterior(False))
    assert bad.band is None and "R-hat 1.2000 >= 1.01" in bad.note


def test_band_grid_holds_1e24_exactly():
    assert 1e24 in bands.BAND_FLOPS
    assert bands.BAND_FLOPS[0] == 1e17 and bands.BAND_FLOPS[-1] == 1e26


# --- the band drawn in the SVG is the band in summary.json ----------------------------------

_NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"


def _group(svg: str, gid: str) -> str:
    match = re.search(rf'<g id="{re.escape(gid)}">(.*?)</g>', svg, flags=re.S)
    assert match, f"no group {gid!r} in the SVG"
    return match.group(1)


def _star_positions(svg: str) -> np.ndarray:
    """Display (x, y) of each reference model's star, in ``REFERENCE_MODELS`` order."""
    points = []
    for model in closed_forms.REFERENCE_MODELS:
        slug = plots._slug(model.name)
        use = re.search(rf'x="({_NUMBER})" y="({_NUMBER})"', _group(svg, f"reference-model-{slug}"))
        points.append([float(use.group(1)), float(use.group(2))])
    return np.array(points)


def band_edges_at(svg: str, gid: str, flops: float) -> tuple[float, float]:
    """Low and high N_opt of the band ``gid`` at ``flops``, read from a params_vs_flops SVG.

    The log-log axes map to display coordinates linearly; the map is fitted on the four stars,
    whose data coordinates are known, and inverted at the band's vertices at ``flops``.
    """
    stars = _star_positions(svg)
    log_x = np.log10([m.flops for m in closed_forms.REFERENCE_MODELS])
    log_y = np.log10([m.params for m in closed_forms.REFERENCE_MODELS])
    fit_x, fit_y = np.polyfit(log_x, stars[:, 0], 1), np.polyfit(log_y, stars[:, 1], 1)
    assert np.allclose(np.polyval(fit_x, log_x), stars[:, 0], atol=1e-3)
    assert np.allclose(np.polyval(fit_y, log_y), stars[:, 1], atol=1e-3)
    # matplotlib writes a fill either as a plain path or (unhatched, unstroked) as a path in
    # <defs> placed by a <use> at an offset.
    group = _group(svg, gid)
    path = re.search(r'<path (?:id="[^"]+" )?d="([^"]+)"', group).group(1)
    vertices = np.array(re.findall(rf"({_NUMBER}) ({_NUMBER})", path), dtype=float)
    use = re.search(rf'<use [^>]*x="({_NUMBER})" y="({_NUMBER})"', group)
    if use:
        vertices += np.array(use.groups(), dtype=float)
    at = np.abs(vertices[:, 0] - np.polyval(fit_x, np.log10(flops))) < 1e-3
    assert at.sum() == 2, f"expected the band's two edges at {flops:g} FLOPs"
    values = 10 ** ((vertices[at, 1] - fit_y[1]) / fit_y[0])
    return float(values.min()), float(values.max())


def _assert_band_matches_summary(out: Path, section: str, approach: str) -> None:
    record = json.loads((out / "summary.json").read_text())[section][approach]["band"]
    assert record["drawn"] is True
    i = record["flops"].index(1e24)
    expected = (record["n_opt"][0][i], record["n_opt"][1][i])
    svg = (out / "params_vs_flops.svg").read_text()
    name = plots._slug(registry.get(approach).name)
    low, high = band_edges_at(svg, f"band-{record['kind']}-{name}", 1e24)
    assert low == pytest.approx(expected[0], rel=1e-5)
    assert high == pytest.approx(expected[1], rel=1e-5)
    assert low < high


@pytest.fixture
def quick_point_fit(monkeypatch):
    """The full-data Approach-3 fit from every 25th grid start (same optimum, ~20x faster)."""
    quick = partial(parametric_spec.fit_parametric, starts=chinchilla_grid()[::25])
    monkeypatch.setattr(parametric_spec, "fit_parametric", quick)


@pytest.fixture(scope="module")
def simulated_csv(tmp_path_factory) -> Path:
    """Final losses of a 6 x 6 grid of sizes and token counts from the paper's law, 1% noise."""
    table = simulate_final_losses(
        jax.random.key(3),
        np.geomspace(5e7, 5e9, 6),
        np.geomspace(1e9, 2e11, 6),
        grid=True,
        noise=0.01,
    )
    path = tmp_path_factory.mktemp("simulated") / "final.csv"
    table.to_csv(path, index=False)
    return path


BAND_RESAMPLES = 20
"""Resamples of the Approach 3 bands, drawn by ``bootstrap`` and by ``fit --bootstrap`` alike
(the default k-starts, no BCa), so both commands run one compiled sweep program."""


def _bootstrap_args(data, out) -> list[str]:
    return [
        "bootstrap",
        str(data),
        "--approach",
        "3",
        "--resamples",
        str(BAND_RESAMPLES),
        "--no-bca",
        "--no-progress",
        "--out",
        str(out),
    ]


def test_bootstrap_approach3_draws_the_summary_band(simulated_csv, tmp_path, quick_point_fit):
    formats = ["--figure-formats", "png,svg,pdf"]
    assert main(_bootstrap_args(simulated_csv, tmp_path) + formats) == 0
    _assert_band_matches_summary(tmp_path, "bootstrap", "3")
    record = json.loads((tmp_path / "summary.json").read_text())["bootstrap"]["3"]["band"]
    assert record["label"] == f"95% nonparametric bootstrap band ({BAND_RESAMPLES} resamples)"
    assert (tmp_path / "params_vs_flops.svg").read_text().count('<g id="band') == 1
    for stem in ("params_vs_flops", "params_vs_tokens"):
        for suffix in ("png", "svg", "pdf"):
            assert (tmp_path / f"{stem}.{suffix}").stat().st_size > 1000
    assert '<g id="band-bootstrap-approach-3' in (tmp_path / "params_vs_tokens.svg").read_text()
    assert (tmp_path / "report.html").is_file()


def test_sample_approach3_draws_the_summary_band(simulated_csv, tmp_path):
    args = [
        "sample",
        str(simulated_csv),
        "--approach",
        "3",
        "--chains",
        "2",
        "--draws",
        "600",  # the default 500 warmup steps: 300 left R-hat at 1.015-1.02 on some CPUs
        "--learning-rate",
        "1",
        "--no-progress",
        "--out",
        str(tmp_path),
    ]
    assert main(args) == 0
    record = json.loads((tmp_path / "summary.json").read_text())["posterior"]["3"]
    assert record["ok"], record["reasons"]
    _assert_band_matches_summary(tmp_path, "posterior", "3")


def test_epoch_bootstrap_and_sample_draw_the_summary_band(epoch_csv, tmp_path, quick_point_fit):
    out = tmp_path / "bootstrap"
    assert main([*_bootstrap_args(epoch_csv, out), "--drop-highest-loss", "5"]) == 0
    _assert_band_matches_summary(out, "bootstrap", "3")
    out = tmp_path / "sample"
    args = ["sample", str(epoch_csv), "--approach", "3", "--drop-highest-loss", "5"]
    args += ["--chains", "2", "--draws", "400", "--warmup", "300", "--learning-rate", "1"]
    args += ["--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    record = json.loads((out / "summary.json").read_text())["posterior"]["3"]
    if record["ok"]:
        _assert_band_matches_summary(out, "posterior", "3")
    else:  # a posterior that fails its checks is not drawn, and says why
        assert record["band"]["drawn"] is False and record["band"]["note"]
        assert 'id="band' not in (out / "params_vs_flops.svg").read_text()


def test_fit_with_bootstrap_draws_bands_and_report(simulated_csv, tmp_path, quick_point_fit):
    args = ["fit", str(simulated_csv), "--approach", "3", "--bootstrap", str(BAND_RESAMPLES)]
    assert main([*args, "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["bootstrap"]["3"]["n_resamples"] == BAND_RESAMPLES
    _assert_band_matches_summary(tmp_path, "bootstrap", "3")
    page = assert_self_contained(tmp_path / "report.html", n_figures=3)
    assert f"nonparametric bootstrap band ({BAND_RESAMPLES} resamples)" in "".join(page.text)


def test_too_few_resamples_is_a_clear_error(simulated_csv, tmp_path, capsys):
    assert main(["demo", "--resamples", "1", "--out", str(tmp_path)]) == 2
    assert "--resamples must be at least 2, got 1" in capsys.readouterr().err
    assert main(["fit", str(simulated_csv), "--bootstrap", "1", "--out", str(tmp_path)]) == 2
    assert "--bootstrap must be at least 2 resamples, got 1" in capsys.readouterr().err
