"""Constants and helpers of the browser tests (fixtures are in conftest.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "tests" / "images"
MODELS = ROOT / "models"
sys.path.insert(0, str(ROOT / "web"))
import build_site  # noqa: E402,F401  (web/build_site.py)
import environment  # noqa: E402  (web/environment.py: Chromium)

CHROMIUM = str(environment.CHROMIUM)
TEST_DOCUMENT = "/__tests__/api.html"
TEST_IMAGES = "/__tests__/images/"

# The test document: the public JS API plus helpers that make every image type from a photo.
API_DOCUMENT = """<!doctype html><meta charset="utf-8"><title>api tests</title>
<script type="module">
import * as api from '/image-classifier.mjs';
window.api = api;
window.ImageClassifier = api.ImageClassifier;
window.fetchBlob = async (name) => (await fetch('%(images)s' + name)).blob();
window.imageAs = async (name, kind) => window.imageOf(await window.fetchBlob(name), kind, name);
window.blobOf = (base64, type) => new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], {type});
window.imageOf = async (blob, kind, name = 'image') => {
  if (kind === 'Blob') return blob;
  if (kind === 'File') return new File([blob], name, {type: blob.type});
  if (kind === 'HTMLImageElement') {
    const img = new Image(); img.src = URL.createObjectURL(blob); await img.decode(); return img;
  }
  const bitmap = await createImageBitmap(blob, {premultiplyAlpha: 'none', colorSpaceConversion: 'none'});
  if (kind === 'ImageBitmap') return bitmap;
  if (kind === 'VideoFrame') return new VideoFrame(bitmap, {timestamp: 0});
  const canvas = kind === 'OffscreenCanvas' ? new OffscreenCanvas(bitmap.width, bitmap.height)
      : Object.assign(document.createElement('canvas'), {width: bitmap.width, height: bitmap.height});
  const context = canvas.getContext('2d');
  context.drawImage(bitmap, 0, 0);
  if (kind === 'ImageData') return context.getImageData(0, 0, bitmap.width, bitmap.height);
  return canvas;
};
window.testReady = true;
</script>""" % {"images": TEST_IMAGES}


def wait_idle(page, timeout: float = 60_000) -> None:
    """Waits until the page has no action left (classify, setOptions, model load)."""
    page.wait_for_function("() => document.body.dataset.state === 'idle'", timeout=timeout)


def classify_js(
    page,
    model: str,
    image: str,
    kind: str = "Blob",
    options: dict | None = None,
    processing: dict | None = None,
) -> dict:
    """Creates a classifier through the JS API, classifies one photo, closes it."""
    return page.evaluate(
        """async ([model, image, kind, options, processing]) => {
            const classifier = await ImageClassifier.createFromOptions(
                {baseOptions: {modelAssetPath: '/models/' + model}, ...options});
            try {
              const input = await imageAs(image, kind);
              const result = await classifier.classify(input, processing ?? undefined);
              return {result, timings: classifier.lastTimingsMs, engine: classifier.engine};
            } finally { await classifier.close(); }
        }""",
        [model, image, kind, options or {}, processing],
    )


def dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)


def cpython_result(
    model: str, image: str, options: dict | None = None, processing: dict | None = None
) -> dict:
    """The same classification on CPython (onnxruntime), in the JS API's shape."""
    from image_classifier import webapi

    classifier = webapi.WebClassifier(
        {"baseOptions": {"modelAssetPath": str(MODELS / model)}, **(options or {})}
    )
    try:
        return classifier.classify(browser_decoded(image), processing)
    finally:
        classifier.close()


def browser_decoded(image: str):
    """The photo as the browser decodes it: libjpeg-turbo for JPEGs, as Pillow (our
    ``Image.create_from_file`` decodes JPEGs as MediaPipe's stb_image does instead)."""
    import numpy as np
    from image_classifier import Image, ImageFormat
    from PIL import Image as PILImage
    from PIL import ImageOps

    with PILImage.open(IMAGES / image) as picture:
        if picture.format != "JPEG":
            return Image.create_from_file(IMAGES / image)
        upright = ImageOps.exif_transpose(picture).convert("RGB")
    return Image(ImageFormat.SRGB, np.asarray(upright))


def categories(result: dict, head: int = 0) -> list[dict]:
    return result["classifications"][head]["categories"]


def compare(browser: dict, cpython: dict, top: int, tolerance: float) -> float:
    """Asserts the same top ``top`` indices and every score within ``tolerance`` (matched by
    index); returns the largest score difference."""
    got, want = categories(browser), categories(cpython)
    assert [c["index"] for c in got[:top]] == [c["index"] for c in want[:top]], (
        got[:top],
        want[:top],
    )
    scores = {c["index"]: c["score"] for c in want}
    worst = 0.0
    for category in got:
        if category["index"] in scores:
            worst = max(worst, abs(category["score"] - scores[category["index"]]))
    assert worst <= tolerance, f"largest score difference {worst:.3g} > {tolerance}"
    return worst


def same_result(browser: dict, cpython: dict, tolerance: float = 1e-4) -> None:
    """Same heads, same categories in the same order, same names; scores within tolerance."""
    assert len(browser["classifications"]) == len(cpython["classifications"])
    assert browser["timestampMs"] == cpython["timestampMs"]
    for got, want in zip(browser["classifications"], cpython["classifications"]):
        assert (got["headIndex"], got["headName"]) == (want["headIndex"], want["headName"])
        strip = lambda cs: [(c["index"], c["categoryName"], c["displayName"]) for c in cs]  # noqa: E731
        assert strip(got["categories"]) == strip(want["categories"])
        for a, b in zip(got["categories"], want["categories"]):
            assert abs(a["score"] - b["score"]) <= tolerance, (a, b)


# --- the app across reloads (service worker, offline) ----------------------------------------


def wait_for_app(page, timeout: float = 90_000) -> None:
    """Waits for the app across the one reload the service worker may cause."""
    for _attempt in range(3):
        try:
            page.wait_for_function("() => window.app && window.app.state.classifier", timeout=timeout)
            wait_idle(page)
            return
        except Exception as error:  # the reload destroyed the context the wait ran in
            if "context was destroyed" not in str(error) and "navigation" not in str(error):
                raise
    raise AssertionError("the app never became ready")


def page_results(page) -> list[tuple[int, float]]:
    """The ranked categories the page shows: (index, score)."""
    return page.evaluate("""() => [...document.querySelectorAll('#categories li.category')]
        .map((li) => [Number(li.dataset.index), Number(li.dataset.score)])""")


def classify_on_page(page, image: str) -> list[tuple[int, float]]:
    """Gives the page a test photo; its results once shown."""
    runs = page.evaluate("window.app.state.runs")
    page.set_input_files("#file", str(IMAGES / image))
    page.wait_for_function("(runs) => window.app.state.runs > runs", arg=runs, timeout=60_000)
    wait_idle(page)
    return [tuple(r) for r in page_results(page)]
