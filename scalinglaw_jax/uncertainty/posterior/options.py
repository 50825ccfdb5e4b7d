"""What a user chooses about a posterior, as one typed record (``PosteriorOptions``).

Kept free of numpyro and arviz, so that the command line can offer and check these choices
without loading them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from scalinglaw_jax.core.data import DataError
from scalinglaw_jax.core.errors import refuse_unknown_fields
from scalinglaw_jax.core.law import Law
from scalinglaw_jax.laws import CHINCHILLA_LAW

LIKELIHOODS = ("huber", "student")
"""Robust densities of the residuals (``likelihoods.likelihood``)."""
DEFAULT_HUBER_K = 0.5
"""Threshold of the Huber density on the standardised residual: near-Laplace tails, close to
the point fit's Huber delta = 1e-3 at the residual scale of Epoch's data (sigma ~ 2e-3)."""
DEFAULT_STUDENT_DF = 4.0
RESAMPLING_POSTERIORS = MappingProxyType(
    {
        "wild-gaussian": "Gaussian residual multipliers within curves",
        "bayesian": "bayesian bootstrap over curves",
    }
)
"""Approach 1's resampling posteriors by scheme, with the method name their settings carry."""


def check_law(law) -> Law:
    """``law`` when it is a ``Law`` value; names are resolved once, above (``laws.get_law``)."""
    if not isinstance(law, Law):
        raise DataError(
            f"a posterior takes a Law value (resolve names by laws.get_law), got {law!r}"
        )
    return law


def check_learning_rate(rate) -> float | str:
    """``"sandwich"`` or a number > 0 (the likelihood power ``eta``)."""
    if rate != "sandwich" and (isinstance(rate, str) or not rate > 0):
        raise DataError(f"learning_rate must be > 0 or 'sandwich', got {rate!r}")
    return rate


def check_likelihood(kind: str) -> str:
    if kind not in LIKELIHOODS:
        raise DataError(f"likelihood must be one of {LIKELIHOODS}, got {kind!r}")
    return kind


@dataclass(frozen=True)
class PosteriorOptions:
    """Options of ``POSTERIORS[key]``; each approach reads its own and the defaults are what
    ``scalinglaw sample`` runs when nothing is set.

    Approaches 2 and 3: ``likelihood``, ``huber_k``, ``student_df``, ``priors`` (overrides by
    name). Approach 3: ``law`` (a ``Law`` value), ``init_starts`` (starts of the point fit NUTS
    starts from), ``e_below_min_loss``, ``learning_rate``. Approach 2: ``nominal`` budgets.
    Approach 1: ``scheme`` (``RESAMPLING_POSTERIORS``) and ``n_grid``.
    """

    law: Law = CHINCHILLA_LAW
    likelihood: str = "huber"
    huber_k: float = DEFAULT_HUBER_K
    student_df: float = DEFAULT_STUDENT_DF
    priors: Mapping | None = None
    init_starts: int | str = 64
    e_below_min_loss: bool = False
    learning_rate: float | str = "sandwich"
    nominal: object = None
    scheme: str = "wild-gaussian"
    n_grid: int | None = None

    @classmethod
    def from_keywords(cls, **keywords) -> PosteriorOptions:
        """The record of ``keywords``; ``DataError`` for an unknown name (nearest named)."""
        refuse_unknown_fields(cls, keywords, "posterior option")
        return cls(**keywords)

    def __post_init__(self):
        check_law(self.law)
        check_likelihood(self.likelihood)
        check_learning_rate(self.learning_rate)
        if self.scheme not in RESAMPLING_POSTERIORS:
            raise DataError(
                "Approach 1's posterior scheme must be one of "
                f"{', '.join(RESAMPLING_POSTERIORS)}, got {self.scheme!r}"
            )


_DEFAULT = PosteriorOptions()
POSTERIOR_DEFAULTS = MappingProxyType(
    {
        "1": MappingProxyType({"scheme": _DEFAULT.scheme}),
        "2": MappingProxyType({}),
        "3": MappingProxyType({"learning_rate": _DEFAULT.learning_rate}),
    }
)
"""Per approach, the options that name its default posterior (how calibration labels it):
Approach 1's resampling scheme, Approach 3's likelihood power."""
