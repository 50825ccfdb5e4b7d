"""A study's figures: the two seed figures with every approach line and band, each
approach's own figures (Approach 2 its IsoFLOP profiles, Approach 3 its iso-loss contours),
and the replication's; written in the formats asked for.
"""

from __future__ import annotations

from pathlib import Path

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.core.data import Runs
from scalinglaw_jax.evaluate.workflow import StudyFit
from scalinglaw_jax.figures import DEFAULT_FIGURE_FORMATS, plots
from scalinglaw_jax.laws import closed_forms


def isoflop_figures(result, runs: Runs) -> list:
    """Approach 2: the IsoFLOP profiles with their parabolas and the fitted frontier."""
    figure = plots.plot_isoflop_profiles(result.profiles(), frontier=result.frontier)
    return [("isoflop_profiles", figure)]


def parametric_figures(result, runs: Runs) -> list:
    """Approach 3: the law's iso-loss contours, its frontier and the runs."""
    figure = plots.plot_parametric_contours(result.theta, law=result.law, runs=runs)
    return [("parametric_contours", figure)]


APPROACH_FIGURES = {"2": isoflop_figures, "3": parametric_figures}
"""Approach key -> ``(result, runs) -> [(name, Figure)]``."""


def approach_figures(key: str, result, runs: Runs) -> list:
    """The figures of approach ``key`` (none for an approach without its own)."""
    draw = APPROACH_FIGURES.get(key)
    return [] if draw is None else draw(result, runs)


def study_lines(study: StudyFit, bands: dict | None = None) -> list[plots.FrontierLine]:
    """One line per approach fitted in ``study`` (a ``workflow.StudyFit``), with its band when
    ``bands`` (key -> ApproachBand, see :mod:`scalinglaw_jax.uncertainty.bands`) holds a drawn
    one, and Approach 3's law named."""
    law_names = {
        key: law.name
        for key, result in study.results.items()
        if (law := getattr(result, "law", None)) is not None and hasattr(law, "name")
    }
    frontiers = {key: r.frontier for key, r in study.results.items()}
    return banded_lines(frontiers, bands, law_names=law_names)


def banded_lines(
    frontiers: dict, bands: dict | None = None, *, law_names: dict | None = None
) -> list[plots.FrontierLine]:
    """One line per approach key in its colour; ``bands`` maps keys to ``ApproachBand``s, and
    a drawn band goes on its line with its legend text; ``law_names`` (key -> name, Approach
    3's law) names the law in the line's legend entry."""
    bands = bands or {}
    lines = []
    for key, frontier in sorted(frontiers.items()):
        entry = bands.get(key)
        drawn = entry is not None and entry.band is not None
        lines.append(
            plots.FrontierLine(
                registry.get(key).name,
                frontier,
                bands=(entry.band,) if drawn else (),
                color=registry.get(key).color,
                band_labels=(entry.label,) if drawn else (),
                law=(law_names or {}).get(key),
            )
        )
    return lines


def write_frontier_figures(
    lines, out_dir: Path, runs=None, *, formats=DEFAULT_FIGURE_FORMATS, report=None
) -> list[Path]:
    """The two seed figures, params_vs_flops and params_vs_tokens, in ``formats``; a figure
    whose axes leave runs out says so (``plots.figure_notes``: printed, and recorded as a
    warning of ``report``, a ``report.page.Report``, when given)."""
    written = []
    for stem, draw in (
        ("params_vs_flops", plots.plot_params_vs_flops),
        ("params_vs_tokens", plots.plot_params_vs_tokens),
    ):
        figure = draw(lines, runs=runs)
        _print_notes(plots, figure, stem, report)
        written += plots.save_figure(figure, out_dir, stem, formats)
    return written


def _print_notes(plots, figure, stem: str, report=None) -> None:
    for note in plots.figure_notes(figure):
        if report is not None:
            report.warn(f"{stem}: {note}")  # prints it too
        else:
            print(f"WARNING: {stem}: {note}")


def write_figures(
    study: StudyFit,
    out_dir: Path,
    *,
    bands: dict | None = None,
    formats=DEFAULT_FIGURE_FORMATS,
    report=None,
) -> list[Path]:
    """The paper's figures for whatever was fitted, in ``formats`` (default SVG only),
    with ``bands`` (key -> ``ApproachBand``) on the frontier lines; runs a figure leaves
    out are printed and, with ``report``, recorded as its warnings."""
    runs = next(iter(study.tables.values()))
    dots = study.tables.get("3") or study.tables.get("2") or runs
    lines = study_lines(study, bands)
    written = write_frontier_figures(lines, out_dir, runs=dots, formats=formats, report=report)
    for key, result in sorted(study.results.items()):
        for name, figure in approach_figures(key, result, study.tables[key]):
            _print_notes(plots, figure, name, report)
            written += plots.save_figure(figure, out_dir, name, formats)
    return written


def write_replication_figures(fits: dict, out: Path) -> list[Path]:
    """The replication's frontier figure (with the paper's own Approach-3 line) and its
    IsoFLOP profiles, from ``replicate.replicate_chinchilla``'s fits."""
    written = []
    frontiers = {key: fits[f"approach{key}"].frontier for key in ("2", "3")}
    lines = banded_lines(frontiers, fits.get("bands"))
    lines.append(
        plots.FrontierLine(
            "Paper Approach 3 (TeX params)",
            closed_forms.PAPER_FRONTIER,
            color="0.4",
            linestyle="--",
        )
    )
    figure = plots.plot_params_vs_flops(lines, runs=fits["runs"])
    written += plots.save_figure(figure, out, "replication_params_vs_flops")
    result2 = fits["approach2"]
    figure = plots.plot_isoflop_profiles(result2.profiles(), frontier=result2.frontier)
    written += plots.save_figure(figure, out, "replication_isoflop_profiles")
    return written
