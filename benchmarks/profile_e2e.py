"""Where the seconds of one ``scalinglaw`` command go: phases, compilations, cache hits.

Runs the command in this process (after, with ``--warm``, running it once in a subprocess to
fill the compilation cache) and prints one JSON object:

- ``imports``: importing the CLI (``scalinglaw_jax.cli``, JAX, pandas; matplotlib is imported
  later, by the first figure, and counted in that phase); the interpreter's own start-up
  (about 0.05 s) is not counted;
- ``phases``: wall and CPU time (user + sys of this process, all threads) of each step the
  command takes, by wrapping the functions that run them (``fit_study``, ``write_figures``,
  ``resample.prepare``, ``run_sweep``, the BCa jackknife ``fit_weights``, the netCDF
  ``save``, ...). Phases nest where the functions do; the total is the whole command;
- ``jax``: JAX's own monitoring events: persistent compilation cache hits and misses, and the
  seconds spent tracing to jaxprs, lowering to MLIR and compiling (or loading from the cache)
  executables. A second run with a warm cache should show no misses; what it still spends
  tracing and lowering is paid by every process, as the cache key is the lowered program.

Usage: python benchmarks/profile_e2e.py [--warm] -- fit DATA --out DIR
       python benchmarks/profile_e2e.py --warm -- bootstrap DATA --resamples 1000 --out DIR
(the output folder is emptied first; ``SCALINGLAW_COMPILE_CACHE`` chooses the cache folder).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def since(start: tuple[float, float]) -> dict:
    """Wall and CPU seconds since ``start`` (``(perf_counter, process_time)``)."""
    return {
        "wall_s": round(time.perf_counter() - start[0], 3),
        "cpu_s": round(time.process_time() - start[1], 3),
    }


def timed_phases(targets: list[tuple[object, str, str]]) -> dict:
    """Wrap each ``(owner, attribute, phase name)`` so that its calls add their wall and CPU
    time to the phase; returns the table the wrappers fill."""
    phases: dict[str, dict] = {}

    def wrap(function, name):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            start = (time.perf_counter(), time.process_time())
            try:
                return function(*args, **kwargs)
            finally:
                spent = since(start)
                entry = phases.setdefault(name, {"wall_s": 0.0, "cpu_s": 0.0, "calls": 0})
                entry["wall_s"] = round(entry["wall_s"] + spent["wall_s"], 3)
                entry["cpu_s"] = round(entry["cpu_s"] + spent["cpu_s"], 3)
                entry["calls"] += 1

        return timed

    for owner, attribute, name in targets:
        setattr(owner, attribute, wrap(getattr(owner, attribute), name))
    return phases


def jax_events():
    """Counters and summed durations of JAX's monitoring events, filled as they happen."""
    from jax import monitoring

    counts: dict[str, int] = {}
    seconds: dict[str, float] = {}

    def on_event(name, **_):
        counts[name] = counts.get(name, 0) + 1

    def on_duration(name, duration, **_):
        seconds[name] = seconds.get(name, 0.0) + duration

    monitoring.register_event_listener(on_event)
    monitoring.register_event_duration_secs_listener(on_duration)
    return counts, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", action="store_true", help="run the command once first")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the CLI arguments")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if "--out" not in command:
        sys.exit("give the command an --out folder (it is emptied before each run)")
    out = Path(command[command.index("--out") + 1])
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "MPLBACKEND": "Agg"}
    if args.warm:
        shutil.rmtree(out, ignore_errors=True)
        warm = [sys.executable, "-m", "scalinglaw_jax.cli", *command]
        subprocess.run(warm, env=env, check=True, capture_output=True)
    shutil.rmtree(out, ignore_errors=True)
    os.environ["MPLBACKEND"] = "Agg"
    sys.path.insert(0, str(REPO_ROOT))

    start = (time.perf_counter(), time.process_time())
    from scalinglaw_jax import cli
    from scalinglaw_jax.evaluate import workflow
    from scalinglaw_jax.report import page as report
    from scalinglaw_jax.uncertainty import resample

    imports = since(start)
    counts, seconds = jax_events()
    phases = timed_phases(
        [
            (cli.fit, "fit_study", "fit: all approaches"),
            (cli.study, "write_figures", "fit: figures (matplotlib import included)"),
            (workflow, "write_frontier_figures", "bootstrap: figures (import included)"),
            (resample, "prepare", "bootstrap: full-data fit and starts"),
            (resample, "run_sweep", "bootstrap: sweep"),
            (resample, "fit_weights", "bootstrap: BCa jackknife"),
            (resample.BootstrapResult, "save", "bootstrap: netCDF"),
            (report.Report, "write", "report.html"),
        ]
    )
    start = (time.perf_counter(), time.process_time())
    with contextlib.redirect_stdout(io.StringIO()):  # the JSON is this script's only output
        code = cli.main(command)
    result = {
        "command": ["scalinglaw", *command],
        "exit_code": code,
        "warm_cache": args.warm,
        "imports": imports,
        "command_total": since(start),
        "phases": phases,
        "jax": {
            "cache_hits": counts.get("/jax/compilation_cache/cache_hits", 0),
            "cache_misses": counts.get("/jax/compilation_cache/cache_misses", 0),
            "trace_s": round(seconds.get("/jax/core/compile/jaxpr_trace_duration", 0.0), 3),
            "lower_s": round(
                seconds.get("/jax/core/compile/jaxpr_to_mlir_module_duration", 0.0), 3
            ),
            "compile_or_load_s": round(
                seconds.get("/jax/core/compile/backend_compile_duration", 0.0), 3
            ),
        },
        "load_average": list(os.getloadavg()),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
