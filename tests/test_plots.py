"""Figures: expected artists per option, band percentiles, and saving in three formats."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from scalinglaw_jax.core import intervals
from scalinglaw_jax.core.frontier import Frontier
from scalinglaw_jax.figures import plots
from scalinglaw_jax.laws import closed_forms

FLOPS = np.geomspace(1e17, 1e26, 50)


def _frontier_a2() -> Frontier:
    """An Approach-2-like frontier with ``a = 0.49`` and ``N_opt(1.2e20) = 1B`` (Table A3)."""
    log_g_n = math.log(1e9) - 0.49 * math.log(1.2e20)
    return Frontier(0.49, 0.51, log_g_n, -math.log(6.0) - log_g_n)


def _draws(frontier: Frontier, n: int = 300, seed: int = 0):
    """Per-draw coefficients scattered around ``frontier``, each obeying ``C = 6 N D``."""
    rng = np.random.default_rng(seed)
    a = frontier.a + 0.015 * rng.standard_normal(n)
    log_g_n = frontier.log_g_n + (frontier.a - a) * math.log(1e20) + 0.03 * rng.standard_normal(n)
    return log_g_n, a, -math.log(6.0) - log_g_n, 1.0 - a


def _gid(ax: Axes, gid: str) -> list:
    return [artist for artist in ax.get_children() if artist.get_gid() == gid]


def _stars(ax: Axes) -> list:
    return [a for a in ax.get_children() if (a.get_gid() or "").startswith("reference-model-")]


def _assert_stars_coloured_and_listed(ax: Axes) -> None:
    """One star per reference model, in its seed-figure colour, named in the legend."""
    stars = _stars(ax)
    assert len(stars) == 4 and all(len(s.get_offsets()) == 1 for s in stars)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for model, star in zip(closed_forms.REFERENCE_MODELS, stars, strict=True):
        assert f"{model.name} ({plots._format_count(model.params)})" in legend
        np.testing.assert_allclose(star.get_facecolor()[0], to_rgba(plots.STAR_COLORS[model.name]))


@pytest.fixture(scope="module")
def lines():
    paper = Frontier(
        *(float(x) for x in closed_forms.CHINCHILLA.frontier(jnp.asarray(closed_forms.PAPER_THETA)))
    )
    a2 = _frontier_a2()
    boot = intervals.band_from_draws(FLOPS, *_draws(a2), kind="bootstrap")
    post = intervals.band_from_draws(FLOPS, *_draws(a2, seed=1), level=0.9, kind="posterior")
    return [
        plots.FrontierLine("Approach 2", a2, bands=(boot, post)),
        plots.FrontierLine("Approach 3", paper),
        plots.FrontierLine("Kaplan-like", closed_forms.KAPLAN_FRONTIER, color="C5", linestyle=":"),
    ]


@pytest.fixture(scope="module")
def runs():
    rng = np.random.default_rng(2)
    flops = 10.0 ** rng.uniform(18, 21, 40)
    params = 10.0 ** rng.uniform(7.5, 10, 40)
    return SimpleNamespace(
        flops=flops, params=params, tokens=flops / (6 * params), loss=rng.uniform(2, 4, 40)
    )


@pytest.fixture(scope="module")
def profiles():
    """IsoFLOP profiles from the paper's law; the largest budget is sampled off-centre."""
    e, a, b, alpha, beta = closed_forms.PAPER_PARAMS
    frontier = closed_forms.CHINCHILLA.frontier(jnp.asarray(closed_forms.PAPER_THETA))
    out = []
    for c in closed_forms.CHINCHILLA_ISOFLOP_BUDGETS:
        shift = 2.0 if c == 3e21 else 0.0
        log_n = float(jnp.log(frontier.n_opt(c))) + shift + np.linspace(-1.5, 1.5, 9)
        n = np.exp(log_n)
        loss = float(e) + float(a) / n ** float(alpha) + float(b) / (c / (6 * n)) ** float(beta)
        coef = np.polyfit(log_n, loss, 2)[::-1]
        vertex = -coef[1] / (2 * coef[2])
        valid = bool(coef[2] > 0 and log_n.min() <= vertex <= log_n.max())
        out.append(
            SimpleNamespace(
                flops=c, log_n=log_n, loss=loss, coef=coef, vertex_log_n=vertex, valid=valid
            )
        )
    return out


# --- band_from_draws ----------------------------------------------------------------------


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_band_percentiles_match_numpy(level):
    log_g_n, a, log_g_d, b = _draws(_frontier_a2())
    band = intervals.band_from_draws(FLOPS, log_g_n, a, log_g_d, b, level=level)
    q = [50 * (1 - level), 50 * (1 + level)]
    log_c = np.log(FLOPS)
    n_expected = np.exp(np.percentile(log_g_n[:, None] + a[:, None] * log_c, q, axis=0))
    d_expected = np.exp(np.percentile(log_g_d[:, None] + b[:, None] * log_c, q, axis=0))
    np.testing.assert_allclose([band.n_low, band.n_high], n_expected, rtol=1e-12)
    np.testing.assert_allclose([band.d_low, band.d_high], d_expected, rtol=1e-12)
    assert (band.level, band.kind, band.n_draws, band.n_dropped) == (level, "bootstrap", 300, 0)


def test_band_contains_central_line():
    frontier = _frontier_a2()
    band = intervals.band_from_draws(FLOPS, *_draws(frontier), kind="posterior")
    n_opt, d_opt = np.asarray(frontier.n_opt(FLOPS)), np.asarray(frontier.d_opt(FLOPS))
    assert np.all((band.n_low < n_opt) & (n_opt < band.n_high))
    assert np.all((band.d_low < d_opt) & (d_opt < band.d_high))


def test_band_ignores_and_reports_nan_draws():
    coefs = [np.asarray(x) for x in _draws(_frontier_a2())]
    with_nan = [np.append(x, [np.nan, 0.5]) for x in coefs]
    with_nan[1][-1] = np.inf
    with pytest.warns(RuntimeWarning, match="ignored 2 of 302"):
        band = intervals.band_from_draws(FLOPS, *with_nan)
    clean = intervals.band_from_draws(FLOPS, *coefs)
    assert (band.n_draws, band.n_dropped) == (300, 2)
    np.testing.assert_array_equal(band.n_high, clean.n_high)


def test_band_rejects_bad_input():
    coefs = _draws(_frontier_a2(), n=5)
    with pytest.raises(ValueError, match="kind"):
        intervals.band_from_draws(FLOPS, *coefs, kind="jackknife")
    with pytest.raises(ValueError, match="level"):
        intervals.band_from_draws(FLOPS, *coefs, level=95)
    with pytest.raises(ValueError, match="all 5 draws"):
        intervals.band_from_draws(FLOPS, *(np.full(5, np.nan) for _ in range(4)))


# --- frontier figures ---------------------------------------------------------------------


def test_params_vs_flops_full(lines, runs):
    fig = plots.plot_params_vs_flops(lines, runs=runs)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(_gid(ax, "frontier")) == 3
    assert len(_gid(ax, "kaplan")) == 1
    assert _gid(ax, "kaplan")[0].get_linestyle() == "--"
    _assert_stars_coloured_and_listed(ax)
    (boot,) = _gid(ax, "band-bootstrap-approach-2")
    (post,) = _gid(ax, "band-posterior-approach-2")
    assert isinstance(boot, PolyCollection) and isinstance(post, PolyCollection)
    assert boot.get_hatch() is None and post.get_hatch()
    assert len(_gid(ax, "runs")[0].get_offsets()) == 40
    colors = {line.get_color() for line in _gid(ax, "frontier")}
    assert len(colors) == 3
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Approach 2 (a=0.49)" in legend and "Approach 3 (a=0.46)" in legend
    assert "Kaplan et al. (2020)" in legend
    assert "95% bootstrap band" in legend and "90% posterior band" in legend
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("FLOPs", "Parameters")


def test_params_vs_flops_bare(lines):
    fig = plots.plot_params_vs_flops(
        [lines[1]], runs=(np.array([1e19, 1e20]), np.array([1e8, 1e9])), kaplan=False, stars=False
    )
    ax = fig.axes[0]
    assert len(_gid(ax, "frontier")) == 1
    assert not _gid(ax, "kaplan") and not _stars(ax)
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(_gid(ax, "runs")[0].get_offsets()) == 2


def test_params_vs_flops_on_given_axes(lines):
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_params_vs_flops(lines, ax=ax) is fig
    assert fig.axes == [ax] and len(_gid(ax, "frontier")) == len(lines)


def test_params_vs_tokens(lines, runs):
    budgets = (1e19, 1e21, 1e23)
    fig = plots.plot_params_vs_tokens(lines, runs=runs, budgets=budgets)
    ax = fig.axes[0]
    assert len(_gid(ax, "frontier")) == 3 and len(_gid(ax, "kaplan")) == 1
    markers = _gid(ax, "budget-markers")
    assert len(markers) == 3 and all(len(m.get_xdata()) == 3 for m in markers)
    assert [t.get_text() for t in _gid(ax, "budget-label")] == ["1e19", "1e21", "1e23"]
    _assert_stars_coloured_and_listed(ax)
    (boot,) = _gid(ax, "band-bootstrap-approach-2")
    band = lines[0].bands[0]
    verts = boot.get_paths()[0].vertices
    np.testing.assert_allclose(verts[:, 0].min(), band.d_low.min())
    np.testing.assert_allclose(verts[:, 1].max(), band.n_high.max())
    assert ax.get_xlabel() == "Tokens"
    bare = plots.plot_params_vs_tokens(lines[1:2], kaplan=False, stars=False).axes[0]
    assert not _gid(bare, "kaplan") and not _stars(bare)
    assert not [c for c in bare.collections if (c.get_gid() or "").startswith("band")]


def test_band_labels_name_bands_in_the_legend(lines):
    """One legend swatch per band in its line's colour, named after its line when several
    lines carry bands."""
    a2 = lines[0].frontier
    boot = lines[0].bands[0]
    other = intervals.band_from_draws(FLOPS, *_draws(a2, seed=3), kind="bootstrap")
    banded = [
        plots.FrontierLine("A", a2, (boot,), color="C1", band_labels=("block bootstrap",)),
        plots.FrontierLine("B", a2, (boot, other), color="C2", band_labels=("rows", "more")),
        plots.FrontierLine("C", a2, (other,), color="C3", band_labels=("rows",)),
    ]
    ax = plots.plot_params_vs_flops(banded).axes[0]
    legend = ax.get_legend()
    patches = dict(
        zip([t.get_text() for t in legend.get_texts()], legend.legend_handles, strict=True)
    )
    np.testing.assert_allclose(patches["A: block bootstrap"].get_facecolor()[:3], to_rgba("C1")[:3])
    np.testing.assert_allclose(patches["B: rows"].get_facecolor()[:3], to_rgba("C2")[:3])
    np.testing.assert_allclose(patches["C: rows"].get_facecolor()[:3], to_rgba("C3")[:3])
    np.testing.assert_allclose(patches["B: more"].get_facecolor()[:3], to_rgba("C2")[:3])
    single = plots.plot_params_vs_flops(banded[:1]).axes[0].get_legend().get_texts()
    assert "block bootstrap" in [t.get_text() for t in single]
    ids = sorted(c.get_gid() for c in ax.collections if c.get_gid().startswith("band"))
    assert ids == ["band-bootstrap-a", "band-bootstrap-b", "band-bootstrap-b-1", "band-bootstrap-c"]
    with pytest.raises(ValueError, match="1 band_labels for 2 bands"):
        plots.plot_params_vs_tokens([banded[1]._replace(band_labels=("rows",))])


def test_kaplan_line_as_the_paper_draws_it(lines):
    """Read back from the figure's own line: Gopher within x1.3 of Kaplan's line, GPT-3 below
    it, Megatron-Turing NLG above it, all three above the three approach lines."""
    a1 = lines[1].frontier._replace(log_g_n=lines[1].frontier.log_g_n + 0.1)
    three = [lines[0], lines[1], plots.FrontierLine("Approach 1", a1)]
    ax = plots.plot_params_vs_flops(three).axes[0]
    (kaplan,) = _gid(ax, "kaplan")
    log_c, log_n = np.log(kaplan.get_xdata()), np.log(kaplan.get_ydata())
    approach_lines = _gid(ax, "frontier")
    models = {m.name: m for m in closed_forms.REFERENCE_MODELS}

    def line_at(artist, c):
        return float(
            np.exp(np.interp(np.log(c), np.log(artist.get_xdata()), np.log(artist.get_ydata())))
        )

    ratio = {}
    for name in ("Gopher", "GPT-3", "Megatron-Turing NLG"):
        model = models[name]
        at = float(np.exp(np.interp(np.log(model.flops), log_c, log_n)))
        ratio[name] = model.params / at
        assert all(model.params > line_at(a, model.flops) for a in approach_lines)
    assert 1 / 1.3 < ratio["Gopher"] < 1.3
    assert ratio["GPT-3"] < 1.0 and ratio["Megatron-Turing NLG"] > 1.0
    # the line drawn is the documented one: 0.73 through Gopher at 5.76e23 FLOPs
    name, n_anchor, c_anchor = plots.KAPLAN_ANCHOR
    np.testing.assert_allclose(
        np.exp(np.interp(np.log(c_anchor), log_c, log_n)), n_anchor, rtol=1e-3
    )
    np.testing.assert_allclose(np.diff(log_n) / np.diff(log_c), 0.73, rtol=1e-9)


# --- IsoFLOP and parametric figures -------------------------------------------------------


def test_isoflop_profiles(profiles):
    n_valid = sum(p.valid for p in profiles)
    assert n_valid == 8
    fig = plots.plot_isoflop_profiles(profiles)
    (ax,) = fig.axes
    assert len(_gid(ax, "parabola")) == 9
    assert len(_gid(ax, "vertex")) == n_valid
    assert [t.get_text() for t in _gid(ax, "excluded-note")] == ["excluded"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "6e18" and legend[-1] == "3e21 (excluded)"


def test_isoflop_profiles_skip_empty_and_undetermined(profiles):
    empty = SimpleNamespace(
        flops=1e22,
        log_n=np.array([]),
        loss=np.array([]),
        coef=(np.nan,) * 3,
        vertex_log_n=np.nan,
        valid=False,
    )
    two = SimpleNamespace(
        flops=3e22,
        log_n=np.log([1e10, 2e10]),
        loss=np.array([2.1, 2.2]),
        coef=(np.nan,) * 3,
        vertex_log_n=np.nan,
        valid=False,
    )
    ax = plots.plot_isoflop_profiles([*profiles, empty, two]).axes[0]
    assert len(_gid(ax, "points")) == 10
    assert len(_gid(ax, "parabola")) == 9
    assert len(_gid(ax, "excluded-note")) == 2


def test_isoflop_profiles_with_frontier(profiles):
    frontier = closed_forms.CHINCHILLA.frontier(jnp.asarray(closed_forms.PAPER_THETA))
    fig = plots.plot_isoflop_profiles(profiles, frontier=frontier)
    assert len(fig.axes) == 3
    for ax in fig.axes[1:]:
        assert len(_gid(ax, "power-law")) == 1
        assert len(_gid(ax, "vertices")[0].get_offsets()) == 8
    assert fig.get_layout_engine() is None  # fixed margins: panels and labels must not overlap
    boxes = [ax.get_tightbbox() for ax in fig.axes]  # tick labels and axis labels included
    for left, right in zip(boxes, boxes[1:], strict=False):
        assert left.x1 < right.x0
    with pytest.raises(ValueError, match="expected 3 axes"):
        plots.plot_isoflop_profiles(profiles, frontier=frontier, ax=Figure().add_subplot())


def test_parametric_contours(runs):
    fig = plots.plot_parametric_contours(closed_forms.PAPER_THETA, runs=runs)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # plot and colour bar
    assert len(_gid(ax, "contours")) == 1
    (frontier,) = _gid(ax, "frontier")
    expected = closed_forms.CHINCHILLA.frontier(jnp.asarray(closed_forms.PAPER_THETA)).n_opt(
        frontier.get_xdata()
    )
    np.testing.assert_allclose(frontier.get_ydata(), expected, rtol=1e-9)
    assert len(_gid(ax, "runs")[0].get_offsets()) == 40
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("FLOPs", "Parameters")


def test_minor_log_ticks_only_on_short_spans():
    """Axes over more than ``MINOR_TICK_MAX_DECADES`` decades carry decade ticks only; a
    shorter one keeps matplotlib's minor ticks (2, 3, ..., 9 times each power of ten)."""
    fig = plots.plot_params_vs_flops([])
    fig.draw_without_rendering()
    for axis in (fig.axes[0].xaxis, fig.axes[0].yaxis):
        low, high = axis.get_view_interval()
        assert math.log10(high / low) > plots.MINOR_TICK_MAX_DECADES
        assert len(axis.get_minorticklocs()) == 0
        assert len(axis.get_majorticklocs()) >= 4
    ax = Figure().add_subplot()
    ax.set_xscale("log")
    ax.set_xlim(1e8, 1e10)
    plots._count_axis(ax.xaxis)
    minor = ax.xaxis.get_minorticklocs()
    in_view = minor[(minor >= 1e8) & (minor <= 1e10)]
    np.testing.assert_allclose(in_view, np.outer([1e8, 1e9], np.arange(2, 10)).ravel())


def test_save_figure_writes_three_formats(tmp_path, lines):
    fig = plots.plot_params_vs_flops(lines, stars=False)
    paths = plots.save_figure(fig, tmp_path / "figs", "frontier", dpi=60)
    assert [p.name for p in paths] == ["frontier.png", "frontier.svg", "frontier.pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[2].read_bytes()[:5] == b"%PDF-"


def test_frontier_figure_file_holds_a_long_legend(tmp_path, lines):
    """Frontier axes sit at a fixed place without a layout engine; the saved file grows to
    hold a legend wider than the figure's own width instead of cutting it off."""
    long_labels = ("95% bootstrap band, " + "a long description " * 4, "90% posterior band")
    wide = [lines[0]._replace(band_labels=long_labels), *lines[1:]]
    fig = plots.plot_params_vs_flops(wide)
    assert fig.get_layout_engine() is None
    np.testing.assert_allclose(fig.axes[0].get_position().bounds, plots._FRONTIER_AXES)
    box = fig.get_tightbbox()
    legend = fig.axes[0].get_legend().get_tightbbox().transformed(fig.dpi_scale_trans.inverted())
    assert box.x1 > fig.get_figwidth() and box.x1 >= legend.x1 - 1e-9
    (path,) = plots.save_figure(fig, tmp_path, "wide", ("svg",))
    width_pt = float(re.search(r'<svg[^>]*width="([0-9.]+)pt"', path.read_text()).group(1))
    pad = matplotlib.rcParams["savefig.pad_inches"]
    assert width_pt == pytest.approx(72 * (box.width + 2 * pad), rel=1e-3)
