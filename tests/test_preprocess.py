"""The warp is MediaPipe's: equal, pixel for pixel, to OpenCV 4's warpPerspective with the
transform MediaPipe builds, on real photos, every rotation and random regions of interest. Every
test runs on both paths of ``input_tensor``: CPython's (OpenCV's own warp and lookup table, on
the map and table worked out here) and the browser's (the numpy warp); and so is each of the
numpy warp's paths (coordinates per axis, proven exact, or per pixel; pixels gathered whole as
RGBA words, or per channel), and the sampling plan cached per geometry."""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
import pytest
from conftest import photo
from numpy.lib.stride_tricks import as_strided
from PIL import Image as PILImage

from image_classifier import Image, ImageFormat, ImageProcessingOptions, RectF
from image_classifier import geometry, preprocess
from image_classifier.metadata import Normalization

PHOTOS = ["chelsea.png", "coffee.png", "grace_hopper.jpg", "astronaut.png"]
SIZES = [(224, 224), (260, 260), (300, 200), (7, 5)]
F32 = np.float32


@pytest.fixture(autouse=True, params=["opencv", "numpy"])
def path(request, monkeypatch):
    """The path ``input_tensor`` takes: OpenCV's (CPython's), or numpy's (Pyodide's, where
    OpenCV is not installed)."""
    if request.param == "numpy":
        monkeypatch.setattr(preprocess, "cv2", None)
    return request.param


@pytest.mark.parametrize("path", ["opencv"], indirect=True)
def test_cpython_takes_the_opencv_path(path):
    assert preprocess.cv2 is cv2  # else CPython would run the slower numpy warp unseen


def box_points(center, size, angle) -> np.ndarray:
    """cv2.boxPoints as MediaPipe's OpenCV 5.1 computes them (in double, then float32), written
    out here once more: OpenCV 4's, in float32, puts a corner an ulp away on some regions."""
    radians = float(angle) * math.pi / 180
    b, a = math.cos(radians) / 2, math.sin(radians) / 2
    (x, y), (w, h) = center, size
    first = (x - a * h - b * w, y + b * h - a * w)
    second = (x + a * h - b * w, y - b * h - a * w)
    corners = [first, second, (2 * x - first[0], 2 * y - first[1]),
               (2 * x - second[0], 2 * y - second[1])]
    return np.array(corners, np.float64).astype(np.float32)


def opencv_reference(pixels: np.ndarray, processing, out_width: int, out_height: int) -> np.ndarray:
    """MediaPipe's OpenCV ImageToTensorConverter, in cv2, on the rect of MediaPipe's C++
    ConvertToNormalizedRect (float32 fields and arithmetic; its rotation, counter-clockwise,
    normalized to (-180°, 180°]), written out here once more."""
    height, width = pixels.shape[:2]
    x_center = y_center = F32(0.5)
    rect_width = rect_height = F32(1)
    rotation = F32(0)
    if processing is not None:
        counter_clockwise = -processing.rotation_degrees % 360
        if counter_clockwise > 180:
            counter_clockwise -= 360
        rotation = F32(counter_clockwise * math.pi / 180)
        roi = processing.region_of_interest
        if roi is not None:
            left, top, right, bottom = map(F32, (roi.left, roi.top, roi.right, roi.bottom))
            x_center, y_center = F32((left + right) / F32(2)), F32((top + bottom) / F32(2))
            rect_width, rect_height = F32(right - left), F32(bottom - top)
        if processing.rotation_degrees % 180:
            rect_width, rect_height = (F32(rect_height * F32(height) / F32(width)),
                                       F32(rect_width * F32(width) / F32(height)))
    angle = F32(float(rotation * F32(180)) / math.pi)
    box = box_points(
        (float(x_center * F32(width)), float(y_center * F32(height))),
        (float(rect_width * F32(width)), float(rect_height * F32(height))),
        angle,
    )
    corners = np.array([[0, out_height], [0, 0], [out_width, 0], [out_width, out_height]], np.float32)
    matrix = cv2.getPerspectiveTransform(box, corners)
    return cv2.warpPerspective(pixels, matrix, (out_width, out_height),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def ours(pixels: np.ndarray, processing, out_width: int, out_height: int) -> np.ndarray:
    """The uint8 model input the classifier makes (NHWC), without its batch axis."""
    details = {"shape": np.array([1, out_height, out_width, 3]), "dtype": np.uint8}
    return preprocess.input_tensor(pixels, details, "NHWC", None, processing)[0]


def takes_axis_path(pixels: np.ndarray, processing, out_width: int, out_height: int) -> bool:
    height, width = pixels.shape[:2]
    matrix = geometry.transform(processing, width, height, out_width, out_height)
    return preprocess._axis_coordinates(matrix, out_width, out_height) is not None


def warp_like_opencv(pixels: np.ndarray, matrix: np.ndarray, out_width: int, out_height: int):
    """Our warp and cv2's for the same output-to-source map (WARP_INVERSE_MAP)."""
    warped = preprocess.warp(pixels, matrix, out_width, out_height)
    reference = cv2.warpPerspective(
        pixels, matrix, (out_width, out_height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
    )
    return np.moveaxis(warped, 0, -1), reference


def large_photo() -> np.ndarray:
    """A 1920x1280 photo (coffee.png enlarged): downscales of up to 270x."""
    return np.asarray(PILImage.fromarray(photo("coffee.png").rgb_view()).resize((1920, 1280)))


def test_the_reference_is_opencv_4():
    assert cv2.__version__.startswith("4."), "OpenCV 5 resamples in float, MediaPipe does not"


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("rotation", [0, 90, 180, 270, -90, -270, 360])
def test_whole_photo_every_rotation(name, rotation):
    pixels = photo(name).rgb_view()
    processing = ImageProcessingOptions(rotation_degrees=rotation)
    for size in SIZES:
        assert takes_axis_path(pixels, processing, *size)
        np.testing.assert_array_equal(ours(pixels, processing, *size), opencv_reference(pixels, processing, *size))


def random_region(rng: np.random.Generator) -> RectF:
    """Any size down to 1e-4 of the photo's side (upscales of up to 10^4), often on an edge
    (turned by 90°, such a region reaches outside the photo: replicated border).

    Regions a few thousandths of a pixel wide make the corners' linear system nearly singular,
    and there transform() and OpenCV 4.12's getPerspectiveTransform part ways; the warp itself
    agrees on any matrix (test_axis_aligned_maps_match_opencv)."""
    corners = []
    for _ in range(2):
        start, end = sorted(rng.uniform(0, 1, 2))
        if rng.random() < 0.3:
            end = min(1.0, start + 10 ** rng.uniform(-4, -2))
        if rng.random() < 0.2:
            start, end = (0.0, end) if rng.random() < 0.5 else (start, 1.0)
        corners.append((float(start), float(end)))
    (left, right), (top, bottom) = corners
    return RectF(left=left, top=top, right=right, bottom=bottom)


def rgba_view(pixels: np.ndarray) -> np.ndarray:
    """The RGB view of an RGBA copy, as the browser's frames come: gathered as whole words."""
    return np.dstack([pixels, np.full(pixels.shape[:2], 7, np.uint8)])[:, :, :3]


def bgra_view(pixels: np.ndarray) -> np.ndarray:
    """The RGB view of a BGRA copy (channels backwards), as a browser's VideoFrame holds them."""
    bgra = np.dstack([pixels[:, :, ::-1], np.full(pixels.shape[:2], 7, np.uint8)])
    return Image(ImageFormat.SBGRA, bgra).rgb_view()


def test_random_regions_and_rotations():
    rng = np.random.default_rng(20261126)
    photos = [photo(name).rgb_view() for name in PHOTOS] + [large_photo()]
    photos += [rgba_view(p) for p in photos]
    sizes = SIZES + [(1, 1), (999, 37)]
    paths = {True: 0, False: 0}
    checked = 0
    while checked < 400:
        region = random_region(rng)
        if region.left >= region.right or region.top >= region.bottom:
            continue
        rotation = int(rng.choice([0, 90, 180, 270, -90, -180, 450]))
        processing = ImageProcessingOptions(region, rotation)
        pixels = photos[checked % len(photos)]
        size = sizes[checked % len(sizes)]
        np.testing.assert_array_equal(
            ours(pixels, processing, *size), opencv_reference(pixels, processing, *size),
            err_msg=str(processing),
        )
        paths[takes_axis_path(pixels, processing, *size)] += 1
        checked += 1
    assert paths[True] > 300 and paths[False] > 0, paths


def axis_aligned_map(rng: np.random.Generator, width: int, height: int, faint: bool) -> np.ndarray:
    """An output-to-source map of scales 1e-3..1e3 (either sign, axes swapped or not) and shifts
    that may leave the image far behind; ``faint`` adds the tiny projective terms that MediaPipe's
    float32 corners leave. One map in four puts coordinates exactly halfway between 1/32 steps,
    where the faintest term decides the rounding."""
    shifts = rng.uniform(-1, 2, 2) * (width, height)
    if rng.random() < 0.25:
        scales = rng.choice([0.5, 1.5], 2)
        shifts = np.floor(shifts) + 1 / 64
    else:
        scales = 10 ** rng.uniform(-3, 3, 2)
    scales *= rng.choice([-1, 1], 2)
    matrix = np.array([[scales[0], 0, shifts[0]], [0, scales[1], shifts[1]], [0, 0, 1.0]])
    if rng.random() < 0.5:
        matrix[:2] = matrix[[1, 0]][:, [1, 0, 2]]
    if faint:
        matrix[[0, 0, 1, 1, 2, 2, 2], [0, 1, 0, 1, 0, 1, 2]] += (
            10 ** rng.uniform(-18, -7, 7) * rng.choice([-1, 1], 7) * [1, 1, 1, 1, 1e-3, 1e-3, 1]
        )
    return matrix


def test_axis_aligned_maps_match_opencv():
    rng = np.random.default_rng(6)
    photos = [photo("chelsea.png").rgb_view(), rgba_view(large_photo()),
              photo("grace_hopper.jpg").rgb_view()[::-1]]
    paths = {True: 0, False: 0}
    for case in range(300):
        pixels = photos[case % len(photos)]
        out_width, out_height = (SIZES + [(1, 1), (130, 1), (1, 70)])[case % 7]
        matrix = axis_aligned_map(rng, pixels.shape[1], pixels.shape[0], faint=case % 2 == 1)
        got, want = warp_like_opencv(pixels, matrix, out_width, out_height)
        np.testing.assert_array_equal(got, want, err_msg=str(matrix))
        paths[preprocess._axis_coordinates(matrix, out_width, out_height) is not None] += 1
    assert paths[True] > 200 and paths[False] > 0, paths


def test_axis_coordinates_are_exactly_the_pixel_coordinates():
    """What the axis path proves, checked against every pixel's coordinates."""
    rng = np.random.default_rng(7)
    proven = 0
    for case in range(3000):
        out_width, out_height = int(rng.integers(1, 300)), int(rng.integers(1, 300))
        matrix = axis_aligned_map(rng, 640, 480, faint=case % 4 != 0)
        axis = preprocess._axis_coordinates(matrix, out_width, out_height)
        if axis is not None:
            proven += 1
            every_pixel = preprocess._pixel_coordinates(matrix, out_width, out_height)
            for got, want in zip(np.broadcast_arrays(*axis), every_pixel):
                np.testing.assert_array_equal(got, want, err_msg=str(matrix))
    assert proven > 2000, proven


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 3, 3), (3, 2, 3)])
def test_tiny_images_upscale_like_opencv(shape):
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    for processing in (None, ImageProcessingOptions(RectF(left=0.2, top=0.1, right=0.9, bottom=1.0), 90)):
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


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_float_tensors_normalize_the_opencv_warp(layout):
    """Normalization and layout (one table lookup per channel plane) give what normalizing
    cv2's warp in float64 gives, for every value of every photo."""
    scale, offset = preprocess.input_normalization(np.float32, Normalization((127.0,), (128.0,)))
    shape = [1, 224, 224, 3] if layout == "NHWC" else [1, 3, 224, 224]
    details = {"shape": np.array(shape), "dtype": np.float32}
    for name, processing in itertools.product(
        PHOTOS, (None, ImageProcessingOptions(RectF(left=0.1, top=0.2, right=0.7, bottom=0.9), 90))
    ):
        pixels = photo(name).rgb_view()
        warped = opencv_reference(pixels, processing, 224, 224)
        want = (warped * np.float64(scale) + offset).astype(np.float32)
        if layout == "NCHW":
            want = want.transpose(2, 0, 1)
        tensor = preprocess.input_tensor(pixels, details, layout, (scale, offset), processing)
        assert tensor.flags.c_contiguous
        np.testing.assert_array_equal(tensor[0], want)


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


def rgb_in_four_byte_steps(pixels: np.ndarray) -> np.ndarray:
    """Pixels 4 bytes apart in a buffer that ends right after the last pixel's blue byte: not
    to be read as whole words (the last word would reach past the buffer)."""
    height, width = pixels.shape[:2]
    buffer = np.zeros(height * width * 4 - 1, np.uint8)
    view = as_strided(buffer, pixels.shape, (width * 4, 4, 1))
    view[...] = pixels
    return view


@pytest.mark.parametrize("view", ["rgba", "bgra", "flipped", "every_other_column", "zero_stride",
                                  "four_byte_steps", "rgba_rows_padded", "rgba_flipped"])
def test_strided_views_warp_like_their_copies(view):
    pixels = photo("coffee.png").rgb_view()
    rgba = np.dstack([pixels, np.full(pixels.shape[:2], 7, np.uint8)])
    padded = np.zeros((rgba.shape[0], rgba.shape[1] + 3, 4), np.uint8)
    padded[:, :-3] = rgba
    strided = {"rgba": rgba[:, :, :3], "bgra": bgra_view(pixels), "flipped": pixels[::-1], "every_other_column": pixels[:, ::2],
               "zero_stride": np.broadcast_to(pixels[:, :, :1], pixels.shape),
               "four_byte_steps": rgb_in_four_byte_steps(pixels),
               "rgba_rows_padded": padded[:, :-3, :3], "rgba_flipped": rgba[::-1, :, :3]}[view]
    for processing, size in itertools.product(
        (None, ImageProcessingOptions(RectF(left=0.1, top=0.2, right=0.7, bottom=0.9), 270)), SIZES
    ):
        np.testing.assert_array_equal(
            ours(strided, processing, *size),
            opencv_reference(np.ascontiguousarray(strided), processing, *size),
        )


@pytest.mark.parametrize("shape", [(2, 33000, 3), (33000, 2, 3)])
def test_sides_opencv_refuses_take_the_numpy_warp(shape):
    """OpenCV's warp refuses a side of 32767 pixels or more; such an image (within the pixel
    limit) is still classified, by the numpy warp, as in the browser."""
    pixels = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    with pytest.raises(cv2.error):
        cv2.warpPerspective(pixels, np.eye(3), (224, 224))
    tensor = ours(pixels, None, 224, 224)
    matrix = geometry.transform(None, shape[1], shape[0], 224, 224)
    np.testing.assert_array_equal(
        tensor, np.moveaxis(preprocess.warp(pixels, matrix, 224, 224), 0, -1))


def test_rgba_words_only_where_they_stay_inside_the_image():
    pixels = photo("chelsea.png").rgb_view()
    assert preprocess._words(rgba_view(pixels)) is not None
    assert preprocess._words(bgra_view(pixels)) is not None
    assert preprocess._words(pixels) is None  # 3-byte pixels
    assert preprocess._words(rgb_in_four_byte_steps(pixels)) is None


@pytest.mark.parametrize("path", ["numpy"], indirect=True)  # OpenCV needs no plans
def test_cached_plans_follow_every_change_of_geometry(path):
    """Geometries in turn (image sizes, regions, rotations, output sizes, pixel layouts), more
    of them than the cache holds, each twice: every tensor is still OpenCV's."""
    chelsea, coffee = photo("chelsea.png").rgb_view(), photo("coffee.png").rgb_view()
    images = [chelsea, coffee, rgba_view(chelsea), chelsea[:100, :50], rgba_view(coffee)[1:]]
    options = [None, ImageProcessingOptions(rotation_degrees=90),
               ImageProcessingOptions(RectF(left=0.1, top=0.2, right=0.6, bottom=0.9)),
               ImageProcessingOptions(RectF(left=0.1, top=0.2, right=0.6, bottom=0.9), 270),
               ImageProcessingOptions(RectF(left=0.3, top=0.2, right=0.4, bottom=0.25), 180)]
    geometries = list(itertools.product(images, options, [(224, 224), (260, 200)]))
    assert len(geometries) > 2 * preprocess._PLANS
    preprocess._sampling_plan.cache_clear()
    for _ in range(2):
        for pixels, processing, size in geometries:
            np.testing.assert_array_equal(ours(pixels, processing, *size),
                                          opencv_reference(pixels, processing, *size),
                                          err_msg=f"{pixels.shape} {processing} {size}")
    cache = preprocess._sampling_plan.cache_info()
    assert cache.currsize == preprocess._PLANS and cache.misses >= len(geometries)
    for _ in range(3):  # one geometry again and again: computed once
        ours(coffee, options[3], 224, 224)
    assert preprocess._sampling_plan.cache_info().hits >= cache.hits + 2


def test_nan_region_is_rejected_like_mediapipe():
    with pytest.raises(ValueError, match=r"^ROI contains NaN values\.$"):
        geometry.check_processing_options(ImageProcessingOptions(RectF(left=math.nan, top=0, right=1, bottom=1)))


def test_float_model_without_normalization_message_is_mediapipes():
    with pytest.raises(ValueError) as error:
        preprocess.input_normalization(np.float32, None)
    assert str(error.value) == ("Input tensor has type float32: it requires specifying "
                                "NormalizationOptions metadata to preprocess input images.")


def test_rows_read_are_all_the_warp_reads():
    """Rows outside ``rows_read`` filled with noise (as the browser leaves them unread): the
    tensor is the same, for downscales, upscales, regions and turns; the runs are the fewest."""
    rng = np.random.default_rng(20261206)
    details = {"shape": np.array([1, 224, 224, 3]), "dtype": np.uint8}
    for pixels in [large_photo(), photo("chelsea.png").rgb_view(), photo("coffee.png").rgb_view()[:40]]:
        for processing in [None, ImageProcessingOptions(rotation_degrees=90),
                           ImageProcessingOptions(RectF(left=0.1, top=0.2, right=0.6, bottom=0.9), 270),
                           ImageProcessingOptions(random_region(rng), -90)]:
            height, width = pixels.shape[:2]
            runs = preprocess.rows_read(width, height, details, "NHWC", processing)
            noisy = rng.integers(0, 256, pixels.shape, dtype=np.uint8)
            for first, count in runs:
                noisy[first:first + count] = pixels[first:first + count]
            assert all(a + n < b for (a, n), (b, _) in zip(runs, runs[1:]))
            np.testing.assert_array_equal(
                preprocess.input_tensor(noisy, details, "NHWC", None, processing),
                preprocess.input_tensor(pixels, details, "NHWC", None, processing))
    runs = preprocess.rows_read(1920, 1280, details, "NHWC")
    assert (len(runs), sum(count for _, count in runs)) == (224, 448)  # two rows a tensor row
