"""Drop-in for MediaPipe Python: the same calls on ``image_classifier`` and on mediapipe 1.2.3
(a test-only dependency), with our Lite0 ``.tflite``, behave the same.

MediaPipe's ``Image.numpy_view()`` points into memory its ``Image`` owns: the images are kept
alive while their pixels are used (dropping one early crashes the process).
"""

from __future__ import annotations

import dataclasses
import threading
import time

import mediapipe as mp
import numpy as np
import pytest
from conftest import IMAGES, model_file
from mediapipe.tasks.python import BaseOptions as MpBaseOptions
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.components.containers.rect import RectF as MpRectF
from mediapipe.tasks.python.vision.core.image_processing_options import (
    ImageProcessingOptions as MpProcessingOptions,
)
from PIL import Image as PILImage

import image_classifier as ic

MODEL = str(model_file("lite0_fp32", "tflite"))
JPEGS = ("grace_hopper.jpg", "rocket.jpg", "china.jpg")


def mp_classifier(**options) -> vision.ImageClassifier:
    return vision.ImageClassifier.create_from_options(
        vision.ImageClassifierOptions(base_options=MpBaseOptions(model_asset_path=MODEL), **options)
    )


def our_classifier(**options) -> ic.ImageClassifier:
    return ic.ImageClassifier.create_from_options(
        ic.ImageClassifierOptions(base_options=ic.BaseOptions(model_asset_path=MODEL), **options)
    )


def both_images(pixels: np.ndarray) -> tuple[mp.Image, ic.Image]:
    return (mp.Image(image_format=mp.ImageFormat.SRGB, data=pixels),
            ic.Image(ic.ImageFormat.SRGB, pixels))


def scores(result) -> list[tuple[int, str, float]]:
    return [(c.index, c.category_name, c.score) for c in result.classifications[0].categories]


def assert_same_scores(theirs, ours, tolerance: float) -> float:
    """Same categories in the same order, scores within ``tolerance``; returns the largest gap."""
    theirs, ours = scores(theirs), scores(ours)
    assert [c[:2] for c in theirs] == [c[:2] for c in ours]
    gap = max(abs(a[2] - b[2]) for a, b in zip(theirs, ours))
    assert gap <= tolerance
    return gap


def photo_pixels(name: str) -> np.ndarray:
    return np.asarray(PILImage.open(IMAGES / name).convert("RGB"))


def test_rectf_positional_order_is_mediapipes():
    assert [f.name for f in dataclasses.fields(ic.RectF)] == [
        f.name for f in dataclasses.fields(MpRectF)
    ] == ["left", "top", "bottom", "right"]
    # A ported positional call crops the same region: left 0.1, top 0.2, bottom 0.9, right 0.8.
    theirs_image, our_image = both_images(photo_pixels("coffee.png"))
    with mp_classifier(max_results=5) as theirs, our_classifier(max_results=5) as ours:
        their_result = theirs.classify(
            theirs_image, MpProcessingOptions(region_of_interest=MpRectF(0.1, 0.2, 0.9, 0.8))
        )
        our_result = ours.classify(
            our_image, ic.ImageProcessingOptions(region_of_interest=ic.RectF(0.1, 0.2, 0.9, 0.8))
        )
    assert_same_scores(their_result, our_result, 1e-6)


def error_of(call) -> tuple[type, str]:
    with pytest.raises(Exception) as caught:
        call()
    return type(caught.value), str(caught.value)


@pytest.mark.parametrize("mode", ["IMAGE", "VIDEO", "LIVE_STREAM"])
def test_running_mode_errors_read_as_mediapipes(mode):
    image = np.zeros((32, 32, 3), np.uint8)
    their_image, our_image = both_images(image)
    callback = (lambda *_: None) if mode == "LIVE_STREAM" else None
    with mp_classifier(running_mode=vision.RunningMode[mode], result_callback=callback) as theirs, \
            our_classifier(running_mode=ic.RunningMode[mode], result_callback=callback) as ours:
        calls = {
            "IMAGE": (lambda c, i: c.classify(i)),
            "VIDEO": (lambda c, i: c.classify_for_video(i, 5)),
            "LIVE_STREAM": (lambda c, i: c.classify_async(i, 5)),
        }
        for other, call in calls.items():
            if other != mode:
                theirs_error = error_of(lambda: call(theirs, their_image))
                assert error_of(lambda: call(ours, our_image)) == theirs_error
                described = mode.lower().replace("_", " ")
                assert theirs_error[1].endswith(f"Current running mode:{described} mode")


def test_model_errors_read_as_mediapipes(tmp_path):
    missing = str(tmp_path / "missing.tflite")
    theirs = error_of(lambda: vision.ImageClassifier.create_from_model_path(missing))
    assert theirs == (FileNotFoundError, f"Unable to open file at {missing}")
    assert error_of(lambda: ic.ImageClassifier.create_from_model_path(missing)) == theirs

    theirs = error_of(lambda: vision.ImageClassifier.create_from_options(
        vision.ImageClassifierOptions(base_options=MpBaseOptions())))
    ours = error_of(lambda: ic.ImageClassifier.create_from_options(
        ic.ImageClassifierOptions(base_options=ic.BaseOptions())))
    assert ours == theirs

    junk = b"definitely not a model, " * 10
    theirs = error_of(lambda: vision.ImageClassifier.create_from_options(
        vision.ImageClassifierOptions(base_options=MpBaseOptions(model_asset_buffer=junk))))
    ours = error_of(lambda: ic.ImageClassifier.create_from_options(
        ic.ImageClassifierOptions(base_options=ic.BaseOptions(model_asset_buffer=junk))))
    assert theirs == (ValueError, "The model is not a valid Flatbuffer buffer")
    assert ours[0] is ValueError and ours[1].startswith(theirs[1])


def test_image_mode_timestamps_advance_as_mediapipes():
    their_image, our_image = both_images(np.zeros((32, 32, 3), np.uint8))
    with mp_classifier() as theirs, our_classifier() as ours:
        their_stamps = [theirs.classify(their_image).timestamp_ms for _ in range(3)]
        our_stamps = [ours.classify(our_image).timestamp_ms for _ in range(3)]
    assert their_stamps == our_stamps == [0, 1000, 2000]


def test_allowlist_of_unknown_names_and_unknown_locale_as_mediapipes():
    their_image, our_image = both_images(photo_pixels("chelsea.png"))
    for options in ({"category_allowlist": ["no such class"]},
                    {"category_allowlist": ["no such class", "tabby"]},
                    {"display_names_locale": "xx", "max_results": 3}):
        with mp_classifier(**options) as theirs, our_classifier(**options) as ours:
            their_result, our_result = theirs.classify(their_image), ours.classify(our_image)
        assert_same_scores(their_result, our_result, 1e-6)
        assert [c.display_name for c in our_result.classifications[0].categories] == [
            c.display_name for c in their_result.classifications[0].categories
        ]
    assert our_result.classifications[0].categories[0].display_name is None


def test_image_format_equals_its_integer_as_mediapipes():
    for name in ("SRGB", "SRGBA", "GRAY8"):
        assert ic.ImageFormat[name] == mp.ImageFormat[name] == int(mp.ImageFormat[name])
        assert int(ic.ImageFormat[name]) == int(mp.ImageFormat[name])
    assert ic.Image(1, np.zeros((2, 2, 3), np.uint8)).image_format is ic.ImageFormat.SRGB


def live_stream_timestamps(classifier_factory, image, running_mode) -> list[int]:
    """Three bursts of five frames, each sent while the classifier is idle."""
    stamps, done = [], threading.Condition()

    def callback(_result, _image, timestamp_ms):
        with done:
            stamps.append(timestamp_ms)
            done.notify_all()

    with classifier_factory(running_mode=running_mode, result_callback=callback) as classifier:
        for burst in range(3):
            for i in range(5):
                classifier.classify_async(image, burst * 1000 + i)
            deadline = time.monotonic() + 30
            with done:  # both runners deliver two results a burst: wait for them
                while len(stamps) < 2 * (burst + 1) and time.monotonic() < deadline:
                    done.wait(0.1)
            time.sleep(0.2)  # and nothing else comes
    return stamps


def test_live_stream_burst_runs_the_first_frame_and_keeps_the_newest_as_mediapipe():
    their_image, our_image = both_images(np.zeros((224, 224, 3), np.uint8))
    theirs = live_stream_timestamps(mp_classifier, their_image, vision.RunningMode.LIVE_STREAM)
    ours = live_stream_timestamps(our_classifier, our_image, ic.RunningMode.LIVE_STREAM)
    assert theirs == ours == [0, 4, 1000, 1004, 2000, 2004]


def test_jpeg_scores_are_mediapipes():
    gaps = []
    with mp_classifier() as theirs, our_classifier() as ours:
        for name in JPEGS:
            their_image = mp.Image.create_from_file(str(IMAGES / name))
            gaps.append(assert_same_scores(
                theirs.classify(their_image),
                ours.classify(ic.Image.create_from_file(IMAGES / name)),
                1e-5,
            ))
    print(f"JPEG scores, MediaPipe vs ours: max |diff| {max(gaps):.1e}")
