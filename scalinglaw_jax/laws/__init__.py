"""Every law in one place: the shipped laws (one module each, defining ``LAW``), the closed
forms of Chinchilla's and Kaplan's laws with the paper's numbers (``closed_forms``), and studies
simulated from a law (``simulate``).

Adding a law to the registry is adding its module here and its name to ``SHIPPED``.
``get_law`` also takes a ``Law`` value or ``path/to/file.py:NAME`` (a law in the user's own
file).
"""

from __future__ import annotations

import importlib

from scalinglaw_jax.core.errors import nearest
from scalinglaw_jax.core.law import Law, LawError, load_law_file

SHIPPED = ("chinchilla", "data_constrained", "kaplan", "shared_exponent")
"""The modules of this package that each define one shipped ``LAW``."""


def _discover() -> dict[str, Law]:
    laws = {}
    for module in SHIPPED:
        law = importlib.import_module(f"{__name__}.{module}").LAW
        laws[law.name] = law
    return laws


LAWS: dict[str, Law] = _discover()
"""Registered laws by name."""
DEFAULT_LAW = "chinchilla"
"""The name of the law every command and function fits unless told otherwise."""
CHINCHILLA_LAW: Law = LAWS[DEFAULT_LAW]
"""Chinchilla's law as a value: the default of every function that takes a ``Law``."""


def registered_name(law: Law) -> str | None:
    """``law``'s name when it is the registered law of that name, else None (a law from a
    user's file or built in a session: nothing outside this process can name it)."""
    return law.name if LAWS.get(law.name) is law else None


def get_law(spec: Law | str) -> Law:
    """A registered law by name, a ``Law`` as given, or ``FILE.py:NAME`` loaded from a file."""
    if isinstance(spec, Law):
        return spec
    if not isinstance(spec, str):
        raise LawError(f"a law is a registered name, FILE.py:NAME or a Law, got {spec!r}")
    if spec in LAWS:
        return LAWS[spec]
    if ":" in spec:
        return load_law_file(spec)
    hint = nearest(spec, LAWS)
    raise LawError(
        f"unknown law {spec!r}{hint}; registered laws: {', '.join(LAWS)}; a law of your own is "
        "path/to/file.py:NAME"
    )


__all__ = ["CHINCHILLA_LAW", "DEFAULT_LAW", "LAWS", "get_law"]
