"""One approach's bootstrap sweep for ``scalinglaw bootstrap``, and the frontier figures with
bands that ``bootstrap`` and ``sample`` draw."""

from __future__ import annotations

from scalinglaw_jax.approaches import registry


def nominal_of(choice):
    """``--nominal-budgets``: ``"chinchilla"`` -> the paper's nine budgets, else None."""
    from scalinglaw_jax.laws import closed_forms

    return closed_forms.CHINCHILLA_ISOFLOP_BUDGETS if choice == "chinchilla" else None


def scheme_of(options, key: str) -> str:
    """The scheme approach ``key`` runs: ``--scheme``, else its record's default."""
    return options.scheme or registry.get(key).default_scheme


def heading_of(options, key: str) -> str:
    scheme = scheme_of(options, key)
    return f"{registry.get(key).title}: {scheme} bootstrap, {options.resamples} resamples"


def prepare_one(inputs, key: str):
    """Approach ``key``'s sweep problem (its full-data fit included); ``DataError`` when the
    table or scheme does not suit it."""
    import jax.numpy as jnp

    from scalinglaw_jax.core.solvers import BOOTSTRAP_SCREENING
    from scalinglaw_jax.uncertainty import resample

    options = inputs.options
    print(f"\n== {heading_of(options, key)} ==")
    return resample.prepare(
        inputs.tables,
        key,
        scheme_of(options, key),
        mode=options.mode,
        k_starts=options.k_starts,
        nominal=nominal_of(options.nominal_budgets),
        dtype=jnp.float32 if options.float32 else jnp.float64,
        law=options.law,
        sweep_screening=None if options.exhaustive else BOOTSTRAP_SCREENING,
    )


def sweep_one(inputs, key: str, problem, report):
    """Run approach ``key``'s sweep, print its table, save its netCDF: returns its band and
    its summary.json section."""
    import jax

    from scalinglaw_jax.uncertainty import resample
    from scalinglaw_jax.uncertainty.bands import band_to_dict, bootstrap_band

    options, out = inputs.options, inputs.out
    result = resample.run_bootstrap(
        problem,
        options.resamples,
        level=options.level,
        exclude_failed=options.exclude_failed,
        bca=not options.no_bca,
        seed=options.seed,
        chunk_size=options.chunk_size,
        checkpoint_dir=out / f"bootstrap_approach{key}_chunks",
        resume=options.resume,
        progress=not options.no_progress,
    )
    sweep = result.sweep
    if sweep.resumed_chunks or sweep.recomputed_chunks:
        print(
            f"resumed {sweep.resumed_chunks} finished chunk(s), recomputed "
            f"{sweep.recomputed_chunks} corrupt one(s)"
        )
    report.table(heading_of(options, key), result.report(), echo=False)
    print(result.report())
    band = bootstrap_band(result)
    if band.band is None:
        report.warn(band.note)
    content = result.to_dict()
    if jax.process_index() == 0:  # multi-host: every process holds the results; 0 writes
        netcdf = result.save(out / f"bootstrap_approach{key}.nc", resample.flops_grid())
        content["netcdf"] = netcdf.name
    content["band"] = band_to_dict(band)
    return band, ("bootstrap", key, content)


def frontier_figures(frontiers: dict, bands: dict, runs, report, law):
    """A ``figures(out, formats)`` drawing the two seed figures, each frontier with its band
    and Approach 3's ``law`` named; runs a figure leaves out are ``report``'s warnings."""

    def figures(out, formats):
        from scalinglaw_jax.figures.study import banded_lines, write_frontier_figures

        lines = banded_lines(frontiers, bands, law_names={"3": law.name})
        return write_frontier_figures(lines, out, runs=runs, formats=formats, report=report)

    return figures
