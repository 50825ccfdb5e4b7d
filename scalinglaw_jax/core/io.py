"""Plain-JSON conversion shared by the CLI and the reports that write JSON files."""

from __future__ import annotations

import numpy as np


def to_jsonable(value):
    """Recursively turn NumPy / JAX scalars and arrays into plain JSON types (NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return to_jsonable(np.asarray(value).tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
