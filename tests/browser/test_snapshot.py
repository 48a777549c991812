"""Python booted from the site's memory snapshot (web/snapshot.mjs) against the normal boot.

- The worker restores the snapshot, and gives exactly the normal boot's scores (bitmap, PNG and
  JPEG inputs), reporting each step; with the snapshot missing, stale (made from another
  pyodide-lock.json) or broken, it boots normally, says why, and gives the same scores again.
- A start that fetched the snapshot leaves the browser a copy (origin-private file system),
  in place of an earlier snapshot's, that the next start restores from, with the same
  scores; a copy that does not restore is deleted and that start boots normally. Reading the
  copy survives garbage collection while Chromium opens it (Chromium forgets the request of a
  collected file handle).
- A restored interpreter imports what the snapshot had not imported (numpy.fft, numpy.random,
  PIL.ImageMath, Pillow's WebP plugin and their `.so` files) and computes what a normal boot
  computes; two restores draw different random numbers.
- The snapshot served is the one made from the served files, and its inputs name every wheel.
"""

from __future__ import annotations

import base64
import json
import threading

import pytest

from .conftest import new_context
from .support import API_DOCUMENT, IMAGES, TEST_DOCUMENT, build_site, environment

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

    def replace(name: str, data: bytes | None) -> None:
        """The file changed (None: removed), and its gzipped copy gone with the old bytes."""
        (pyodide / name).unlink()
        (pyodide / f"{name}.gz").unlink(missing_ok=True)
        if data is not None:
            (pyodide / name).write_bytes(data)

    if change == "missing":
        replace("snapshot.json", None)
    elif change == "stale":  # the same packages, but a lock the snapshot was not made from
        lock = json.loads((site / "pyodide" / "pyodide-lock.json").read_text())
        replace("pyodide-lock.json", json.dumps(lock, indent=2).encode())
    elif change == "broken":  # Pyodide refuses the heap after the libraries were replayed:
        # its header, in the heap's file and in snapshot.json, has no magic number
        heap = bytearray((site / "pyodide" / "snapshot-heap.bin").read_bytes())
        heap[0:4] = b"\0\0\0\0"
        replace("snapshot-heap.bin", bytes(heap))
        meta = json.loads((site / "pyodide" / "snapshot.json").read_text())
        header = len(base64.b64decode(meta["heap"]["header"]))
        meta["heap"]["header"] = base64.b64encode(heap[:header]).decode()
        replace("snapshot.json", json.dumps(meta).encode())
    return folder


def _scores(browser, origin: str) -> dict:
    """Every score of each input, and the runtime's snapshot status, in a fresh context."""
    context = new_context(browser, origin)
    try:
        return _scores_on(context.new_page(), origin)
    finally:
        context.close()


def _scores_on(page, origin: str) -> dict:
    """The page (re)opened, then every score of each input and the runtime's snapshot status."""
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


COPIES = r"""async () => {
    const copies = [];
    for await (const [name, handle] of (await navigator.storage.getDirectory()).entries()) {
      if (/^snapshot-.*\.(heap|files)$/.test(name)) copies.push([name, (await handle.getFile()).size]);
    }
    return copies.sort();
}"""


def _copies(page, expected: list) -> None:
    """Waits until the page's origin-private file system holds the ``expected`` snapshot
    copies ([name, bytes], sorted): they are written a second after a start."""
    for _ in range(100):
        found = page.evaluate(COPIES)
        if found == expected:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"snapshot copies {expected} expected, found {found}")


@pytest.fixture(scope="module")
def site(server):
    return build_site.DEFAULT_SITE


def test_snapshot_and_fallbacks_give_identical_scores(browser, server, site, tmp_path):
    restored = _scores(browser, server)
    assert restored["snapshot"] == {"used": True, "local": False, "note": ""}
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


def test_later_starts_read_this_browsers_copy(browser, server, site):
    """A start that fetched the snapshot leaves this browser a copy (origin-private file
    system), in place of an earlier snapshot's; the next start reads it and gives the same
    scores. A copy that does not restore is deleted, and that start boots without the
    snapshot, with the same scores again."""
    meta = json.loads((site / "pyodide" / "snapshot.json").read_text())
    context = new_context(browser, server)
    try:
        page = context.new_page()
        page.goto(server + TEST_DOCUMENT)
        page.evaluate(  # a copy of an earlier snapshot of the site
            """async () => {
                const folder = await navigator.storage.getDirectory();
                const file = await folder.getFileHandle(`snapshot-${'0'.repeat(64)}.heap`, {create: true});
                const writable = await file.createWritable();
                await writable.write(new Uint8Array(8));
                await writable.close();
            }"""
        )
        _copies(page, [["snapshot-" + "0" * 64 + ".heap", 8]])
        fetched = _scores_on(page, server)
        assert fetched["snapshot"] == {"used": True, "local": False, "note": ""}
        heap = f"snapshot-{meta['heap']['sha256']}.heap"
        files = f"snapshot-{meta['files']['sha256']}.files"
        _copies(page, sorted([[heap, meta["heap"]["bytes"]], [files, meta["files"]["bytes"]]]))
        local = _scores_on(page, server)
        assert local["snapshot"] == {"used": True, "local": True, "note": ""}
        assert local["scores"] == fetched["scores"]
        page.evaluate(  # its header zeroed, as the "broken" site's above
            """async (name) => {
                const file = await (await navigator.storage.getDirectory()).getFileHandle(name);
                const writable = await file.createWritable({keepExistingData: true});
                await writable.write({type: 'write', position: 0, data: new Uint8Array(4)});
                await writable.close();
            }""",
            heap,
        )
        broken = _scores_on(page, server)
        assert broken["snapshot"]["used"] is False
        note = broken["snapshot"]["note"]
        assert "does not start with the header" in note, note
        assert broken["scores"] == fetched["scores"]
        _copies(page, [])
    finally:
        context.close()


def test_a_part_left_of_a_copy_is_replaced(browser, server, site):
    """A copy of this snapshot's heap without its files (a copy written halfway), at a later
    start (snapshot.json revalidated, so the copy is looked for): the start opens both parts
    early, fetches the snapshot as its files are missing, and lets the heap's part go before it
    writes the copy again, whole (an open sync access handle would lock the file against the
    write)."""
    meta = json.loads((site / "pyodide" / "snapshot.json").read_text())
    heap = f"snapshot-{meta['heap']['sha256']}.heap"
    files = f"snapshot-{meta['files']['sha256']}.files"
    whole = sorted([[heap, meta["heap"]["bytes"]], [files, meta["files"]["bytes"]]])
    context = new_context(browser, server)
    try:
        page = context.new_page()
        _scores_on(page, server)
        _copies(page, whole)
        page.evaluate(
            "async (name) => (await navigator.storage.getDirectory()).removeEntry(name)", files
        )
        _copies(page, [[heap, meta["heap"]["bytes"]]])
        fetched = _scores_on(page, server)
        assert fetched["snapshot"] == {"used": True, "local": False, "note": ""}
        _copies(page, whole)
    finally:
        context.close()


READS_WHILE_COLLECTED = r"""async () => {
    // In a worker (sync access handles exist only there), with the heap collected (young
    // objects, then all) in the task after each request for a sync access handle: the request
    // of a file handle collected then never settles.
    const code = `
      import { SnapshotCopy } from '${location.origin}/snapshot-copy.mjs';
      const meta = { heap: { sha256: '0'.repeat(64) }, files: { sha256: '1'.repeat(64) } };
      const folder = await navigator.storage.getDirectory();
      const writable = await (await folder.getFileHandle(\`snapshot-\${meta.heap.sha256}.heap\`, { create: true })).createWritable();
      await writable.write(new Uint8Array([1, 2, 3, 4]));
      await writable.close();
      const request = FileSystemFileHandle.prototype.createSyncAccessHandle;
      FileSystemFileHandle.prototype.createSyncAccessHandle = function () {
        const access = request.call(this);
        setTimeout(() => { gc({ type: 'minor' }); gc(); }, 0);
        return access;
      };
      const copy = new SnapshotCopy(meta);
      const outcomes = [];
      for (let i = 0; i < 10; i++) {
        const target = new Uint8Array(4);
        const timeout = new Promise((resolve) => setTimeout(() => resolve('never settled'), 3000));
        const read = await Promise.race([copy.read('heap', 4, [[target, 0]]), timeout]);
        outcomes.push(read === true ? target.join(',') : String(read));
      }
      await copy.forget();
      postMessage(outcomes);
    `;
    const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
    const worker = new Worker(url, { type: 'module' });
    return await new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => resolve(data);
      worker.onerror = (event) => reject(new Error(event.message));
    });
}"""


def test_copy_opens_while_young_objects_are_collected(playwright_instance, server):
    """Chromium drops the request of a file handle collected before its sync access handle
    arrives (a start once stalled for good in that await); SnapshotCopy holds the handle."""
    browser = environment.launch_chromium(playwright_instance, "--js-flags=--expose-gc")
    try:
        page = new_context(browser, server).new_page()
        page.goto(server + TEST_DOCUMENT)
        assert page.evaluate(READS_WHILE_COLLECTED) == ["1,2,3,4"] * 10
    finally:
        browser.close()


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
            return [run(normal), run((await loadFromSnapshot(indexURL)).pyodide),
                    run((await loadFromSnapshot(indexURL)).pyodide)];
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
