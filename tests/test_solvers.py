"""The solver: its Jacobi eigen-decomposition against LAPACK (numpy), and its lane queue."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalinglaw_jax.core.solvers import (
    DEFAULT_OPTIONS,
    multistart_minimize,
    newton_minimize,
    symmetric_eigh,
    use_cpu_devices,
)
from scalinglaw_jax.core.status import Status, status_counts


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


def _rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_queue_results_do_not_depend_on_the_other_lanes():
    """A lane's bits depend on the queue's width only, not on which or how many lanes share
    the queue (what makes bootstrap results independent of the chunk size); other widths
    round differently, so a lane may stop a Newton step sooner or later: they agree within
    the stopping rule (gradient <= gtol * max(1, |f|) = 4e-8 at the local minimum, whose
    least curvature is 0.6, puts a converged lane within ~7e-8 of it)."""
    starts = jnp.asarray(np.random.default_rng(0).uniform(-2.0, 2.0, (150, 5)))

    def solve(starts, width):
        options = DEFAULT_OPTIONS._replace(queue_lanes=width)
        return jax.jit(lambda s: multistart_minimize(_rosenbrock, s, options))(starts)

    full = solve(starts, 8)
    steps = np.asarray(full.steps)
    assert steps.min() < steps.max() / 2  # lanes finish at very different times
    assert np.all(np.asarray(full.status) == 0)
    at_minimum = np.all(np.abs(np.asarray(full.x) - 1.0) < 1e-6, axis=1)
    assert at_minimum.mean() > 0.5  # the rest: 5-D Rosenbrock's other local minimum
    subset = solve(starts[50:120], 8)
    for name in ("x", "value", "steps", "status"):
        np.testing.assert_array_equal(getattr(subset, name), getattr(full, name)[50:120])
    for width in (4, 64, 150):
        other = solve(starts, width)
        np.testing.assert_array_equal(other.status, full.status)
        np.testing.assert_allclose(other.x, full.x, rtol=0, atol=1e-7)
    solo = jax.jit(lambda s: newton_minimize(_rosenbrock, s))(starts[int(np.argmax(steps))])
    np.testing.assert_allclose(solo.x, full.x[int(np.argmax(steps))], rtol=0, atol=1e-9)


def test_use_cpu_devices_refuses_bad_counts_and_late_calls():
    with pytest.raises(ValueError, match="at least 1"):
        use_cpu_devices(0)
    jnp.zeros(1).block_until_ready()  # JAX has started in this process
    with pytest.raises(RuntimeError, match="already run a computation"):
        use_cpu_devices(2)


ARENA_SCRIPT = textwrap.dedent(
    """
    import ctypes, re, sys, tempfile
    from scalinglaw_jax.core.solvers import shard_starts, start_mesh, use_cpu_devices
    use_cpu_devices(2)
    import jax.numpy as jnp
    starts = jnp.linspace(0.0, 1.0, 400 * 5).reshape(400, 5)
    for _ in range(3):  # both device threads allocate and free, concurrently
        shard_starts(lambda s: jnp.cumsum(jnp.sin(s) * 2.0, axis=0), starts, start_mesh(400))
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    path = tempfile.mktemp()
    stream = ctypes.c_void_p(libc.fopen(path.encode(), b"w"))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(len(re.findall("<heap nr=", open(path).read())))
    """
)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc arenas are glibc's",
)
def test_cpu_devices_share_one_malloc_arena(tmp_path):
    """Two CPU devices' threads allocate from one arena (``share_malloc_arena``): with one
    arena per thread, freed row-sized buffers piled up per thread (6 GiB on a 24,000-row
    exhaustive fit). glibc's ``malloc_info`` lists one ``<heap>`` per arena."""
    script = tmp_path / "arenas.py"
    script.write_text(ARENA_SCRIPT)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    env.pop("MALLOC_ARENA_MAX", None)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) == 1


def test_statuses_say_how_each_start_ended():
    """One batch, three endings: converged, out of steps (Rosenbrock from afar, 3 steps), and
    non-finite (a log barrier started outside its domain). No lane aborts the others."""

    def objective(x):
        rosenbrock = (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2
        return jnp.where(x[0] < -5.0, jnp.log(x[0] + 5.0), rosenbrock)

    starts = jnp.array([[1.0, 1.0], [-1.9, 2.0], [-6.0, 0.0]])
    options = DEFAULT_OPTIONS._replace(max_steps=3)
    result = multistart_minimize(objective, starts, options=options)
    assert [int(s) for s in result.status] == [
        Status.CONVERGED,
        Status.MAX_STEPS,
        Status.NON_FINITE,
    ]
    assert status_counts(result.status) == {
        "converged": 1,
        "max-steps": 1,
        "non-finite": 1,
        "screened-out": 0,
    }
    assert int(result.steps[1]) == 3
    patient = multistart_minimize(objective, starts[:2], options=DEFAULT_OPTIONS)
    assert [int(s) for s in patient.status] == [Status.CONVERGED, Status.CONVERGED]
