"""The input tensor a classifier makes of a photo, MediaPipe's as it runs and ours, read off the
scores of ``identity_model`` (tflite_models.py): for the tests and bench/agreement.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mediapipe.tasks.python import BaseOptions as MpBaseOptions
from mediapipe.tasks.python import vision
from tflite_models import identity_model

from image_classifier import BaseOptions, ImageClassifier, ImageClassifierOptions


def identity_classifiers(folder: Path):
    """(MediaPipe's ImageClassifier, ours) on an identity model written in ``folder``, every
    score kept."""
    model = Path(folder) / "identity.tflite"
    model.write_bytes(identity_model())
    theirs = vision.ImageClassifier.create_from_options(vision.ImageClassifierOptions(
        base_options=MpBaseOptions(model_asset_path=str(model)), max_results=-1))
    ours = ImageClassifier.create_from_options(
        ImageClassifierOptions(BaseOptions(model_asset_path=str(model)), max_results=-1))
    return theirs, ours


def input_tensor(classifier, image, options) -> np.ndarray:
    """The (pixels, channels) tensor ``classifier`` (either) feeds the model for ``image`` with
    its own kind of ImageProcessingOptions."""
    categories = classifier.classify(image, options).classifications[0].categories
    values = np.zeros(len(categories), np.float32)
    values[[c.index for c in categories]] = [c.score for c in categories]
    return values.reshape(-1, 3)
