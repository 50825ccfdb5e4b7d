"""Plain NumPy/SciPy implementation of the Approach-3 objective, for cross-checks.

This is the independent reference the JAX engine is tested and benchmarked against: the same
summed Huber objective with its analytic gradient, minimised by ``scipy.optimize.minimize``
(L-BFGS-B as in Epoch AI's replication, or BFGS per bootstrap resample as in their bootstrap).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax


def objective_and_grad(theta, log_n, log_d, log_loss, weights, delta=1e-3):
    """Summed weighted Huber loss on log residuals, and its analytic gradient."""
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    pred = logsumexp(terms, axis=0)
    p = softmax(terms, axis=0)
    r = pred - log_loss
    abs_r = np.abs(r)
    inside = abs_r <= delta
    value = np.sum(weights * np.where(inside, 0.5 * r**2, delta * (abs_r - 0.5 * delta)))
    dh = weights * np.clip(r, -delta, delta)
    grad = np.array(
        [
            np.sum(dh * p[0]),
            np.sum(dh * p[1]),
            np.sum(dh * p[2]),
            -np.sum(dh * p[0] * log_n),
            -np.sum(dh * p[1] * log_d),
        ]
    )
    return value, grad


def fit_one(x0, log_n, log_d, log_loss, weights=None, delta=1e-3, method="L-BFGS-B"):
    """One ``scipy.optimize.minimize`` run with the analytic gradient."""
    if weights is None:
        weights = np.ones_like(log_loss)
    return minimize(
        objective_and_grad,
        np.asarray(x0, dtype=np.float64),
        args=(log_n, log_d, log_loss, weights, delta),
        jac=True,
        method=method,
    )


def fit_grid(starts, log_n, log_d, log_loss, weights=None, delta=1e-3, method="L-BFGS-B"):
    """One minimisation per start (the loop the JAX engine replaces); returns the best result."""
    best = None
    for x0 in np.asarray(starts):
        result = fit_one(x0, log_n, log_d, log_loss, weights, delta, method)
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
    return best
