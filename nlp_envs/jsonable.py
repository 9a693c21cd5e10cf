"""JSON of results that hold numpy values: ``json.dumps(obj, default=json_default)``.

Used by the CLI (``nlp-envs eval --json``), the benchmark cells and the SB3 run files. This module imports
nothing from the CLI or the agents, so every layer can use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def json_default(o: Any) -> Any:
    """The ``default`` hook of :func:`json.dumps`: numpy scalars as Python numbers, arrays as lists,
    anything else as its ``str``."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
