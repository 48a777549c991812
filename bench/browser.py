"""Our classifier against MediaPipe and LiteRT.js in one headless Chromium, on the same
weights and the same photos.

- ``ours``: the site's JS API (Python in a module worker) on every model file: .onnx on
  onnxruntime-web, .tflite on LiteRT.js, WebAssembly with 1 and 2 threads. Cold start
  (navigation to the first result in a fresh profile), warm start (reload: HTTP cache,
  revalidated), IMAGE classify end to end and per stage on photos of three sizes, and the
  worker's memory. WebGPU only where Chromium has an adapter: here SwiftShader, a software
  one (correct, never fast), so those rows are marked and use few runs.
- ``mediapipe``: @mediapipe/tasks-vision's ImageClassifier (its wasm served from the same
  origin) on the same .tflite files, with the
  same measures end to end (it reports no stages), and its 1000 scores per photo against ours.
- ``litert``, and ``ours`` metric ``engine_run``: the engines alone (LiteRT.js, and
  onnxruntime-web behind our adapter) timing ``run`` in a module worker, with no Python.

Every engine gets the same decoded ImageBitmap. Run with ``python3 build.py bench`` (or
``.venv/bin/python bench/browser.py [--runs N]``); writes bench/browser.json. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

import harness
from photos import make_photos
from rows import model_fields, row

MODELS = ["efficientnet_lite0_fp32", "efficientnet_lite0_int8",
          "efficientnet_lite2_fp32", "efficientnet_lite2_int8"]
# What runs each model format in our worker, and its adapter (timed alone by engine-worker.mjs).
RUNTIMES = {"onnx": "onnxruntime-web", "tflite": "LiteRT.js"}
ADAPTERS = {"onnx": "/engines/ort.mjs", "tflite": "/engines/litert.mjs"}
THREADS = [1, 2]
STAGES = ["decode", "preprocess", "inference", "postprocess"]
# WebGPU (and MediaPipe's WebGL GPU delegate) on SwiftShader: seconds per run, so one model,
# one photo size.
GPU_MODEL = "efficientnet_lite0_fp32"
GPU_SIZE = "960x640"
ADAPTER_INFO = """async () => {
  const adapter = await navigator.gpu?.requestAdapter();
  return adapter ? {fallback: adapter.info.isFallbackAdapter, architecture: adapter.info.architecture} : null;
}"""


def versions() -> dict:
    """The npm packages measured, as installed."""
    web = harness.ROOT / "web"
    found = {}
    for folder, name in [(harness.BENCH, "@mediapipe/tasks-vision"), (web, "@litertjs/core"),
                         (web, "onnxruntime-web"), (web, "pyodide")]:
        package = folder / "node_modules" / name / "package.json"
        found[name] = json.loads(package.read_text())["version"]
    return found


class BrowserBench:
    """Measures configurations one after the other and collects their rows. A configuration
    that fails is listed in ``failures``, and the others are still measured."""

    def __init__(self, origin: str, photos: dict[str, list[str]], args: argparse.Namespace):
        self.origin = origin
        self.photos = {size: [f"/__photos__/{p}" for p in paths] for size, paths in photos.items()}
        self.args = args
        self.rows: list[dict] = []
        self.scores: dict[tuple[str, str], list[list[float]]] = {}  # (engine, file) -> per photo
        self.failures: list[str] = []
        self._context = None  # the one browser context open at a time

    @contextlib.contextmanager
    def _configuration(self, name: str) -> Iterator[None]:
        """Times a configuration; records its failure; closes its context."""
        started = time.monotonic()
        try:
            yield
        except PlaywrightError as error:
            self.failures.append(f"{name}: {str(error).splitlines()[0]}")
            print(f"# FAILED {self.failures[-1]}", file=sys.stderr, flush=True)
        finally:
            if self._context is not None:
                self._context.close()
                self._context = None
        print(f"# {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)

    def _page(self, browser, path: str):
        """A page of a fresh profile (new context: empty HTTP cache) navigated to ``path``;
        the previous context is closed."""
        if self._context is not None:
            self._context.close()
        self._context = browser.new_context()
        page = self._context.new_page()
        page.goto(self.origin + path)
        return page

    def _add(self, new_row: dict) -> None:
        self.rows.append(new_row)
        print(json.dumps({k: v for k, v in new_row.items() if k != "load_average_1min"}), flush=True)

    def classifier(self, browser, engine: str, file: str, threads: int, **options) -> None:
        """One classifier configuration (see ``_classifier``)."""
        name = f"{engine} {file}, {threads} thread(s), {options.get('delegate', 'CPU')}"
        with self._configuration(name):
            self._classifier(browser, engine, file, threads, **options)

    def _classifier(self, browser, engine: str, file: str, threads: int, starts: int = 0,
                    delegate: str = "CPU", sizes: list[str] | None = None,
                    runs: int | None = None, backend_note: str = "",
                    keep_scores: bool = False) -> None:
        """``starts`` cold starts, each followed by a warm one (a reload), then latency per
        photo size, memory, and the scores when kept. The bench page classifies one photo on
        load (``window.started``). The model is ``file`` of models/."""
        model, precision = model_fields(file)
        sizes = sizes or list(self.photos)
        query = {"engine": engine, "model": f"/models/{file}", "threads": threads,
                 "delegate": delegate, "photo": self.photos[sizes[0]][0]}
        cold, warm = [], []
        for _ in range(max(starts, 1)):
            page = self._page(browser, f"/__bench__/bench.html?{urlencode(query)}")
            cold.append(page.evaluate("window.started"))
            if starts:
                page.reload()
                warm.append(page.evaluate("window.started"))
        info = cold[-1]["info"]
        config = dict(engine=engine, model=model, precision=precision,
                      backend=info["backend"] + backend_note, threads=info["threads"])
        extra = dict(model_format=file.rsplit(".", 1)[1], model_url=query["model"],
                     runtime=info["engine"] if engine == "ours" else "tasks-vision")
        for metric, starts_ms in [("cold_start", cold), ("warm_start", warm)] if starts else []:
            # ready: the classifier created; ours boots Python (Pyodide) on the way.
            parts = {"ready_ms": [s["createdMs"] for s in starts_ms]}
            if "pythonBootMs" in info:
                parts["python_boot_ms"] = [s["info"]["pythonBootMs"] for s in starts_ms]
            self._add(row(**config, metric=metric, values=[s["firstResultMs"] for s in starts_ms],
                          **{k: round(statistics.median(v), 1) for k, v in parts.items()},
                          **extra))
        if engine == "ours":  # the steady state: not while the worker writes its snapshot copy
            page.evaluate("bench.snapshotCopied()")
        for size in sizes:
            samples = page.evaluate("([urls, runs, warmup]) => bench.latency(urls, runs, warmup)",
                                    [self.photos[size], runs or self.args.runs, self.args.warmup])
            self._add(row(**config, metric="classify", values=[s["ms"] for s in samples],
                          size=size, input="ImageBitmap", **extra))
            if engine != "ours":
                continue
            for stage in STAGES:
                self._add(row(**config, metric=stage, values=[s[stage] for s in samples],
                              size=size, **extra))
            # What the Python stages do not cover: messages between page and worker, Python
            # entered and left, the result converted to JS.
            bridge = [s["ms"] - sum(s[stage] for stage in STAGES) for s in samples]
            self._add(row(**config, metric="bridge", values=bridge, size=size, **extra))
            # The engine's run inside each call (the worker times it): the rest is ours.
            self._add(row(**config, metric="engine_in_call", values=[s["engine"] for s in samples],
                          size=size, **extra))
            self._add(row(**config, metric="not_engine", size=size, **extra,
                          values=[s["ms"] - s["engine"] for s in samples]))
        memory = page.evaluate("bench.memory()")
        if memory:
            self._add(row(**config, metric="worker_memory", values=None, **extra,
                          pyodide_wasm_mb=round(memory["pyodideWasm"] / 2**20, 1),
                          engine_wasm_mb=round(memory["engineWasm"] / 2**20, 1)))
        if keep_scores:
            every_photo = [p for size in self.photos for p in self.photos[size]]
            self.scores[(engine, file)] = page.evaluate("(urls) => bench.scores(urls)", every_photo)

    def engine_alone(self, browser, file: str, threads: int) -> None:
        """The site's engine adapter for ``file`` timing run() in a worker, without Python."""
        model_format = file.rsplit(".", 1)[1]
        with self._configuration(f"{RUNTIMES[model_format]} alone, {file}, {threads} thread(s)"):
            page = self._page(browser, "/__bench__/engine.html")
            page.wait_for_function("() => window.ready === true")
            out = page.evaluate("(request) => timeEngine(request)", {
                "adapter": ADAPTERS[model_format], "model": f"/models/{file}",
                "threads": threads, "runs": self.args.runs, "warmup": self.args.warmup})
            model, precision = model_fields(file)
            self._add(row(
                "litert" if model_format == "tflite" else "ours", model, precision,
                out["info"]["backend"], out["info"]["threads"], "engine_run", out["runMs"],
                model_format=model_format, runtime=RUNTIMES[model_format],
                load_ms=round(out["loadMs"], 1)))

    def accuracy(self) -> None:
        """Largest |score difference| of ours against MediaPipe over every photo and all 1000
        categories, and how often the top-1 category is the same."""
        for name in MODELS:
            reference = self.scores.get(("mediapipe", f"{name}.tflite"))
            for model_format, runtime in RUNTIMES.items():
                ours = self.scores.get(("ours", f"{name}.{model_format}"))
                if reference is None or ours is None:
                    continue
                worst = max(abs(a - b) for x, y in zip(ours, reference) for a, b in zip(x, y))
                top1 = sum(x.index(max(x)) == y.index(max(y)) for x, y in zip(ours, reference))
                model, precision = model_fields(f"{name}.{model_format}")
                self._add(row("ours", model, precision, "wasm", max(THREADS),
                              "score_diff_vs_mediapipe", None, n=len(ours),
                              max_abs_score_diff=worst, top1_same=f"{top1}/{len(ours)}",
                              model_format=model_format, runtime=runtime))


def measure_cpu(bench: BrowserBench, playwright, args: argparse.Namespace) -> str:
    """Every model on WebAssembly: MediaPipe, then ours on each format and thread count, then
    the engines alone. Returns Chromium's version."""
    browser = harness.launch(playwright)
    for name in args.models:
        bench.classifier(browser, "mediapipe", f"{name}.tflite", 1, starts=args.starts,
                         keep_scores=True)
        for model_format in RUNTIMES:
            for threads in THREADS:
                most = threads == max(THREADS)
                bench.classifier(browser, "ours", f"{name}.{model_format}", threads,
                                 starts=args.starts if most else 0, keep_scores=most)
    for model_format in RUNTIMES:
        for name in args.models:
            for threads in THREADS:
                bench.engine_alone(browser, f"{name}.{model_format}", threads)
    version = browser.version
    browser.close()
    return version


def measure_gpu(bench: BrowserBench, playwright, args: argparse.Namespace) -> None:
    """GPU_MODEL on WebGPU (ours) and WebGL (MediaPipe), when Chromium has an adapter; a
    software one (SwiftShader, the only one here) is named in the rows' backend."""
    browser = harness.launch(playwright, webgpu=True)
    page = browser.new_page()
    page.goto(f"{bench.origin}/__bench__/engine.html")
    adapter = page.evaluate(ADAPTER_INFO)
    page.close()
    if adapter:
        gpu = dict(delegate="GPU", sizes=[GPU_SIZE], runs=args.gpu_runs,
                   backend_note=f" ({adapter['architecture']})" if adapter["fallback"] else "")
        bench.classifier(browser, "mediapipe", f"{GPU_MODEL}.tflite", 1, **gpu)
        for model_format in RUNTIMES:
            bench.classifier(browser, "ours", f"{GPU_MODEL}.{model_format}", max(THREADS), **gpu)
    browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="classify() calls per row")
    parser.add_argument("--warmup", type=int, default=3, help="calls before timing")
    parser.add_argument("--starts", type=int, default=3,
                        help="cold and warm starts per model file, at the most threads")
    parser.add_argument("--gpu-runs", type=int, default=3, help="runs per row on SwiftShader")
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        photos = make_photos(Path(folder))
        with harness.served({"/__photos__/": Path(folder)}) as origin, \
                sync_playwright() as playwright:
            bench = BrowserBench(origin, photos, args)
            chromium = measure_cpu(bench, playwright, args)
            measure_gpu(bench, playwright, args)
    bench.accuracy()
    out = harness.BENCH / "browser.json"
    out.write_text(json.dumps({
        "chromium": chromium, "packages": versions(), "photos": list(photos),
        "command": "python3 build.py bench  (bench/browser.py)", "failures": bench.failures,
        "rows": bench.rows,
    }, indent=1))
    print(f"written: {out.relative_to(harness.ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
