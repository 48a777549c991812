"""LiteRT.js, the engine of .tflite models in the browser, against LiteRT (ai-edge-litert) on
CPython: custom MediaPipe-format models (uint8 in and out, two heads, calibration, locales),
threads, and broken files. The built-in .tflite models are compared in test_api.py."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest

from .conftest import new_context
from .support import ROOT, TEST_DOCUMENT, browser_decoded, classify_js

sys.path.insert(0, str(ROOT / "tests"))
from tflite_models import METADATA, Head, tiny_model, two_heads_model  # noqa: E402

from image_classifier import ImageClassifier, tflite  # noqa: E402
from image_classifier.metadata import InputMetadata, Normalization  # noqa: E402
from image_classifier.options import BaseOptions, ImageClassifierOptions  # noqa: E402

PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg"]


def float_two_heads() -> bytes:
    """float32 in (normalized) and out, two heads, the same labels and calibration."""
    metadata = replace(METADATA, input=InputMetadata(normalization=Normalization((127.0,), (128.0,))))
    return tflite.write_metadata(tiny_model([Head(6), Head(5)]), metadata)


def classify_buffer(page, model: bytes, photos: list[str], options: dict) -> list[dict]:
    """Classifies the photos with a model given as modelAssetBuffer (.tflite bytes)."""
    return page.evaluate(
        """async ([model, photos, options]) => {
            const classifier = await ImageClassifier.createFromOptions(
                {baseOptions: {modelAssetBuffer: new Uint8Array(model)}, ...options});
            try {
              const results = [];
              for (const photo of photos) results.push(await classifier.classify(await imageAs(photo, 'Blob')));
              return {results, engine: classifier.engine};
            } finally { await classifier.close(); }
        }""",
        [list(model), photos, options],
    )


def cpython_results(model: bytes, photos: list[str], locale: str) -> list:
    options = ImageClassifierOptions(
        base_options=BaseOptions(model_asset_buffer=model), display_names_locale=locale
    )
    with ImageClassifier.create_from_options(options) as classifier:
        return [classifier.classify(browser_decoded(photo)) for photo in photos]


@pytest.mark.parametrize("model", [two_heads_model, float_two_heads], ids=["uint8", "float32"])
def test_custom_models_equal_litert_on_cpython(api_page, model):
    """Every head, category, name and score as LiteRT gives them on CPython, in the model's
    head order (LiteRT.js reports neither the order nor the quantization: read from the file)."""
    data = model()
    out = classify_buffer(api_page, data, PHOTOS, {"displayNamesLocale": "it"})
    assert out["engine"]["engine"] == "LiteRT.js"
    for got, want in zip(out["results"], cpython_results(data, PHOTOS, "it")):
        assert [h["headName"] for h in got["classifications"]] == ["animals", "colours"]
        for head, expected in zip(got["classifications"], want.classifications):
            assert [(c["index"], c["categoryName"], c["displayName"]) for c in head["categories"]] == [
                (c.index, c.category_name, c.display_name or "") for c in expected.categories
            ]
            for c, e in zip(head["categories"], expected.categories):
                assert abs(c["score"] - e.score) <= 1e-6, (c, e)


def test_litert_runs_threaded_and_synchronously(api_page):
    """Threads, and each run called without LiteRT.js's promises (its compiled model's own run:
    internals that a new LiteRT.js may lack, when the adapter falls back to its public run)."""
    engine = classify_js(api_page, "efficientnet_lite0_int8.tflite", "chelsea.png")["engine"]
    print("LiteRT.js engine:", engine)
    assert (engine["engine"], engine["backend"], engine["note"]) == ("LiteRT.js", "wasm", "")
    assert engine["threads"] > 1
    assert engine["synchronous"] is True
    worker_urls = [worker.url for worker in api_page.workers]
    assert any(url.endswith("/litert/wasm/litert_wasm_threaded_internal.js") for url in worker_urls)


def test_litert_takes_the_threads_started_ahead(browser, server):
    """LiteRT.js's pool is the threads the adapter starts while its wasm compiles
    (engines/litert.mjs): if Emscripten stopped taking them, it would start a pool of its own
    and the worker would count twice as many."""
    context = new_context(browser, server)
    try:
        page = context.new_page()
        page.goto(server + TEST_DOCUMENT)
        page.wait_for_function("() => window.testReady === true")
        engine = classify_js(page, "efficientnet_lite0_int8.tflite", "chelsea.png")["engine"]
        assert engine["threads"] > 1
        assert engine["threadWorkers"] == page.evaluate("navigator.hardwareConcurrency")
    finally:
        context.close()


def unknown_op_model() -> bytes:
    """A well-formed model with an operator LiteRT does not have (builtin code -1)."""
    import tflite_models

    original = tflite_models._FULLY_CONNECTED
    tflite_models._FULLY_CONNECTED = -1
    try:
        return tiny_model([Head(3, uint8=True)], uint8_input=True)
    finally:
        tflite_models._FULLY_CONNECTED = original


LITE0_INT8 = (ROOT / "models" / "efficientnet_lite0_int8.tflite").read_bytes()


@pytest.mark.parametrize(
    "model, message",
    [
        (LITE0_INT8[:100_000], "not a valid TFLite model"),
        (LITE0_INT8[:4] + b"TFL3" + bytes(200), "Invalid model version 0"),  # MediaPipe's words
        (unknown_op_model(), "Unable to load the TFLite model: Didn't find op for builtin opcode"),
    ],
    ids=["truncated", "empty", "unknown-operator"],
)
def test_broken_tflite_rejects_and_the_worker_goes_on(api_page, model, message):
    """Python's reader rejects what is not a TFLite model, LiteRT.js what it cannot run."""
    error = api_page.evaluate(
        """async (model) => {
            try {
              await ImageClassifier.createFromModelBuffer(new Uint8Array(model));
              return null;
            } catch (error) { return error.message; }
        }""",
        list(model),
    )
    print("broken model:", error)
    assert error and message in error
    result = classify_js(api_page, "efficientnet_lite0_int8.tflite", "coffee.png")["result"]
    assert result["classifications"][0]["categories"][0]["categoryName"] == "espresso"


def test_other_scripts_keep_the_workers_importscripts_while_litert_loads(api_page, server):
    """While LiteRT.js loads, importScripts() stands in for its loader; Pyodide, booting in the
    same worker, meanwhile asks for its own script and must get the module worker's TypeError
    (on which it falls back to import()), not a refusal meant for LiteRT.js."""
    seen = api_page.evaluate(
        """async (origin) => {
            const code = `
              import { prepare } from '${origin}/engines/litert.mjs';
              const own = self.importScripts;
              prepare();
              while (self.importScripts === own) await new Promise((r) => setTimeout(r, 0));
              let error;
              try { self.importScripts('${origin}/pyodide/pyodide.asm.js'); } catch (e) { error = e; }
              postMessage({ name: error?.constructor.name, message: error?.message });`;
            const url = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
            const worker = new Worker(url, { type: 'module' });
            try {
              return await new Promise((resolve, reject) => {
                worker.onmessage = ({ data }) => resolve(data);
                worker.onerror = (event) => reject(new Error(event.message));
              });
            } finally { worker.terminate(); }
        }""",
        server,
    )
    assert seen["name"] == "TypeError", seen
