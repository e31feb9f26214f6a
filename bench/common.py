"""Helpers shared by the benchmark scripts (run as ``python bench/<name>.py``, so this folder
is on sys.path)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def median_ms(step: Callable[[Any], Any], inputs: Sequence[Any], warmup: int = 3) -> float:
    """Median wall time of ``step(item)`` over ``inputs``, ms, after ``warmup`` untimed calls."""
    for item in inputs[:warmup]:
        step(item)
    times = []
    for item in inputs:
        start = time.perf_counter()
        step(item)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def rss_mib(pid: int | str = "self") -> float:
    """Resident set size of a process, MiB (Linux /proc); NaN when not reported."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")
