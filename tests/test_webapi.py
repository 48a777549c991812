"""The JS API's conversions (image_classifier.js_options and .webapi), on CPython: what the
browser worker runs."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image as PILImage
from conftest import IMAGES, model_file, photo
from image_classifier import (
    BaseOptions,
    Delegate,
    ImageClassifier,
    ImageClassifierOptions,
    ImageProcessingOptions,
    RectF,
    RunningMode,
    js_options,
    tflite,
    webapi,
)
from image_classifier.metadata import InputMetadata, Normalization
from tflite_models import HEADS, METADATA, tiny_model, two_heads_model

MODEL = str(model_file("lite0_fp32"))


def test_options_from_js_converts_every_option():
    options = js_options.options_from_js(
        {
            "baseOptions": {"modelAssetPath": MODEL, "delegate": "GPU"},
            "runningMode": "VIDEO",
            "displayNamesLocale": "ja",
            "maxResults": 3,
            "scoreThreshold": 0.25,
            "categoryAllowlist": ["tabby", "tiger cat"],
        }
    )
    assert options.base_options.model_asset_path is None
    assert options.base_options.model_asset_buffer == model_file("lite0_fp32").read_bytes()
    assert options.base_options.delegate == Delegate.GPU
    assert options.running_mode == RunningMode.VIDEO
    assert options.display_names_locale == "ja"
    assert options.max_results == 3 and isinstance(options.max_results, int)
    assert options.score_threshold == 0.25
    assert options.category_allowlist == ["tabby", "tiger cat"]
    assert options.category_denylist is None


def test_options_from_js_reads_the_model_with_the_given_loader():
    seen = []

    def loader(path):
        seen.append(path)
        return b"model"

    options = js_options.options_from_js(
        {"baseOptions": {"modelAssetPath": "https://x/m.onnx"}}, loader
    )
    assert seen == ["https://x/m.onnx"]
    assert options.base_options.model_asset_buffer == b"model"


def test_model_buffer_from_js_bytes():
    options = js_options.options_from_js({"baseOptions": {"modelAssetBuffer": memoryview(b"abc")}})
    assert options.base_options.model_asset_buffer == b"abc"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"maxResults": 0, "baseOptions": {"modelAssetPath": MODEL}},
            "Invalid `max_results` option: value must be != 0.",
        ),
        (
            {
                "baseOptions": {"modelAssetPath": MODEL},
                "categoryAllowlist": ["a"],
                "categoryDenylist": ["b"],
            },
            "`category_allowlist` and `category_denylist` are mutually exclusive options.",
        ),
        (
            {"baseOptions": {}},
            "ExternalFile must specify at least one of 'file_content', 'file_name', 'file_pointer_meta' or 'file_descriptor_meta'.",
        ),
        (
            {"baseOptions": {"modelAssetPath": MODEL, "modelAssetBuffer": b"x"}},
            "Cannot set both model_asset_path and model_asset_buffer; set only one.",
        ),
        (
            {"maxResult": 3},
            "Unknown option 'maxResult'. Should be one of: baseOptions, runningMode",
        ),
        (
            {"baseOptions": {"delegate": "TPU"}},
            "Unsupported delegate 'TPU'. Should be one of: CPU, GPU.",
        ),
        (
            {"runningMode": "STREAM"},
            "Unsupported runningMode 'STREAM'. Should be one of: IMAGE, VIDEO, LIVE_STREAM.",
        ),
        ({"maxResults": 2.5}, "`maxResults` must be an integer, got 2.5."),
        ({"scoreThreshold": "high"}, "`scoreThreshold` must be a number, got 'high'."),
        (
            {"categoryAllowlist": "tabby"},
            "`categoryAllowlist` must be an array of strings, got 'tabby'.",
        ),
    ],
)
def test_invalid_options_raise_mediapipe_messages(options, message):
    with pytest.raises(ValueError) as error:
        js_options.options_from_js(options, lambda _path: b"unused")
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"runningMode": "LIVE_STREAM"},
            "The vision task is in live stream mode, a user-defined result callback must be "
            "provided.",
        ),
        (
            {"runningMode": "VIDEO", "resultCallback": True},
            "The vision task is in image or video mode, a user-defined result callback should "
            "not be provided.",
        ),
        ({"runningMode": "LIVE_STREAM", "resultCallback": "f"}, "`resultCallback` must be a function"),
    ],
)
def test_live_stream_options_need_exactly_a_callback(options, message):
    with pytest.raises(ValueError) as error:
        js_options.options_from_js({"baseOptions": {"modelAssetPath": MODEL}, **options})
    assert str(error.value).startswith(message)


def _rgba(name: str) -> dict:
    rgba = np.asarray(photo(name).rgb_view())
    rgba = np.concatenate([rgba, np.full(rgba.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return {"rgba": rgba.tobytes(), "width": rgba.shape[1], "height": rgba.shape[0]}


def test_worker_api_live_stream_is_driven_by_the_host():
    """What web/worker.mjs does: hand frames over (synchronous), then run_pending when free.
    The latest frame wins and the counters add up, with the Python runner's logic."""
    api = webapi.WorkerApi()
    handle = api.dispatch(
        "create",
        [{"baseOptions": {"modelAssetPath": MODEL}, "runningMode": "LIVE_STREAM",
          "resultCallback": True, "maxResults": 1}],
    )["value"]["handle"]
    cat, coffee = _rgba("chelsea.png"), _rgba("coffee.png")
    reply = api.dispatch("classifyAsync", [handle, cat, None, 10])["value"]
    # Taken at once (the runner was idle): never dropped, not counted as waiting.
    assert reply == {"pending": True, "stats": {"received": 1, "processed": 0, "dropped": 0,
                                                "waiting": 0, "maxWaiting": 0}}
    api.dispatch("classifyAsync", [handle, cat, None, 20])  # waits
    reply = api.dispatch("classifyAsync", [handle, coffee, None, 30])["value"]  # replaces 20
    assert reply["stats"]["dropped"] == 1 and reply["stats"]["waiting"] == 1
    error = api.dispatch("classifyAsync", [handle, coffee, None, 30])["error"]
    assert error["message"] == "Input timestamp must be monotonically increasing."
    reply = api.dispatch("runPending", [handle])["value"]
    assert [r["result"]["timestampMs"] for r in reply["results"]] == [10]
    assert reply["pending"] is True
    reply = api.dispatch("runPending", [handle])["value"]
    assert [r["result"]["timestampMs"] for r in reply["results"]] == [30]
    assert reply["results"][0]["result"]["classifications"][0]["categories"][0]["categoryName"] == "espresso"
    assert set(reply["results"][0]["timings"]) == {"preprocess", "inference", "postprocess"}
    assert reply["pending"] is False
    assert reply["stats"] == {"received": 3, "processed": 2, "dropped": 1, "waiting": 0, "maxWaiting": 1}
    assert api.dispatch("runPending", [handle])["value"]["results"] == []
    # close() finishes the frame still waiting and hands its result over.
    api.dispatch("classifyAsync", [handle, cat, None, 40])
    closed = api.dispatch("close", [handle])["value"]
    assert [r["result"]["timestampMs"] for r in closed["results"]] == [40]
    assert closed["results"][0]["result"]["classifications"][0]["categories"][0]["categoryName"] == "Egyptian cat"
    assert api.dispatch("classifyAsync", [handle, cat, None, 50])["error"]["message"] == "The task is closed."


def test_live_stream_results_equal_image_mode():
    image = webapi.WebClassifier({"baseOptions": {"modelAssetPath": MODEL}})
    live = webapi.WebClassifier(
        {"baseOptions": {"modelAssetPath": MODEL}, "runningMode": "LIVE_STREAM", "resultCallback": True}
    )
    frame = webapi.image_from_js(_rgba("grace_hopper.jpg"))
    live.classify_async(frame, 5)
    [delivered] = live.run_pending()
    want = image.classify(frame)
    assert delivered["result"]["classifications"] == want["classifications"]
    assert delivered["result"]["timestampMs"] == 5
    # Leaving LIVE_STREAM through setOptions needs the callback gone too (MediaPipe's rule).
    with pytest.raises(ValueError, match="callback should not be provided"):
        live.set_options({"runningMode": "IMAGE"})
    live.set_options({"runningMode": "IMAGE", "resultCallback": None})
    assert live.classify(frame)["classifications"] == want["classifications"]
    image.close()
    live.close()


def test_merge_options_is_mediapipe_set_options():
    current = {
        "baseOptions": {"modelAssetPath": "a.onnx", "delegate": "GPU"},
        "maxResults": 3,
        "displayNamesLocale": "it",
    }
    merged = js_options.merge_options(current, {"maxResults": None, "scoreThreshold": 0.5})
    assert merged == {
        "baseOptions": {"modelAssetPath": "a.onnx", "delegate": "GPU"},
        "displayNamesLocale": "it",
        "scoreThreshold": 0.5,
    }
    # A new buffer replaces the path; the delegate stays.
    merged = js_options.merge_options(current, {"baseOptions": {"modelAssetBuffer": b"m"}})
    assert merged["baseOptions"] == {"modelAssetBuffer": b"m", "delegate": "GPU"}
    # undefined delegate: back to the default.
    merged = js_options.merge_options(current, {"baseOptions": {"delegate": None}})
    assert merged["baseOptions"] == {"modelAssetPath": "a.onnx"}


def test_processing_options_from_js():
    assert js_options.processing_options_from_js(None) is None
    assert js_options.processing_options_from_js({"rotationDegrees": 0}) is None
    converted = js_options.processing_options_from_js(
        {
            "regionOfInterest": {"left": 0.1, "top": 0.2, "right": 0.9, "bottom": 1},
            "rotationDegrees": -90,
        }
    )
    assert converted == ImageProcessingOptions(RectF(left=0.1, top=0.2, right=0.9, bottom=1.0), -90)
    with pytest.raises(ValueError, match="regionOfInterest needs bottom"):
        js_options.processing_options_from_js({"regionOfInterest": {"left": 0, "top": 0, "right": 1}})
    with pytest.raises(ValueError, match="Unknown image processing option 'rotation'"):
        js_options.processing_options_from_js({"rotation": 90})


def test_web_classifier_equals_the_python_api():
    image = photo("chelsea.png")
    processing = ImageProcessingOptions(RectF(left=0.1, top=0.0, right=0.8, bottom=0.9), 90)
    with ImageClassifier.create_from_options(
        ImageClassifierOptions(
            BaseOptions(model_asset_path=MODEL), max_results=4, display_names_locale="zh"
        )
    ) as reference:
        expected = reference.classify(image, processing)
    web = webapi.WebClassifier(
        {"baseOptions": {"modelAssetPath": MODEL}, "maxResults": 4, "displayNamesLocale": "zh"}
    )
    result = web.classify(
        image,
        {
            "regionOfInterest": {"left": 0.1, "top": 0.0, "right": 0.8, "bottom": 0.9},
            "rotationDegrees": 90,
        },
    )
    web.close()
    assert result == webapi.result_to_js(expected)
    (head,) = result["classifications"]
    assert head["headIndex"] == 0 and head["headName"] == "probability"
    assert set(head["categories"][0]) == {"index", "score", "categoryName", "displayName"}
    assert result["timestampMs"] == 0


def test_set_options_changes_in_place_and_resets_with_none():
    web = webapi.WebClassifier({"baseOptions": {"modelAssetPath": MODEL}, "maxResults": 2})
    image = photo("coffee.png")
    assert len(web.classify(image)["classifications"][0]["categories"]) == 2
    web.set_options({"maxResults": None, "categoryAllowlist": ["espresso", "cup"]})
    names = [c["categoryName"] for c in web.classify(image)["classifications"][0]["categories"]]
    assert names == ["espresso", "cup"]
    # An invalid combination leaves the options as they were.
    with pytest.raises(ValueError, match="mutually exclusive"):
        web.set_options({"categoryDenylist": ["cup"]})
    assert web.options["categoryAllowlist"] == ["espresso", "cup"]
    assert len(web.classify(image)["classifications"][0]["categories"]) == 2
    web.set_options({"categoryAllowlist": None, "displayNamesLocale": "it"})
    top = web.classify(image)["classifications"][0]["categories"][0]
    assert top["categoryName"] == "espresso" and top["displayName"] not in ("", "espresso")
    # A new running mode makes a new classifier.
    web.set_options({"runningMode": "VIDEO"})
    with pytest.raises(ValueError, match="Task is not initialized with the image mode"):
        web.classify(image)
    assert web.classify_for_video(image, 5)["timestampMs"] == 5
    with pytest.raises(ValueError, match="monotonically increasing"):
        web.classify_for_video(image, 5)
    web.close()


def test_worker_api_dispatch_never_raises():
    api = webapi.WorkerApi()
    created = api.dispatch("create", [{"baseOptions": {"modelAssetPath": MODEL}, "maxResults": 1}])
    handle = created["value"]["handle"]
    encoded = (IMAGES / "chelsea.png").read_bytes()
    reply = api.dispatch("classify", [handle, {"encoded": encoded}, None, None, 1.5])
    value = reply["value"]
    assert value["result"]["classifications"][0]["categories"][0]["categoryName"] == "Egyptian cat"
    assert set(value["timings"]) == {"decode", "preprocess", "inference", "postprocess"}
    assert value["timings"]["decode"] >= 1.5
    assert value["image"] == {"width": 451, "height": 300}

    rgba = np.dstack([photo("chelsea.png").rgb_view(), np.full((300, 451), 255, np.uint8)])
    reply = api.dispatch(
        "classify", [handle, {"rgba": rgba.tobytes(), "width": 451, "height": 300}]
    )
    assert reply["value"]["result"] == value["result"]

    bad = api.dispatch("classify", [handle, {"encoded": b"not an image"}])
    assert bad["error"]["name"] == "ValueError" and bad["error"]["decode"] is True
    assert bad["error"]["message"].startswith("Image decoding failed")
    rotated = api.dispatch("classify", [handle, {"encoded": encoded}, {"rotationDegrees": 45}])
    assert rotated["error"] == {
        "name": "ValueError",
        "message": "Expected rotation to be a multiple of 90°.",
        "decode": False,
    }
    assert api.dispatch("close", [handle]) == {"value": {"results": [], "stats": None}}
    closed = api.dispatch("classify", [handle, {"encoded": encoded}])
    assert closed["error"]["message"] == "The task is closed."
    missing = api.dispatch("create", [{"baseOptions": {"modelAssetPath": "/no/such/model.onnx"}}])
    assert missing["error"]["name"] == "FileNotFoundError"


def test_worker_api_frame_buffer_filled_in_the_rows_it_names():
    """What web/worker.mjs does with a frame: ask for a buffer, write only the rows named
    there (as stored: BGRA), classify it; the rest of the buffer is never read. The result is
    the one of the whole image, again for the next frame of that size in the same buffer; a
    classify with no buffer of its size (none asked for, another size, every classifier
    closed) is refused."""
    import ctypes

    api = webapi.WorkerApi()
    handle = api.dispatch("create", [{"baseOptions": {"modelAssetPath": MODEL}, "maxResults": 3}])[
        "value"]["handle"]
    pixels = np.asarray(PILImage.open(IMAGES / "coffee.png").convert("RGB").resize((1200, 800)))
    bgra = np.ascontiguousarray(np.dstack([pixels[:, :, ::-1], np.full((800, 1200), 255, np.uint8)]))
    whole = api.dispatch("classify", [handle, {"rgba": bgra.tobytes(), "width": 1200, "height": 800,
                                               "order": "BGRA"}])["value"]["result"]
    rgba = np.dstack([pixels, np.full((800, 1200), 255, np.uint8)])
    assert api.dispatch("classify", [handle, {"rgba": rgba.tobytes(), "width": 1200,
                                              "height": 800}])["value"]["result"] == whole
    buffer = api.dispatch("frameBuffer", [handle, 1200, 800])["value"]
    rows = buffer["rows"]
    assert 0 < sum(rows[1::2]) < 800  # 448 rows of 800
    for first, count in zip(rows[::2], rows[1::2]):
        ctypes.memmove(buffer["address"] + first * 1200 * 4, bgra[first:].ctypes.data, count * 1200 * 4)
    filled = {"filled": True, "width": 1200, "height": 800, "order": "BGRA"}
    assert api.dispatch("classify", [handle, filled])["value"]["result"] == whole
    # The buffer stays the worker's for the next frame of that size: the same rows again.
    assert api.dispatch("frameBuffer", [handle, 1200, 800])["value"] == buffer
    assert api.dispatch("classify", [handle, filled])["value"]["result"] == whole
    other = {**filled, "width": 800, "height": 1200}
    refused = "No frame buffer of 800x1200 pixels was filled."
    assert api.dispatch("classify", [handle, other])["error"]["message"] == refused
    api.dispatch("close", [handle])
    assert api.dispatch("classify", [handle, filled])["error"]["message"] == "The task is closed."
    again = api.dispatch("create", [{"baseOptions": {"modelAssetPath": MODEL}}])["value"]["handle"]
    message = "No frame buffer of 1200x800 pixels was filled."
    assert api.dispatch("classify", [again, filled])["error"]["message"] == message


def test_jpegs_go_to_the_browser_decoder_with_their_exif_orientation(tmp_path):
    """The browser applies the EXIF orientation, as MediaPipe's create_from_file does."""
    original = (IMAGES / "grace_hopper.jpg").read_bytes()
    exif = PILImage.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° on display
    rotated = tmp_path / "rotated.jpg"
    PILImage.open(IMAGES / "grace_hopper.jpg").save(rotated, exif=exif.tobytes(), quality=90)
    for encoded in (original, rotated.read_bytes()):
        assert webapi.jpeg_for_browser(encoded) == encoded
    cmyk = tmp_path / "cmyk.jpg"
    PILImage.open(IMAGES / "grace_hopper.jpg").convert("CMYK").save(cmyk)
    assert webapi.jpeg_for_browser(cmyk.read_bytes()) is None
    assert webapi.jpeg_for_browser((IMAGES / "chelsea.png").read_bytes()) is None
    assert webapi.jpeg_for_browser(b"\xff\xd8\xff\xe0garbage") is None

    api = webapi.WorkerApi()
    handle = api.dispatch("create", [{"baseOptions": {"modelAssetPath": MODEL}}])["value"]["handle"]
    assert set(api.dispatch("classify", [handle, {"encoded": original}])) == {"decodeInBrowser"}
    reply = api.dispatch("classify", [handle, {"encoded": original, "browserDecoding": False}])
    assert reply["value"]["image"] == {"width": 512, "height": 600}
    api.dispatch("close", [handle])


def test_too_large_jpegs_are_refused_before_decoding():
    from image_classifier.image import MAX_PIXELS

    header = (IMAGES / "grace_hopper.jpg").read_bytes()
    # Patch the frame header (SOF0) to claim 10000 x 10000 pixels.
    sof = header.index(b"\xff\xc0")
    huge = header[: sof + 5] + (10000).to_bytes(2, "big") * 2 + header[sof + 9 :]
    assert 10000 * 10000 > MAX_PIXELS
    with pytest.raises(ValueError, match="Image is too large: 10000x10000 pixels"):
        webapi.jpeg_for_browser(huge)


def test_worker_api_describes_the_model_and_keeps_it_when_a_new_one_fails():
    api = webapi.WorkerApi()
    path = model_file("lite0_int8", "tflite")
    created = api.dispatch("create", [{"baseOptions": {"modelAssetPath": str(path)}}])["value"]
    described = created["model"]
    assert (described["format"], described["sizeBytes"]) == ("tflite", path.stat().st_size)
    assert described["name"] == "EfficientNet-Lite0 image classifier (int8)"
    assert described["input"] == {
        "width": 224, "height": 224, "channels": 3, "layout": "NHWC", "dtype": "float32",
        "normalization": {"mean": [127.0], "std": [128.0]},
    }
    # float32 in and out: only the weights tell that the model is quantized.
    assert described["quantization"] == ["int8"]
    assert described["heads"] == [
        {"index": 0, "name": "probability", "classes": 1000, "dtype": "float32",
         "quantization": None, "labels": 1000, "locales": ["en", "zh", "ja", "it"],
         "scoreThreshold": None, "calibration": None},
    ]
    handle = created["handle"]
    float_onnx = {"baseOptions": {"modelAssetPath": MODEL}}
    assert api.dispatch("setOptions", [handle, float_onnx])["value"]["model"]["quantization"] == []

    tiny = api.dispatch("setOptions", [handle, {"baseOptions": {"modelAssetBuffer": two_heads_model()}}])
    described = tiny["value"]["model"]
    assert (described["format"], described["quantization"]) == ("tflite", ["uint8"])
    assert (described["input"]["width"], described["input"]["dtype"]) == (4, "uint8")
    assert described["input"]["normalization"] is None
    animals, colours = described["heads"]
    assert animals == {
        "index": 0, "name": "animals", "classes": 6, "dtype": "uint8",
        "quantization": {"scale": pytest.approx(1 / 255), "zeroPoint": 0}, "labels": 6,
        "locales": ["en", "it"], "scoreThreshold": None, "calibration": "INVERSE_LOGISTIC",
    }
    assert (colours["quantization"], colours["scoreThreshold"]) == (
        {"scale": 1 / 64, "zeroPoint": 100}, 0.375,
    )
    # uint8 input takes raw pixels: normalization metadata is there, but not applied.
    normalized = replace(METADATA, input=InputMetadata(normalization=Normalization((127.5,), (127.5,))))
    model = tflite.write_metadata(tiny_model(HEADS, uint8_input=True), normalized)
    other = api.dispatch("create", [{"baseOptions": {"modelAssetBuffer": model}}])["value"]
    assert other["model"]["input"]["normalization"] is None
    api.dispatch("close", [other["handle"]])

    # A truncated model (the end of its zipped labels is gone): MediaPipe's message, the old
    # model stays.
    truncated = path.read_bytes()[:-1000]
    failed = api.dispatch("setOptions", [handle, {"baseOptions": {"modelAssetBuffer": truncated}}])
    assert failed["error"]["message"] == "No associated file with name: labels_en.txt"
    assert api.dispatch("setOptions", [handle, {}])["value"]["model"] == described
    encoded = (IMAGES / "chelsea.png").read_bytes()
    result = api.dispatch("classify", [handle, {"encoded": encoded}])["value"]["result"]
    assert [head["headName"] for head in result["classifications"]] == ["animals", "colours"]
    api.dispatch("close", [handle])
