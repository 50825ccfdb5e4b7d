"""The paper's figures and the bands drawn on them. Figures read results; they never fit.

``plots`` draws (it imports matplotlib); ``study`` writes a study's figures. The formats below
are read by the command line before anything is drawn, so this module imports nothing heavy.
"""

FIGURE_FORMATS = ("png", "svg", "pdf")
"""Formats a figure can be written in (``--figure-formats``)."""
DEFAULT_FIGURE_FORMATS = ("svg",)
"""What the commands write unless told: SVG, which report.html inlines and any browser shows.
PNG and PDF are on request (``--figure-formats svg,png``): every format costs a full draw of
the figure, and a second format made drawing the figures half the time of a warm ``fit``."""


def figure_formats(text: str) -> tuple[str, ...]:
    """``"svg,png"`` -> ``("svg", "png")``; ``ValueError`` naming an unknown or empty entry."""
    formats = tuple(part.strip().lower() for part in text.split(","))
    unknown = [fmt for fmt in formats if fmt not in FIGURE_FORMATS]
    if unknown or not all(formats):
        raise ValueError(
            f"figure formats must be a comma-separated list of {', '.join(FIGURE_FORMATS)}, "
            f"got {text!r}"
        )
    return tuple(dict.fromkeys(formats))
