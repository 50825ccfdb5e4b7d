"""End to end on one table: ``scalinglaw fit`` and ``bootstrap`` from the shell, beside
``simple-scaling-laws`` on the same table in the same run.

Every command runs in a fresh process (as a user runs it), timed by wall clock and by the
child's CPU time (user + sys: less sensitive to other load on the machine). Prints one JSON
object:

- ``fit_first``: ``scalinglaw fit DATA`` with an empty compilation cache (a fresh temporary
  folder, ``SCALINGLAW_COMPILE_CACHE``): the cost of a first run;
- ``fit_second``: the same command again, a new process reading the programs back;
- ``bootstrap_first`` / ``bootstrap_second``: ``scalinglaw bootstrap DATA --resamples N``
  (fit included) with the cache warm from the fits / from the first bootstrap;
- ``bootstrap_k0_first`` / ``bootstrap_k0_second``: the same with ``--k-starts 0`` (every
  resample warm-started from the full-data optimum only, no grid starts): what the default
  ``k_starts`` costs, measured in the same run;
- ``simple_scaling_laws``: its ``scaling-laws fit`` with ``--draws N`` (its fit and N
  bootstrap draws) on the same rows, converted to its input format (``training_run_id``,
  ``model_size__n_params``, ``dataset_size__n_tokens``, ``test_loss__cross_entropy``) in a
  temporary folder. When it is not installed the entry says so; install it, for the benchmark
  only (not a dependency of this package), with
  ``pip install --no-deps --ignore-requires-python simple-scaling-laws polars pyyaml`` plus
  the ``polars-runtime-32`` package that polars 2 loads its binary from.

``load_average`` before and after says how busy the machine was.

Usage: python benchmarks/bench_e2e.py [--data ../shared/data/svg_extracted_data.csv]
[--resamples 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "svg_extracted_data.csv"
SSL_INSTALL = (
    "pip install --no-deps --ignore-requires-python simple-scaling-laws polars pyyaml "
    "polars-runtime-32"
)


def timed(command: list[str], env: dict) -> dict:
    """Run ``command`` to the end; its wall time, CPU time (user + sys) and exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    entry = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "exit_code": done.returncode}
    if done.returncode != 0:
        entry["stderr_tail"] = done.stderr[-2000:]
    return entry


def simple_scaling_laws_table(data: Path, folder: Path) -> Path:
    """The rows ``scalinglaw`` reads from ``data``, in simple-scaling-laws' input format."""
    import pandas as pd

    from scalinglaw_jax.core.data import load_runs

    runs = load_runs(data)
    table = pd.DataFrame(
        {
            "training_run_id": [f"run{i}" for i in range(len(runs))],
            "model_size__n_params": runs.params,
            "dataset_size__n_tokens": runs.tokens,
            "test_loss__cross_entropy": runs.loss,
        }
    )
    path = folder / "simple_scaling_laws_input.csv"
    table.to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    if not args.data.is_file():
        sys.exit(f"{args.data} not found: pass --data (Epoch's table lives in ../shared/data)")
    data = args.data.resolve()
    report = {
        "data": str(data),
        "resamples": args.resamples,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "load_average_before": list(os.getloadavg()),
    }
    with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
        folder = Path(tmp)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "MPLBACKEND": "Agg",
            "SCALINGLAW_COMPILE_CACHE": str(folder / "compile-cache"),
        }
        ours = [sys.executable, "-m", "scalinglaw_jax.cli"]
        version = subprocess.run(
            [sys.executable, "-c", "import jax; print(jax.__version__)"],
            capture_output=True,
            text=True,
            env=env,
        )
        report["jax"] = version.stdout.strip()
        for run in ("first", "second"):
            command = [*ours, "fit", str(data), "--out", str(folder / f"fit_{run}")]
            report[f"fit_{run}"] = timed(command, env)
        bootstrap = ["bootstrap", str(data), "--resamples", str(args.resamples), "--no-progress"]
        for name, extra in (("bootstrap", []), ("bootstrap_k0", ["--k-starts", "0"])):
            for run in ("first", "second"):
                out = ["--out", str(folder / f"{name}_{run}")]
                report[f"{name}_{run}"] = timed([*ours, *bootstrap, *extra, *out], env)
        report["simple_scaling_laws"] = time_simple_scaling_laws(data, folder, args.resamples)
    report["load_average_after"] = list(os.getloadavg())
    print(json.dumps(report, indent=2))


def time_simple_scaling_laws(data: Path, folder: Path, draws: int) -> dict:
    """``scaling-laws fit`` with ``draws`` bootstrap draws, twice (the second with warm disk
    caches), or why it could not run."""
    executable = shutil.which("scaling-laws") or shutil.which(
        "scaling-laws", path=str(Path(sys.executable).parent)
    )
    if executable is None:
        return {"installed": False, "install": SSL_INSTALL}
    table = simple_scaling_laws_table(data, folder)
    entry = {"installed": True, "command": f"scaling-laws fit TABLE --draws {draws}"}
    for run in ("first", "second"):
        output = folder / f"ssl_{run}.slaw"
        command = [executable, "fit", str(table), "--output", str(output), "--draws", str(draws)]
        entry[run] = timed(command, dict(os.environ))
    return entry


if __name__ == "__main__":
    main()
