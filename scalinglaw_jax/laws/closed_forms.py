"""Closed forms of the two reference laws and the paper's published numbers.

The Chinchilla form is ``log L = LSE(a - alpha log N, b - beta log D, e)``, i.e.
``L = E + A / N**alpha + B / D**beta`` with ``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``;
Kaplan et al. (2020)'s frontier, the paper's IsoFLOP budgets and reference models sit beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from scalinglaw_jax.core.frontier import Frontier, frontier_to_dict, huber

PF_DAY_FLOPS = 8.64e19
"""FLOPs in one petaflop/s-day (Kaplan et al. 2020 express compute in PF-days)."""


class ChinchillaParams(NamedTuple):
    """Parameters of ``L(N, D) = E + A / N**alpha + B / D**beta`` on the natural scale."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def as_dict(self) -> dict[str, float]:
        """The parameters as a plain ``{name: float}`` dict."""
        return {k: float(v) for k, v in self._asdict().items()}


# The paper's unrounded Approach-3 estimate (TeX source of Hoffmann et al. 2022).
PAPER_THETA = (6.0073404, 6.0179186, 0.5267228, 0.33917084, 0.2849083)


class ChinchillaForm:
    """The Chinchilla loss form on unconstrained ``theta = (a, b, e, alpha, beta)``."""

    name = "chinchilla"
    theta_names = ("a", "b", "e", "alpha", "beta")
    param_names = ("E", "A", "B", "alpha", "beta")
    n_params = 5

    @staticmethod
    def log_loss(theta, log_n, log_d):
        """Predicted log-loss via a max-shifted log-sum-exp (NaN-safe, fusable elementwise)."""
        a, b, e, alpha, beta = (theta[..., i] for i in range(5))
        u1 = a - alpha * log_n
        u2 = b - beta * log_d
        top = jnp.maximum(jnp.maximum(u1, u2), e)
        return top + jnp.log(jnp.exp(u1 - top) + jnp.exp(u2 - top) + jnp.exp(e - top))

    @staticmethod
    def to_params(theta) -> ChinchillaParams:
        """Natural-scale ``(E, A, B, alpha, beta)`` of ``theta = (a, b, e, alpha, beta)``.

        NumPy in, NumPy out (no JAX work: module constants are built at import, before a
        multi-host run may call ``jax.distributed.initialize``).
        """
        xp = np if isinstance(theta, np.ndarray) else jnp
        a, b, e, alpha, beta = (theta[..., i] for i in range(5))
        return ChinchillaParams(xp.exp(e), xp.exp(a), xp.exp(b), alpha, beta)

    @staticmethod
    def from_params(params: ChinchillaParams) -> jnp.ndarray:
        """Inverse of ``to_params``: ``theta = (log A, log B, log E, alpha, beta)``."""
        return jnp.stack(
            [
                jnp.log(params.A),
                jnp.log(params.B),
                jnp.log(params.E),
                jnp.asarray(params.alpha, dtype=float),
                jnp.asarray(params.beta, dtype=float),
            ],
            axis=-1,
        )

    @staticmethod
    def frontier(theta) -> Frontier:
        """Closed-form frontier: ``G = (alpha A / beta B)^(1/(alpha+beta))``.

        ``N_opt = G (C/6)^a`` and ``D_opt = G^-1 (C/6)^b`` with ``a = beta/(alpha+beta)``.
        Works on batched ``theta`` (last axis holds the five parameters); NumPy in, NumPy out.
        """
        xp = np if isinstance(theta, np.ndarray) else jnp
        a_log, b_log, _, alpha, beta = (theta[..., i] for i in range(5))
        total = alpha + beta
        log_g = (xp.log(alpha) + a_log - xp.log(beta) - b_log) / total
        exp_a = beta / total
        exp_b = alpha / total
        log6 = math.log(6.0)
        return Frontier(exp_a, exp_b, log_g - exp_a * log6, -log_g - exp_b * log6)


CHINCHILLA = ChinchillaForm()


def chinchilla_huber_derivatives(theta, arrays, weights, delta, majorize=0.0):
    """Closed-form value, gradient and Hessian of the Chinchilla-form Huber objective.

    With ``u = (a - alpha ln N, b - beta ln D, e)``, ``p = softmax(u)`` and residual
    ``r = LSE(u) - ln L``: the gradient of ``LSE`` is ``J = (p1, p2, p3, -p1 ln N, -p2 ln D)``
    and its Hessian ``M^T diag(p) M - J J^T``. With ``h' = clip(r, +-delta)`` and
    ``h'' = 1{|r| <= delta}`` the objective's Hessian is
    ``sum w (h'' - h') J J^T + sum w h' M^T diag(p) M``. Written as elementwise products and
    row sums, which XLA fuses far better than stacked arrays or autodiff's Hessian; each row
    sum is a kernel of its own on CPU, so only the upper triangle is summed. The largest of
    the three terms is ``exp(0) = 1`` after the shift, so two exponentials per row suffice.

    ``majorize`` in [0, 1] moves ``h''`` of rows outside ``delta`` from 0 (the exact Hessian)
    toward ``delta / |r|`` (``h'(r) / r``, the Huber loss's half-quadratic majoriser), the
    curvature the solver wants far from the optimum (``solvers.SolverOptions``).
    """
    a, b, e, alpha, beta = (theta[i] for i in range(5))
    log_n, log_d = arrays.log_n, arrays.log_d
    present = weights > 0
    u1 = a - alpha * log_n
    u2 = b - beta * log_d
    high12, low12 = jnp.maximum(u1, u2), jnp.minimum(u1, u2)
    top = jnp.maximum(high12, e)
    exp_low = jnp.exp(low12 - top)
    exp_mid = jnp.exp(jnp.minimum(high12, e) - top)
    u1_high, e_top = u1 >= u2, e >= high12
    e1 = jnp.where(u1_high, jnp.where(e_top, exp_mid, 1.0), exp_low)
    e2 = jnp.where(u1_high, exp_low, jnp.where(e_top, exp_mid, 1.0))
    e3 = jnp.where(e_top, 1.0, exp_mid)
    inv_total = 1.0 / (1.0 + exp_low + exp_mid)
    residual = jnp.where(present, top + jnp.log1p(exp_low + exp_mid) - arrays.log_loss, 0.0)
    value = jnp.sum(jnp.where(present, weights * huber(residual, delta), 0.0))
    d1 = jnp.where(present, weights * jnp.clip(residual, -delta, delta), 0.0)
    abs_residual = jnp.abs(residual)
    outside = majorize * delta / jnp.maximum(abs_residual, delta)
    robust = jnp.where(abs_residual <= delta, 1.0, outside)
    curvature = jnp.where(present, weights * robust, 0.0) - d1
    p1, p2, p3 = e1 * inv_total, e2 * inv_total, e3 * inv_total
    jac = (p1, p2, p3, -p1 * log_n, -p2 * log_d)
    grad = jnp.stack([jnp.sum(d1 * j) for j in jac])
    weighted = [curvature * j for j in jac]
    upper = {(i, k): jnp.sum(weighted[i] * jac[k]) for i in range(5) for k in range(i, 5)}
    # M^T diag(h' p) M: its entries other than the two below are the gradient's own sums.
    for i in range(3):
        upper[i, i] += grad[i]
    upper[0, 3] += grad[3]
    upper[1, 4] += grad[4]
    upper[3, 3] += jnp.sum(d1 * p1 * log_n**2)
    upper[4, 4] += jnp.sum(d1 * p2 * log_d**2)
    hess = [[upper[min(i, k), max(i, k)] for k in range(5)] for i in range(5)]
    return value, grad, jnp.stack([jnp.stack(row) for row in hess])


PAPER_PARAMS = ChinchillaForm.to_params(np.asarray(PAPER_THETA))
PAPER_FRONTIER = CHINCHILLA.frontier(np.asarray(PAPER_THETA))
"""The frontier of the paper's unrounded Approach-3 estimate (drawn beside a replication)."""


# Kaplan et al. (2020): N_opt = 1.3e9 * C_pf^0.73, D_opt = 2e10 * C_pf^0.27, C in PF-days.
KAPLAN_FRONTIER = Frontier(
    a=0.73,
    b=0.27,
    log_g_n=math.log(1.3e9) - 0.73 * math.log(PF_DAY_FLOPS),
    log_g_d=math.log(2e10) - 0.27 * math.log(PF_DAY_FLOPS),
)


PROJECTION_SIZES = (4e8, 1e9, 1e10, 6.7e10, 1.75e11, 2.8e11, 5.2e11, 1e12, 1e13)
"""Model sizes of the paper's Table 3 / Table A3 projections."""


def projection_table(
    frontier: Frontier, sizes: Sequence[float] = PROJECTION_SIZES
) -> list[dict[str, float]]:
    """FLOPs and tokens at which each model size is compute-optimal (the paper's Table 3)."""
    rows = []
    for n in sizes:
        flops = float(frontier.flops_for_params(n))
        rows.append({"params": float(n), "flops": flops, "tokens": float(frontier.d_opt(flops))})
    return rows


CHINCHILLA_ISOFLOP_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)
"""The nine IsoFLOP budgets of Hoffmann et al. (2022), Approach 2."""


class ReferenceModel(NamedTuple):
    """A published model drawn as a star in the Chinchilla figures."""

    name: str
    params: float
    tokens: float

    @property
    def flops(self) -> float:
        """Training FLOPs ``6 N D``."""
        return 6.0 * self.params * self.tokens


REFERENCE_MODELS = (
    ReferenceModel("Chinchilla", 70e9, 1.4e12),
    ReferenceModel("Gopher", 280e9, 300e9),
    ReferenceModel("GPT-3", 175e9, 300e9),
    ReferenceModel("Megatron-Turing NLG", 530e9, 270e9),
)


class KaplanForm:
    """Kaplan et al. (2020, eq. 1.5) on ``theta = (log N_c, log D_c, alpha_N, alpha_D)``.

    ``log L = alpha_D * LSE((alpha_N / alpha_D)(log N_c - log N), log D_c - log D)``. It has no
    irreducible term, so it bends differently from the Chinchilla form at large N and D.
    """

    name = "kaplan"
    theta_names = ("log_nc", "log_dc", "alpha_n", "alpha_d")
    param_names = ("N_c", "D_c", "alpha_N", "alpha_D")
    n_params = 4

    @staticmethod
    def log_loss(theta, log_n, log_d):
        """Predicted log-loss (the LSE form in the class docstring)."""
        log_nc, log_dc, alpha_n, alpha_d = (theta[..., i] for i in range(4))
        u1 = alpha_n / alpha_d * (log_nc - log_n)
        u2 = log_dc - log_d
        top = jnp.maximum(u1, u2)
        return alpha_d * (top + jnp.log(jnp.exp(u1 - top) + jnp.exp(u2 - top)))

    @staticmethod
    def frontier(theta) -> Frontier:
        """Minimising ``(N_c/N)^p + 6 N D_c / C`` (``p = alpha_N/alpha_D``) at fixed ``C = 6ND``
        gives ``N_opt = (p N_c^p C / (6 D_c))^(1/(p+1))``: ``a = alpha_D/(alpha_N+alpha_D)``."""
        log_nc, log_dc, alpha_n, alpha_d = (theta[..., i] for i in range(4))
        p = alpha_n / alpha_d
        log_g_n = (jnp.log(p) + p * log_nc - math.log(6.0) - log_dc) / (p + 1.0)
        exp_a = 1.0 / (p + 1.0)
        return Frontier(exp_a, 1.0 - exp_a, log_g_n, -math.log(6.0) - log_g_n)

    @staticmethod
    def start_grid() -> np.ndarray:
        """256 starts around Kaplan's published N_c = 8.8e13, D_c = 5.4e13, alphas 0.076/0.095."""
        axes = (
            np.arange(20.0, 36.0, 5.0),
            np.arange(20.0, 36.0, 5.0),
            np.array([0.05, 0.1, 0.2, 0.4]),
            np.array([0.05, 0.1, 0.2, 0.4]),
        )
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 4)


KAPLAN = KaplanForm()


def frontier_summary(approach: int, frontier: Frontier) -> dict:
    """The head every approach's ``to_dict`` shares: a, b, G, the frontier and Table 3."""
    values = frontier_to_dict(frontier)
    return {
        "approach": approach,
        "a": values["a"],
        "b": values["b"],
        "G": values["G"],
        "frontier": values,
        "projection": projection_table(frontier),
    }
