"""The row every bench writes, so that results of any engine and any run compare:
``{engine, model, precision, backend, threads, metric, median_ms, p90_ms, n, ...extra}``."""

from __future__ import annotations

import os
import statistics


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def row(
    engine: str,
    model: str,
    precision: str,
    backend: str,
    threads: int | str,
    metric: str,
    values: list[float] | None,
    **extra,
) -> dict:
    """One measured configuration: median and p90 of ``values`` (milliseconds). Measures that
    are not times (memory, accuracy) pass ``values=None`` and carry theirs in ``extra``."""
    if values is None:
        times = {"median_ms": None, "p90_ms": None, "n": extra.pop("n", 1)}
    else:
        times = {"median_ms": round(statistics.median(values), 3),
                 "p90_ms": round(percentile(values, 0.9), 3), "n": len(values)}
    return {"engine": engine, "model": model, "precision": precision, "backend": backend,
            "threads": threads, "metric": metric, **times, **extra,
            # Other jobs on the machine slow every number down: say how busy it was.
            "load_average_1min": round(os.getloadavg()[0], 2)}


def model_fields(file_name: str) -> tuple[str, str]:
    """'efficientnet_lite0_int8.onnx' -> ('lite0', 'int8')."""
    model, precision = file_name.removeprefix("efficientnet_").rsplit(".", 1)[0].split("_")
    return model, precision
