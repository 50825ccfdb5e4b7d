"""Run the approaches a table supports, compare them, and draw the paper's figures.

Shared by ``scalinglaw fit``, ``scalinglaw demo`` and the notebooks: given the table(s) for each
approach it fits what it can, records why it skipped the rest, and writes figures and
``summary.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import pandas as pd

from scalinglaw_jax import laws
from scalinglaw_jax.approaches import registry
from scalinglaw_jax.data import DataError, Runs, load_runs
from scalinglaw_jax.lawbook import DEFAULT_LAW
from scalinglaw_jax.outputs import DEFAULT_FIGURE_FORMATS
from scalinglaw_jax.simulate import simulate_chinchilla_study
from scalinglaw_jax.solvers import DEFAULT_SCREENING, Screening

if TYPE_CHECKING:  # plots (matplotlib) is imported by the functions that draw
    from scalinglaw_jax import plots


@dataclass
class StudyFit:
    """Results per approach (``"1"``, ``"2"``, ``"3"``), skipped approaches with reasons."""

    results: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)

    def frontier_lines(self, bands: dict | None = None) -> list[plots.FrontierLine]:
        """One line per fitted approach, with its band when ``bands`` (key -> ApproachBand,
        see :mod:`scalinglaw_jax.bands`) holds a drawn one."""
        law_names = {
            key: law.name
            for key, result in self.results.items()
            if (law := getattr(result, "law", None)) is not None and hasattr(law, "name")
        }
        frontiers = {key: r.frontier for key, r in self.results.items()}
        return banded_lines(frontiers, bands, law_names=law_names)

    def comparison_table(self) -> str:
        """Exponents and projections side by side with the paper's Table 2 and Kaplan."""
        published = {"1": (0.50, 0.50), "2": (0.49, 0.51), "3": (0.46, 0.54)}
        lines = [
            f"{'approach':<26}{'a':>8}{'b':>8}{'paper a':>9}  {'N_opt @ 1e24 FLOPs':>19}"
            f"{'tokens for 70B':>16}"
        ]
        entries = [
            (registry.get(k).name, r.frontier, published[k][0]) for k, r in self.results.items()
        ]
        entries.append(("Kaplan et al. (2020)", laws.KAPLAN_FRONTIER, 0.73))
        for name, frontier, paper_a in sorted(entries):
            n_opt = float(frontier.n_opt(1e24))
            tokens_70b = float(frontier.d_opt(frontier.flops_for_params(70e9)))
            lines.append(
                f"{name:<26}{float(frontier.a):>8.3f}{float(frontier.b):>8.3f}{paper_a:>9.2f}  "
                f"{n_opt:>19.3g}{tokens_70b:>16.3g}"
            )
        for key, reason in sorted(self.skipped.items()):
            lines.append(f"{registry.get(key).name}: skipped ({reason})")
        return "\n".join(lines)

    def summary(self) -> dict:
        """``approaches`` section of summary.json: one entry per fitted approach + Kaplan."""
        content = {key: result.to_dict() for key, result in sorted(self.results.items())}
        content["kaplan"] = {
            **laws.frontier_to_dict(laws.KAPLAN_FRONTIER),
            "projection": laws.projection_table(laws.KAPLAN_FRONTIER),
            "source": "Kaplan et al. (2020): N_opt = 1.3e9 C^0.73, C in PF-days",
        }
        content["skipped"] = dict(self.skipped)
        return content


def fit_study(
    tables: dict[str, Runs],
    approaches=registry.KEYS,
    *,
    isoflop_nominal=None,
    parametric_starts="grid",
    law=DEFAULT_LAW,
    screening: Screening | None = DEFAULT_SCREENING,
) -> StudyFit:
    """Fit each requested approach on its table; record a reason for each one skipped.

    ``tables`` maps approach keys to validated tables (the same table may serve several);
    ``law`` is Approach 3's (a ``Law``, a registered name or ``FILE.py:NAME``), and
    ``screening`` its multi-start screening (None: every start solved, ``--exhaustive``).
    """
    study = StudyFit(tables=dict(tables))
    for key in approaches:
        runs = tables.get(key)
        if runs is None:
            study.skipped[key] = "no table given for it"
            continue
        spec = registry.get(key)
        try:
            runs, note = spec.rows(runs)
            if note:
                print(note)
            study.results[key] = spec.fit(
                runs,
                nominal=isoflop_nominal,
                starts=parametric_starts,
                law=law,
                screening=screening,
            )
        except DataError as error:
            study.skipped[key] = str(error).splitlines()[0]
    return study


def banded_lines(
    frontiers: dict, bands: dict | None = None, *, law_names: dict | None = None
) -> list[plots.FrontierLine]:
    """One line per approach key in its colour; ``bands`` maps keys to ``ApproachBand``s, and
    a drawn band goes on its line with its legend text; ``law_names`` (key -> name, Approach
    3's law) names the law in the line's legend entry."""
    from scalinglaw_jax import plots

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
    warning of ``report``, a ``report.Report``, when given)."""
    from scalinglaw_jax import plots

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
    from scalinglaw_jax import plots

    runs = next(iter(study.tables.values()))
    dots = study.tables.get("3") or study.tables.get("2") or runs
    written = write_frontier_figures(
        study.frontier_lines(bands), out_dir, runs=dots, formats=formats, report=report
    )
    for key, result in sorted(study.results.items()):
        for name, figure in registry.get(key).figures(result, study.tables[key]):
            _print_notes(plots, figure, name, report)
            written += plots.save_figure(figure, out_dir, name, formats)
    return written


def demo_tables(seed: int = 0, noise: float = 0.01) -> dict[str, Runs]:
    """The built-in study: the paper's design simulated from its own Approach-3 law."""
    study = simulate_chinchilla_study(jax.random.key(seed), noise=noise)
    return {
        "1": load_runs(study["curves"]),
        "2": load_runs(study["isoflop"]),
        "3": load_runs(study["final"]),
    }


def tables_for(runs: Runs) -> dict[str, Runs]:
    """One user table serves every approach; each approach checks what it needs."""
    return {"1": runs, "2": runs, "3": runs}


def projection_frame(study: StudyFit) -> pd.DataFrame:
    """The paper's Table 3 for every fitted approach: FLOPs and tokens per model size."""
    rows = []
    for key, result in sorted(study.results.items()):
        for entry in laws.projection_table(result.frontier):
            rows.append({"approach": key, **entry})
    return pd.DataFrame(rows)
