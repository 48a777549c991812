"""Live camera speed in the browser: results per second and per-frame latency of LIVE_STREAM.

Chromium's fake camera plays a 640x480, 30 fps clip of the test photos; the page classifies it
through the JS API (classifyStream: MediaStreamTrackProcessor -> frame-relay.mjs -> the
classifier worker -> Python's runner), for EfficientNet-Lite0 float32 and int8 with 1 and 2
onnxruntime-web threads. Latency: from the frame leaving the camera stream to its result in the
page's resultCallback.

Run with ``python3 build.py bench`` (or ``.venv/bin/python bench/live.py [--seconds N]``);
writes bench/live.json and prints a Markdown table. Not a test: the numbers depend on the
machine and on what else it runs (the load average is recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.media import write_y4m  # noqa: E402
from tests.browser.support import CHROMIUM, CHROMIUM_FLAGS, build_site  # noqa: E402

MODELS = ["efficientnet_lite0_fp32.onnx", "efficientnet_lite0_int8.onnx"]
THREADS = [1, 2]
DOCUMENT = """<!doctype html><meta charset="utf-8"><title>live bench</title>
<script type="module">
import { ImageClassifier, loadRuntime } from '/image-classifier.mjs';
window.bench = async ({model, threads, warmupMs, seconds}) => {
  const status = await loadRuntime({numThreads: threads});
  // Reference: IMAGE-mode inference on a still 640x480 frame, camera off (same page, same threads).
  const still = await ImageClassifier.createFromOptions({baseOptions: {modelAssetPath: '/models/' + model}});
  const canvas = new OffscreenCanvas(640, 480);
  canvas.getContext('2d').fillRect(0, 0, 320, 240);
  const pixels = canvas.getContext('2d').getImageData(0, 0, 640, 480);
  const stillInference = [];
  for (let i = 0; i < 12; i++) {
    await still.classify(pixels);
    if (i >= 2) stillInference.push(still.lastTimingsMs.inference);
  }
  await still.close();
  let measuring = false;
  const latencies = [], inference = [], preprocess = [];
  const classifier = await ImageClassifier.createFromOptions({
    baseOptions: {modelAssetPath: '/models/' + model}, runningMode: 'LIVE_STREAM', maxResults: 3,
    resultCallback: () => {
      if (!measuring) return;
      latencies.push(classifier.lastLatencyMs);
      inference.push(classifier.lastTimingsMs.inference);
      preprocess.push(classifier.lastTimingsMs.preprocess);
    },
  });
  const media = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480, frameRate: 30}});
  const track = media.getVideoTracks()[0];
  const settings = track.getSettings();
  const stream = classifier.classifyStream(track);
  await new Promise((r) => setTimeout(r, warmupMs));
  const before = classifier.liveStreamStats;
  measuring = true;
  const started = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (performance.now() - started) / 1000;
  const after = classifier.liveStreamStats;
  stream.stop();
  track.stop();
  await classifier.close();
  return {threads: classifier.engine.threads, settings, elapsed,
          results: latencies.length, latencies, inference, preprocess, stillInference,
          received: after.received - before.received, dropped: after.dropped - before.dropped,
          maxWaiting: after.maxWaiting, crossOriginIsolated: status.crossOriginIsolated};
};
window.ready = true;
</script>"""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured per configuration")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before measuring")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    site = build_site.build(build_site.DEFAULT_SITE)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "bench.html").write_text(DOCUMENT)
        clip = write_y4m(folder / "camera.y4m", [("chelsea.png", 45), ("coffee.png", 45)])
        server = build_site.make_server(site, 0, quiet=True, mounts={"/__bench__/": folder})
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/__bench__/bench.html"
        rows = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[*CHROMIUM_FLAGS, "--disable-gpu", "--use-fake-device-for-media-stream",
                      "--use-fake-ui-for-media-stream", f"--use-file-for-fake-video-capture={clip}"],
            )
            for model in MODELS:
                for threads in THREADS:
                    context = browser.new_context()
                    page = context.new_page()
                    page.goto(url)
                    page.wait_for_function("window.ready === true")
                    load = os.getloadavg()[0]
                    out = page.evaluate(
                        "(a) => bench(a)",
                        {"model": model, "threads": threads, "warmupMs": args.warmup * 1000,
                         "seconds": args.seconds},
                    )
                    context.close()
                    row = {
                        "model": model.removeprefix("efficientnet_").removesuffix(".onnx"),
                        "threads": out["threads"],
                        "camera": f"{out['settings']['width']}x{out['settings']['height']}",
                        "camera_fps": round(out["received"] / out["elapsed"], 1),
                        "live_fps": round(out["results"] / out["elapsed"], 1),
                        "latency_median_ms": round(statistics.median(out["latencies"]), 1),
                        "latency_p90_ms": round(percentile(out["latencies"], 0.9), 1),
                        "inference_median_ms": round(statistics.median(out["inference"]), 1),
                        "still_inference_median_ms": round(statistics.median(out["stillInference"]), 1),
                        "preprocess_median_ms": round(statistics.median(out["preprocess"]), 1),
                        "dropped": out["dropped"], "received": out["received"],
                        "max_waiting": out["maxWaiting"], "results": out["results"],
                        "load_average_1min": round(load, 2),
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
            browser.close()
        server.shutdown()
    out_path = ROOT / "bench" / "live.json"
    out_path.write_text(json.dumps({
        "machine": platform.platform(), "cores": os.cpu_count(), "chromium": CHROMIUM,
        "command": "python3 build.py bench  (bench/live.py)", "seconds": args.seconds, "rows": rows,
    }, indent=1))
    print("\n| model | threads | live fps | latency median ms | p90 ms | inference ms (live) "
          "| inference ms (camera off) | preprocess ms | camera fps | dropped | load avg |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['model']} | {r['threads']} | {r['live_fps']} | {r['latency_median_ms']} | "
              f"{r['latency_p90_ms']} | {r['inference_median_ms']} | "
              f"{r['still_inference_median_ms']} | {r['preprocess_median_ms']} | "
              f"{r['camera_fps']} | {r['dropped']}/{r['received']} | {r['load_average_1min']} |")
    print(f"\nwritten: {out_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
