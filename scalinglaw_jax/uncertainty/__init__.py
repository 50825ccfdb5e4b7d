"""Uncertainty: the sweep engine (weights, chunks, sharding, checkpoints), posteriors,
calibration, and bands as numbers. Imports ``core``, ``laws`` and ``approaches`` only."""
