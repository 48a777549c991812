"""Misuse and hostile input on CPython (issue 16): EXIF orientation as MediaPipe applies it,
pixels that 8 bits cannot show, caller-owned arrays, option types and values, huge rotations,
and photo paths that are not photo files."""

from __future__ import annotations

import dataclasses
import math
import os
import time

import mediapipe as mp
import numpy as np
import pytest
from conftest import IMAGES, model_file, photo
from PIL import Image as PILImage
from test_options import default_metadata, with_metadata

import image_classifier as ic
from image_classifier import BaseOptions, Image, ImageClassifier, ImageClassifierOptions
from image_classifier import preprocess, webapi

ImageFormat, ImageProcessingOptions, RectF, RunningMode = (
    ic.ImageFormat, ic.ImageProcessingOptions, ic.RectF, ic.RunningMode
)

MODEL = str(model_file("lite0_fp32"))


def oriented(tmp_path, name: str, orientation: int, jpeg: bool = True):
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"{orientation}.{'jpg' if jpeg else 'png'}"
    PILImage.open(IMAGES / name).convert("RGB").save(path, exif=exif.tobytes())
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_mediapipe(tmp_path, orientation):
    path = oriented(tmp_path, "grace_hopper.jpg", orientation)
    theirs = mp.Image.create_from_file(str(path))
    ours = Image.create_from_file(path)
    assert np.array_equal(ours.numpy_view(), theirs.numpy_view())
    if orientation in (6, 8):  # stored 512 wide x 600 high, shown 600 x 512
        assert (ours.width, ours.height) == (600, 512)


def test_phone_photo_classifies_upright_as_mediapipe(tmp_path):
    """The espresso photo stored turned, as a phone does, with the EXIF orientation that turns
    it back: MediaPipe's scores on the file, and the upright photo's top category."""
    from test_mediapipe_dropin import assert_same_scores, mp_classifier

    exif = PILImage.Exif()
    with mp_classifier(max_results=3) as theirs, ImageClassifier.create_from_options(
        ImageClassifierOptions(base_options=BaseOptions(
            model_asset_path=str(model_file("lite0_fp32", "tflite"))), max_results=3)
    ) as ours:
        for orientation, transpose in ((3, PILImage.Transpose.ROTATE_180),
                                       (6, PILImage.Transpose.ROTATE_90),
                                       (8, PILImage.Transpose.ROTATE_270)):
            exif[0x0112] = orientation
            path = tmp_path / f"phone{orientation}.jpg"
            PILImage.open(IMAGES / "coffee.png").convert("RGB").transpose(transpose).save(
                path, exif=exif.tobytes(), quality=95
            )
            their_image = mp.Image.create_from_file(str(path))
            our_result = ours.classify(Image.create_from_file(path))
            assert_same_scores(theirs.classify(their_image), our_result, 1e-6)
            assert our_result.classifications[0].categories[0].category_name == "espresso"


def test_png_orientation_is_left_as_mediapipe_leaves_it(tmp_path):
    path = oriented(tmp_path, "coffee.png", 6, jpeg=False)
    theirs = mp.Image.create_from_file(str(path))
    ours = Image.create_from_file(path)
    assert (ours.width, ours.height) == (theirs.width, theirs.height) == (600, 400)


def test_unreadable_pixels_are_refused(tmp_path):
    wide = np.array([[0, 70000], [-5, 2**31 - 1]], dtype=np.int32)
    PILImage.fromarray(wide, mode="I").save(tmp_path / "int32.tif")
    PILImage.fromarray(wide.astype(np.float32), mode="F").save(tmp_path / "float.tif")
    with pytest.raises(ValueError, match="32-bit integer pixels"):
        Image.create_from_file(tmp_path / "int32.tif")
    with pytest.raises(ValueError, match="floating-point pixels"):
        Image.create_from_file(tmp_path / "float.tif")


def test_normalization_std_of_zero_is_refused_at_creation():
    metadata = default_metadata()
    for std in (0.0, math.nan):
        broken = dataclasses.replace(
            metadata,
            input=dataclasses.replace(
                metadata.input,
                normalization=dataclasses.replace(metadata.input.normalization, std=(std,)),
            ),
        )
        model = with_metadata(broken)
        options = ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=model))
        with pytest.raises(ValueError, match="std must be a non-zero number"):
            ImageClassifier.create_from_options(options)


def test_image_copies_the_callers_array(lite0):
    buffer = np.array(photo("coffee.png").numpy_view())
    image = Image(ImageFormat.SRGB, buffer)
    theirs = mp.Image(image_format=mp.ImageFormat.SRGB, data=buffer)
    assert buffer.flags.writeable  # a camera loop refills it for the next frame
    before = lite0.classify(image).classifications
    buffer[:] = 0
    assert lite0.classify(image).classifications == before
    assert np.array_equal(image.numpy_view(), theirs.numpy_view())  # MediaPipe copies too
    with pytest.raises(ValueError):
        image.numpy_view()[0, 0, 0] = 1


@pytest.mark.parametrize("options, error, message", [
    ({"score_threshold": math.nan}, ValueError, "`score_threshold` must be a number"),
    ({"score_threshold": "0.5"}, TypeError, "`score_threshold` must be a number"),
    ({"max_results": 2.5}, TypeError, "`max_results` must be an integer"),
    ({"max_results": math.inf}, TypeError, "`max_results` must be an integer"),
    ({"category_allowlist": "tabby"}, TypeError, "`category_allowlist` must be a list of strings"),
    ({"category_denylist": [3]}, TypeError, "`category_denylist` must be a list of strings"),
    ({"running_mode": RunningMode.LIVE_STREAM, "result_callback": 5}, TypeError,
     "`result_callback` must be callable"),
    ({"running_mode": "IMAGE"}, TypeError, "`running_mode` must be a RunningMode"),
])
def test_invalid_options_are_refused_at_creation(options, error, message):
    with pytest.raises(error, match=message):
        ImageClassifier.create_from_options(
            ImageClassifierOptions(base_options=BaseOptions(model_asset_path=MODEL), **options)
        )


def test_infinite_thresholds_keep_all_or_nothing(lite0):
    image = photo("coffee.png")
    for threshold, count in ((-math.inf, 1000), (math.inf, 0)):
        with ImageClassifier.create_from_options(ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=MODEL), score_threshold=threshold
        )) as classifier:
            assert len(classifier.classify(image).classifications[0].categories) == count


@pytest.mark.parametrize("processing, error, message", [
    (ImageProcessingOptions(rotation_degrees="90"), TypeError, "`rotation_degrees` must be an int"),
    (ImageProcessingOptions(rotation_degrees=90.0), TypeError, "`rotation_degrees` must be an int"),
    (ImageProcessingOptions(region_of_interest=(0.1, 0.1, 0.9, 0.9)), TypeError,
     "`region_of_interest` must be a RectF"),
    (ImageProcessingOptions(region_of_interest=RectF(0, 0, 1, "1")), TypeError,
     "`right` must be a number"),
    ({"rotation_degrees": 90}, TypeError, "must be ImageProcessingOptions"),
])
def test_invalid_processing_options_are_refused(lite0, processing, error, message):
    with pytest.raises(error, match=message):
        lite0.classify(photo("coffee.png"), processing)


@pytest.mark.parametrize("timestamp", [5.5, 6.0, math.nan, math.inf, "7", True])
def test_timestamps_must_be_integers(timestamp):
    with ImageClassifier.create_from_options(ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=MODEL), running_mode=RunningMode.VIDEO
    )) as classifier:
        with pytest.raises(TypeError, match="`timestamp_ms` must be an integer"):
            classifier.classify_for_video(photo("coffee.png"), timestamp)
        # The bad call changed nothing: timestamp 0 still works, then only later ones.
        classifier.classify_for_video(photo("coffee.png"), np.int64(0))
        with pytest.raises(ValueError, match="monotonically increasing"):
            classifier.classify_for_video(photo("coffee.png"), 0)


@pytest.mark.parametrize("value, shown", [
    (math.inf, "Infinity"), (-math.inf, "-Infinity"), (math.nan, "NaN"), (2.5, "2.5"),
])
def test_js_api_reports_bad_numbers_in_its_own_words(value, shown):
    api = webapi.WorkerApi()
    base = {"modelAssetPath": MODEL}
    for options in ({"baseOptions": base, "maxResults": value},):
        error = api.dispatch("create", [options])["error"]
        assert error == {"name": "ValueError", "decode": False,
                         "message": f"`maxResults` must be an integer, got {shown}."}
    created = api.dispatch("create", [{"baseOptions": base, "runningMode": "VIDEO"}])
    handle = created["value"]["handle"]
    rgba = {"rgba": bytes(4 * 16), "width": 4, "height": 4}
    for args in ([handle, rgba, {"rotationDegrees": value}, 1],
                 [handle, rgba, None, value]):
        message = api.dispatch("classify", args)["error"]["message"]
        assert message.endswith(f"must be an integer, got {shown}."), message
        assert "Overflow" not in message and "convert" not in message
    api.dispatch("close", [handle])


def test_huge_multiples_of_360_do_not_turn_the_crop():
    rgb = photo("grace_hopper.jpg").rgb_view()
    details = {"shape": (1, 224, 224, 3), "dtype": np.float32}
    plain = preprocess.input_tensor(rgb, details, "NHWC", (1 / 128, -1.0), None)
    for degrees in (360 * 10**9, -360 * 10**12):
        turned = preprocess.input_tensor(
            rgb, details, "NHWC", (1 / 128, -1.0), ImageProcessingOptions(rotation_degrees=degrees)
        )
        assert np.array_equal(turned, plain)


def test_photo_paths_that_are_not_photo_files_are_refused_quickly(tmp_path):
    started = time.monotonic()
    with pytest.raises(ValueError, match="not a regular file"):
        Image.create_from_file("/dev/zero")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: opening it would wait forever
    with pytest.raises(ValueError, match="not a regular file"):
        Image.create_from_file(fifo)
    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as file:  # sparse: 4 GB on paper, nothing on disk
        file.write((IMAGES / "rocket.jpg").read_bytes())
        file.truncate(4 * 2**30)
    with pytest.raises(ValueError, match="Image is too large: the file has 4294967296 bytes"):
        Image.create_from_file(huge)
    assert time.monotonic() - started < 10
