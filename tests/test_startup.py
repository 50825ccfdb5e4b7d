"""Start-up cost: lazy imports, the persistent compilation cache, program reuse, figure saving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import scalinglaw_jax
from scalinglaw_jax.approaches import parametric
from scalinglaw_jax.cli import main
from scalinglaw_jax.core import compile_cache
from scalinglaw_jax.core.data import exclude_rows, load_runs
from scalinglaw_jax.core.solvers import chinchilla_grid
from scalinglaw_jax.figures import figure_formats
from scalinglaw_jax.laws import get_law, registered_name
from scalinglaw_jax.laws.simulate import simulate_isoflop
from scalinglaw_jax.uncertainty import resample

REPO_ROOT = Path(__file__).resolve().parents[1]
HEAVY_MODULES = ("arviz", "numpyro", "scipy.stats", "matplotlib")
COMPILES = {"count": 0}


def _count_compiles(event: str, duration: float, **_) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        COMPILES["count"] += 1


jax.monitoring.register_event_duration_secs_listener(_count_compiles)


def run_python(code: str, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    """``python -c code`` in a fresh process with this checkout first on the path."""
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MPLBACKEND": "Agg", **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_parsing_every_command_imports_no_heavy_module(tmp_path):
    code = f"""
import json, sys
from scalinglaw_jax import cli
parser = cli.build_parser()
for argv in (["fit", "x.csv"], ["bootstrap", "x.csv"], ["sample", "x.csv"], ["demo"],
             ["backtest", "x.csv"], ["laws", "list"]):
    parser.parse_args(argv)
print(json.dumps([name for name in {HEAVY_MODULES!r} if name in sys.modules]))
"""
    done = run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_help_exits_zero_without_heavy_modules(tmp_path):
    code = f"""
import json, sys
from scalinglaw_jax import cli
code = cli.main(["--help"])
print(json.dumps([code, [name for name in {HEAVY_MODULES!r} if name in sys.modules]]))
"""
    done = run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [0, []]


def test_public_names_resolve_on_first_use():
    for name in scalinglaw_jax.__all__:
        assert getattr(scalinglaw_jax, name) is not None
        assert name in dir(scalinglaw_jax)
    assert scalinglaw_jax.fit_parametric is parametric.fit_parametric
    with pytest.raises(AttributeError, match="no_such_name"):
        scalinglaw_jax.no_such_name  # noqa: B018


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(compile_cache.CACHE_DIR_ENV, str(tmp_path / "moved"))
    assert compile_cache.default_cache_dir() == tmp_path / "moved"
    monkeypatch.delenv(compile_cache.CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = tmp_path / "xdg" / "scalinglaw_jax" / f"jax-{jax.__version__}"
    assert compile_cache.default_cache_dir() == expected
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert compile_cache.default_cache_dir().parts[-3:-1] == (".cache", "scalinglaw_jax")


@pytest.mark.parametrize(
    "flags, variable, cache_made",
    [([], "cache", True), (["--no-compile-cache"], "cache", False), ([], "off", False)],
)
def test_cli_opens_the_cache_and_every_core_unless_told(flags, variable, cache_made, tmp_path):
    """The cache is open while the command runs and closed after it: JAX's settings come back
    (``compile_cache``), so a process that calls ``main`` keeps its own for later compiles."""
    cache = tmp_path / "cache"
    code = f"""
import json, jax
from scalinglaw_jax import cli
code = cli.main({flags!r} + ["fit", "missing.csv"])
print(json.dumps([code, jax.local_device_count(), jax.config.jax_compilation_cache_dir]))
"""
    setting = str(cache) if variable == "cache" else compile_cache.OFF
    done = run_python(code, tmp_path, **{compile_cache.CACHE_DIR_ENV: setting})
    assert done.returncode == 0, done.stderr
    code, devices, cache_dir_after = json.loads(done.stdout.splitlines()[-1])
    assert code == 2  # the data file is missing: refused after the set-up
    assert devices == os.cpu_count()
    assert cache.is_dir() == cache_made
    assert cache_dir_after is None


def test_compile_cache_is_scoped_to_its_block(tmp_path):
    """Inside the block a new program is written to the folder; after it, JAX's settings are
    back and a new program is not written."""
    before = jax.config.jax_compilation_cache_dir
    with compile_cache.compile_cache(tmp_path / "scoped") as folder:
        jax.jit(lambda x: x * 3.0 + 1.0)(np.arange(7.0)).block_until_ready()
        written = {path.name for path in folder.iterdir()}
    assert written
    assert jax.config.jax_compilation_cache_dir == before
    jax.jit(lambda x: x * 5.0 - 2.0)(np.arange(7.0)).block_until_ready()
    assert {path.name for path in folder.iterdir()} == written


def _stored_files(folder: Path) -> set[str]:
    return {path.name for path in (folder / compile_cache.EXECUTABLES).glob("*.bin")}


def test_stored_programs_are_read_back_whole_and_give_the_same_bits(tmp_path):
    """Inside a command's cache block an Approach 3 fit stores its program; with the
    process's programs dropped, the next fit reads it back without tracing and gives the same
    bits. A damaged file is compiled and stored again; a table of another row bucket (81 rows
    fit as 128, 61 as 64) is another program."""
    runs = _study_table(21)
    starts = np.asarray(chinchilla_grid())[::50]
    with compile_cache.compile_cache(tmp_path / "cache") as folder:
        first = parametric.fit_parametric(runs, starts=starts)
        stored = _stored_files(folder)
        assert len(stored) == 1
        jax.clear_caches()
        compile_cache._open_store(folder / compile_cache.EXECUTABLES)  # what a new process has
        traces = parametric.TRACE_COUNTS["fit_parametric_arrays"]
        again = parametric.fit_parametric(runs, starts=starts)
        assert parametric.TRACE_COUNTS["fit_parametric_arrays"] == traces
        (path,) = (folder / compile_cache.EXECUTABLES).glob("*.bin")
        path.write_bytes(b"damaged")
        compile_cache._open_store(folder / compile_cache.EXECUTABLES)
        rebuilt = parametric.fit_parametric(runs, starts=starts)
        assert path.stat().st_size > len(b"damaged")
        parametric.fit_parametric(exclude_rows(runs, [1], "test"), starts=starts)
        assert len(_stored_files(folder)) == 1  # 80 rows: the same bucket, the same program
        parametric.fit_parametric(exclude_rows(runs, runs.row[:20], "test"), starts=starts)
        assert len(_stored_files(folder)) == 2
    for fit in (again, rebuilt):
        np.testing.assert_array_equal(fit.theta, first.theta)
        assert fit.objective == first.objective


STORED_ON_TWO_DEVICES = """
import json, sys
from scalinglaw_jax.core.solvers import use_cpu_devices
use_cpu_devices(2)
import jax, numpy as np
from scalinglaw_jax.core import compile_cache
from scalinglaw_jax.core.solvers import shard_starts, start_mesh

def double(x):
    return x * 2.0

def split_sum(x, mesh):
    return shard_starts(lambda s: s.sum(axis=1, keepdims=True), x, mesh)

x = np.arange(300.0).reshape(150, 2)
mesh = start_mesh(len(x), devices=jax.devices())
one, two = jax.jit(double), jax.jit(split_sum, static_argnames="mesh")
results = []
with compile_cache.compile_cache(sys.argv[1]) as folder:
    for _ in range(2):  # compiled and stored, then read back as a new process would
        store = folder / compile_cache.EXECUTABLES
        compile_cache._open_store(store)
        a = compile_cache.stored_program(one, (x,), {}, ("double",))(x)
        b = compile_cache.stored_program(two, (x,), dict(mesh=mesh), ("split", 2))(x)
        results.append([np.asarray(a).tolist(), np.asarray(b).tolist(), len(list(store.iterdir()))])
print(json.dumps(results))
"""


def test_stored_programs_run_on_the_devices_they_were_compiled_for(tmp_path):
    """In a process of two CPU devices, a stored program of one device and one split over
    both are read back onto their own devices (JAX would load both onto every device, and the
    one-device program then refused its arguments) and give the same results."""
    done = subprocess.run(
        [sys.executable, "-c", STORED_ON_TWO_DEVICES, str(tmp_path / "cache")],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    compiled, read_back = json.loads(done.stdout.splitlines()[-1])
    assert compiled[2] == read_back[2] == 2  # both stored, nothing stored again
    x = np.arange(300.0).reshape(150, 2)
    assert compiled[:2] == read_back[:2] == [(x * 2.0).tolist(), x.sum(1, keepdims=True).tolist()]


def test_a_law_without_a_registered_name_stores_no_program(tmp_path):
    """A law from a user's file may change between runs under one name: its programs are
    compiled as usual and never stored."""
    user_law = get_law(f"{REPO_ROOT / 'tests' / 'user_law.py'}:law")
    assert registered_name(user_law) is None
    assert registered_name(get_law("chinchilla")) == "chinchilla"
    runs = _study_table(22)
    with compile_cache.compile_cache(tmp_path / "cache") as folder:
        fit = parametric.fit_parametric(runs, law=user_law, starts=user_law.grid()[::20])
        assert _stored_files(folder) == set()
    assert np.isfinite(fit.objective)


@pytest.mark.slow
def test_command_output_reaches_a_pipe_whole_with_mains_exit_code(capsys, tmp_path):
    """``cli.run`` (the installed command) leaves with ``os._exit``: what it printed still
    arrives in full, and the exit code is ``main``'s, for success and for a user's mistake."""
    assert main(["laws", "list"]) == 0
    expected = capsys.readouterr().out
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MPLBACKEND": "Agg"}
    command = [sys.executable, "-m", "scalinglaw_jax.cli"]
    listed = subprocess.run(
        [*command, "laws", "list"], env=environment, capture_output=True, text=True, timeout=600
    )
    assert (listed.returncode, listed.stdout) == (0, expected)
    missing = subprocess.run(
        [*command, "fit", str(tmp_path / "missing.csv")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert missing.returncode == 2
    assert "missing.csv" in missing.stderr and "Traceback" not in missing.stderr


def test_second_cli_run_compiles_nothing_and_gives_the_same_bits(simulated_csv, tmp_path):
    """A fresh process with a warm cache reads every program back (no cache miss), and the
    programs read back give the results of the freshly compiled ones, bit for bit. Both runs
    leave as the installed command does (``cli.run``, by ``os._exit``), which must not lose a
    program the cache was writing."""
    cache = tmp_path / "cache"
    code = """
import collections, json, sys
import jax
events = collections.Counter()
jax.monitoring.register_event_listener(lambda event, **_: events.update([event]))
from scalinglaw_jax import cli
command = cli.main

def counted(argv=None):
    code = command(["fit", sys.argv[1], "--out", sys.argv[2], "--figure-formats", "svg"])
    print(json.dumps([code, events["/jax/compilation_cache/cache_misses"],
                      events["/jax/compilation_cache/cache_hits"]]))
    return code

cli.main = counted
cli.run()
"""
    summaries = []
    for run in ("first", "second"):
        out = tmp_path / run
        done = subprocess.run(
            [sys.executable, "-c", code, str(simulated_csv), str(out)],
            cwd=tmp_path,
            env={
                **os.environ,
                "PYTHONPATH": str(REPO_ROOT),
                "MPLBACKEND": "Agg",
                compile_cache.CACHE_DIR_ENV: str(cache),
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        exit_code, misses, hits = json.loads(done.stdout.splitlines()[-1])
        assert exit_code == 0
        if run == "first":
            assert misses > 0
        else:
            assert misses == 0
            assert hits > 0
        summaries.append(json.loads((out / "summary.json").read_text())["approaches"])
    assert summaries[0] == summaries[1]


def _study_table(seed: int):
    return load_runs(simulate_isoflop(jax.random.key(seed), noise=0.01))


@pytest.mark.slow
def test_second_bootstrap_on_new_data_of_one_shape_compiles_nothing():
    first, second = _study_table(11), _study_table(12)
    assert len(first) == len(second)
    assert not np.array_equal(first.loss, second.loss)
    options = {"k_starts": 2, "progress": False, "chunk_size": 4 * jax.device_count(), "bca": False}
    resample.bootstrap(first, "3", n_resamples=8, **options)
    traces = (resample.TRACE_COUNTS["sweep"], parametric.TRACE_COUNTS["fit_parametric_arrays"])
    compiles = COMPILES["count"]
    result = resample.bootstrap(second, "3", n_resamples=8, **options)
    assert result.sweep.outputs["a"].shape == (8,)
    assert COMPILES["count"] == compiles
    assert traces == (
        resample.TRACE_COUNTS["sweep"],
        parametric.TRACE_COUNTS["fit_parametric_arrays"],
    )


def test_figure_formats_flag_parses_and_refuses(tmp_path, capsys):
    assert figure_formats("svg, PNG,svg") == ("svg", "png")
    for bad in ("svg,gif", "", "png,,svg"):
        with pytest.raises(ValueError, match="png, svg, pdf"):
            figure_formats(bad)
    assert main(["fit", "x.csv", "--figure-formats", "svg,jpeg", "--out", str(tmp_path)]) == 2
    assert "'svg,jpeg'" in capsys.readouterr().err


def test_log_axis_labels_are_matplotlibs_in_superscripts():
    from matplotlib.ticker import LogFormatterSciNotation

    from scalinglaw_jax.figures.plots import _SuperscriptLogFormatter

    major, minor = _SuperscriptLogFormatter(10.0), _SuperscriptLogFormatter(10.0, False)
    assert major(1e20) == "10\u00b2\u2070"
    assert major(1e-3) == "10\u207b\u00b3"
    assert minor(2e19) == "2\u00d710\u00b9\u2079"
    decades_only = _SuperscriptLogFormatter(10.0, labelOnlyBase=True)
    assert decades_only(2e19) == LogFormatterSciNotation(10.0, labelOnlyBase=True)(2e19) == ""


def test_save_figure_lays_out_once_and_restores_the_layout(tmp_path):
    from scalinglaw_jax.figures import plots

    figure = plots.plot_params_vs_flops([])
    engine = figure.get_layout_engine()
    written = plots.save_figure(figure, tmp_path, "frontier", ("svg", "png"), dpi=40)
    assert [path.name for path in written] == ["frontier.svg", "frontier.png"]
    assert all(path.stat().st_size > 0 for path in written)
    assert figure.get_layout_engine() is engine


@pytest.mark.skipif(not compile_cache.PROCESS_MAPS.exists(), reason="Linux /proc only")
def test_programs_are_released_only_near_the_map_limit():
    """Below the threshold nothing is dropped; above it JAX's compiled programs are, so the
    next call compiles again."""
    program = jax.jit(lambda x: x * 7.0 - 3.0)
    program(np.arange(5.0)).block_until_ready()
    before = COMPILES["count"]
    assert not compile_cache.release_programs_near_map_limit(fraction=1.0)
    program(np.arange(5.0)).block_until_ready()
    assert COMPILES["count"] == before
    assert compile_cache.release_programs_near_map_limit(fraction=0.0)
    program(np.arange(5.0)).block_until_ready()
    assert COMPILES["count"] == before + 1
