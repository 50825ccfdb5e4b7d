"""The figures as files: ids, counts and axis limits read back from the SVGs, on Epoch's
table, the demo's study and small tables at unusual ranges (1e15-1e19, 1e21-1e25 FLOPs).

Every run drawn must sit inside its axes (default limits), the loss colour scale must span
every plotted loss, and the Kaplan line, stars and frontier lines must all be there.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET

import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.text import Text

from scalinglaw_jax.core.data import load_runs
from scalinglaw_jax.core.frontier import Frontier
from scalinglaw_jax.figures import plots
from scalinglaw_jax.laws import closed_forms

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def small_table(low: float, high: float, seed: int = 0):
    """40 runs: 5 budgets from ``low`` to ``high`` FLOPs, 8 sizes each around the paper's
    law's optimum (0.2x-5x), 1% noise."""
    e, a, b, alpha, beta = (float(x) for x in closed_forms.PAPER_PARAMS)
    frontier = closed_forms.CHINCHILLA.frontier(jnp.asarray(closed_forms.PAPER_THETA))
    rng = np.random.default_rng(seed)
    rows = []
    for c in np.geomspace(low, high, 5):
        for n in float(frontier.n_opt(c)) * np.geomspace(0.2, 5.0, 8):
            d = c / (6 * n)
            loss = (e + a / n**alpha + b / d**beta) * np.exp(0.01 * rng.standard_normal())
            rows.append({"params": n, "tokens": d, "flops": c, "loss": loss})
    import pandas as pd

    return load_runs(pd.DataFrame(rows))


@pytest.fixture(scope="module", params=["epoch", "demo", "1e15-1e19", "1e21-1e25"])
def table(request):
    if request.param == "epoch":
        path = request.getfixturevalue("epoch_csv")
        return load_runs(
            path,
            columns={"params": "Model Size", "flops": "Training FLOP", "loss": "loss"},
            drop_highest_loss=5,
        )
    if request.param == "demo":
        from scalinglaw_jax.evaluate.workflow import demo_tables

        return demo_tables()["3"]
    low, high = (float(x) for x in request.param.split("-"))
    return small_table(low, high)


def paper_lines():
    paper = Frontier(
        *(float(x) for x in closed_forms.CHINCHILLA.frontier(jnp.asarray(closed_forms.PAPER_THETA)))
    )
    shifted = paper._replace(log_g_n=paper.log_g_n + 0.1, log_g_d=paper.log_g_d - 0.1)
    return [
        plots.FrontierLine("Approach 1 (envelope)", shifted, color="C0"),
        plots.FrontierLine("Approach 3 (parametric)", paper, color="C2", law="chinchilla"),
    ]


def svg_facts(path) -> dict:
    text = path.read_text()
    match = re.search(r"<dc:description>(.*?)</dc:description>", text, re.S)
    return json.loads(html.unescape(match.group(1)))


def by_id(root, gid: str):
    found = [el for el in root.iter() if el.get("id") == gid]
    assert len(found) == 1, f"expected one element with id {gid!r}, found {len(found)}"
    return found[0]


def axes_rectangle(root, gid: str) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of an axes' background patch, in SVG units."""
    patch = next(by_id(root, gid).iter(f"{SVG}path"))
    numbers = [float(v) for v in re.findall(r"-?[0-9.]+", patch.get("d"))]
    xs, ys = numbers[0::2], numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def marker_positions(root, gid: str) -> np.ndarray:
    group = by_id(root, gid)
    return np.array([(float(u.get("x")), float(u.get("y"))) for u in group.iter(f"{SVG}use")])


def check_runs_inside(path, axes_id: str, n_runs: int) -> dict:
    """Every run's marker lies inside the axes rectangle; facts agree; returns the facts."""
    root = ET.parse(path).getroot()
    x0, y0, x1, y1 = axes_rectangle(root, axes_id)
    xy = marker_positions(root, "runs")
    assert len(xy) == n_runs
    tol = 1e-6
    assert np.all((xy[:, 0] >= x0 - tol) & (xy[:, 0] <= x1 + tol)), (
        "a run left or right of the axes"
    )
    assert np.all((xy[:, 1] >= y0 - tol) & (xy[:, 1] <= y1 + tol)), "a run above or below the axes"
    facts = svg_facts(path)[axes_id]
    assert facts["runs"] == facts["runs_inside"] == n_runs
    return facts


def test_frontier_figures_hold_every_run_and_star(table, tmp_path):
    n = len(table)
    lines = paper_lines()
    (flops_svg,) = plots.save_figure(
        plots.plot_params_vs_flops(lines, runs=table), tmp_path, "flops", ("svg",)
    )
    (tokens_svg,) = plots.save_figure(
        plots.plot_params_vs_tokens(lines, runs=table), tmp_path, "tokens", ("svg",)
    )
    for path, axes_id, xs in (
        (flops_svg, "axes-params-vs-flops", np.asarray(table.flops)),
        (tokens_svg, "axes-params-vs-tokens", np.asarray(table.tokens)),
    ):
        facts = check_runs_inside(path, axes_id, n)
        root = ET.parse(path).getroot()
        for model in closed_forms.REFERENCE_MODELS:
            by_id(root, f"reference-model-{plots._slug(model.name)}")
        by_id(root, "kaplan")
        assert sum(el.get("id") == "frontier" for el in root.iter()) == 2
        (x_lo, x_hi), (y_lo, y_hi) = facts["xlim"], facts["ylim"]
        stars_x = [
            m.flops if "flops" in axes_id else m.tokens for m in closed_forms.REFERENCE_MODELS
        ]
        assert x_lo < min(xs.min(), *stars_x) and x_hi > max(xs.max(), *stars_x)
        assert y_lo < 70e9 / 10 and y_hi > 530e9  # stars with room
        assert "Approach 3 (parametric), chinchilla law (a=0.46)" in facts["legend"]
    flops_facts = svg_facts(flops_svg)["axes-params-vs-flops"]
    assert flops_facts["xlim"][0] <= 1e17 and flops_facts["xlim"][1] >= 1e26  # the paper's span


def test_contours_hold_every_run_and_colour_every_loss(table, tmp_path):
    figure = plots.plot_parametric_contours(closed_forms.PAPER_THETA, runs=table)
    (path,) = plots.save_figure(figure, tmp_path, "contours", ("svg",))
    facts = check_runs_inside(path, "axes-parametric-contours", len(table))
    low, high = facts["color_range"]
    loss = np.asarray(table.loss)
    assert low <= loss.min() and high >= loss.max()
    assert svg_facts(path)["colorbar-loss"]["ylim"] == pytest.approx([low, high])
    root = ET.parse(path).getroot()
    by_id(root, "contours")
    labels = [el for el in root.iter() if el.get("id") == "contour-label"]
    assert len(labels) >= 3
    # the law's name heads the legend (the legend title is not a legend text)
    assert figure.axes[0].get_legend().get_title().get_text() == "Approach 3: chinchilla law"


def test_contour_labels_sit_outside_the_axes_and_lines_stay_whole(table):
    figure = plots.plot_parametric_contours(closed_forms.PAPER_THETA, runs=table)
    ax = figure.axes[0]
    figure.draw_without_rendering()
    box = ax.get_window_extent()
    labels = [t for t in ax.texts if t.get_gid() == "contour-label"]
    assert labels
    for label in labels:
        extent = label.get_window_extent()
        assert extent.y0 >= box.y1 - 1 or extent.x0 >= box.x1 - 1, label.get_text()
    for a, b in zip(labels, labels[1:], strict=False):
        assert not a.get_window_extent().overlaps(b.get_window_extent())
    (contours,) = [c for c in ax.collections if c.get_gid() == "contours"]
    assert not ax.texts or all(t.get_gid() != "clabel" for t in ax.texts)
    assert len(contours.get_paths()) == len(contours.levels)


def test_budget_labels_cover_no_run_star_or_other_label(table):
    figure = plots.plot_params_vs_tokens(paper_lines(), runs=table)
    ax = figure.axes[0]
    figure.draw_without_rendering()
    labels = [t for t in ax.texts if t.get_gid() == "budget-label"]
    assert len(labels) >= 4
    points = ax.transData.transform(np.column_stack([table.tokens, table.params]))
    stars = ax.transData.transform([(m.tokens, m.params) for m in closed_forms.REFERENCE_MODELS])
    boxes = [Text.get_window_extent(t) for t in labels]  # the text, not its leader line
    for label, box in zip(labels, boxes, strict=True):
        for x, y in np.concatenate([points, stars]):
            assert not (box.x0 < x < box.x1 and box.y0 < y < box.y1), label.get_text()
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1 :])


def test_limits_given_that_leave_runs_out_are_counted(tmp_path):
    runs = small_table(1e15, 1e19)
    with pytest.warns(UserWarning, match="16 of 40 runs outside the axes"):
        figure = plots.plot_params_vs_flops(paper_lines(), runs=runs, flops_range=(1e17, 1e26))
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "16 of 40 runs outside the axes" in legend
    assert plots.figure_notes(figure) == ["axes-params-vs-flops: 16 of 40 runs outside the axes"]
    with pytest.warns(UserWarning, match="runs outside the axes"):
        contours = plots.plot_parametric_contours(
            closed_forms.PAPER_THETA, runs=runs, flops_range=(1e18, 1e24), params_range=(1e7, 1e12)
        )
    (note,) = plots.figure_notes(contours)
    assert note.startswith("axes-parametric-contours:")


def test_runs_left_out_reach_the_report(capsys):
    from scalinglaw_jax.evaluate import workflow
    from scalinglaw_jax.report.page import Report

    runs = small_table(1e15, 1e19)
    with pytest.warns(UserWarning):
        figure = plots.plot_params_vs_flops(paper_lines(), runs=runs, flops_range=(1e17, 1e26))
    report = Report("t")
    workflow._print_notes(plots, figure, "params_vs_flops", report)
    assert report.warnings == [
        "params_vs_flops: axes-params-vs-flops: 16 of 40 runs outside the axes"
    ]
    assert "WARNING: params_vs_flops" in capsys.readouterr().err
