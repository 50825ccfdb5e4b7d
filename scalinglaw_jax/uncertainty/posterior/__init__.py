"""Posteriors of the three approaches: likelihoods and priors, the NUTS driver and its
diagnostics, one Approach-3 sampler for any ``Law``, the joint IsoFLOP model, and Approach 1's
resampling posterior. Every sampler returns a ``Posterior`` (ArviZ ``InferenceData``, flat
draws of the frontier, diagnostics and a verdict).

``POSTERIORS[key](runs, *, key, settings, options)`` runs approach ``key``'s posterior with a
``PosteriorOptions`` record; ``POSTERIOR_DEFAULTS[key]`` names its default options.

Names load on first use, so that ``options`` (what the command line offers and checks) can be
read without importing numpyro and arviz.

Modules: ``options`` (choices, no numpyro), ``likelihoods`` (densities, priors), ``nuts``
(driver, settings, diagnostics), ``result`` (``Posterior``), ``law_model`` (any law's model),
``chinchilla`` (Chinchilla's law's fast path), ``sandwich`` (the learning rate),
``parametric`` (the Approach-3 sampler), ``isoflop``, ``resampling``, ``registry``.
"""

import importlib

_PUBLIC = {
    "options": (
        "DEFAULT_HUBER_K",
        "DEFAULT_STUDENT_DF",
        "LIKELIHOODS",
        "POSTERIOR_DEFAULTS",
        "RESAMPLING_POSTERIORS",
        "PosteriorOptions",
    ),
    "likelihoods": (
        "HuberDensity",
        "huber_log_normaliser",
        "huber_rho",
        "likelihood",
        "make_prior",
        "resolve_priors",
    ),
    "nuts": ("ESS_MIN", "RHAT_MAX", "Diagnostics", "NutsSettings", "diagnose"),
    "result": ("INTERVAL_LEVEL", "Posterior", "frontier_draws"),
    "law_model": ("LawProblem", "law_model"),
    "chinchilla": ("PARAMETRIC_PRIORS", "parametric_model", "reference_point"),
    "sandwich": ("PILOT_DRAWS", "sandwich_eta"),
    "parametric": ("FAST_PATHS", "sample_parametric"),
    "isoflop": ("ISOFLOP_PRIORS", "isoflop_model", "sample_isoflop"),
    "resampling": ("bayesian_bootstrap_envelope", "resampling_posterior_envelope"),
    "registry": ("POSTERIORS",),
}
_MODULE_OF = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    """Import a public name's module on first use and keep the name here."""
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
