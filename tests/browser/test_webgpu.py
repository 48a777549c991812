"""WebGPU (Chromium's software adapter here: slow, ~2.5 s per inference, but correct) == WASM."""

from __future__ import annotations

import pytest

from .conftest import new_context
from .support import TEST_DOCUMENT, compare


def _test_page(browser, server, on_console=None):
    """The test document, ready, in a context of its own (its own worker)."""
    page = new_context(browser, server).new_page()
    if on_console:
        page.on("console", on_console)
    page.goto(server + TEST_DOCUMENT)
    page.wait_for_function("() => window.testReady === true")
    return page


@pytest.fixture(scope="module")
def gpu_page(webgpu_browser, server):
    page = _test_page(webgpu_browser, server)
    yield page
    page.context.close()


@pytest.mark.parametrize("model", ["efficientnet_lite0_fp32.onnx", "efficientnet_lite0_fp32.tflite"])
def test_webgpu_gives_the_wasm_results(gpu_page, model):
    """onnxruntime-web and LiteRT.js on WebGPU give their WASM results."""
    out = gpu_page.evaluate(
        """async (model) => {
            const options = (delegate) => ({baseOptions: {modelAssetPath: '/models/' + model, delegate}, maxResults: -1});
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
        }""",
        model,
    )
    assert out["gpuEngine"]["backend"] == "webgpu" and out["gpuEngine"]["note"] == ""
    assert out["cpuEngine"]["backend"] == "wasm"
    assert out["gpuEngineAfter"]["backend"] == "webgpu"
    worst = max(compare(g, c, 5, 1e-4) for g, c in zip(out["gpu"], out["cpu"]))
    print(
        f"WebGPU vs WASM, {model} ({out['gpuEngine']['engine']}): largest score difference {worst:.2e}; "
        f"WebGPU timings {out['gpuTimings']}"
    )


def test_litert_on_webgpu_after_a_model_on_the_cpu(webgpu_browser, server):
    """LiteRT.js loaded for a model on the CPU has no WebGPU device (litert.mjs
    loadWithoutDevice: the load does not wait for one, and says nothing of it); a GPU model
    after it gets one and gives the CPU's results."""
    warnings = []
    page = _test_page(webgpu_browser, server,
                      lambda message: warnings.append(message.text) if message.type == "warning" else None)
    out = page.evaluate(
        """async () => {
            const options = (delegate) => ({baseOptions: {modelAssetPath: '/models/efficientnet_lite0_fp32.tflite', delegate}, maxResults: -1});
            const cpu = await ImageClassifier.createFromOptions(options('CPU'));
            const gpu = await ImageClassifier.createFromOptions(options('GPU'));
            const image = await imageAs('grace_hopper.jpg', 'Blob');
            const out = {cpuEngine: cpu.engine, gpuEngine: gpu.engine, cpu: await cpu.classify(image), gpu: await gpu.classify(image)};
            out.cpuAgain = await cpu.classify(image);
            await gpu.close(); await cpu.close();
            return out;
        }"""
    )
    page.context.close()
    assert out["cpuEngine"]["backend"] == "wasm"
    assert out["gpuEngine"]["backend"] == "webgpu" and out["gpuEngine"]["note"] == ""
    compare(out["gpu"], out["cpu"], 5, 1e-4)
    compare(out["cpuAgain"], out["cpu"], 5, 0.0)
    assert not [text for text in warnings if "WebGPU device" in text]


def test_a_webgpu_model_waits_while_webgpu_is_hidden(gpu_page):
    """While LiteRT.js loads with `navigator.gpu` hidden (engines/backend.mjs withoutWebGpu),
    a model asked for on WebGPU waits, then finds it: an engine looks for WebGPU itself."""
    out = gpu_page.evaluate(
        """async () => {
            const backend = await import('/engines/backend.mjs');
            let release;
            const gate = new Promise((resolve) => { release = resolve; });
            const loading = backend.withoutWebGpu(async () => { const seen = navigator.gpu; await gate; return seen; });
            let settled = false;
            const asked = backend.backendFor('GPU').then((value) => { settled = true; return value; });
            await new Promise((resolve) => setTimeout(resolve, 300));
            const waited = !settled;
            release();
            const seen = await loading;
            return {waited, hiddenFromTheLoad: seen === undefined, got: await asked, visibleAfter: Boolean(navigator.gpu)};
        }"""
    )
    assert out == {"waited": True, "hiddenFromTheLoad": True, "got": {"backend": "webgpu", "note": ""},
                   "visibleAfter": True}
