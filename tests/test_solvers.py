"""The solver's Jacobi eigen-decomposition against LAPACK (numpy)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalinglaw_jax.solvers import symmetric_eigh


@pytest.mark.parametrize("condition", [1.0, 1e6, 1e14])
def test_symmetric_eigh_matches_lapack(condition):
    rng = np.random.default_rng(int(np.log10(condition)))
    basis, _ = np.linalg.qr(rng.normal(size=(64, 5, 5)))
    spectrum = np.exp(rng.uniform(0, np.log(condition), (64, 5))) * rng.choice([-1, 1], (64, 5))
    spectrum[:, 0], spectrum[:, 1] = 1.0, condition
    matrices = np.einsum("bij,bj,bkj->bik", basis, spectrum, basis)
    matrices = (matrices + matrices.transpose(0, 2, 1)) / 2
    values, vectors = jax.jit(jax.vmap(symmetric_eigh))(jnp.asarray(matrices))
    values, vectors = np.asarray(values), np.asarray(vectors)
    scale = np.abs(matrices).max(axis=(1, 2), keepdims=True)
    rebuilt = np.einsum("bij,bj,bkj->bik", vectors, values, vectors)
    assert np.max(np.abs(rebuilt - matrices) / scale) < 1e-13
    gram = np.einsum("bji,bjk->bik", vectors, vectors)
    assert np.max(np.abs(gram - np.eye(5))) < 1e-13
    lapack = np.linalg.eigvalsh(matrices)
    assert np.max(np.abs(np.sort(values, axis=1) - lapack) / scale[:, 0]) < 1e-13


def test_symmetric_eigh_of_diagonal_and_non_finite():
    values, vectors = symmetric_eigh(jnp.diag(jnp.array([3.0, -1.0, 2.0])))
    np.testing.assert_array_equal(values, [3.0, -1.0, 2.0])
    np.testing.assert_array_equal(vectors, np.eye(3))
    bad = jnp.array([[1.0, jnp.nan], [jnp.nan, 1.0]])
    assert not np.all(np.isfinite(np.asarray(symmetric_eigh(bad)[0])))
