"""Native speed: median and p90 ms per classify() on CPython, per model and engine
(onnxruntime for .onnx, LiteRT for .tflite), the whole pipeline and per stage, on the
browser bench's photos and sizes (decoded before timing, as there).

Run with ``python3 build.py bench`` (or ``.venv/bin/python bench/native.py``); writes
bench/native.json (rows as in results.json).
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from photos import make_photos
from rows import row

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["lite0_fp32", "lite0_int8", "lite2_fp32", "lite2_int8"]
BACKENDS = {"onnx": "onnxruntime-cpu", "tflite": "litert-cpu"}
RUNS = 50


def measure(model: str, model_format: str, photos: dict[str, list[Path]]) -> list[dict]:
    from image_classifier import Image, ImageClassifier

    path = ROOT / "models" / f"efficientnet_{model}.{model_format}"
    name, precision = model.split("_")
    rows = []
    with ImageClassifier.create_from_model_path(str(path)) as classifier:
        for size, paths in photos.items():
            images = [Image.create_from_file(p) for p in paths]
            for image in images:  # warm-up
                classifier.classify(image)
            totals, stages = [], {"preprocess": [], "inference": [], "postprocess": []}
            for run in range(RUNS):
                started = time.perf_counter()
                classifier.classify(images[run % len(images)])
                totals.append((time.perf_counter() - started) * 1e3)
                for stage, ms in classifier.last_timings_ms.items():
                    stages[stage].append(ms)
            rows += [row("native", name, precision, BACKENDS[model_format], "default", metric,
                         values, size=size, model_format=model_format)
                     for metric, values in [("classify", totals), *stages.items()]]
            print(json.dumps(rows[-4]), flush=True)
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        made = make_photos(Path(folder))
        photos = {size: [Path(folder) / p for p in paths] for size, paths in made.items()}
        rows = [r for model_format in BACKENDS for model in MODELS
                for r in measure(model, model_format, photos)]
    out = ROOT / "bench" / "native.json"
    out.write_text(json.dumps({"machine": platform.platform(), "python": sys.version.split()[0],
                               "rows": rows}, indent=1))
    print(f"written: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
