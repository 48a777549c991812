"""WebGPU (Chromium's software adapter here: slow, ~2.5 s per inference, but correct) == WASM."""

from __future__ import annotations

import pytest

from .conftest import new_context
from .support import TEST_DOCUMENT, compare


@pytest.fixture(scope="module")
def gpu_page(webgpu_browser, server):
    context = new_context(webgpu_browser, server)
    page = context.new_page()
    page.goto(server + TEST_DOCUMENT)
    page.wait_for_function("window.testReady === true")
    yield page
    context.close()


def test_webgpu_gives_the_wasm_results(gpu_page):
    out = gpu_page.evaluate(
        """async () => {
            const options = (delegate) => ({baseOptions: {modelAssetPath: '/models/efficientnet_lite0_fp32.onnx', delegate}, maxResults: -1});
            const gpu = await ImageClassifier.createFromOptions(options('GPU'));
            const cpu = await ImageClassifier.createFromOptions(options('CPU'));
            const out = {gpuEngine: gpu.engine, cpuEngine: cpu.engine, gpu: [], cpu: []};
            for (const photo of ['grace_hopper.jpg']) {
              const image = await imageAs(photo, 'Blob');
              out.gpu.push(await gpu.classify(image));
              out.gpuTimings = gpu.lastTimingsMs;
              out.cpu.push(await cpu.classify(image));
            }
            await gpu.setOptions({maxResults: 3});  // in place: still on WebGPU
            out.gpuEngineAfter = gpu.engine;
            await gpu.close(); await cpu.close();
            return out;
        }"""
    )
    assert out["gpuEngine"]["backend"] == "webgpu" and out["gpuEngine"]["note"] == ""
    assert out["cpuEngine"]["backend"] == "wasm"
    assert out["gpuEngineAfter"]["backend"] == "webgpu"
    worst = max(compare(g, c, 5, 1e-4) for g, c in zip(out["gpu"], out["cpu"]))
    print(
        f"WebGPU vs WASM, Lite0 float32: largest score difference {worst:.2e}; "
        f"WebGPU timings {out['gpuTimings']}"
    )
