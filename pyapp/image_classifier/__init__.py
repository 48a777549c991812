"""MediaPipe's Image Classifier task in pure Python (numpy + Pillow), for CPython and Pyodide."""

from .classifier import ImageClassifier
from .image import Image, ImageFormat
from .options import (
    BaseOptions,
    Delegate,
    ImageClassifierOptions,
    ImageProcessingOptions,
    RectF,
    RunningMode,
)
from .results import Category, ClassificationResult, Classifications, ImageClassifierResult

__all__ = [
    "BaseOptions",
    "Category",
    "ClassificationResult",
    "Classifications",
    "Delegate",
    "Image",
    "ImageClassifier",
    "ImageClassifierOptions",
    "ImageClassifierResult",
    "ImageFormat",
    "ImageProcessingOptions",
    "RectF",
    "RunningMode",
]
