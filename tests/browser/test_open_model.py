"""The page's "Open model…": a .tflite or .onnx model from disk is described (from Python's
metadata reader) and classifies; a broken one says why, and the previous model stays."""

from __future__ import annotations

import sys

import pytest

from .support import IMAGES, MODELS, ROOT, build_site, cpython_result, page_results, wait_idle

sys.path.insert(0, str(ROOT / "tests"))
from tflite_models import Head, tiny_model  # noqa: E402

from image_classifier import webapi  # noqa: E402

LITE0 = build_site.DEFAULT_MODEL  # the page's default model
ENGINES = {"tflite": "LiteRT.js", "onnx": "onnxruntime-web"}


def cpython_description(model: bytes) -> dict:
    """What the model says about itself on CPython (the page's model panel shows this)."""
    classifier = webapi.WebClassifier({"baseOptions": {"modelAssetBuffer": model}})
    try:
        return classifier.model
    finally:
        classifier.close()


def cpython_error(model: bytes) -> str:
    """The message CPython's classifier refuses the model with."""
    return webapi.WorkerApi().dispatch("create", [{"baseOptions": {"modelAssetBuffer": model}}])[
        "error"
    ]["message"]


def message(page) -> str:
    return page.evaluate(
        "document.getElementById('message').hidden ? '' : document.getElementById('message').textContent"
    )


def picker(page) -> tuple[str, list[str]]:
    """The model picker's value and its options' labels."""
    return page.evaluate(
        "(() => { const s = document.getElementById('model'); return [s.value, [...s.options].map((o) => o.text)]; })()"
    )


def show_photo(page, name: str) -> None:
    page.set_input_files("#file", str(IMAGES / name))
    wait_idle(page)


def open_model(page, path) -> None:
    """Opens a model file with the keyboard, as a user without a mouse would."""
    page.focus("#model")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "model-file"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(path))
    wait_idle(page)


def assert_classifies_like_cpython(page, model: str, photo: str) -> None:
    """The page's top category for the photo shown is CPython's for the same model (int8
    scores differ slightly between engines)."""
    got = page_results(page)
    want = cpython_result(model, photo, {"maxResults": 5})["classifications"][0]["categories"]
    assert got[0][0] == want[0]["index"], (photo, got, want[:1])
    assert abs(got[0][1] - want[0]["score"]) <= 2e-2


@pytest.fixture
def page(app_page):
    """The app with the default model chosen again afterwards."""
    yield app_page
    app_page.select_option("#model", f"models/{LITE0}")
    wait_idle(app_page)


@pytest.mark.parametrize(
    "name", ["efficientnet_lite0_int8.tflite", "efficientnet_lite0_int8.onnx"]
)
def test_an_opened_model_is_described_and_classifies_like_cpython(page, name):
    path = MODELS / name
    show_photo(page, "coffee.png")
    open_model(page, path)
    assert message(page) == ""
    value, labels = picker(page)
    assert value.startswith("opened:") and f"{name} · {path.stat().st_size / 1e6:.1f} MB" in labels

    described = page.evaluate("window.app.state.classifier.model")
    assert described == cpython_description(path.read_bytes())
    assert (described["input"]["width"], described["input"]["height"]) == (224, 224)
    assert described["quantization"] == ["int8"]
    (head,) = described["heads"]
    assert (head["classes"], head["labels"], head["locales"]) == (1000, 1000, ["en", "zh", "ja", "it"])
    engine = page.evaluate("window.app.state.classifier.engine")
    assert engine["engine"] == ENGINES[path.suffix[1:]]

    info = page.inner_text("#model-info")
    for shown in [
        f"{name} · {path.stat().st_size / 1e6:.1f} MB · {'TFLite' if name.endswith('tflite') else 'ONNX'}",
        "EfficientNet-Lite0 image classifier (int8) · v1",
        "1000 · en, zh, ja, it",
        "224×224 · 3 channels · float32",
        "(x − 127) / 128",
        "0: probability · 1000 classes · float32",
        "int8",
        engine["engine"],
    ]:
        assert shown in info, (shown, info)

    # The photo shown, then a new one: classified with the opened model.
    assert_classifies_like_cpython(page, name, "coffee.png")
    show_photo(page, "chelsea.png")
    assert_classifies_like_cpython(page, name, "chelsea.png")


def test_broken_models_say_why_and_the_previous_model_keeps_working(page, tmp_path):
    good = "efficientnet_lite0_int8.tflite"
    show_photo(page, "chelsea.png")
    open_model(page, MODELS / good)
    before = picker(page)
    described = page.evaluate("window.app.state.classifier.model")
    original = (MODELS / good).read_bytes()
    broken = {
        "truncated.tflite": original[: len(original) // 2],  # its zipped labels are gone
        "random.tflite": bytes(range(256)) * 64,
        # float32 input without normalization metadata: MediaPipe refuses it.
        "no_metadata.tflite": tiny_model([Head(3)]),
    }
    photos = ["coffee.png", "grace_hopper.jpg", "chelsea.png"]
    for (name, data), photo in zip(broken.items(), photos):
        (tmp_path / name).write_bytes(data)
        open_model(page, tmp_path / name)
        assert message(page) == f"Cannot open the model “{name}”: {cpython_error(data)}"
        assert picker(page) == before
        assert page.evaluate("window.app.state.classifier.model") == described
        # The previous model, still chosen in the picker, classifies a new photo.
        show_photo(page, photo)
        assert_classifies_like_cpython(page, good, photo)
        assert message(page) == ""


def test_js_api_describes_tflite_models_from_a_path_or_a_buffer(api_page):
    name = "efficientnet_lite2_int8.tflite"
    described = api_page.evaluate(
        """async (url) => {
            const fromPath = await ImageClassifier.createFromModelPath(url);
            const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
            const fromBuffer = await ImageClassifier.createFromModelBuffer(bytes);
            const models = [fromPath.model, fromBuffer.model];
            await fromPath.close();
            await fromBuffer.close();
            return models;
        }""",
        f"/models/{name}",
    )
    want = cpython_description((MODELS / name).read_bytes())
    assert described == [want, want]
    assert (want["format"], want["input"]["width"], want["quantization"]) == ("tflite", 224, ["int8"])
