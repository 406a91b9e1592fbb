"""Shared by the benchmark scripts: the machine description and the JSON they write."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any


def machine(**extra: Any) -> dict[str, Any]:
    """What a timing depends on: machine, versions, cores, load average, date (plus ``extra``)."""
    import numpy as np

    meta: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        # Other work on the machine inflates timings.
        "load_average_1min": round(os.getloadavg()[0], 2),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if "torch" in sys.modules:
        meta["torch"] = sys.modules["torch"].__version__
    meta.update(extra)
    return meta


def write_results(path: Path, meta: dict[str, Any], **results: Any) -> None:
    """Write ``{"meta": meta, **results}`` as JSON to ``path`` (folders created) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, **results}, indent=2))
    print(f"wrote {path}")
