"""Evaluation workflows: backtests, law comparison, replication, designs, FLOP accounting.
Imports the layers below (``uncertainty``, ``approaches``, ``laws``, ``core``)."""
