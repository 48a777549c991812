"""The worker's WebAssembly sampling of 4-byte pixels (web/warp.wat, loaded by web/warp.mjs on
Pyodide's memory and installed through ``preprocess.use_words_kernel``) against the numpy warp,
in Pyodide: the same tensors, bit for bit, for every layout and geometry a frame can bring
(RGBA and BGRA words, rows with padding, regions, every rotation, upscales and downscales,
NHWC and NCHW, float32 and uint8 models); the maps that are not axis-aligned go to numpy."""

from __future__ import annotations

import json

from .conftest import new_context
from .support import TEST_DOCUMENT

PROBE = """
import itertools, json
import numpy as np
from image_classifier import ImageProcessingOptions, RectF, geometry, preprocess
from image_classifier.engines import browser
from image_classifier.metadata import Normalization

rng = np.random.default_rng(5)
def frames():
    for height, width in [(300, 451), (480, 640), (1280, 1920), (7, 5)]:
        rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        padded = np.zeros((height, width + 3, 4), np.uint8)
        padded[:, :width] = rgba
        yield f"rgba {width}x{height}", rgba[:, :, :3]
        yield f"bgra {width}x{height}", rgba[:, :, 2::-1]
        yield f"padded rows {width}x{height}", padded[:, :width, :3]

regions = [None, RectF(left=0.1, top=0.2, right=0.7, bottom=0.9),
           RectF(left=0.3, top=0.25, right=0.31, bottom=0.27), RectF(left=0.0, top=0.5, right=1.0, bottom=1.0),
           # turned by 90° on the 451x300 frames, faintly projective: numpy samples it
           RectF(left=0.8202258715295221, top=0.1005520736579415, right=0.9289364182731645,
                 bottom=0.2373229032453258)]
scale_offset = preprocess.input_normalization(np.float32, Normalization((127.0,), (128.0,)))
models = [({"shape": [1, 224, 224, 3], "dtype": np.float32}, "NHWC", scale_offset),
          ({"shape": [1, 3, 260, 200], "dtype": np.float32}, "NCHW", scale_offset),
          ({"shape": [1, 224, 224, 3], "dtype": np.uint8}, "NHWC", None)]
wasm = browser.words_kernel(warp_words)
calls = []
def kernel(*args):
    calls.append(1)
    wasm(*args)
cases, axis_aligned, different = 0, 0, []
for (name, pixels), region, rotation, (details, layout, normalization) in itertools.product(
        frames(), regions, [0, 90, 180, 270], models):
    processing = ImageProcessingOptions(region, rotation)
    preprocess.use_words_kernel(None)
    want = preprocess.input_tensor(pixels, details, layout, normalization, processing)
    preprocess.use_words_kernel(kernel)
    got = preprocess.input_tensor(pixels, details, layout, normalization, processing)
    preprocess.use_words_kernel(None)
    cases += 1
    out_height, out_width = preprocess._output_size(details, layout)
    matrix = geometry.transform(processing, pixels.shape[1], pixels.shape[0], out_width, out_height)
    axis_aligned += preprocess._axis_coordinates(matrix, out_width, out_height) is not None
    if got.dtype != want.dtype or not np.array_equal(got, want):
        different.append(f"{name} {region} {rotation} {layout} {details['dtype'].__name__}")
json.dumps({"cases": cases, "axis_aligned": axis_aligned, "wasm": len(calls),
            "different": different[:5]})
"""


def test_wasm_sampling_equals_the_numpy_warp(browser, server):
    context = new_context(browser, server)
    try:
        page = context.new_page()
        page.goto(server + TEST_DOCUMENT)
        outcome = page.evaluate(
            """async (probe) => {
                // First: its hook sees Pyodide's memory being made.
                const { memoryOf } = await import('/resources.mjs');
                const { loadFromSnapshot } = await import('/snapshot.mjs');
                const { warpKernel } = await import('/warp.mjs');
                const { pyodide } = await loadFromSnapshot(location.origin + '/pyodide/');
                const warp = await warpKernel(memoryOf(pyodide._module.HEAPU8.buffer));
                const globals = pyodide.toPy({ warp_words: warp });
                return pyodide.runPython(probe, { globals });
            }""",
            PROBE,
        )
    finally:
        context.close()
    outcome = json.loads(outcome)
    assert outcome["cases"] == 4 * 3 * 5 * 4 * 3
    # Every axis-aligned map took the WebAssembly path, and only those.
    assert 0.9 * outcome["cases"] < outcome["wasm"] == outcome["axis_aligned"] < outcome["cases"]
    assert outcome["different"] == []
