"""Preprocessing implementations side by side, on CPython and in the browser worker (Pyodide).

The candidates, all pixel-exact with OpenCV 4.12's warpPerspective (this script checks that
each gives the kept one's tensor, byte for byte, before timing it):

- ``baseline``: preprocess.py before issue 6 (read from git at BASELINE_COMMIT): coordinates
  of every output pixel, 3-byte pixel gathers (np.take), the blend on interleaved channels,
  normalization in float64.
- ``planar+axis``: preprocess.py before issue 12 (read from git at PLANAR_COMMIT): one 1-D
  gather per channel, the blend on planes, normalization by a 256-entry table, coordinates
  computed once per axis when that is proven exact (axis-aligned maps), all of it every frame.
- ``cached plan`` (kept): the same arithmetic with the sampling plan (table indices and
  weights of the four taps) cached per geometry, and RGBA pixels gathered as whole words.

Each runs ``input_tensor`` as the classifier does for the built-in models (224x224 NHWC
float32), on real photos resized to about 450x300 .. 1920x1280, given as RGB (Pillow's decode)
and as the RGB view of RGBA (the browser's decode, camera frames), for the whole image and for
a region turned by 90°. Runs alternate between candidates, so load from other jobs hits them
alike (the load average is recorded). The same functions below run natively and, sent as
source, in a module worker that loads the site's Pyodide and package.

Run alone with ``.venv/bin/python bench/preprocess.py [--runs N]``; writes
bench/preprocess.json. Not a test.
"""

from __future__ import annotations

import json
import statistics
import time
import types

import numpy as np

from image_classifier import ImageProcessingOptions, RectF, geometry, preprocess
from image_classifier.metadata import Normalization

BASELINE_COMMIT = "fecc93b3b11e2a7d961c24cdee5de005646b1877"
PLANAR_COMMIT = "fdf5bac"
KEPT = "cached plan"
# The built-in models' input: 224x224 RGB, float32, mean 127 and std 128.
INPUT = {"shape": np.array([1, 224, 224, 3]), "dtype": np.float32}
NORMALIZATION = preprocess.input_normalization(np.float32, Normalization((127.0,), (128.0,)))
CASES = {
    "whole image": None,
    "region, 90°": ImageProcessingOptions(RectF(left=0.1, top=0.15, right=0.85, bottom=0.9), 90),
}


def load_old(name: str, source: str) -> types.ModuleType:
    """An old preprocess.py as a module of the package (it imports .metadata)."""
    module = types.ModuleType(f"image_classifier.preprocess_{name}")
    module.__package__ = "image_classifier"
    exec(compile(source, f"preprocess_{name}.py", "exec"), module.__dict__)
    return module


def implementations(old_sources: dict[str, str]) -> dict:
    """The old modules' input_tensor (by name), then the kept one."""
    return {**{name: load_old(name.replace("+", "_"), source).input_tensor
               for name, source in old_sources.items()},
            KEPT: preprocess.input_tensor}


def measure(
    photos: dict[str, list[np.ndarray]], candidates: dict, runs: int, where: str
) -> list[dict]:
    """The times of every candidate, per photo size (``photos``: RGBA arrays per size name),
    pixel layout and case; asserts first that every candidate's tensors equal the kept one's."""
    samples = []
    for image, rgba_photos in photos.items():
        layouts = {
            "rgb": [np.ascontiguousarray(p[:, :, :3]) for p in rgba_photos],
            "rgba": [p[:, :, :3] for p in rgba_photos],
        }
        for pixels, views in layouts.items():
            for case, processing in CASES.items():
                arguments = [(view, INPUT, "NHWC", NORMALIZATION, processing) for view in views]
                for args in arguments:
                    want = candidates[KEPT](*args)
                    for name, candidate in candidates.items():
                        assert np.array_equal(candidate(*args), want), (name, image, pixels, case)
                height, width = views[0].shape[:2]
                matrix = geometry.transform(processing, width, height, 224, 224)
                axis_path = preprocess._axis_coordinates(matrix, 224, 224) is not None
                times = {name: [] for name in candidates}
                for run in range(runs):
                    args = arguments[run % len(arguments)]
                    for name, candidate in candidates.items():
                        started = time.perf_counter()
                        candidate(*args)
                        times[name].append((time.perf_counter() - started) * 1e3)
                samples += [{"implementation": name, "where": where, "image": image,
                             "pixels": pixels, "processing": case, "axis_path": axis_path,
                             "times_ms": values} for name, values in times.items()]
    return samples


def measure_in_worker(decoded, old_sources, runs: int) -> str:
    """The worker's entry: ``decoded`` maps size names to [{data, width, height}] (RGBA from
    the browser's decoder); returns the samples as JSON."""
    photos = {
        image: [np.frombuffer(p["data"], np.uint8).reshape(p["height"], p["width"], 4)
                for p in items]
        for image, items in decoded.to_py().items()
    }
    return json.dumps(measure(photos, implementations(old_sources.to_py()), runs, "worker"))


# --- Native side: photos, the native run, the browser run, the JSON -------------------------

PAGE = """<!doctype html><meta charset="utf-8"><title>preprocess bench</title>
<script type="module">
const worker = new Worker('worker.mjs', { type: 'module' });
window.measure = (message) => new Promise((resolve, reject) => {
  worker.onmessage = ({ data }) =>
    (data.error ? reject(new Error(data.error)) : resolve(data.samples));
  worker.postMessage(message);
});
window.ready = true;
</script>"""

WORKER = """// Runs bench/preprocess.py's measure_in_worker in the site's Pyodide with its package.
import { loadPyodide } from '/pyodide/pyodide.mjs';

const ready = (async () => {
  const pyodide = await loadPyodide({ indexURL: '/pyodide/' });
  await pyodide.loadPackage(['image_classifier'], { messageCallback: () => {} });
  return pyodide;
})();

/** RGBA pixels as the classifier worker gets them from the browser's decoder. */
async function decode(url) {
  const blob = await (await fetch(url)).blob();
  const bitmap = await createImageBitmap(blob, {
    premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d');
  context.drawImage(bitmap, 0, 0);
  const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  return { data: new Uint8Array(data.buffer), width: bitmap.width, height: bitmap.height };
}

self.onmessage = async ({ data: { source, oldSources, photos, runs } }) => {
  try {
    const pyodide = await ready;
    const decoded = {};
    for (const [image, urls] of Object.entries(photos)) {
      decoded[image] = await Promise.all(urls.map(decode));
    }
    const namespace = pyodide.toPy({ __name__: 'bench_preprocess' });
    pyodide.runPython(source, { globals: namespace });
    const samples = namespace.get('measure_in_worker')(decoded, oldSources, runs);
    self.postMessage({ samples: JSON.parse(samples) });
  } catch (error) {
    self.postMessage({ error: String(error) });
  }
};
"""


def main(argv: list[str] | None = None) -> list[dict]:
    """Measures natively and in the worker; writes bench/preprocess.json; returns the rows."""
    import argparse
    import platform
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import harness
    from photos import make_photos

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="timed runs per configuration")
    args = parser.parse_args(argv)
    old_sources = {name: subprocess.run(
        ["git", "show", f"{commit}:pyapp/image_classifier/preprocess.py"],
        cwd=harness.ROOT, check=True, capture_output=True, text=True,
    ).stdout for name, commit in [("baseline", BASELINE_COMMIT), ("planar+axis", PLANAR_COMMIT)]}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        made = make_photos(folder / "photos")
        rows = summarized(measure(decoded_by_pillow(folder / "photos", made),
                                  implementations(old_sources), args.runs, "native"))
        print("native: measured", flush=True)
        rows += summarized(measure_in_browser(harness, folder, made, old_sources, args.runs))
    out = harness.BENCH / "preprocess.json"
    out.write_text(json.dumps({
        "command": ".venv/bin/python bench/preprocess.py", "machine": platform.platform(),
        "baseline_commit": BASELINE_COMMIT, "planar_commit": PLANAR_COMMIT, "rows": rows},
        indent=1))
    print(preprocess_table(rows))
    print(f"\nwritten: {out.relative_to(harness.ROOT)}")
    return rows


def decoded_by_pillow(folder, made: dict[str, list[str]]) -> dict[str, list[np.ndarray]]:
    from PIL import Image

    return {image: [np.asarray(Image.open(folder / path).convert("RGBA")) for path in paths]
            for image, paths in made.items()}


def measure_in_browser(harness, folder, made: dict[str, list[str]], old_sources: dict[str, str],
                       runs: int) -> list[dict]:
    """The worker's samples: the bench page and worker served from ``folder`` beside the
    site."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    (folder / "page.html").write_text(PAGE, encoding="utf-8")
    (folder / "worker.mjs").write_text(WORKER, encoding="utf-8")
    message = {
        "source": Path(__file__).read_text(encoding="utf-8"), "oldSources": old_sources, "runs": runs,
        "photos": {image: [f"/__preprocess__/photos/{path}" for path in paths]
                   for image, paths in made.items()},
    }
    with harness.served({"/__preprocess__/": folder}) as origin, sync_playwright() as playwright:
        browser = harness.launch(playwright)
        try:
            page = browser.new_page()
            page.goto(f"{origin}/__preprocess__/page.html")
            page.wait_for_function("() => window.ready === true")
            return page.evaluate("message => measure(message)", message)
        finally:
            browser.close()


def summarized(samples: list[dict]) -> list[dict]:
    """The rows of bench/preprocess.json: median and p90 (as bench/rows.py takes them) instead
    of the times, and how busy the machine was (other jobs slow every number down)."""
    import os

    from rows import percentile

    load = round(os.getloadavg()[0], 2)
    return [{"engine": "ours", "model": "lite0", "precision": "fp32", "backend": sample["where"],
             "threads": 1, "metric": "preprocess_implementation",
             **{key: value for key, value in sample.items() if key != "times_ms"},
             "median_ms": round(statistics.median(sample["times_ms"]), 3),
             "p90_ms": round(percentile(sample["times_ms"], 0.9), 3),
             "n": len(sample["times_ms"]), "load_average_1min": load} for sample in samples]


def preprocess_table(rows: list[dict]) -> str:
    """Median ms, native / worker, per configuration and candidate (Markdown)."""
    rows = [r for r in rows if r.get("metric") == "preprocess_implementation"]
    names = list(dict.fromkeys(row["implementation"] for row in rows))
    median = {(r["image"], r["pixels"], r["processing"], r["implementation"], r["where"]):
              r["median_ms"] for r in rows}
    lines = [f"| photo | pixels | processing | "
             f"{' | '.join(f'{name} native / worker' for name in names)} |",
             "| --- | --- | --- |" + " --- |" * len(names)]
    for image, pixels, case in dict.fromkeys(key[:3] for key in median):
        cells = " | ".join(f"{median[(image, pixels, case, name, 'native')]:.2f} / "
                           f"{median[(image, pixels, case, name, 'worker')]:.2f}" for name in names)
        lines.append(f"| {image} | {pixels} | {case} | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
