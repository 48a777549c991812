"""Soak runs: memory over a long LIVE_STREAM and over many photos through the page.

1. LIVE_STREAM for ``--minutes`` (default 30) on Chromium's fake camera (a 640x480 clip of
   the test photos) through the JS API (pages/soak.html: classifyStream); the memory of the
   page and of the classifier worker is sampled every ``--every`` seconds: the page's JS heap,
   the worker's JS heap (performance.measureUserAgentSpecificMemory) and every WebAssembly
   memory (Pyodide's, the engines'). After the warm-up (the first fifth, at least one sample)
   each must grow by less than 5 MB.
2. The page itself (index.html): ``--photos`` (default 1000) photos given one after another to
   its file input, each classified and shown; memory sampled every 50 photos, the same rule.

Run with ``python3 build.py soak [--minutes N] [--photos N]``. Not a test (it takes long);
writes bench/soak.json and prints a report; exits 1 when memory grows. The load average is
recorded with the samples: the machine may be shared.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import harness

from tests.browser.media import write_y4m  # importable: harness puts the repository on sys.path

GROWTH_LIMIT = 5_000_000  # bytes
MODEL = "efficientnet_lite0_int8.tflite"  # the page's default
PHOTOS = sorted(p for p in (harness.ROOT / "tests" / "images").iterdir()
                if p.suffix in (".png", ".jpg"))
FLAGS = ["--js-flags=--expose-gc", "--enable-precise-memory-info",
         "--enable-blink-features=ForceEagerMeasureMemory"]


def flatten(sample: dict) -> dict[str, float]:
    """The sample's figures by name: JS heaps and each WebAssembly memory."""
    out = {"page JS heap": sample["pageJsHeap"], "Pyodide wasm": sample["pyodideWasm"],
           "Pyodide in use": sample.get("pyodideInUse"),
           "engine wasm (all)": sample["engineWasm"]}
    for scope, size in sample["agent"].items():
        out[f"agent {scope}"] = size
    for index, size in enumerate(sample["wasm"]):
        out[f"wasm memory {index}"] = size
    return {k: v for k, v in out.items() if v is not None}


def growth(samples: list[dict]) -> dict[str, float]:
    """Per figure: the median of the last three samples minus the median of the first three
    after the warm-up (the first fifth of the samples, at least one)."""
    warm = samples[max(1, len(samples) // 5):]
    series = [flatten(s["memory"]) for s in warm]
    names = set().union(*series)
    first, last = series[:3], series[-3:]
    return {name: statistics.median(s.get(name, 0) for s in last)
            - statistics.median(s.get(name, 0) for s in first) for name in sorted(names)}


def report(title: str, samples: list[dict]) -> bool:
    grown = growth(samples)
    ok = all(value < GROWTH_LIMIT for value in grown.values())
    print(f"\n{title}: {len(samples)} samples, growth after warm-up "
          f"({'PASS' if ok else 'FAIL'}: every figure < {GROWTH_LIMIT / 1e6:.0f} MB)")
    for name, value in grown.items():
        values = [flatten(s["memory"]).get(name) for s in samples]
        start, end = values[0], values[-1]
        print(f"  {name:55s} {value / 1e6:+8.2f} MB   (first {start / 1e6 if start else 0:8.1f},"
              f" last {end / 1e6 if end else 0:8.1f} MB)")
    return ok


def soak_live(browser, origin: str, minutes: float, every: float) -> list[dict]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{origin}/__bench__/soak.html")
    page.wait_for_function("() => window.ready === true")
    started_info = page.evaluate("(model) => startLive(model)", MODEL)
    print(f"LIVE_STREAM {MODEL} on {started_info['engine']['engine']} "
          f"({started_info['engine']['threads']} threads, via {started_info['transport']})")
    samples = []
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        state = page.evaluate("liveState()")
        if state["error"]:
            raise SystemExit(f"the stream failed: {state['error']}")
        samples.append({"seconds": round(elapsed, 1), "results": state["results"],
                        "stats": state["stats"], "load": os.getloadavg()[0],
                        "memory": page.evaluate("memorySample()")})
        print(f"  {elapsed / 60:5.1f} min  {state['results']:6d} results  "
              f"Pyodide {samples[-1]['memory']['pyodideWasm'] / 1e6:.1f} MB "
              f"({samples[-1]['memory']['pyodideInUse'] / 1e6:.1f} in use)  "
              f"load {samples[-1]['load']:.1f}", flush=True)
        if elapsed >= minutes * 60:
            break
        time.sleep(min(every, max(0.0, minutes * 60 - elapsed)))
    page.evaluate("stopLive()")
    context.close()
    return samples


def soak_page(browser, origin: str, photos: int, every: int = 50) -> list[dict]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto(f"{origin}/")
    page.wait_for_function("() => window.app && window.app.state.classifier", timeout=180_000)
    page.wait_for_function("() => document.body.dataset.state === 'idle'", timeout=180_000)
    page.evaluate("async () => { window.memorySample = "
                  "(await import('/__bench__/soak-memory.mjs')).memorySample; }")
    samples = []
    started = time.monotonic()
    for count, photo in zip(range(photos + 1), itertools.cycle(PHOTOS)):
        if count % every == 0 or count == photos:
            samples.append({"photos": count, "seconds": round(time.monotonic() - started, 1),
                            "load": os.getloadavg()[0], "memory": page.evaluate("memorySample()")})
            print(f"  {count:5d} photos  Pyodide {samples[-1]['memory']['pyodideWasm'] / 1e6:.1f} MB"
                  f"  load {samples[-1]['load']:.1f}", flush=True)
        if count == photos:
            break
        runs = page.evaluate("window.app.state.runs")
        page.set_input_files("#file", str(photo))
        page.wait_for_function("(runs) => window.app.state.runs > runs", arg=runs, timeout=120_000)
        page.wait_for_function("() => document.body.dataset.state === 'idle'", timeout=120_000)
        if not page.evaluate("document.getElementById('message').hidden"):
            raise SystemExit(f"{photo.name}: {page.text_content('#message')}")
    context.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="of LIVE_STREAM (0: none)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--photos", type=int, default=1000, help="through the page (0: none)")
    parser.add_argument("--out", default="soak.json", help="file under bench/ for the samples")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results = {"command": "python3 build.py soak", "args": vars(args)}
    ok = True
    with tempfile.TemporaryDirectory() as folder, harness.served() as origin, \
            sync_playwright() as playwright:
        clip = write_y4m(Path(folder) / "camera.y4m", [("chelsea.png", 45), ("coffee.png", 45)])
        browser = harness.launch(playwright, *FLAGS, "--use-fake-device-for-media-stream",
                                 "--use-fake-ui-for-media-stream",
                                 f"--use-file-for-fake-video-capture={clip}")
        try:
            if args.minutes > 0:
                results["live"] = soak_live(browser, origin, args.minutes, args.every)
                ok &= report(f"LIVE_STREAM, {args.minutes:g} min", results["live"])
            if args.photos > 0:
                results["page"] = soak_page(browser, origin, args.photos)
                ok &= report(f"The page, {args.photos} photos", results["page"])
        finally:
            browser.close()
    out = harness.BENCH / args.out
    out.write_text(json.dumps(results, indent=1))
    print(f"written: {out.relative_to(harness.ROOT)}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
