"""Native speed: median and p90 ms per classify() on CPython, per model and engine
(onnxruntime for .onnx, LiteRT for .tflite).

Run with ``python3 build.py bench``; writes bench/native.json and prints a Markdown table.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ["chelsea.png", "coffee.png", "grace_hopper.jpg", "china.jpg"]
MODELS = ["lite0_fp32", "lite0_int8", "lite2_fp32", "lite2_int8"]
BACKENDS = {"onnx": "onnxruntime-cpu", "tflite": "litert-cpu"}
RUNS = 50


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(model: str, model_format: str) -> list[dict]:
    from image_classifier import Image, ImageClassifier

    images = [Image.create_from_file(ROOT / "tests" / "images" / p) for p in PHOTOS]
    path = ROOT / "models" / f"efficientnet_{model}.{model_format}"
    rows = []
    with ImageClassifier.create_from_model_path(str(path)) as classifier:
        for image in images:  # warm-up
            classifier.classify(image)
        totals, stages = [], {"preprocess": [], "inference": [], "postprocess": []}
        for run in range(RUNS):
            image = images[run % len(images)]
            started = time.perf_counter()
            classifier.classify(image)
            totals.append((time.perf_counter() - started) * 1e3)
            for stage, ms in classifier.last_timings_ms.items():
                stages[stage].append(ms)
    precision = model.split("_")[1]
    for metric, values in [("classify", totals), *stages.items()]:
        rows.append({
            "engine": "native", "model": model.split("_")[0], "precision": precision,
            "backend": BACKENDS[model_format], "threads": "default", "metric": metric,
            "median_ms": round(statistics.median(values), 3),
            "p90_ms": round(percentile(values, 0.9), 3), "n": len(values),
        })
    return rows


def main() -> None:
    rows = [row for fmt in BACKENDS for model in MODELS for row in measure(model, fmt)]
    out = ROOT / "bench" / "native.json"
    out.write_text(json.dumps({"machine": platform.platform(), "python": sys.version.split()[0],
                               "rows": rows}, indent=1))
    print("| model | precision | engine | classify median ms | p90 | preprocess | inference "
          "| postprocess |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    by_key = {(r["model"], r["precision"], r["backend"], r["metric"]): r for r in rows}
    for backend in BACKENDS.values():
        for model in MODELS:
            name, precision = model.split("_")
            get = lambda metric: by_key[(name, precision, backend, metric)]  # noqa: E731
            print(f"| {name} | {precision} | {backend} | {get('classify')['median_ms']:.2f} | "
                  f"{get('classify')['p90_ms']:.2f} | {get('preprocess')['median_ms']:.2f} | "
                  f"{get('inference')['median_ms']:.2f} | {get('postprocess')['median_ms']:.2f} |")
    print(f"\nwritten: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
