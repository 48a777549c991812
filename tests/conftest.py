"""Shared fixtures: the repository's models and test photos."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from image_classifier import Image, ImageClassifier

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
IMAGES = Path(__file__).resolve().parent / "images"
MODEL_NAMES = ("lite0_fp32", "lite0_int8", "lite2_fp32", "lite2_int8")


def model_file(name: str, model_format: str = "onnx") -> Path:
    """A built-in model file by short name and format, e.g. ('lite0_int8', 'tflite')."""
    return MODELS / f"efficientnet_{name}.{model_format}"


@functools.cache
def photo(name: str) -> Image:
    """A test photo, decoded once (images are read-only)."""
    return Image.create_from_file(IMAGES / name)


@pytest.fixture(scope="session")
def lite0() -> ImageClassifier:
    """An IMAGE-mode classifier on the default model, shared by read-only tests."""
    classifier = ImageClassifier.create_from_model_path(str(model_file("lite0_fp32")))
    yield classifier
    classifier.close()
