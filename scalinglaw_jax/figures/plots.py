"""Figures of Hoffmann et al. (2022) with room for uncertainty bands.

Every function takes plain NumPy arrays and :class:`~scalinglaw_jax.laws.Frontier` values (no
fitting happens here), so any approach's result can be drawn. Figures are built as
``matplotlib.figure.Figure`` objects without pyplot: nothing here selects a backend, which keeps
notebooks' inline display intact while scripts save through Agg/SVG/PDF canvases.

- :func:`plot_params_vs_flops` -- Figure 1 / Figure A3 (left): N_opt against FLOPs.
- :func:`plot_params_vs_tokens` -- the same frontiers as N_opt against D_opt.
- :func:`plot_isoflop_profiles` -- Figure 3: IsoFLOP parabolas and the vertices' power laws.
- :func:`plot_parametric_contours` -- Figure 4 (left): iso-loss contours of the parametric fit.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib import colormaps, rcParams
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import (
    FuncFormatter,
    LogFormatterSciNotation,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)

from scalinglaw_jax.core.frontier import Frontier
from scalinglaw_jax.core.intervals import BAND_KINDS, Band
from scalinglaw_jax.core.law import Law
from scalinglaw_jax.laws import CHINCHILLA_LAW
from scalinglaw_jax.laws.closed_forms import REFERENCE_MODELS

# Bootstrap bands are plain translucent fills; posterior bands are hatched and outlined so that
# both kinds stay distinguishable when drawn over the same line.
_BAND_STYLE = {
    "bootstrap": {"face_alpha": 0.25, "edge_alpha": 0.0, "hatch": None, "linewidth": 0.0},
    "posterior": {"face_alpha": 0.08, "edge_alpha": 0.8, "hatch": "///", "linewidth": 0.7},
}
_RUNS_STYLE = {"s": 7, "color": "0.55", "alpha": 0.6, "linewidths": 0, "zorder": 1}
_STAR_STYLE = {"marker": "*", "s": 170, "edgecolor": "black", "linewidths": 0.5, "zorder": 6}
# The seed figures' star colours: Chinchilla teal, Gopher yellow, GPT-3 red, MT-NLG purple.
STAR_COLORS = {
    "Chinchilla": "#12a4a0",
    "Gopher": "#f2c318",
    "GPT-3": "#d62728",
    "Megatron-Turing NLG": "#8a4bb0",
}
KAPLAN_LABEL = "Kaplan et al. (2020)"
# Frontier figures keep the paper's 4:3 axes and put the legend (lines, stars, bands) beside.
_FRONTIER_FIGSIZE = (9.2, 4.8)
_FRONTIER_AXES = (0.08, 0.1, 0.645, 0.89)
"""Fixed place of a frontier figure's axes (left, bottom, width, height as fractions of
``_FRONTIER_FIGSIZE``): where constrained layout put them for the usual legend. The figures
of ``fit`` have no layout engine: saving crops or widens the figure to the tight box of
everything drawn, so a longer legend widens the file rather than squeezing the axes, and each
save is one draw instead of constrained layout's three passes."""
_PANEL_MARGINS = {"left": 0.55, "right": 0.06, "bottom": 0.47, "top": 0.04, "gap": 0.77}
"""Inches around the IsoFLOP panels and between them (room for tick labels and the axis
label of each panel), where constrained layout put them."""
_CONTOUR_AXES = (0.113, 0.098, 0.695, 0.839)
_CONTOUR_COLORBAR = (0.866, 0.098, 0.031, 0.839)
"""Fixed places of the contour plot and its colour bar (figure fractions of 6.4 x 4.8 in)."""
_BUDGET_CMAP = colormaps["viridis"]
_LOSS_CMAP = colormaps["viridis"]


KAPLAN_ANCHOR = ("Gopher", 280e9, 5.76e23)
"""Where the figures' Kaplan line passes: Gopher's 280B parameters at the budget Hoffmann et
al. (2022) give Gopher (5.76e23 FLOPs, the budget Chinchilla was trained on). The paper does
not print the constant of its Kaplan line; its Figure 1 draws Kaplan's ``N_opt ∝ C^0.73``
with Gopher on it, GPT-3 slightly below and Megatron-Turing NLG slightly above, which this
anchor reproduces (Gopher's own size being the one Kaplan's recipe gave its budget). Kaplan
et al.'s own constant (``1.3e9 · C_pf^0.73``: C in PF-days of their compute count,
non-embedding parameters; ``laws.KAPLAN_FRONTIER``) passes 2.9x above Gopher on the
paper's axes. See docs/plots.md."""
KAPLAN_FIGURE_FRONTIER = Frontier(
    a=0.73,
    b=0.27,
    log_g_n=math.log(KAPLAN_ANCHOR[1]) - 0.73 * math.log(KAPLAN_ANCHOR[2]),
    log_g_d=-math.log(6.0) - (math.log(KAPLAN_ANCHOR[1]) - 0.73 * math.log(KAPLAN_ANCHOR[2])),
)
"""Kaplan's frontier as the seed figures draw it: exponent 0.73 through ``KAPLAN_ANCHOR``,
with ``D = C / (6N)``."""
PAPER_FLOPS_RANGE = (1e17, 1e26)
"""The paper's FLOPs axis; default limits widen it to hold every run drawn."""
_MARGIN_DEX = 0.15
"""Margin (in decades) left around everything drawn by default limits."""


class FrontierLine(NamedTuple):
    """One approach to draw: its frontier, optional bands, and style (``color=None``: cycle).

    ``band_labels`` (one per band, optional) is the legend text of each band, e.g. the level,
    scheme and resample count; without it a band is listed as ``"95% bootstrap band"``.
    ``law`` (Approach 3: the fitted law's name) is named in the line's legend entry.
    """

    label: str
    frontier: Frontier
    bands: tuple[Band, ...] = ()
    color: str | None = None
    linestyle: str = "-"
    band_labels: tuple[str, ...] = ()
    law: str | None = None


def plot_params_vs_flops(
    lines: Sequence[FrontierLine],
    *,
    runs=None,
    kaplan: bool = True,
    stars: bool = True,
    flops_range: tuple[float, float] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Compute-optimal parameters against FLOPs, like the paper's Figure 1.

    ``runs`` (a Runs-like object with ``.flops`` and ``.params``, or a ``(flops, params)``
    tuple) is drawn as grey dots; bands are fills in their line's colour. ``flops_range``
    (default: the paper's 1e17-1e26 widened to every run and star, with a margin) is the x
    axis; the y axis always holds every run, star, band and line drawn. Runs a given
    ``flops_range`` leaves out are counted in the legend and warned about.
    """
    fig, ax = _figure_and_axes(ax, _FRONTIER_FIGSIZE, _FRONTIER_AXES)
    ax.set_gid("axes-params-vs-flops")
    run_flops = run_params = None
    if runs is not None:
        run_flops, run_params, _ = _runs_arrays(runs)
    star_x = np.array([m.flops for m in REFERENCE_MODELS]) if stars else np.array([])
    star_y = np.array([m.params for m in REFERENCE_MODELS]) if stars else np.array([])
    if flops_range is None:
        xs = [np.asarray(PAPER_FLOPS_RANGE), star_x]
        if run_flops is not None:
            xs.append(run_flops)
        flops_range = _log_limits(np.concatenate(xs))
    flops = np.geomspace(*flops_range, 200)
    y_values = [star_y]
    if runs is not None:
        ax.scatter(run_flops, run_params, gid="runs", label="Training runs", **_RUNS_STYLE)
        y_values.append(_within(run_params, run_flops, flops_range))
    band_entries = []
    for i, line in enumerate(lines):
        color = line.color or f"C{i}"
        for band, gid, label in _line_bands(line):
            ax.fill_between(
                band.flops, band.n_low, band.n_high, gid=gid, **_band_kwargs(band.kind, color)
            )
            band_entries.append((line.label, label, band.kind, color))
            y_values += [
                _within(band.n_low, band.flops, flops_range),
                _within(band.n_high, band.flops, flops_range),
            ]
        n_opt = _n_opt(line.frontier, flops)
        _plot_frontier(ax, flops, n_opt, line, color)
        y_values.append(n_opt)
    if kaplan:
        n_kaplan = _n_opt(KAPLAN_FIGURE_FRONTIER, flops)
        ax.plot(flops, n_kaplan, **_kaplan_kwargs())
        y_values.append(n_kaplan)
    if stars:
        _draw_stars(ax, star_x, star_y)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_axis(ax.xaxis)
    ax.set_xlim(*flops_range)
    y_values = np.concatenate(y_values)
    if _finite_positive(y_values).size:
        ax.set_ylim(*_log_limits(y_values))
    ax.set_xlabel("FLOPs")
    ax.set_ylabel("Parameters")
    _count_axis(ax.yaxis)
    _finish(ax, band_entries, _outside_note(ax, run_flops, run_params))
    return fig


def _plot_frontier(ax: Axes, x, y, line: FrontierLine, color) -> None:
    """One approach's frontier line, labelled (with its law) for the legend."""
    ax.plot(
        x,
        y,
        color=color,
        linestyle=line.linestyle,
        linewidth=2.0,
        label=_line_label(line),
        gid="frontier",
        zorder=4,
    )


def plot_params_vs_tokens(
    lines: Sequence[FrontierLine],
    *,
    runs=None,
    kaplan: bool = True,
    stars: bool = True,
    budgets: Sequence[float] | None = None,
    flops_range: tuple[float, float] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Compute-optimal parameters against tokens, each line traced by ``(D_opt(C), N_opt(C))``.

    Lines are traced over ``flops_range`` (default: the paper's 1e17-1e26 widened to every run
    and star). FLOP ``budgets`` (default: every power of ten in that range, every other one
    beyond ten of them) are marked on every line and labelled along the bundle's token-heavy
    line, each label put where it covers no run, star, line or other label. The axes hold
    every run, star, band and line drawn, with a margin.

    A band is drawn as the polygon between the curves ``(d_low(C), n_high(C))`` and
    ``(d_high(C), n_low(C))``: with ``N D = C/6`` in every draw, a high-N draw is a low-D draw,
    so the band at one budget is the iso-FLOP segment joining those two corners, and the polygon
    is the union of those segments.
    """
    fig, ax = _figure_and_axes(ax, _FRONTIER_FIGSIZE, _FRONTIER_AXES)
    ax.set_gid("axes-params-vs-tokens")
    run_flops = run_params = run_tokens = None
    if runs is not None:
        run_flops, run_params, run_tokens = _runs_arrays(runs)
    if flops_range is None:
        xs = [np.asarray(PAPER_FLOPS_RANGE)]
        if stars:
            xs.append(np.array([m.flops for m in REFERENCE_MODELS]))
        if run_flops is not None:
            xs.append(run_flops)
        flops_range = _log_limits(np.concatenate(xs), margin=0.0)
    flops = np.geomspace(*flops_range, 200)
    budgets = _decade_budgets(flops_range) if budgets is None else np.asarray(budgets, float)
    budgets = budgets[(budgets >= flops_range[0]) & (budgets <= flops_range[1])]
    x_values, y_values = [], []
    obstacles = []  # (x, y) data points budget labels must not cover
    if runs is not None:
        ax.scatter(run_tokens, run_params, gid="runs", label="Training runs", **_RUNS_STYLE)
        x_values.append(run_tokens)
        y_values.append(run_params)
        obstacles.append(np.column_stack([run_tokens, run_params]))
    band_entries = []
    for i, line in enumerate(lines):
        color = line.color or f"C{i}"
        for band, gid, label in _line_bands(line):
            inside = (band.flops >= flops_range[0]) & (band.flops <= flops_range[1])
            d_low, d_high = band.d_low[inside], band.d_high[inside]
            n_low, n_high = band.n_low[inside], band.n_high[inside]
            verts = np.column_stack(
                [np.concatenate([d_low, d_high[::-1]]), np.concatenate([n_high, n_low[::-1]])]
            )
            ax.add_collection(
                PolyCollection([verts], gid=gid, **_band_kwargs(band.kind, color)), autolim=False
            )
            band_entries.append((line.label, label, band.kind, color))
            x_values.append(verts[:, 0])
            y_values.append(verts[:, 1])
        n_opt, d_opt = _n_opt(line.frontier, flops), _d_opt(line.frontier, flops)
        _plot_frontier(ax, d_opt, n_opt, line, color)
        bn, bd = _n_opt(line.frontier, budgets), _d_opt(line.frontier, budgets)
        ax.plot(bd, bn, "o", color=color, markersize=3.5, gid="budget-markers", zorder=5)
        x_values.append(d_opt)
        y_values.append(n_opt)
        obstacles += [np.column_stack([d_opt, n_opt]), np.column_stack([bd, bn])]
    if kaplan:
        d_kaplan = _d_opt(KAPLAN_FIGURE_FRONTIER, flops)
        n_kaplan = _n_opt(KAPLAN_FIGURE_FRONTIER, flops)
        ax.plot(d_kaplan, n_kaplan, **_kaplan_kwargs())
        x_values.append(d_kaplan)
        y_values.append(n_kaplan)
        obstacles.append(np.column_stack([d_kaplan, n_kaplan]))
    if stars:
        star_x = np.array([m.tokens for m in REFERENCE_MODELS])
        star_y = np.array([m.params for m in REFERENCE_MODELS])
        _draw_stars(ax, star_x, star_y)
        x_values.append(star_x)
        y_values.append(star_y)
        obstacles.append(np.column_stack([star_x, star_y]))
    ax.set_xscale("log")
    ax.set_yscale("log")
    if x_values:
        ax.set_xlim(*_log_limits(np.concatenate(x_values)))
        ax.set_ylim(*_log_limits(np.concatenate(y_values)))
    ax.set_xlabel("Tokens")
    ax.set_ylabel("Parameters")
    _count_axis(ax.xaxis)
    _count_axis(ax.yaxis)
    if lines and budgets.size:
        _label_budgets(ax, [line.frontier for line in lines], budgets, obstacles)
    _finish(ax, band_entries, _outside_note(ax, run_tokens, run_params))
    return fig


def _draw_profiles(ax0: Axes, profiles, color_of) -> None:
    """The profile panel: each budget's points, its parabola (dashed where excluded) and its
    vertex, or an "excluded" note at its lowest point."""
    ax0.set_gid("axes-isoflop-profiles")
    for p in profiles:
        color = color_of(p)
        log_n = np.asarray(p.log_n, dtype=float)
        if log_n.size == 0:  # a budget left without points has nothing to draw
            continue
        label = _format_flops(p.flops) + ("" if p.valid else " (excluded)")
        ax0.scatter(np.exp(log_n), p.loss, s=14, color=color, zorder=3, label=label, gid="points")
        if np.all(np.isfinite(p.coef)):  # undetermined parabolas (too few sizes) are NaN
            span = log_n.max() - log_n.min()
            x = np.linspace(log_n.min() - 0.1 * span, log_n.max() + 0.1 * span, 100)
            ax0.plot(
                np.exp(x),
                np.polyval(np.asarray(p.coef)[::-1], x),
                color=color,
                linewidth=1.2,
                linestyle="-" if p.valid else "--",
                gid="parabola",
            )
        if p.valid:
            v = p.vertex_log_n
            ax0.plot(
                math.exp(v),
                np.polyval(np.asarray(p.coef)[::-1], v),
                marker="D",
                markersize=5,
                color=color,
                markeredgecolor="black",
                markeredgewidth=0.6,
                zorder=5,
                gid="vertex",
            )
        else:
            i = int(np.argmin(p.loss))
            ax0.annotate(
                "excluded",
                (math.exp(log_n[i]), p.loss[i]),
                xytext=(0, 10),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color="0.4",
                gid="excluded-note",
            )
    ax0.set_xscale("log")
    ax0.set_xlabel("Parameters")
    ax0.set_ylabel("Training loss")
    _count_axis(ax0.xaxis)
    ax0.grid(True, which="major", alpha=0.25)
    ax0.legend(title="FLOPs", fontsize=7, title_fontsize=8, loc="best", framealpha=0.8)


def _draw_vertex_panels(axes, profiles, frontier: Frontier, color_of) -> None:
    """The two vertex panels: the valid vertices' N_opt and D_opt = C / (6 N_opt) against
    FLOPs, with the fitted power laws."""
    valid = [p for p in profiles if p.valid]
    c_vertex = np.array([p.flops for p in valid], dtype=float)
    n_vertex = np.exp(np.array([p.vertex_log_n for p in valid], dtype=float))
    d_vertex = c_vertex / (6.0 * n_vertex)
    colors = [color_of(p) for p in valid]
    c_all = np.array([p.flops for p in profiles])
    c_line = np.geomspace(c_all.min() / 3.0, c_all.max() * 3.0, 100)
    panels = (
        (axes[0], n_vertex, _n_opt(frontier, c_line), "Parameters", "N", frontier.a),
        (axes[1], d_vertex, _d_opt(frontier, c_line), "Tokens", "D", frontier.b),
    )
    for axis, y_vertex, y_line, ylabel, sym, exponent in panels:
        axis.set_gid(f"axes-isoflop-{sym.lower()}-opt")
        axis.plot(
            c_line,
            y_line,
            color="black",
            linewidth=1.5,
            label=rf"${sym}_{{opt}} \propto C^{{{float(exponent):.2f}}}$",
            gid="power-law",
        )
        axis.scatter(
            c_vertex,
            y_vertex,
            c=colors,
            s=30,
            edgecolors="black",
            linewidths=0.6,
            zorder=3,
            gid="vertices",
        )
        axis.set_xscale("log")
        axis.set_yscale("log")
        _log_axis(axis.xaxis)
        axis.set_ylim(*_log_limits(np.concatenate([y_vertex, y_line]), pad=1.5))
        axis.set_xlabel("FLOPs")
        axis.set_ylabel(ylabel)
        _count_axis(axis.yaxis, subs=(1.0, 3.0))
        axis.grid(True, which="major", alpha=0.25)
        axis.legend(loc="upper left", frameon=False)


def plot_isoflop_profiles(
    profiles,
    *,
    frontier: Frontier | None = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """IsoFLOP profiles (loss against parameters per budget), like the paper's Figure 3.

    Each profile has ``flops``, ``log_n`` (natural log of N), ``loss``, ``coef`` (``c0, c1,
    c2`` of ``loss = c0 + c1 x + c2 x^2``, ``x = ln N``), ``vertex_log_n`` and ``valid``, as
    ``IsoflopResult.profiles()`` returns. Invalid profiles are greyed and marked "excluded";
    profiles without points are skipped. With ``frontier``, two more panels show the valid
    vertices' N_opt and D_opt = C / (6 N_opt) against FLOPs with the fitted power laws; ``ax``
    is then a sequence of three axes.
    """
    if not profiles:
        raise ValueError("plot_isoflop_profiles: no profiles to draw")
    n_panels = 1 if frontier is None else 3
    if ax is None:
        fig = Figure(figsize=(4.6 * n_panels, 4.0))
        axes = fig.subplots(1, n_panels, squeeze=False)[0]
        _place_panels(fig, n_panels)
    else:
        axes = [ax] if isinstance(ax, Axes) else list(ax)
        if len(axes) != n_panels:
            raise ValueError(f"expected {n_panels} axes, got {len(axes)}")
        fig = axes[0].figure
    profiles = sorted(profiles, key=lambda p: p.flops)
    log_c = np.log10([p.flops for p in profiles])
    norm = Normalize(log_c.min(), log_c.max())

    def color_of(p):
        return _BUDGET_CMAP(0.85 * norm(np.log10(p.flops))) if p.valid else "0.6"

    _draw_profiles(axes[0], profiles, color_of)
    if frontier is not None:
        _draw_vertex_panels(axes[1:], profiles, frontier, color_of)
    return fig


def plot_parametric_contours(
    theta,
    *,
    law: Law = CHINCHILLA_LAW,
    runs=None,
    flops_range: tuple[float, float] | None = None,
    params_range: tuple[float, float] | None = None,
    levels: int | Sequence[float] = 12,
    ax: Axes | None = None,
) -> Figure:
    """Iso-loss contours of a fitted loss law over (FLOPs, Parameters), like Figure 4 (left).

    The loss at ``(C, N)`` is the law (a ``Law`` value, ``theta`` in its
    coordinates) at ``D = C / (6N)``. Its efficient frontier (``law.frontier_of(theta)``) is
    drawn on top, and the law's name heads the legend. ``runs`` are dots coloured by loss
    when they carry one (``.loss`` or a third tuple element), grey otherwise.

    ``flops_range`` and ``params_range`` default to every run with a margin (without runs:
    1e18-1e24 FLOPs, 1e7-1e12 parameters); runs that given ranges leave out are counted in the
    legend and warned about. ``levels`` is a count (nice levels between the lowest loss on the
    grid and the frontier's loss at the smallest budget, padded) or explicit loss values. The
    colour scale spans the contour levels and every plotted run's loss. Contour lines are
    drawn whole; each is labelled in the margin where it leaves the axes (top or right edge).
    """
    fresh = ax is None
    fig, ax = _figure_and_axes(ax, (6.4, 4.8), _CONTOUR_AXES)
    ax.set_gid("axes-parametric-contours")
    theta = jnp.asarray(theta)
    run_flops = run_params = run_loss = None
    if runs is not None:
        run_flops, run_params, _ = _runs_arrays(runs)
        run_loss = _runs_loss(runs)
    if flops_range is None:
        flops_range = (1e18, 1e24) if runs is None else _log_limits(run_flops, min_span=2.0)
    if params_range is None:
        params_range = (1e7, 1e12) if runs is None else _log_limits(run_params, min_span=2.0)
    flops = np.geomspace(*flops_range, 240)
    params = np.geomspace(*params_range, 240)
    c_grid, n_grid = np.meshgrid(flops, params)
    loss = np.asarray(_predict_at(theta, n_grid, c_grid / (6.0 * n_grid), law))
    frontier = _frontier_of(theta, law)
    n_front = _n_opt(frontier, flops)
    if isinstance(levels, int):
        front_loss = np.asarray(_predict_at(theta, n_front, flops / (6.0 * n_front), law))
        lo, hi = np.nanmin(loss), np.nanmax(front_loss)
        levels = MaxNLocator(levels).tick_values(lo, hi + 0.3 * (hi - lo))
        levels = levels[levels > lo]
    levels = np.asarray(levels, dtype=float)
    shown = levels
    if run_loss is not None:
        inside = _inside_mask(run_flops, run_params, flops_range, params_range)
        shown = np.concatenate([levels, run_loss[inside & np.isfinite(run_loss)]])
    norm = Normalize(float(shown.min()), float(shown.max()))
    cs = ax.contour(c_grid, n_grid, loss, levels=levels, cmap=_LOSS_CMAP, norm=norm, linewidths=1.1)
    cs.set_gid("contours")
    if runs is not None:
        if run_loss is None:
            ax.scatter(run_flops, run_params, gid="runs", label="Training runs", **_RUNS_STYLE)
        else:
            ax.scatter(
                run_flops,
                run_params,
                c=run_loss,
                cmap=_LOSS_CMAP,
                norm=norm,
                s=12,
                edgecolors="0.3",
                linewidths=0.3,
                zorder=3,
                gid="runs",
                label="Training runs (colour: loss)",
            )
    inside = (n_front >= params_range[0]) & (n_front <= params_range[1])
    ax.plot(
        flops[inside],
        n_front[inside],
        color="C0",
        linewidth=2.2,
        label=f"Efficient frontier (a={float(frontier.a):.2f})",
        gid="frontier",
        zorder=4,
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_axis(ax.xaxis)
    ax.set_xlim(*flops_range)
    ax.set_ylim(*params_range)
    ax.set_xlabel("FLOPs")
    ax.set_ylabel("Parameters")
    _count_axis(ax.yaxis)
    _label_contours_in_margin(ax, cs, norm)
    colors = ScalarMappable(norm=norm, cmap=_LOSS_CMAP)
    if fresh:
        bar = fig.colorbar(colors, cax=fig.add_axes(_CONTOUR_COLORBAR), label="Loss")
    else:
        bar = fig.colorbar(colors, ax=ax, label="Loss")
    bar.ax.set_gid("colorbar-loss")
    handles, labels = ax.get_legend_handles_labels()
    note = _outside_note(ax, run_flops, run_params)
    if note:
        handles.append(Patch(facecolor="none", edgecolor="none"))
        labels.append(note)
    # Contours fill the whole plane and their labels sit above and right: the legend goes below.
    ax.legend(
        handles,
        labels,
        title=f"Approach 3: {law.name} law",
        loc="upper left",
        bbox_to_anchor=(-0.02, -0.13),
        ncols=2,
        fontsize=8,
        title_fontsize=8,
        frameon=False,
    )
    return fig


def save_figure(
    fig: Figure,
    out_dir,
    stem: str,
    formats: Sequence[str] = ("png", "svg", "pdf"),
    dpi: int = 150,
) -> list[Path]:
    """Write ``fig`` as ``out_dir/stem.<fmt>`` for each format; returns the paths written.

    A layout engine's layout is computed once, without rendering, and the tight bounding box
    with it; every format is then one draw. (``savefig(bbox_inches="tight")`` on a
    constrained-layout figure lays it out twice per format, which made saving three formats
    cost six layouts.) The figure's layout engine is restored afterwards. A figure without
    one (the frontier figures: axes at a fixed place) is not drawn for its layout.
    ``Figure.savefig`` picks the non-interactive canvas for each format (Agg for PNG), so this
    works without pyplot. An SVG carries ``figure_facts(fig)`` as JSON in its
    ``<dc:description>``, so scripts and tests read limits and counts from the file.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    engine = fig.get_layout_engine()
    if engine is not None:
        fig.draw_without_rendering()
    bbox = fig.get_tightbbox().padded(rcParams["savefig.pad_inches"])
    fig.set_layout_engine("none")
    paths = []
    try:
        for fmt in formats:
            path = out_dir / f"{stem}.{fmt}"
            metadata = {"Description": json.dumps(figure_facts(fig))} if fmt == "svg" else None
            fig.savefig(path, format=fmt, dpi=dpi, bbox_inches=bbox, metadata=metadata)
            paths.append(path)
    finally:
        fig.set_layout_engine(engine)
    return paths


def figure_facts(fig: Figure) -> dict:
    """What each named axes of ``fig`` shows, as numbers: ``{axes id: {"xlim", "ylim",
    "runs", "runs_inside", "legend", "color_range"}}`` (runs: points of the ``runs``
    collection, or of the IsoFLOP profiles' ``points``; color_range: the loss colour scale,
    where runs or contours are coloured)."""
    facts = {}
    for ax in fig.axes:
        gid = ax.get_gid()
        if not gid:
            continue
        entry = {
            "xlim": [float(v) for v in ax.get_xlim()],
            "ylim": [float(v) for v in ax.get_ylim()],
        }
        points = [a for a in ax.collections if a.get_gid() == "points"]  # IsoFLOP profiles
        if points:
            xy = np.concatenate([np.asarray(a.get_offsets(), dtype=float) for a in points])
            inside = _inside_mask(xy[:, 0], xy[:, 1], sorted(ax.get_xlim()), sorted(ax.get_ylim()))
            entry["runs"], entry["runs_inside"] = int(len(xy)), int(np.count_nonzero(inside))
        for artist in ax.collections:
            if artist.get_gid() == "runs":
                xy = np.asarray(artist.get_offsets(), dtype=float)
                inside = _inside_mask(
                    xy[:, 0], xy[:, 1], sorted(ax.get_xlim()), sorted(ax.get_ylim())
                )
                entry["runs"], entry["runs_inside"] = int(len(xy)), int(np.count_nonzero(inside))
            if artist.get_gid() in ("runs", "contours") and artist.get_array() is not None:
                entry["color_range"] = [float(artist.norm.vmin), float(artist.norm.vmax)]
        legend = ax.get_legend()
        if legend is not None:
            entry["legend"] = [t.get_text() for t in legend.get_texts()]
        facts[gid] = entry
    return facts


def figure_notes(fig: Figure) -> list[str]:
    """One sentence per named axes of ``fig`` whose limits leave runs out (empty when every
    run is inside): for the command's printout and report."""
    return [
        f"{gid}: {entry['runs'] - entry['runs_inside']} of {entry['runs']} runs outside the axes"
        for gid, entry in figure_facts(fig).items()
        if entry.get("runs", 0) > entry.get("runs_inside", 0)
    ]


# --- helpers --------------------------------------------------------------------------------


def _figure_and_axes(ax: Axes | None, figsize, rect) -> tuple[Figure, Axes]:
    """The figure holding ``ax``; else a fresh figure, without a layout engine, with one axes
    at ``rect`` (left, bottom, width, height in figure fractions)."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize)
    return fig, fig.add_axes(rect)


def _place_panels(fig: Figure, n_panels: int) -> None:
    """Side-by-side panels at fixed margins (``_PANEL_MARGINS``), without a layout engine."""
    width, height = fig.get_size_inches()
    m = _PANEL_MARGINS
    panel_width = (width - m["left"] - m["right"] - (n_panels - 1) * m["gap"]) / n_panels
    fig.subplots_adjust(
        left=m["left"] / width,
        right=1.0 - m["right"] / width,
        bottom=m["bottom"] / height,
        top=1.0 - m["top"] / height,
        wspace=m["gap"] / panel_width,
    )


def _n_opt(frontier: Frontier, flops) -> np.ndarray:
    return np.exp(float(frontier.log_g_n) + float(frontier.a) * np.log(flops))


def _d_opt(frontier: Frontier, flops) -> np.ndarray:
    return np.exp(float(frontier.log_g_d) + float(frontier.b) * np.log(flops))


def _line_label(line: FrontierLine) -> str:
    law = f", {line.law} law" if line.law else ""
    return f"{line.label}{law} (a={float(line.frontier.a):.2f})"


def _kaplan_kwargs() -> dict:
    return {
        "color": "black",
        "linestyle": "--",
        "linewidth": 1.5,
        "label": KAPLAN_LABEL,
        "gid": "kaplan",
        "zorder": 3,
    }


def _band_kwargs(kind: str, color) -> dict:
    """Fill style of a band: translucent for bootstrap, hatched for posterior."""
    if kind not in _BAND_STYLE:
        raise ValueError(f"band kind must be one of {BAND_KINDS}, got {kind!r}")
    style = _BAND_STYLE[kind]
    return {
        "facecolor": to_rgba(color, style["face_alpha"]),
        "edgecolor": to_rgba(color, style["edge_alpha"]),
        "hatch": style["hatch"],
        "linewidth": style["linewidth"],
        "zorder": 2,
    }


def _runs_arrays(runs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(flops, params, tokens)`` of a Runs-like object or a ``(flops, params[, loss])`` tuple.

    Tokens come from ``runs.tokens`` when present, else from ``D = C / (6N)``.
    """
    if isinstance(runs, tuple):
        flops, params = (np.asarray(x, dtype=float) for x in runs[:2])
        tokens = None
    else:
        flops, params = np.asarray(runs.flops, dtype=float), np.asarray(runs.params, dtype=float)
        tokens = getattr(runs, "tokens", None)
    tokens = flops / (6.0 * params) if tokens is None else np.asarray(tokens, dtype=float)
    return flops, params, tokens


def _runs_loss(runs) -> np.ndarray | None:
    if isinstance(runs, tuple):
        loss = runs[2] if len(runs) > 2 else None
    else:
        loss = getattr(runs, "loss", None)
    return None if loss is None else np.asarray(loss, dtype=float)


def _draw_stars(ax: Axes, xs, ys) -> None:
    """The four reference models as stars in the seed figures' colours, named in the legend."""
    for model, x, y in zip(REFERENCE_MODELS, xs, ys, strict=True):
        ax.scatter(
            [x],
            [y],
            facecolor=STAR_COLORS[model.name],
            label=f"{model.name} ({_format_count(model.params)})",
            gid=f"reference-model-{_slug(model.name)}",
            **_STAR_STYLE,
        )


def _line_bands(line: FrontierLine):
    """``(band, SVG group id, legend text)`` for each band of ``line``.

    Ids read ``band-<kind>-<line label slug>`` (``-<i>`` added for a second band of one kind),
    so scripts find every band, and each line's, in the SVG output.
    """
    if line.band_labels and len(line.band_labels) != len(line.bands):
        raise ValueError(
            f"FrontierLine {line.label!r}: {len(line.band_labels)} band_labels for "
            f"{len(line.bands)} bands"
        )
    slug, seen = _slug(line.label), set()
    for i, band in enumerate(line.bands):
        gid = f"band-{band.kind}-{slug}" + (f"-{i}" if band.kind in seen else "")
        seen.add(band.kind)
        label = line.band_labels[i] if line.band_labels else f"{band.level:.0%} {band.kind} band"
        yield band, gid, label


def _slug(text: str) -> str:
    """``"Approach 1 (envelope)" -> "approach-1-envelope"``: a label as an SVG id part."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _label_budgets(ax: Axes, frontiers: Sequence[Frontier], budgets: np.ndarray, obstacles) -> None:
    """Label the budgets along the most token-heavy line (the bundle's outer side), each label
    at the nearby place that covers the fewest runs, stars, lines and earlier labels
    (``_free_place``); ``obstacles`` are ``(x, y)`` data arrays."""
    mid = np.exp(np.log(budgets).mean())
    outer = max(frontiers, key=lambda f: _d_opt(f, mid) / _n_opt(f, mid))
    points = ax.transData.transform(np.concatenate([np.asarray(o, float) for o in obstacles]))
    points = _densify(points)
    placed: list[tuple[float, float, float, float]] = []
    scale = ax.figure.dpi / 72.0
    for c, x, y in zip(budgets, _d_opt(outer, budgets), _n_opt(outer, budgets), strict=True):
        text = _format_flops(c)
        anchor = ax.transData.transform((x, y))
        size = (0.7 * 7 * len(text) * scale + 3, 1.25 * 7 * scale + 2)
        dx, dy = _free_place(ax, anchor, size, points, placed)
        placed.append((anchor[0] + dx, anchor[1] + dy, *size))
        far = math.hypot(dx, dy) > 16 * scale  # a label moved away keeps a leader to its marker
        ax.annotate(
            text,
            (x, y),
            xytext=(dx / scale, dy / scale),
            textcoords="offset points",
            fontsize=7,
            color="0.25",
            ha="left",
            va="bottom",
            zorder=7,
            arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5} if far else None,
            gid="budget-label",
        )


_LABEL_OFFSETS = [
    (dx, dy)
    for r in (1.0, 2.0, 3.2, 4.5, 6.0, 8.0)
    for dx, dy in ((5, -12), (5, 3), (8, -5), (-1, 5), (-1, -14), (-9, 3), (-9, -12), (-11, -5))
    for dx, dy in [(dx * r, dy * r)]
]
"""Candidate offsets (points, of the label's nearest corner) around a budget marker: close
first, then up to eight times as far."""


def _free_place(ax: Axes, anchor, size, points, placed) -> tuple[float, float]:
    """Offset (pixels, of the text's lower-left corner) from ``anchor`` for a ``size`` box:
    the first candidate of ``_LABEL_OFFSETS`` that covers no point and no placed box, inside
    the axes; else the one covering fewest."""
    scale = ax.figure.dpi / 72.0
    w, h = size
    box = ax.bbox
    best, best_score = None, None
    for ox, oy in _LABEL_OFFSETS:
        dx = ox * scale - (w if ox < 0 else 0.0)
        dy = oy * scale - (h if oy < 0 else 0.0)
        x0, y0 = anchor[0] + dx, anchor[1] + dy
        score = np.count_nonzero(
            (points[:, 0] > x0 - 2)
            & (points[:, 0] < x0 + w + 2)
            & (points[:, 1] > y0 - 2)
            & (points[:, 1] < y0 + h + 2)
        )
        score += 100 * sum(
            x0 < px + pw and px < x0 + w and y0 < py + ph and py < y0 + h
            for px, py, pw, ph in placed
        )
        if not (box.x0 <= x0 and x0 + w <= box.x1 and box.y0 <= y0 and y0 + h <= box.y1):
            score += 1000
        if score == 0:
            return dx, dy
        if best_score is None or score < best_score:
            best, best_score = (dx, dy), score
    return best


def _densify(points: np.ndarray, step: float = 3.0) -> np.ndarray:
    """Display points plus points every ``step`` pixels along consecutive pairs closer than
    60 px (so a line, given as its vertices, blocks the pixels between them)."""
    finite = points[np.all(np.isfinite(points), axis=1)]
    extra = []
    for a, b in zip(finite[:-1], finite[1:], strict=True):
        gap = float(np.hypot(*(b - a)))
        if step < gap < 60.0:
            t = np.linspace(0.0, 1.0, int(gap / step) + 1)[1:-1, None]
            extra.append(a + t * (b - a))
    return np.concatenate([finite, *extra]) if extra else finite


def _label_contours_in_margin(ax: Axes, cs, norm) -> None:
    """Label each contour level where its line leaves the axes through the top or right edge,
    just outside the axes in the level's colour; labels that would touch one already placed
    on the same edge are left out. The lines themselves stay whole."""
    x_lo, x_hi = (math.log10(v) for v in ax.get_xlim())
    y_lo, y_hi = (math.log10(v) for v in ax.get_ylim())
    taken = {"top": [], "right": []}
    min_gap = {"top": 0.075 * (x_hi - x_lo), "right": 0.05 * (y_hi - y_lo)}
    for level, segments in zip(cs.levels, cs.allsegs, strict=True):
        exits = []
        for seg in segments:
            if len(seg) < 2:
                continue
            for x, y in (seg[0], seg[-1]):
                lx, ly = math.log10(x), math.log10(y)
                if abs(ly - y_hi) < 1e-6 * (y_hi - y_lo) + 1e-9:
                    exits.append(("top", lx, x, y))
                elif abs(lx - x_hi) < 1e-6 * (x_hi - x_lo) + 1e-9:
                    exits.append(("right", ly, x, y))
        if not exits:
            continue
        # the exit highest up the right edge, else the rightmost on the top edge
        exits.sort(key=lambda e: (e[0] == "right", e[1]))
        edge, position, x, y = exits[-1]
        if any(abs(position - p) < min_gap[edge] for p in taken[edge]):
            continue
        taken[edge].append(position)
        ax.annotate(
            f"{level:.2f}",
            (x, y),
            xytext=(0, 2) if edge == "top" else (2, 0),
            textcoords="offset points",
            ha="center" if edge == "top" else "left",
            va="bottom" if edge == "top" else "center",
            fontsize=7,
            color=_LOSS_CMAP(norm(level)),
            annotation_clip=False,
            gid="contour-label",
        )


def _within(values, flops, flops_range) -> np.ndarray:
    """``values`` where ``flops`` lies in ``flops_range``."""
    values, flops = np.asarray(values, float), np.asarray(flops, float)
    return values[(flops >= flops_range[0]) & (flops <= flops_range[1])]


def _finite_positive(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values) & (values > 0)]


def _inside_mask(x, y, x_range, y_range) -> np.ndarray:
    x, y = np.asarray(x, float), np.asarray(y, float)
    return (x >= x_range[0]) & (x <= x_range[1]) & (y >= y_range[0]) & (y <= y_range[1])


def _outside_note(ax: Axes, x, y) -> str | None:
    """``"k of n runs outside the axes"`` when the axes' limits leave runs out (also warned
    about), else None."""
    if x is None:
        return None
    inside = _inside_mask(x, y, sorted(ax.get_xlim()), sorted(ax.get_ylim()))
    hidden = int(np.count_nonzero(~inside))
    if not hidden:
        return None
    note = f"{hidden} of {inside.size} runs outside the axes"
    warnings.warn(f"{ax.get_gid() or 'figure'}: {note} (limits given)", stacklevel=3)
    return note


def _decade_budgets(flops_range) -> np.ndarray:
    """Every power of ten in ``flops_range`` (every other one when there are more than ten)."""
    low, high = math.ceil(math.log10(flops_range[0])), math.floor(math.log10(flops_range[1]))
    exponents = np.arange(low, high + 1)
    if exponents.size > 10:
        exponents = exponents[exponents % 2 == 0]
    return 10.0 ** exponents.astype(float)


def _log_limits(
    values, margin: float = _MARGIN_DEX, min_span: float = 0.0, pad: float | None = None
) -> tuple[float, float]:
    """Log-axis limits holding every finite positive value, ``margin`` decades beyond each
    end (``pad``: a factor instead), spanning at least ``min_span`` decades."""
    values = _finite_positive(values)
    lo, hi = math.log10(values.min()), math.log10(values.max())
    if hi - lo < min_span:
        mid = 0.5 * (lo + hi)
        lo, hi = mid - 0.5 * min_span, mid + 0.5 * min_span
    if pad is not None:
        margin = math.log10(pad)
    return 10.0 ** (lo - margin), 10.0 ** (hi + margin)


def _format_count(x: float) -> str:
    """``7e10 -> '70B'``, ``1e7 -> '10M'``, ``1e12 -> '1T'``: the paper's axis labels."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def _format_flops(c: float) -> str:
    """``6e18``-style label of a FLOP budget."""
    mantissa, exponent = f"{c:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


# One compiled program each (and in the persistent compilation cache) rather than a few dozen
# op-by-op dispatches per figure.
_predict_at = jax.jit(
    lambda theta, params, tokens, law: law.predict_at(theta, params, tokens),
    static_argnames="law",
)
_frontier_of = jax.jit(lambda theta, law: law.frontier_of(theta), static_argnames="law")

_POWER_LABEL = re.compile(r"\$\\mathdefault\{(-?)(?:([0-9.]+)\\times)?([0-9]+)\^\{(-?[0-9]+)\}\}\$")
_PLAIN_LABEL = re.compile(r"\$\\mathdefault\{(-?)([0-9.e+]+)\}\$")
_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


class _SuperscriptLogFormatter(LogFormatterSciNotation):
    """Matplotlib's log-axis labels (``10^20``, ``2x10^19``) with Unicode superscripts in
    place of mathtext: the same labels, without parsing TeX for every tick of every draw
    (a fifth of the time it took to save the figures)."""

    def __call__(self, x, pos=None):
        label = super().__call__(x, pos)
        power, plain = _POWER_LABEL.fullmatch(label), _PLAIN_LABEL.fullmatch(label)
        if power is not None:
            sign, coefficient, base, exponent = power.groups()
            times = f"{coefficient}×" if coefficient else ""
            return ("−" if sign else "") + times + base + exponent.translate(_SUPERSCRIPTS)
        if plain is not None:
            return ("−" if plain.group(1) else "") + plain.group(2)
        return label


MINOR_TICK_MAX_DECADES = 3.0
"""Log axes spanning more decades than this get no minor ticks (2, 3, ..., 9 times each power
of ten): there they are a few pixels apart, read nothing, and cost a third of the time it
takes to draw the figures (each tick is several artists, laid out and drawn per format)."""


class _ShortSpanLogLocator(LogLocator):
    """Matplotlib's minor log ticks on axes of at most ``MINOR_TICK_MAX_DECADES`` decades,
    none on longer ones (decided when drawn, from the axis limits)."""

    def __init__(self):
        super().__init__(base=10.0, subs="auto")

    def tick_values(self, vmin, vmax):
        if vmin > 0 and vmax > 0 and abs(math.log10(vmax / vmin)) > MINOR_TICK_MAX_DECADES:
            return np.array([])
        return super().tick_values(vmin, vmax)


def _log_axis(axis) -> None:
    """A log axis labelled as matplotlib would, in plain text (``_SuperscriptLogFormatter``),
    with minor ticks only on short spans (``_ShortSpanLogLocator``)."""
    axis.set_major_formatter(_SuperscriptLogFormatter(10.0))
    axis.set_minor_formatter(_SuperscriptLogFormatter(10.0, labelOnlyBase=False))
    axis.set_minor_locator(_ShortSpanLogLocator())


def _count_axis(axis, subs=(1.0,)) -> None:
    """Ticks labelled 10M / 1B / 1T on a log axis of parameters or tokens, with minor ticks
    only on short spans (``_ShortSpanLogLocator``)."""
    axis.set_major_locator(LogLocator(base=10.0, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda x, _: _format_count(x)))
    axis.set_minor_locator(_ShortSpanLogLocator())
    axis.set_minor_formatter(NullFormatter())


def _finish(ax: Axes, band_entries, note: str | None = None) -> None:
    """Light grid and a legend right of the axes: lines, stars, then one swatch per band in
    its line's colour, named after its line (``"Approach 2: 95% ..."``, the label up to its
    first parenthesis) when bands of several lines are drawn, then ``note`` (runs left
    outside the axes)."""
    ax.grid(True, which="major", alpha=0.25)
    handles, labels = ax.get_legend_handles_labels()
    several = len({line_label for line_label, _, _, _ in band_entries}) > 1
    for line_label, text, kind, color in band_entries:
        handles.append(Patch(**_band_kwargs(kind, color)))
        short = line_label.split(" (")[0]
        labels.append(f"{short}: {text}" if several else text)
    if note:
        handles.append(Patch(facecolor="none", edgecolor="none"))
        labels.append(note)
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)


def plot_backtest(results: Sequence, *, level: float = 0.9) -> Figure:
    """Held-out runs, predicted against observed loss with ``level`` predictive intervals: one
    panel per law (``backtest.LawBacktest``), the diagonal drawn for reference."""
    fig = Figure(figsize=(4.2 * len(results), 4.0), layout="constrained")
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    for ax, result in zip(axes, results, strict=True):
        observed, predicted = np.exp(result.observed), np.exp(result.predicted)
        low, high = (np.exp(v) for v in result.intervals[level])
        ax.errorbar(
            observed,
            predicted,
            yerr=[predicted - low, high - predicted],
            fmt="o",
            ms=3.5,
            color="C0",
            ecolor="0.6",
            elinewidth=0.8,
            label=f"held out ({round(100 * level)}% predictive interval)",
            gid="backtest-points",
        )
        span = [min(observed.min(), low.min()), max(observed.max(), high.max())]
        ax.plot(
            span, span, color="0.3", linewidth=0.8, linestyle="--", label="predicted = observed"
        )
        m = result.metrics
        ax.set_title(
            f"{result.law}\nmedian |log error| {m['median_abs_log_error']:.4f}, "
            f"coverage {m[f'coverage_{round(100 * level)}']:.2f}",
            fontsize=9,
        )
        ax.set_xlabel("Observed loss")
        ax.set_ylabel("Predicted loss")
        ax.legend(loc="upper left", frameon=False, fontsize=7)
    return fig


def plot_extrapolation_error(rolling: Mapping[str, Sequence]) -> Figure:
    """Rolling backtest: signed log error of each held-out run against its FLOPs ratio to the
    largest training run, one colour per law (``{law: [LawBacktest, ...]}``)."""
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    for k, (law, results) in enumerate(rolling.items()):
        ratio = np.concatenate([r.flops_ratio for r in results])
        error = np.concatenate([r.errors for r in results])
        ax.scatter(ratio, error, s=10, color=f"C{k}", alpha=0.7, label=law, gid=f"rolling-{law}")
    ax.axhline(0.0, color="0.3", linewidth=0.8)
    ax.set_xscale("log")
    _log_axis(ax.xaxis)
    ax.set_xlabel("FLOPs of the held-out run / largest training run")
    ax.set_ylabel("log(predicted loss) - log(observed loss)")
    ax.legend(frameon=False)
    return fig
