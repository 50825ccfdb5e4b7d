"""The ground floor: run tables, ``Law`` values, solvers, statuses, intervals, compile cache.

Imports nothing from the rest of the package.
"""
