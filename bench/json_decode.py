"""read_stream's bulk JSON decoding against json.loads + pandas.json_normalize, in this process."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import pandas as pd

from liftbridge_nb._decode import decode


def _best_of(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(rows: int, runs: int = 3) -> tuple[float, float]:
    """Seconds for ``rows`` JSON objects of 10 fields: (bulk decoding, json.loads + json_normalize)."""
    values = [
        json.dumps({f"f{j}": (i * j if j % 2 else f"text-{i}-{j}") for j in range(10)}).encode()
        for i in range(rows)
    ]
    decoded = decode(values, "json", flatten=True, prefix="value")
    assert decoded.fields is not None and len(decoded.fields.columns) == 10
    ours = _best_of(lambda: decode(values, "json", flatten=True, prefix="value"), runs)
    plain = _best_of(lambda: pd.json_normalize([json.loads(v) for v in values]), runs)
    return ours, plain
