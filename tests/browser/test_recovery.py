"""One corrupt model must not wedge the page: an engine whose WebAssembly module traps is
replaced (a new worker), and every call ends in a result or an error."""

from __future__ import annotations

import base64

from image_classifier.flatbuffer import Table

from .conftest import new_context
from .support import MODELS, TEST_DOCUMENT, categories, cpython_result


def corrupt_lite0_int8() -> bytes:
    """Lite0 int8 with one byte of its operator table changed: the first operator code says
    builtin 49 instead of 3 (CONV_2D). LiteRT segfaults on it; LiteRT.js traps ("null
    function") while loading it, and before the fix every later load of any format hung."""
    data = bytearray((MODELS / "efficientnet_lite0_int8.tflite").read_bytes())
    first_code = Table.root(bytes(data), b"TFL3").tables(1)[0]
    position = first_code._field(0)  # deprecated_builtin_code, an int8
    assert data[position] == 3
    data[position] = 49
    return bytes(data)


def test_a_model_that_crashes_the_engine_does_not_wedge_the_page(browser, server):
    context = new_context(browser, server)
    page = context.new_page()
    try:
        page.goto(server + TEST_DOCUMENT)
        page.wait_for_function("() => window.testReady === true")
        outcome = page.evaluate(
            """async (corrupt) => {
                // Every call gets 3 minutes (a new worker boots Python again on a busy machine).
                const settle = (promise) => Promise.race([
                  promise.then((value) => ({value}), (error) => ({error: error.message})),
                  new Promise((resolve) => setTimeout(() => resolve({error: 'HANG'}), 180_000))]);
                const photo = () => imageAs('chelsea.png', 'Blob');
                const log = {};
                const good = (await settle(ImageClassifier.createFromOptions(
                  {baseOptions: {modelAssetPath: '/models/efficientnet_lite0_int8.tflite'}, maxResults: 3}))).value;
                log.before = await settle(good.classify(await photo()));
                log.corrupt = await settle(ImageClassifier.createFromOptions(
                  {baseOptions: {modelAssetBuffer: await blobOf(corrupt).arrayBuffer()}}));
                log.old = await settle(good.classify(await photo()));
                log.oldAgain = await settle(good.classify(await photo()));
                for (const model of ['efficientnet_lite0_fp32.tflite', 'efficientnet_lite0_fp32.onnx']) {
                  const created = await settle(ImageClassifier.createFromOptions(
                    {baseOptions: {modelAssetPath: '/models/' + model}, maxResults: 3}));
                  log[model] = created.error ? created : await settle(created.value.classify(await photo()));
                  await created.value?.close();
                }
                log.close = await settle(good.close());
                return log;
            }""",
            base64.b64encode(corrupt_lite0_int8()).decode(),
        )
    finally:
        context.close()
    print({k: v.get("error") or v["value"] and categories(v["value"])[0]["categoryName"]
           for k, v in outcome.items()})
    assert "HANG" not in str(outcome)
    assert outcome["corrupt"]["error"].startswith("Unable to load the TFLite model"), outcome["corrupt"]
    expected = categories(cpython_result("efficientnet_lite0_fp32.onnx", "chelsea.png"))[0]["index"]
    for step in ["before", "old", "oldAgain", "efficientnet_lite0_fp32.tflite",
                 "efficientnet_lite0_fp32.onnx"]:
        assert "value" in outcome[step], (step, outcome[step])
        assert categories(outcome[step]["value"])[0]["index"] == expected, step
    assert "error" not in outcome["close"]
    # The classifier made before the crash gives the same answer in the new worker.
    assert outcome["old"]["value"] == outcome["before"]["value"]
