"""A phone photo (EXIF Orientation 3, 6, 8) gives one answer in the browser, MediaPipe's:
classified upright, whatever it arrives as; the page shows what it classifies."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageOps

from .support import IMAGES, MODELS, categories, compare, wait_idle

MODEL = "efficientnet_lite0_fp32.onnx"
KINDS = ["Blob", "File", "HTMLImageElement", "ImageBitmap", "VideoFrame",
         "HTMLCanvasElement", "OffscreenCanvas", "ImageData"]
# How the stored pixels are turned so that the orientation shows them upright again.
STORED = {3: PILImage.Transpose.ROTATE_180, 6: PILImage.Transpose.ROTATE_90,
          8: PILImage.Transpose.ROTATE_270}


def phone_photo(orientation: int) -> bytes:
    """coffee.png as a phone stores it: pixels turned, EXIF Orientation saying how to show them."""
    upright = PILImage.open(IMAGES / "coffee.png").convert("RGB")
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    upright.transpose(STORED[orientation]).save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def upright_reference(jpeg: bytes) -> dict:
    """MediaPipe's answer: the photo decoded (CPython's libjpeg-turbo, as the browser's) and
    turned upright by its EXIF orientation, classified on CPython."""
    from image_classifier import Image, ImageFormat, webapi

    upright = ImageOps.exif_transpose(PILImage.open(io.BytesIO(jpeg))).convert("RGB")
    classifier = webapi.WebClassifier(
        {"baseOptions": {"modelAssetPath": str(MODELS / MODEL)}, "maxResults": -1}
    )
    try:
        return classifier.classify(Image(ImageFormat.SRGB, np.asarray(upright)), None)
    finally:
        classifier.close()


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_an_exif_rotated_photo_is_classified_upright_as_every_image_type(api_page, orientation):
    jpeg = phone_photo(orientation)
    results = api_page.evaluate(
        """async ([model, base64, kinds]) => {
            const classifier = await ImageClassifier.createFromOptions(
                {baseOptions: {modelAssetPath: '/models/' + model}, maxResults: -1});
            const out = {};
            try {
              for (const kind of kinds) {
                const image = await imageOf(blobOf(base64, 'image/jpeg'), kind, 'phone.jpg');
                out[kind] = {result: await classifier.classify(image), size: classifier.lastImageSize};
              }
            } finally { await classifier.close(); }
            return out;
        }""",
        [MODEL, base64.b64encode(jpeg).decode(), KINDS],
    )
    reference = upright_reference(jpeg)
    upright = PILImage.open(IMAGES / "coffee.png").size
    for kind in KINDS:
        assert (results[kind]["size"]["width"], results[kind]["size"]["height"]) == upright, kind
        # The same pixels as CPython's upright decode: the same top 5, scores within 1e-4.
        compare(results[kind]["result"], reference, 5, 1e-4)
    assert categories(reference)[0]["categoryName"] == "espresso"


def test_the_page_shows_the_orientation_it_classifies(app_page, tmp_path):
    photo = tmp_path / "phone.jpg"
    photo.write_bytes(phone_photo(6))
    width, height = PILImage.open(IMAGES / "coffee.png").size
    runs = app_page.evaluate("window.app.state.runs")
    app_page.set_input_files("#file", str(photo))
    app_page.wait_for_function("(runs) => window.app.state.runs > runs", arg=runs, timeout=60_000)
    wait_idle(app_page)
    assert app_page.text_content("#image-info") == f"phone.jpg · {width}×{height}"
    box = app_page.evaluate("""() => {
        const r = document.querySelector('#preview').getBoundingClientRect();
        return [r.width, r.height];
    }""")
    assert box[0] > box[1]  # shown landscape, as coffee.png is
    top = app_page.evaluate("document.querySelector('#categories li.category').dataset.index")
    assert int(top) == categories(upright_reference(photo.read_bytes()))[0]["index"]


def test_a_rotated_video_frame_in_live_stream_is_classified_upright(api_page):
    """A VideoFrame that carries `rotation` (here from an EXIF-rotated bitmap) handed over with
    classifyAsync: the worker draws it upright (copyTo would give the unrotated pixels)."""
    jpeg = phone_photo(6)
    result = api_page.evaluate(
        """async ([model, base64]) => {
            let resolve;
            const delivered = new Promise((r) => { resolve = r; });
            const classifier = await ImageClassifier.createFromOptions({
              baseOptions: {modelAssetPath: '/models/' + model}, maxResults: -1,
              runningMode: 'LIVE_STREAM', resultCallback: (result) => resolve(result)});
            try {
              const frame = await imageOf(blobOf(base64, 'image/jpeg'), 'VideoFrame');
              if (!frame.rotation) throw new Error('expected a frame with rotation');
              await classifier.classifyAsync(frame, 1);
              frame.close();
              return await delivered;
            } finally { await classifier.close(); }
        }""",
        [MODEL, base64.b64encode(jpeg).decode()],
    )
    compare(result, upright_reference(jpeg), 5, 1e-4)
