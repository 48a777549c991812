"""Bad input gets a clear error and breaks nothing: the classifier keeps working afterwards."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from conftest import IMAGES, model_file, photo
from PIL import Image as PILImage

from image_classifier import BaseOptions, Image, ImageClassifier, ImageClassifierOptions, ImageFormat


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge canvas but whose data is a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def encoded(picture: PILImage.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, fmt, **options)
    return buffer.getvalue()


def top1(classifier: ImageClassifier, image: Image) -> str:
    return classifier.classify(image).classifications[0].categories[0].category_name


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        ((IMAGES / "grace_hopper.jpg").read_bytes()[:5000], "decoding failed"),
        (b"this is a text file, not a photo\n" * 10, "decoding failed"),
        (png_claiming(30000, 30000), "too large"),
        ((IMAGES / "chelsea.png").read_bytes()[:100], "decoding failed"),
    ],
    ids=["empty", "truncated-jpeg", "text", "decompression-bomb", "truncated-png"],
)
def test_undecodable_files_raise_value_error_and_the_classifier_keeps_working(lite0, tmp_path, data, message):
    path = tmp_path / "bad"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message):
        Image.create_from_file(path)
    assert top1(lite0, photo("coffee.png")) == "espresso"


def test_missing_image_file():
    with pytest.raises(FileNotFoundError):
        Image.create_from_file(IMAGES / "nope.png")


def test_one_pixel_image_classifies(lite0):
    image = Image.create_from_bytes(encoded(PILImage.new("RGB", (1, 1), (200, 30, 30)), "PNG"))
    categories = lite0.classify(image).classifications[0].categories
    assert len(categories) == 1000
    assert abs(sum(c.score for c in categories) - 1) < 1e-3


def test_cmyk_jpeg_classifies_like_the_rgb_photo(lite0):
    cmyk = PILImage.open(IMAGES / "coffee.png").convert("CMYK")
    image = Image.create_from_bytes(encoded(cmyk, "JPEG"))
    assert image.image_format == ImageFormat.SRGB
    assert top1(lite0, image) == "espresso"


def test_sixteen_bit_png_classifies_like_the_eight_bit_photo(lite0):
    gray = np.asarray(PILImage.open(IMAGES / "camera.png").convert("L"), dtype=np.uint16)
    wide = PILImage.fromarray(gray * 257)  # 16-bit, same picture
    image = Image.create_from_bytes(encoded(wide, "PNG"))
    assert image.image_format == ImageFormat.GRAY8
    np.testing.assert_array_equal(image.numpy_view(), gray.astype(np.uint8))
    eight_bit = Image(ImageFormat.GRAY8, gray.astype(np.uint8))
    assert lite0.classify(image).classifications == lite0.classify(eight_bit).classifications


def test_rgba_and_gray_inputs(lite0):
    rgb = photo("coffee.png").numpy_view()
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], axis=2)
    assert (lite0.classify(Image(ImageFormat.SRGBA, rgba)).classifications
            == lite0.classify(photo("coffee.png")).classifications)
    gray = rgb[:, :, 1]
    as_rgb = Image(ImageFormat.SRGB, np.repeat(gray[:, :, None], 3, axis=2))
    assert (lite0.classify(Image(ImageFormat.GRAY8, gray)).classifications
            == lite0.classify(as_rgb).classifications)


@pytest.mark.parametrize(
    "image_format, data",
    [
        (ImageFormat.SRGB, np.zeros((4, 4, 3), np.float32)),
        (ImageFormat.SRGB, np.zeros((4, 4, 4), np.uint8)),
        (ImageFormat.GRAY8, np.zeros((4, 4, 3), np.uint8)),
        (ImageFormat.SRGB, np.zeros((0, 4, 3), np.uint8)),
    ],
)
def test_invalid_pixel_arrays(image_format, data):
    with pytest.raises(ValueError):
        Image(image_format, data)


def test_classify_rejects_what_is_not_an_image(lite0):
    with pytest.raises(ValueError, match="Expected an image_classifier.Image"):
        lite0.classify(np.zeros((4, 4, 3), np.uint8))


@pytest.mark.parametrize(
    "model",
    [
        b"not a model at all",
        b"\x00" * 64,
        model_file("lite0_int8").read_bytes()[:100_000],
        model_file("lite0_int8").read_bytes()[:-1000],
    ],
    ids=["text", "zeros", "truncated-start", "truncated-end"],
)
def test_corrupt_model_is_a_clear_error_and_other_classifiers_keep_working(lite0, model):
    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=model))
    with pytest.raises(ValueError):
        ImageClassifier.create_from_options(options)
    assert top1(lite0, photo("coffee.png")) == "espresso"


def test_empty_model_buffer_and_both_model_sources():
    with pytest.raises(ValueError):
        ImageClassifier.create_from_options(
            ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=b""))
        )
    with pytest.raises(ValueError, match="both"):
        ImageClassifier.create_from_options(
            ImageClassifierOptions(
                base_options=BaseOptions(model_asset_path="x.onnx", model_asset_buffer=b"x")
            )
        )


@pytest.mark.parametrize("mode,options,by_libspng", [
    ("RGB", {}, True), ("RGBA", {}, True), ("L", {}, True),
    ("RGB", {"transparency": (1, 2, 3)}, True),
    ("L", {"transparency": 9}, True), ("P", {}, False), ("LA", {}, False), ("1", {}, False),
])
def test_png_pixels_are_pillows_whichever_decoder(mode, options, by_libspng):
    """8-bit grey, RGB and RGBA PNGs go to libspng (pyspng), the rest to Pillow: the same
    pixels and format as Pillow's either way."""
    from image_classifier import image as image_module

    picture = PILImage.open(IMAGES / "chelsea.png").convert(mode)
    data = encoded(picture, "PNG", **options)
    with PILImage.open(io.BytesIO(data)) as opened:
        assert (image_module._spng_decode(opened, data) is not None) == by_libspng
        expected = {"L": "L", "RGBA": "RGBA", "LA": "RGBA"}.get(opened.mode, "RGB")
        pillows = np.asarray(opened.convert(expected))
    ours = Image.create_from_bytes(data)
    assert ours.image_format == {"L": ImageFormat.GRAY8, "RGBA": ImageFormat.SRGBA}.get(
        expected, ImageFormat.SRGB)
    np.testing.assert_array_equal(ours.numpy_view(), pillows)


def test_corrupt_png_data_is_a_decoding_failure():
    data = bytearray(encoded(PILImage.open(IMAGES / "chelsea.png").convert("RGB"), "PNG"))
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 400] = bytes(390)  # zeroes over the compressed pixels
    with pytest.raises(ValueError, match="Image decoding failed"):
        Image.create_from_bytes(bytes(data))
