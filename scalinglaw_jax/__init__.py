"""scalinglaw_jax: compute-optimal scaling-law fits in JAX.

Importing the package turns on JAX's float64 mode: every fit runs in float64 unless a float32
fast path is asked for explicitly.

The public names below are imported on first use (module ``__getattr__``), so that
``import scalinglaw_jax`` and the ``scalinglaw`` command pay only for the modules a command
needs: matplotlib, numpyro, arviz and scipy.stats load when something uses them.
"""

import importlib

import jax

jax.config.update("jax_enable_x64", True)

__version__ = "0.1.0"

_PUBLIC = {
    "scalinglaw_jax.approaches": (
        "assign_budgets",
        "fit_envelope",
        "fit_isoflop",
        "fit_parametric",
    ),
    "scalinglaw_jax.core.data": ("DataError", "Runs", "exclude_rows", "load_runs"),
    "scalinglaw_jax.core.law": ("Law", "LawError"),
    "scalinglaw_jax.core.frontier": ("Frontier",),
    "scalinglaw_jax.laws": ("LAWS", "get_law"),
    "scalinglaw_jax.laws.closed_forms": (
        "CHINCHILLA",
        "CHINCHILLA_ISOFLOP_BUDGETS",
        "KAPLAN_FRONTIER",
        "PAPER_PARAMS",
        "REFERENCE_MODELS",
        "ChinchillaParams",
        "projection_table",
    ),
    "scalinglaw_jax.laws.simulate": (
        "simulate_chinchilla_study",
        "simulate_final_losses",
        "simulate_isoflop",
        "simulate_law",
        "simulate_training_curves",
    ),
    "scalinglaw_jax.core.solvers": ("SolverOptions", "chinchilla_grid", "use_cpu_devices"),
}
_MODULE_OF = {name: module for module, names in _PUBLIC.items() for name in names}
_SUBMODULES = {"plots": "scalinglaw_jax.figures.plots"}

__all__ = sorted([*_MODULE_OF, *_SUBMODULES])


def __getattr__(name: str):
    """Import a public name's module on first use and keep the name here."""
    if name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    elif name in _MODULE_OF:
        value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
