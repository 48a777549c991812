"""The bench's report: bench/results.json (every row of native.json, live.json and
browser.json), bench/REPORT.md (the tables, with the ratio ours/MediaPipe) and
bench/latency.png (end to end per model: MediaPipe beside ours, ours split into its stages).

Run by ``python3 build.py bench`` after the measurements (or ``.venv/bin/python
bench/report.py`` to redraw from the JSON files).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

from preprocess import preprocess_table

BENCH = Path(__file__).resolve().parent
SOURCES = ["native.json", "live.json", "browser.json", "preprocess.json"]
MODELS = [("lite0", "fp32"), ("lite0", "int8"), ("lite2", "fp32"), ("lite2", "int8")]
OURS = [("onnx", 1), ("onnx", 2), ("tflite", 1), ("tflite", 2)]  # model format, threads
RUNTIME = {"onnx": "onnxruntime-web", "tflite": "LiteRT.js"}
STAGES = ["decode", "preprocess", "inference", "postprocess", "bridge"]
SIZE = "960x640"  # the size of the per-stage table and the plot


class Rows:
    """results.json, queried by the fields a row is known by."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def find(self, **fields) -> dict | None:
        for row in self.rows:
            if all(row.get(k) == v for k, v in fields.items()):
                return row
        return None

    def values(self, field: str, **fields) -> list:
        return sorted({row[field] for row in self.rows
                       if field in row and all(row.get(k) == v for k, v in fields.items())})


def measured_models(rows: Rows) -> list[tuple[str, str]]:
    """The (model, precision) pairs this run measured in the browser, in MODELS' order."""
    return [m for m in MODELS if rows.find(model=m[0], precision=m[1], metric="classify",
                                           engine="ours", backend="wasm")]


def photo_sizes(rows: Rows) -> list[str]:
    """'451x300', '960x640', ...: the browser's photo sizes, smallest first."""
    def area(size: str) -> int:
        width, height = size.split("x")
        return int(width) * int(height)

    return sorted(rows.values("size", engine="mediapipe", metric="classify"), key=area)


def ms(row: dict | None) -> str:
    """'35.1 (39.0)': median (p90) ms, or '–' when not measured."""
    if row is None:
        return "–"
    return f"{row['median_ms']:.1f} ({row['p90_ms']:.1f})"


def ratio(ours: dict | None, reference: dict | None) -> str:
    if ours is None or reference is None:
        return "–"
    return f"{ours['median_ms'] / reference['median_ms']:.2f}"


def table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def ours_fields(model_format: str, threads: int) -> dict:
    return {"engine": "ours", "model_format": model_format, "threads": threads, "backend": "wasm"}


MEDIAPIPE = {"engine": "mediapipe", "backend": "wasm"}


def image_table(rows: Rows) -> str:
    sizes = photo_sizes(rows)
    lines = []
    for model, precision in measured_models(rows):
        config = {"model": model, "precision": precision, "metric": "classify"}
        reference = {s: rows.find(**MEDIAPIPE, **config, size=s) for s in sizes}
        lines.append([f"{model} {precision}", "MediaPipe tasks-vision", "1",
                      *[cell for s in sizes for cell in (ms(reference[s]), "1")]])
        for model_format, threads in OURS:
            found = {s: rows.find(**ours_fields(model_format, threads), **config, size=s)
                     for s in sizes}
            lines.append(["", f"ours, .{model_format} on {RUNTIME[model_format]}", str(threads),
                          *[cell for s in sizes
                            for cell in (ms(found[s]), ratio(found[s], reference[s]))]])
    header = ["model", "engine", "threads",
              *[cell for s in sizes for cell in (f"{s} ms", "ours/MP")]]
    return table(header, lines)


def summary_table(rows: Rows) -> str:
    """Per model at SIZE: MediaPipe, ours on each engine with 1 and 2 threads, the ratios, and
    the largest score difference (the README's table)."""
    lines = []
    for model, precision in measured_models(rows):
        config = {"model": model, "precision": precision}
        reference = rows.find(**MEDIAPIPE, **config, metric="classify", size=SIZE)
        line = [f"{model} {precision}", ms(reference)]
        for model_format in RUNTIME:
            found = [rows.find(**ours_fields(model_format, t), **config, metric="classify",
                               size=SIZE) for t in (1, 2)]
            line += [" / ".join(ms(f) for f in found),
                     " / ".join(ratio(f, reference) for f in found)]
            accuracy = rows.find(**config, model_format=model_format,
                                 metric="score_diff_vs_mediapipe")
            line.append(f"{accuracy['max_abs_score_diff']:.1e}" if accuracy else "–")
        lines.append(line)
    header = ["model", "MediaPipe ms"]
    for model_format, runtime in RUNTIME.items():
        header += [f"ours .{model_format} ({runtime}) ms, 1 / 2 threads", "ours/MP",
                   "max \\|Δ score\\|"]
    return table(header, lines)


def stage_table(rows: Rows) -> str:
    lines = []
    for model, precision in measured_models(rows):
        for model_format, threads in OURS:
            config = {"model": model, "precision": precision, "model_format": model_format,
                      "threads": threads, "backend": "wasm"}
            found = {m: rows.find(**config, engine="ours", metric=m, size=SIZE)
                     for m in ["classify", *STAGES, "engine_in_call", "not_engine"]}
            alone = rows.find(**config, metric="engine_run")
            outside = ms(found["not_engine"])
            if found["not_engine"] and found["classify"]:
                share = found["not_engine"]["median_ms"] / found["classify"]["median_ms"]
                outside += f" ({100 * share:.0f}%)"
            lines.append([f"{model} {precision}", f".{model_format} {RUNTIME[model_format]}",
                          str(threads), *[ms(found[m]) for m in STAGES], ms(found["classify"]),
                          ms(found["engine_in_call"]), outside, ms(alone)])
    return table(["model", "engine", "threads", *STAGES, "end to end", "engine in the call",
                  "not engine (share)", "engine alone (run)"], lines)


def start_table(rows: Rows) -> str:
    lines = []
    for model, precision in measured_models(rows):
        config = {"model": model, "precision": precision}
        engines = [("MediaPipe tasks-vision", MEDIAPIPE)]
        engines += [(f"ours, .{f} on {RUNTIME[f]}", ours_fields(f, t))
                    for f, t in OURS if rows.find(**ours_fields(f, t), **config,
                                                  metric="cold_start")]
        reference = {m: rows.find(**MEDIAPIPE, **config, metric=m)
                     for m in ("cold_start", "warm_start")}
        for name, fields in engines:
            cold = rows.find(**fields, **config, metric="cold_start")
            warm = rows.find(**fields, **config, metric="warm_start")
            if cold is None:
                continue
            lines.append([f"{model} {precision}", name, str(cold["threads"]), str(cold["n"]),
                          ms(cold), ratio(cold, reference["cold_start"]), ms(warm),
                          ratio(warm, reference["warm_start"]), f"{warm['ready_ms']:.0f}",
                          f"{warm['python_boot_ms']:.0f}" if "python_boot_ms" in warm else "–"])
    return table(["model", "engine", "threads", "n", "cold start ms", "ours/MP", "warm start ms",
                  "ours/MP", "warm: classifier ready ms", "warm: of which Python boot"], lines)


def live_table(rows: Rows) -> str:
    lines = [[f"{r['model']} {r['precision']}", f".{r['model_format']} {r['runtime']}",
              str(r["threads"]), f"{r['live_fps']:.1f}", ms(r),
              f"{r['inference_median_ms']:.1f}", f"{r['still_inference_median_ms']:.1f}",
              f"{r['camera_fps']:.1f}", f"{r['dropped']} of {r['received']}"]
             for r in rows.rows if r["metric"] == "live_latency"]
    return table(["model", "engine", "threads", "live fps", "latency ms", "inference ms, live",
                  "inference ms, camera off", "camera fps", "frames dropped"], lines)


def memory_table(rows: Rows) -> str:
    lines = [[f"{r['model']} {r['precision']}", f".{r['model_format']} {r['runtime']}",
              r["backend"], str(r["threads"]), f"{r['pyodide_wasm_mb']:.0f}",
              f"{r['engine_wasm_mb']:.0f}"]
             for r in rows.rows if r["metric"] == "worker_memory"]
    return table(["model", "engine", "backend", "threads", "Pyodide heap MB",
                  "engine heaps MB"], lines)


def accuracy_table(rows: Rows) -> str:
    lines = [[f"{r['model']} {r['precision']}", f".{r['model_format']} {r['runtime']}",
              f"{r['max_abs_score_diff']:.2e}", r["top1_same"]]
             for r in rows.rows if r["metric"] == "score_diff_vs_mediapipe"]
    return table(["model", "ours", "max abs score difference (1000 scores per photo)",
                  "same top 1"], lines)


def native_table(rows: Rows) -> str:
    lines = []
    for backend in rows.values("backend", engine="native"):
        for model, precision in MODELS:
            config = {"engine": "native", "backend": backend, "model": model,
                      "precision": precision, "size": SIZE}
            lines.append([f"{model} {precision}", backend,
                          *[ms(rows.find(**config, metric=m))
                            for m in ("classify", "preprocess", "inference", "postprocess")]])
    return table(["model", "engine", "classify ms", "preprocess", "inference", "postprocess"],
                 lines)


def gpu_table(rows: Rows) -> str:
    lines = [[f"{r['model']} {r['precision']}", r["engine"], r["runtime"], r["backend"],
              str(r["n"]), ms(r)]
             for r in rows.rows if r["metric"] == "classify" and "swiftshader" in r["backend"]]
    return table(["model", "engine", "runtime", "backend", "n", f"classify {SIZE} ms"], lines)


def plot(rows: Rows, path: Path) -> None:
    """End to end at SIZE per model: MediaPipe as one bar, ours split into its stages; a tick
    at each p90."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = dict(zip(STAGES, ["#9ecae1", "#6baed6", "#3182bd", "#08519c", "#fd8d3c"]))
    labels, y = [], 0.0
    fig, axis = plt.subplots(figsize=(9, 7.5))
    for model, precision in measured_models(rows):
        config = {"model": model, "precision": precision, "size": SIZE}
        bars = [("MediaPipe", MEDIAPIPE)] + [(f"ours .{f} {t}t", ours_fields(f, t))
                                             for f, t in OURS]
        for name, fields in bars:
            total = rows.find(**fields, **config, metric="classify")
            if total is None:
                continue
            if fields is MEDIAPIPE:
                axis.barh(y, total["median_ms"], color="#bbbbbb")
            else:
                left = 0.0
                for stage in STAGES:
                    width = rows.find(**fields, **config, metric=stage)["median_ms"]
                    axis.barh(y, width, left=left, color=colors[stage])
                    left += width
            axis.plot([total["p90_ms"]], [y], marker="|", color="black", markersize=10)
            labels.append((y, f"{model} {precision}  {name}"))
            y += 1
        y += 0.6
    axis.set_yticks([p for p, _ in labels], [t for _, t in labels], fontsize=8)
    axis.invert_yaxis()
    axis.set_xlabel(f"ms per classify(), {SIZE} photo: medians (ours: of each stage, stacked);"
                    " | = p90 end to end")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in ["#bbbbbb", *colors.values()]]
    axis.legend(handles, ["MediaPipe (end to end)", *[f"ours: {s}" for s in STAGES]],
                loc="lower right", fontsize=8)
    axis.set_title("IMAGE classify in headless Chromium: ours vs MediaPipe tasks-vision")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def failures(lines: list[str]) -> str:
    if not lines:
        return ""
    return "\n## Not measured (failed in this run)\n\n" + "".join(f"- {line}\n" for line in lines)


def load_average_range(rows: list[dict]) -> str:
    loads = [r["load_average_1min"] for r in rows if "load_average_1min" in r]
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "not recorded"


def start_up_section() -> str:
    """bench/start.py's table (start in a persistent profile), when it has run."""
    path = BENCH / "start.json"
    if not path.exists():
        return ""
    from start import IDLE_S, table as start_table_of  # bench/start.py

    data = json.loads(path.read_text())
    return f"""## Start-up in a persistent profile (`{data["command"]}`)

Lite0 int8 `.tflite`; cold: a fresh profile; warm: a reload after our offline install; revisit:
the browser closed and opened again on the profile; offline: the server stopped, then a reload.
The browser is left idle {IDLE_S:.0f} s before each start (bench/start.py says why).
Medians of {len(next(iter(data["runs"].values())))} rounds.

{start_table_of(data["rows"])}
"""


def report(rows: Rows, browser: dict) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in browser.get("packages", {}).items())
    return f"""# Benchmark: ours against MediaPipe, in the same headless Chromium

Measured {datetime.date.today()} with `python3 build.py bench` on {os.cpu_count()} cores
({platform.platform()}), headless Chromium {browser.get("chromium", "?")} (Debian), {packages}.
The 1-minute load average during the run was {load_average_range(rows.rows)}: other jobs slow
every number down, and hit multi-threaded runs hardest.

What is compared, on the same photos (four photos of tests/images/ resized with Pillow to each
size, decoded once into an ImageBitmap that every engine gets):
- **ours**: the site's JS API, Python (Pyodide) in a module worker; the engine follows the model
  file: `.onnx` on onnxruntime-web, `.tflite` on LiteRT.js, WebAssembly with 1 or 2 threads.
- **MediaPipe**: `@mediapipe/tasks-vision` ImageClassifier on the page's thread (its wasm served
  from the same origin), single-threaded, on `models/*.tflite`. Those files come from the same
  weights by our recipe (models/README.md); MediaPipe 1.2.3 on CPython loads them and gives
  our scores exactly (tests/test_mediapipe_interop.py). MediaPipe and ours run the very same
  bytes (the issue asked for files made by the bench; the committed ones are made the same way,
  litert-torch plus MediaPipe-format metadata, and reproducibly). Here MediaPipe converts
  images with WebGL, which headless Chromium without a GPU runs on SwiftShader (software).
- **engine alone**: onnxruntime-web and LiteRT.js (`web/engines/*.mjs`) timing `run()` in a
  module worker, no Python: how far our inference stage is from what the engine allows.
- **native**: the same package on CPython (onnxruntime, LiteRT).

Ratios are ours / MediaPipe: **below 1 means we are faster**. Times are median (p90) ms.

## Summary: IMAGE classify end to end, {SIZE}, and scores against MediaPipe's

{summary_table(rows)}

## IMAGE classify, end to end

From `classify()` called to its result on the page (ours: page → worker → Python → engine →
back; MediaPipe: a synchronous call on the page).

{image_table(rows)}

![ours vs MediaPipe](latency.png)

## Where our time goes ({SIZE})

Stages as Python measures them (`lastTimingsMs`); decode = the rows of the ImageBitmap that
the warp reads, copied into Python's memory (the worker reads its pixels as stored); bridge =
end to end minus the stages (messages between page and worker, entering Python, the result
converted to JS); inference includes handing the tensor to the engine and
back; engine in the call = the engine's run inside it (timed in the worker); not engine = end
to end minus that, call by call (issue 12: at most 15%).

{stage_table(rows)}

## Start: navigation to the first result

Cold: a fresh browser profile (nothing cached) navigating to a page that creates the
classifier and classifies one photo. Warm: the same page reloaded (HTTP cache, revalidated).
Ours includes starting Python (Pyodide, numpy, Pillow, the package) in the worker.

{start_table(rows)}

## LIVE_STREAM: Chromium's fake camera at 640x480, 30 fps

Ours only: MediaPipe's web API has no LIVE_STREAM mode. Latency runs from the frame leaving
the camera stream to its result in the page; at most one frame waits, newer ones replace it
(dropped). "Camera off" is `classify()` on a still frame in the same page just before.

{live_table(rows)}

## Worker memory (after the runs above)

WebAssembly heaps in our worker: Pyodide's (Python, numpy, Pillow, the package, the tensors)
and the engine's (model weights, activations, scratch).

{memory_table(rows)}

## Accuracy against MediaPipe

Every score of every category, ours against MediaPipe's on the same ImageBitmaps (all photos,
all sizes). The `.onnx` int8 files are quantized by onnxruntime and the `.tflite` int8 files by
the AI Edge Quantizer (same calibration crops), so the int8 `.onnx` rows compare two
quantizations; the `.tflite` rows compare the same file in two runtimes.

{accuracy_table(rows)}

## Preprocessing implementations, native and in the worker

MediaPipe's warp (OpenCV 4's fixed-point bilinear) in numpy, three ways, every one giving the
same bytes (checked before timing; tests/test_preprocess.py proves the kept one against
OpenCV 4.12): **baseline**, the first version (per-pixel coordinates, 3-byte pixel gathers),
**planar+axis** (one 1-D gather per colour plane, normalization and layout by lookup table,
coordinates per row and per column when the map is axis-aligned), and **cached plan**, kept
(the same, with the sampling plan cached per geometry and RGBA pixels gathered as whole
words). Median ms (n and p90 in results.json), 224x224 float32 input, `bench/preprocess.py`.

{preprocess_table(rows.rows)}

{start_up_section()}
## Native CPython ({SIZE})

{native_table(rows)}

## WebGPU (SwiftShader, a software adapter: correctness only, not speed)

{gpu_table(rows)}
{failures(browser.get("failures", []))}"""


def main() -> None:
    collected, browser = [], {}
    for name in SOURCES:
        path = BENCH / name
        if path.exists():
            data = json.loads(path.read_text())
            collected += data["rows"]
            browser = data if name == "browser.json" else browser
    rows = Rows(collected)
    (BENCH / "results.json").write_text(json.dumps(collected, indent=1))
    plot(rows, BENCH / "latency.png")
    (BENCH / "REPORT.md").write_text(report(rows, browser))
    print("written: bench/results.json, bench/REPORT.md, bench/latency.png")


if __name__ == "__main__":
    main()
