"""What ``fit`` and ``demo`` share: a study of every approach printed, its bands, its outputs."""

from __future__ import annotations

from scalinglaw_jax.approaches import registry
from scalinglaw_jax.cli.template import Outcome


def write_figures(study, out, *, bands=None, formats=(), report=None):
    """``figures.study.write_figures`` (matplotlib is imported when drawing)."""
    from scalinglaw_jax.figures.study import write_figures as draw

    return draw(study, out, bands=bands, formats=formats, report=report)


def print_study(study, report) -> None:
    """Print (and record in ``report``) each approach's report and the comparison table."""
    for key, result in sorted(study.results.items()):
        report.table(registry.get(key).name, result.report())
    report.table("Exponents and projections", study.comparison_table())
    for key, reason in sorted(study.skipped.items()):
        report.warn(f"{registry.get(key).name} skipped: {reason}", echo=False)


def band_sections(section: str, results: dict, bands: dict, report) -> list:
    """summary.json entries ``(section, key, result + band)`` of every band; each result's
    table and each band left out are reported."""
    from scalinglaw_jax.uncertainty.bands import band_to_dict

    sections = []
    for key, entry in sorted(bands.items()):
        content = {}
        if key in results:
            content = results[key].to_dict()
            report.table(f"{registry.get(key).name}: {entry.label}", results[key].report())
        content["band"] = band_to_dict(entry)
        sections.append((section, key, content))
        if entry.band is None:
            report.warn(entry.note)
    return sections


def study_outcome(study, report, bands: dict | None = None, sections=()) -> Outcome:
    """The study's figures (with ``bands``; runs a figure leaves out are ``report``'s
    warnings), its ``approaches`` section and ``sections``."""

    def figures(out, formats):
        from scalinglaw_jax.report.outputs import remove_stale_figures

        written = write_figures(study, out, bands=bands, formats=formats, report=report)
        remove_stale_figures(out, written)
        return written

    approaches = [("approaches", key, content) for key, content in study.summary().items()]
    return Outcome(sections=(*approaches, *sections), figures=figures)
