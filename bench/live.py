"""Live camera speed in the browser: results per second and per-frame latency of LIVE_STREAM.

Chromium's fake camera plays a 640x480, 30 fps clip of the test photos; the page
(pages/live.html) classifies it through the JS API (classifyStream: MediaStreamTrackProcessor
-> frame-relay.mjs -> the classifier worker -> Python's runner), for EfficientNet-Lite0
float32 and int8, .onnx (onnxruntime-web) and .tflite (LiteRT.js), with 1 and 2 threads.
Latency: from the frame leaving the camera stream to its result in the page's resultCallback.

Run with ``python3 build.py bench`` (or ``.venv/bin/python bench/live.py [--seconds N]
[--models FILE...] [--threads N...] [--out PATH]``, e.g. every .tflite model on 2 threads);
writes bench/live.json (rows as in results.json). Not a test: the numbers depend on the
machine and on what else it runs (the load average is recorded).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import harness
from rows import model_fields, row

from tests.browser.media import write_y4m  # importable: harness puts the repository on sys.path

MODELS = ["efficientnet_lite0_fp32.onnx", "efficientnet_lite0_int8.onnx",
          "efficientnet_lite0_fp32.tflite", "efficientnet_lite0_int8.tflite"]
THREADS = [1, 2]


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured per configuration")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--models", nargs="+", default=MODELS, help="model files of models/")
    parser.add_argument("--threads", nargs="+", type=int, default=THREADS)
    parser.add_argument("--out", type=Path, default=harness.BENCH / "live.json")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as folder, harness.served() as origin, \
            sync_playwright() as playwright:
        clip = write_y4m(Path(folder) / "camera.y4m", [("chelsea.png", 45), ("coffee.png", 45)])
        browser = harness.launch(playwright, "--use-fake-device-for-media-stream",
                                 "--use-fake-ui-for-media-stream",
                                 f"--use-file-for-fake-video-capture={clip}")
        for file in args.models:
            for threads in args.threads:
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{origin}/__bench__/live.html")
                page.wait_for_function("() => window.ready === true")
                out = page.evaluate("(a) => bench(a)", {
                    "model": file, "threads": threads, "warmupMs": args.warmup * 1000,
                    "seconds": args.seconds})
                context.close()
                model, precision = model_fields(file)
                rows.append(row(
                    "ours", model, precision, out["engine"]["backend"], out["engine"]["threads"],
                    "live_latency", out["latencies"],
                    model_format=file.rsplit(".", 1)[1], runtime=out["engine"]["engine"],
                    camera=f"{out['settings']['width']}x{out['settings']['height']}",
                    transport=out["transport"], seconds=round(out["elapsed"], 1),
                    live_fps=round(out["results"] / out["elapsed"], 1),
                    camera_fps=round(out["received"] / out["elapsed"], 1),
                    inference_median_ms=median(out["inference"]),
                    still_inference_median_ms=median(out["stillInference"]),
                    preprocess_median_ms=median(out["preprocess"]),
                    dropped=out["dropped"], received=out["received"],
                    max_waiting=out["maxWaiting"]))
                print(json.dumps(rows[-1]), flush=True)
        browser.close()
    args.out.write_text(json.dumps({
        "command": "python3 build.py bench  (bench/live.py)", "seconds": args.seconds,
        "rows": rows}, indent=1))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
