"""The warp is MediaPipe's: equal, pixel for pixel, to OpenCV 4's warpPerspective with the
transform MediaPipe builds, on real photos, every rotation and random regions of interest."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import photo

from image_classifier import ImageProcessingOptions, RectF
from image_classifier import preprocess
from image_classifier.metadata import Normalization

PHOTOS = ["chelsea.png", "coffee.png", "grace_hopper.jpg", "astronaut.png"]
SIZES = [(224, 224), (260, 260), (300, 200), (7, 5)]
F32 = np.float32


def opencv_reference(pixels: np.ndarray, processing, out_width: int, out_height: int) -> np.ndarray:
    """MediaPipe's OpenCV ImageToTensorConverter, in cv2, on the rect of MediaPipe's C++
    ConvertToNormalizedRect (float32 fields and arithmetic), written out here once more."""
    height, width = pixels.shape[:2]
    x_center = y_center = F32(0.5)
    rect_width = rect_height = F32(1)
    rotation = F32(0)
    if processing is not None:
        rotation = F32(-processing.rotation_degrees * math.pi / 180)
        roi = processing.region_of_interest
        if roi is not None:
            left, top, right, bottom = map(F32, (roi.left, roi.top, roi.right, roi.bottom))
            x_center, y_center = F32((left + right) / F32(2)), F32((top + bottom) / F32(2))
            rect_width, rect_height = F32(right - left), F32(bottom - top)
        if processing.rotation_degrees % 180:
            rect_width, rect_height = (F32(rect_height * F32(height) / F32(width)),
                                       F32(rect_width * F32(width) / F32(height)))
    angle = F32(float(rotation * F32(180)) / math.pi)
    box = cv2.boxPoints((
        (float(x_center * F32(width)), float(y_center * F32(height))),
        (float(rect_width * F32(width)), float(rect_height * F32(height))),
        float(angle),
    ))
    corners = np.array([[0, out_height], [0, 0], [out_width, 0], [out_width, out_height]], np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), corners)
    return cv2.warpPerspective(pixels, matrix, (out_width, out_height),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def ours(pixels: np.ndarray, processing, out_width: int, out_height: int) -> np.ndarray:
    height, width = pixels.shape[:2]
    matrix = preprocess.transform(processing, width, height, out_width, out_height)
    return preprocess.warp(pixels, matrix, out_width, out_height)


def test_the_reference_is_opencv_4():
    assert cv2.__version__.startswith("4."), "OpenCV 5 resamples in float, MediaPipe does not"


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("rotation", [0, 90, 180, 270, -90, -270, 360])
def test_whole_photo_every_rotation(name, rotation):
    pixels = photo(name).rgb_view()
    processing = ImageProcessingOptions(rotation_degrees=rotation)
    for size in SIZES:
        np.testing.assert_array_equal(ours(pixels, processing, *size), opencv_reference(pixels, processing, *size))


def test_random_regions_and_rotations():
    rng = np.random.default_rng(20261126)
    photos = [photo(name).rgb_view() for name in PHOTOS]
    checked = 0
    while checked < 240:
        left, right = sorted(rng.uniform(0, 1, 2))
        top, bottom = sorted(rng.uniform(0, 1, 2))
        if right - left < 1e-3 or bottom - top < 1e-3:
            continue
        processing = ImageProcessingOptions(
            RectF(float(left), float(top), float(right), float(bottom)),
            int(rng.choice([0, 90, 180, 270, -90, -180, 450])),
        )
        pixels = photos[checked % len(photos)]
        size = SIZES[checked % len(SIZES)]
        np.testing.assert_array_equal(
            ours(pixels, processing, *size), opencv_reference(pixels, processing, *size),
            err_msg=str(processing),
        )
        checked += 1


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 3, 3), (3, 2, 3)])
def test_tiny_images_upscale_like_opencv(shape):
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    for processing in (None, ImageProcessingOptions(RectF(0.2, 0.1, 0.9, 1.0), 90)):
        np.testing.assert_array_equal(ours(pixels, processing, 224, 224),
                                      opencv_reference(pixels, processing, 224, 224))


def test_normalization_maps_pixels_to_the_model_range():
    scale, offset = preprocess.input_normalization(np.float32, Normalization((127.0,), (128.0,)))
    details = {"shape": np.array([1, 2, 2, 3]), "dtype": np.float32}
    pixels = np.array([[[0, 127, 255]] * 2] * 2, np.uint8)
    tensor = preprocess.input_tensor(pixels, details, "NHWC", (scale, offset))
    assert tensor.shape == (1, 2, 2, 3) and tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor[0, 0, 0], np.array([-127, 0, 128], np.float32) / 128)
    nchw = preprocess.input_tensor(pixels, {"shape": np.array([1, 3, 2, 2]), "dtype": np.float32},
                                   "NCHW", (scale, offset))
    np.testing.assert_array_equal(nchw[0, :, 0, 0], tensor[0, 0, 0])


def test_uint8_models_take_raw_pixels():
    assert preprocess.input_normalization(np.uint8, None) is None
    pixels = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    tensor = preprocess.input_tensor(pixels, {"shape": np.array([1, 2, 2, 3]), "dtype": np.uint8}, "NHWC", None)
    np.testing.assert_array_equal(tensor[0], pixels)


def test_normalization_rules():
    with pytest.raises(ValueError, match="requires specifying NormalizationOptions"):
        preprocess.input_normalization(np.float32, None)
    with pytest.raises(NotImplementedError):
        preprocess.input_normalization(np.float32, Normalization((1.0, 2.0, 3.0), (1.0, 1.0, 1.0)))
    same = preprocess.input_normalization(np.float32, Normalization((127.0,) * 3, (128.0,) * 3))
    assert same == preprocess.input_normalization(np.float32, Normalization((127.0,), (128.0,)))


@pytest.mark.parametrize("view", ["rgba", "flipped", "every_other_column"])
def test_strided_views_warp_like_their_copies(view):
    pixels = photo("coffee.png").rgb_view()
    rgba = np.dstack([pixels, np.full(pixels.shape[:2], 7, np.uint8)])
    strided = {"rgba": rgba[:, :, :3], "flipped": pixels[::-1], "every_other_column": pixels[:, ::2]}[view]
    processing = ImageProcessingOptions(RectF(0.1, 0.2, 0.7, 0.9), 270)
    for size in SIZES:
        np.testing.assert_array_equal(
            ours(strided, processing, *size),
            opencv_reference(np.ascontiguousarray(strided), processing, *size),
        )


def test_nan_region_is_rejected_like_mediapipe():
    with pytest.raises(ValueError, match=r"^ROI contains NaN values\.$"):
        preprocess.check_processing_options(ImageProcessingOptions(RectF(math.nan, 0, 1, 1)))


def test_float_model_without_normalization_message_is_mediapipes():
    with pytest.raises(ValueError) as error:
        preprocess.input_normalization(np.float32, None)
    assert str(error.value) == ("Input tensor has type float32: it requires specifying "
                                "NormalizationOptions metadata to preprocess input images.")
