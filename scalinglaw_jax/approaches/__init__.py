"""The three Chinchilla approaches, each a pure fit over ``(arrays, weights)`` plus an entry point.

Approach 1, ``envelope``: the lowest loss over training curves at each FLOP budget.
Approach 2, ``isoflop``: parabolas through IsoFLOP profiles and a power law through their
vertices.
Approach 3, ``parametric``: ``L(N, D) = E + A/N^alpha + B/D^beta`` by a summed Huber loss.
"""

from scalinglaw_jax.approaches.envelope import (
    Curves,
    EnvelopeArrays,
    EnvelopePoints,
    EnvelopeResult,
    EnvelopeSolution,
    envelope_arrays,
    fit_envelope,
    fit_envelope_arrays,
    isotonic_decreasing,
    prepare_curves,
)
from scalinglaw_jax.approaches.isoflop import (
    BudgetAssignment,
    IsoflopArrays,
    IsoflopResult,
    IsoflopSolution,
    Profile,
    assign_budgets,
    fit_isoflop,
    fit_isoflop_arrays,
    isoflop_arrays,
)
from scalinglaw_jax.approaches.parametric import (
    ParametricArrays,
    ParametricFit,
    ParametricSolution,
    fit_parametric,
    fit_parametric_arrays,
    parametric_arrays,
)

__all__ = [
    "BudgetAssignment",
    "Curves",
    "EnvelopeArrays",
    "EnvelopePoints",
    "EnvelopeResult",
    "EnvelopeSolution",
    "IsoflopArrays",
    "IsoflopResult",
    "IsoflopSolution",
    "ParametricArrays",
    "ParametricFit",
    "ParametricSolution",
    "Profile",
    "assign_budgets",
    "envelope_arrays",
    "fit_envelope",
    "fit_envelope_arrays",
    "fit_isoflop",
    "fit_isoflop_arrays",
    "isoflop_arrays",
    "parametric_arrays",
    "fit_parametric",
    "fit_parametric_arrays",
    "isotonic_decreasing",
    "prepare_curves",
]
