"""scalinglaw_jax: compute-optimal scaling-law fits in JAX.

Importing the package turns on JAX's float64 mode: every fit runs in float64 unless a float32
fast path is asked for explicitly.
"""

import jax

jax.config.update("jax_enable_x64", True)

from scalinglaw_jax import plots  # noqa: E402
from scalinglaw_jax.approaches import (  # noqa: E402
    assign_budgets,
    fit_envelope,
    fit_isoflop,
    fit_parametric,
)
from scalinglaw_jax.data import DataError, Runs, exclude_rows, load_runs  # noqa: E402
from scalinglaw_jax.law import Law, LawError  # noqa: E402
from scalinglaw_jax.lawbook import LAWS, get_law  # noqa: E402
from scalinglaw_jax.laws import (  # noqa: E402
    CHINCHILLA,
    CHINCHILLA_ISOFLOP_BUDGETS,
    KAPLAN_FRONTIER,
    PAPER_PARAMS,
    REFERENCE_MODELS,
    ChinchillaParams,
    Frontier,
    projection_table,
)
from scalinglaw_jax.simulate import (  # noqa: E402
    simulate_chinchilla_study,
    simulate_final_losses,
    simulate_isoflop,
    simulate_law,
    simulate_training_curves,
)
from scalinglaw_jax.solvers import (  # noqa: E402
    SolverOptions,
    chinchilla_grid,
    use_cpu_devices,
)

__all__ = [
    "CHINCHILLA",
    "CHINCHILLA_ISOFLOP_BUDGETS",
    "KAPLAN_FRONTIER",
    "LAWS",
    "PAPER_PARAMS",
    "REFERENCE_MODELS",
    "ChinchillaParams",
    "DataError",
    "Frontier",
    "Law",
    "LawError",
    "Runs",
    "SolverOptions",
    "assign_budgets",
    "chinchilla_grid",
    "exclude_rows",
    "fit_envelope",
    "fit_isoflop",
    "fit_parametric",
    "get_law",
    "load_runs",
    "plots",
    "projection_table",
    "simulate_chinchilla_study",
    "simulate_final_losses",
    "simulate_isoflop",
    "simulate_law",
    "simulate_training_curves",
    "use_cpu_devices",
]
__version__ = "0.1.0"
