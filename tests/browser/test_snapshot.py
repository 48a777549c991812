"""Python booted from the site's memory snapshot (web/snapshot.mjs) against the normal boot.

- The worker restores the snapshot, and gives exactly the normal boot's scores (bitmap, PNG and
  JPEG inputs), reporting each step; with the snapshot missing, stale (made from another
  pyodide-lock.json) or broken, it boots normally, says why, and gives the same scores again.
- A restored interpreter imports what the snapshot had not imported (numpy.fft, numpy.random,
  PIL.ImageMath, Pillow's WebP plugin and their `.so` files) and computes what a normal boot
  computes; two restores draw different random numbers.
- The snapshot served is the one made from the served files, and its inputs name every wheel.
"""

from __future__ import annotations

import json
import threading

import pytest

from .conftest import new_context
from .support import API_DOCUMENT, IMAGES, TEST_DOCUMENT, build_site

import snapshot_build  # noqa: E402  (web/snapshot_build.py, on the path through support)

MODEL = "/models/efficientnet_lite0_int8.tflite"
INPUTS = [("grace_hopper.jpg", "ImageBitmap"), ("coffee.png", "Blob"), ("china.jpg", "Blob")]


def _variant(site, folder, change: str):
    """A copy of ``site`` made of links, with one change to the snapshot."""
    for entry in site.iterdir():
        if entry.name != "pyodide":
            (folder / entry.name).symlink_to(entry)
    pyodide = folder / "pyodide"
    pyodide.mkdir()
    for entry in (site / "pyodide").iterdir():
        (pyodide / entry.name).symlink_to(entry)
    if change == "missing":
        (pyodide / "snapshot.json").unlink()
    elif change == "stale":  # the same packages, but a lock the snapshot was not made from
        lock = json.loads((site / "pyodide" / "pyodide-lock.json").read_text())
        (pyodide / "pyodide-lock.json").unlink()
        (pyodide / "pyodide-lock.json").write_text(json.dumps(lock, indent=2))
    elif change == "broken":  # Pyodide refuses the heap after the libraries were replayed
        heap = bytearray((site / "pyodide" / "snapshot-heap.bin").read_bytes())
        heap[0:4] = b"\0\0\0\0"
        (pyodide / "snapshot-heap.bin").unlink()
        (pyodide / "snapshot-heap.bin").write_bytes(heap)
    return folder


def _scores(browser, origin: str) -> dict:
    """Every score of each input, and the runtime's snapshot status, in a fresh context."""
    context = new_context(browser, origin)
    try:
        page = context.new_page()
        page.goto(origin + TEST_DOCUMENT)
        page.wait_for_function("() => window.testReady === true")
        return page.evaluate(
            """async ([model, inputs]) => {
                const progress = [];
                api.runtime.addEventListener('progress', ({detail}) => progress.push(detail.message));
                const classifier = await ImageClassifier.createFromOptions(
                    {baseOptions: {modelAssetPath: model}});
                const scores = {};
                for (const [name, kind] of inputs) {
                  const result = await classifier.classify(await imageAs(name, kind));
                  scores[`${name} ${kind}`] = result.classifications[0].categories
                      .map((c) => [c.index, c.score]);
                }
                await classifier.close();
                return {scores, progress, snapshot: (await api.loadRuntime()).snapshot};
            }""",
            [MODEL, INPUTS],
        )
    finally:
        context.close()


@pytest.fixture(scope="module")
def site(server):
    return build_site.DEFAULT_SITE


def test_snapshot_and_fallbacks_give_identical_scores(browser, server, site, tmp_path):
    restored = _scores(browser, server)
    assert restored["snapshot"] == {"used": True, "note": ""}
    assert len(restored["scores"]) == len(INPUTS)
    # The page is told each step, and 'Ready.' once a photo can be classified.
    for step in ("Loading Python and its snapshot", "Compiling numpy and Pillow",
                 "Restoring the interpreter", "Importing the classifier"):
        assert any(m.startswith(step) for m in restored["progress"]), (step, restored["progress"])
    assert restored["progress"][-1] == "Ready."
    reasons = {"missing": "no snapshot", "stale": "pyodide-lock.json changed", "broken": "magic number"}
    for change, reason in reasons.items():
        folder = tmp_path / change
        folder.mkdir()
        variant = _variant(site, folder, change)
        mounted = tmp_path / f"{change}-tests"
        mounted.mkdir()
        (mounted / "api.html").write_text(API_DOCUMENT, encoding="utf-8")
        (mounted / "images").symlink_to(IMAGES)
        httpd = build_site.make_server(variant, 0, quiet=True, mounts={"/__tests__/": mounted})
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            fallback = _scores(browser, f"http://127.0.0.1:{httpd.server_address[1]}")
        finally:
            httpd.shutdown()
            httpd.server_close()
        assert fallback["snapshot"]["used"] is False, change
        assert reason in fallback["snapshot"]["note"], fallback["snapshot"]["note"]
        assert fallback["snapshot"]["note"] in fallback["progress"]
        assert "Loading numpy, Pillow and image_classifier…" in fallback["progress"]
        assert fallback["scores"] == restored["scores"], change


def test_page_says_python_started_from_its_snapshot(app_page):
    assert "from its snapshot" in app_page.inner_text("#engine")


PROBE = """
import io, json, random, sys
before = sorted(m for m in ("numpy.fft", "numpy.random", "PIL.ImageMath", "PIL.WebPImagePlugin")
                if m in sys.modules)
import numpy as np
import numpy.fft, numpy.linalg, numpy.random
from PIL import Image, ImageMath
image = Image.new("RGB", (8, 8), (10, 200, 30))
buffer = io.BytesIO()
image.save(buffer, "WEBP", lossless=True)
webp = Image.open(io.BytesIO(buffer.getvalue()))
json.dumps({
    "importedBefore": before,
    "fft": np.fft.fft([1.0, 2.0, 0.0, -1.0]).real.tolist(),
    "inv": np.linalg.inv(np.array([[2.0, 1.0], [1.0, 3.0]])).tolist(),
    "rng": np.random.default_rng(7).random(3).tolist(),
    "math": ImageMath.eval("a * 2", a=Image.new("L", (1, 1), 21)).getpixel((0, 0)),
    "webp": [webp.format, webp.getpixel((3, 3))],
    "random": random.random(),
})
"""


def test_restored_python_imports_more_and_computes_like_a_normal_boot(browser, server):
    context = new_context(browser, server)
    page = context.new_page()
    page.goto(server + TEST_DOCUMENT)
    probes = page.evaluate(
        """async (probe) => {
            const indexURL = location.origin + '/pyodide/';
            const { loadFromSnapshot } = await import('/snapshot.mjs');
            const { loadPyodide } = await import('/pyodide/pyodide.mjs');
            const normal = await loadPyodide({ indexURL });
            await normal.loadPackage(['numpy', 'Pillow'], { messageCallback: () => {} });
            const run = (pyodide) => JSON.parse(pyodide.runPython(probe));
            return [run(normal), run(await loadFromSnapshot(indexURL)),
                    run(await loadFromSnapshot(indexURL))];
        }""",
        PROBE,
    )
    context.close()
    normal, first, second = probes
    assert first["importedBefore"] == second["importedBefore"] == []
    assert first["random"] != second["random"]  # reseeded after each restore
    for restored in (first, second):
        for key in ("fft", "inv", "rng", "math", "webp"):
            assert restored[key] == normal[key], key
    assert normal["webp"] == ["WEBP", [10, 200, 30]]


def test_served_snapshot_is_made_from_the_served_files(site, tmp_path):
    served = json.loads((site / "pyodide" / "snapshot.json").read_text())
    found = snapshot_build.inputs(site)
    assert served["inputs"] == found
    lock = json.loads((site / "pyodide" / "pyodide-lock.json").read_text())
    assert {p["file_name"] for p in lock["packages"].values()} < set(found)
    # A changed package wheel changes the inputs, so the build makes a new snapshot.
    folder = tmp_path / "site"
    (folder / "pyodide").mkdir(parents=True)
    wheel = lock["packages"]["image-classifier"]["file_name"]
    for entry in (site / "pyodide").iterdir():
        if entry.name != wheel:
            (folder / "pyodide" / entry.name).symlink_to(entry)
    (folder / "pyodide" / wheel).write_bytes((site / "pyodide" / wheel).read_bytes() + b"\0")
    changed = snapshot_build.inputs(folder)
    assert {name for name in found if found[name] != changed[name]} == {wheel}
