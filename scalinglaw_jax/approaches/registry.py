"""The approach registry: key -> ``ApproachSpec``. The only place that knows which keys exist.

Keys are the strings ``"1"``, ``"2"``, ``"3"`` everywhere (CLI choices, summary.json sections,
``Problem.approach``, ``Posterior.approach``). ``get`` accepts an int too and returns the
record, or raises ``DataError`` naming the known keys.
"""

from __future__ import annotations

from scalinglaw_jax.approaches import envelope, isoflop, parametric_spec
from scalinglaw_jax.approaches.spec import ApproachSpec
from scalinglaw_jax.core.data import DataError

APPROACHES: dict[str, ApproachSpec] = {
    spec.key: spec for spec in (envelope.SPEC, isoflop.SPEC, parametric_spec.SPEC)
}
KEYS = tuple(APPROACHES)


def get(key) -> ApproachSpec:
    """The record of approach ``key`` (``"1"``, ``"2"``, ``"3"``, or the same as an int); a
    record given in its place is returned as it is."""
    if isinstance(key, ApproachSpec):
        return key
    spec = APPROACHES.get(str(key))
    if spec is None:
        raise DataError(f"unknown approach {key!r}: use one of {', '.join(KEYS)}")
    return spec


def selected(choice) -> tuple[str, ...]:
    """Every key for ``"all"``, else the one key ``choice`` (checked)."""
    return KEYS if choice == "all" else (get(choice).key,)
