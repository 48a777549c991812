"""ImageClassifier: MediaPipe's Image Classifier task over any engine of ``engines``.

A frame travels one way: image → ``preprocess`` (MediaPipe's warp, then normalization) →
the engine → ``postprocess`` → ClassificationResult. The same code runs on CPython and in
Pyodide; only the engine behind ``engines.load`` differs.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from . import engines, postprocess, preprocess
from .image import Image
from .live_stream import Scheduling
from .metadata import ModelMetadata, model_format, read_model_metadata
from .options import (
    BaseOptions,
    Delegate,
    ImageClassifierOptions,
    ImageProcessingOptions,
    RunningMode,
)
from .results import ClassificationResult
from .vision_task import VisionTask


@dataclass(frozen=True)
class _Frame:
    image: Image
    processing: Optional[ImageProcessingOptions]
    timestamp_ms: int


class ImageClassifier(VisionTask):
    """Classifies images into the categories of the model.

    Create it with ``create_from_model_path`` or ``create_from_options``; call ``classify``
    (IMAGE), ``classify_for_video`` (VIDEO) or ``classify_async`` (LIVE_STREAM); ``close`` it
    or use it in a ``with`` block.
    """

    def __init__(
        self,
        options: ImageClassifierOptions,
        model: bytes,
        *,
        live_stream_scheduling: Optional[Scheduling] = None,
    ) -> None:
        self._metadata: ModelMetadata = read_model_metadata(model)
        self._interpreter = engines.load(
            model, model_format(model), (options.base_options.delegate or Delegate.CPU).name
        )
        self._input = self._interpreter.get_input_details()[0]
        self._outputs = self._interpreter.get_output_details()
        self._input_normalization = preprocess.input_normalization(
            self._input["dtype"], self._metadata.input.normalization
        )
        self._options = options
        self._plans = self._plan(options)
        self.last_timings_ms: dict[str, float] = {}
        super().__init__(
            options.running_mode,
            self._classify_live_frame if options.running_mode == RunningMode.LIVE_STREAM else None,
            live_stream_scheduling,
        )

    @classmethod
    def create_from_model_path(cls, model_path: str) -> ImageClassifier:
        """An IMAGE-mode classifier for the model file at ``model_path``.

        Raises:
          ValueError: The model cannot be used.
          FileNotFoundError: There is no file at ``model_path``.
        """
        return cls.create_from_options(
            ImageClassifierOptions(base_options=BaseOptions(model_asset_path=model_path))
        )

    @classmethod
    def create_from_options(
        cls,
        options: ImageClassifierOptions,
        *,
        live_stream_scheduling: Optional[Scheduling] = None,
    ) -> ImageClassifier:
        """A classifier for ``options``.

        Args:
          options: The task's options.
          live_stream_scheduling: LIVE_STREAM only: when frames get processed. By default a
            worker thread on CPython, and ``HostScheduling`` in Pyodide, whose ``run_pending()``
            the host calls (see ``live_stream``).

        Raises:
          ValueError: Invalid options, or a model that cannot be used with them.
          FileNotFoundError: ``model_asset_path`` names no file.
          NotImplementedError: The model needs something this package does not support.
        """
        options.validate()
        if options.base_options.model_asset_buffer is not None:
            model = bytes(options.base_options.model_asset_buffer)
        else:
            with open(options.base_options.model_asset_path, "rb") as file:
                model = file.read()
        if not model:
            raise ValueError("The model file is empty.")
        return cls(options, model, live_stream_scheduling=live_stream_scheduling)

    @property
    def metadata(self) -> ModelMetadata:
        """What the model says about itself: labels, locales, normalization, heads."""
        return self._metadata

    @property
    def input_details(self) -> dict:
        """The engine's input tensor: shape, dtype, quantization."""
        return self._input

    @property
    def output_details(self) -> list[dict]:
        """The engine's output tensors, one per head: shape, dtype, quantization."""
        return self._outputs

    def set_options(self, **changes) -> None:
        """Changes post-processing options (max_results, score_threshold, locale, lists).

        The model and the running mode stay; a change that fails leaves the old options.
        """
        for name in changes:
            if name in ("base_options", "running_mode", "result_callback"):
                raise ValueError(f"`{name}` cannot change after creation.")
        options = replace(self._options, **changes)
        options.validate()
        self._plans, self._options = self._plan(options), options

    def _plan(self, options: ImageClassifierOptions) -> list[postprocess.HeadPlan]:
        return postprocess.plan_heads(
            self._metadata.heads,
            self._outputs,
            display_names_locale=options.display_names_locale,
            max_results=options.max_results,
            score_threshold=options.score_threshold,
            category_allowlist=options.category_allowlist,
            category_denylist=options.category_denylist,
        )

    def classify(
        self, image: Image, image_processing_options: Optional[ImageProcessingOptions] = None
    ) -> ClassificationResult:
        """Classifies one image (IMAGE mode).

        Args:
          image: The image; RGBA loses its alpha, grayscale is replicated to RGB.
          image_processing_options: Region of interest and rotation.

        Returns:
          The classifications of every head, with timestamp 0.

        Raises:
          ValueError: Wrong running mode, invalid processing options or image.
          RuntimeError: The engine failed.
        """
        self._check_mode(RunningMode.IMAGE)
        return self._classify(image, image_processing_options, 0)

    def classify_for_video(
        self,
        image: Image,
        timestamp_ms: int,
        image_processing_options: Optional[ImageProcessingOptions] = None,
    ) -> ClassificationResult:
        """Classifies one video frame (VIDEO mode); timestamps must strictly increase.

        Raises:
          ValueError: Wrong running mode, a timestamp not after the previous one, or invalid
            processing options.
        """
        self._check_mode(RunningMode.VIDEO)
        preprocess.check_processing_options(image_processing_options)
        self._check_timestamp(timestamp_ms)
        return self._classify(image, image_processing_options, timestamp_ms)

    def classify_async(
        self,
        image: Image,
        timestamp_ms: int,
        image_processing_options: Optional[ImageProcessingOptions] = None,
    ) -> None:
        """Hands a frame over (LIVE_STREAM mode) and returns at once.

        The result reaches ``result_callback(result, image, timestamp_ms)``. While the engine
        is busy, a newer frame replaces the one waiting: results may be fewer than frames.

        Raises:
          ValueError: Wrong running mode, a timestamp not after the previous one, or invalid
            processing options.
        """
        self._check_mode(RunningMode.LIVE_STREAM)
        preprocess.check_processing_options(image_processing_options)
        self._check_timestamp(timestamp_ms)
        self._send_live_stream(_Frame(image, image_processing_options, timestamp_ms))

    def _classify_live_frame(self, frame: _Frame) -> None:
        result = self._classify(frame.image, frame.processing, frame.timestamp_ms)
        self._options.result_callback(result, frame.image, frame.timestamp_ms)

    def _classify(
        self,
        image: Image,
        processing: Optional[ImageProcessingOptions],
        timestamp_ms: int,
    ) -> ClassificationResult:
        if not isinstance(image, Image):
            raise ValueError(f"Expected an image_classifier.Image, got {type(image).__name__}.")
        started = time.perf_counter()
        tensor = self._preparation()(image.rgb_view(), processing=processing)
        preprocess_ms = (time.perf_counter() - started) * 1e3
        return self._classify_tensor(tensor, timestamp_ms, preprocess_ms)

    def _preparation(self) -> functools.partial:
        """The half of a classify that needs no engine: (RGB pixels, processing=) → the input
        tensor. Picklable, so that ``batch`` runs it in worker processes."""
        return functools.partial(
            preprocess.input_tensor,
            input_details=self._input,
            layout=self._metadata.input.layout,
            normalization=self._input_normalization,
        )

    def _classify_tensor(
        self, tensor: np.ndarray, timestamp_ms: int, preprocess_ms: float
    ) -> ClassificationResult:
        """The other half: the engine and post-processing of a prepared input tensor."""
        started = time.perf_counter()
        self._interpreter.set_tensor(self._input["index"], tensor)
        self._interpreter.invoke()
        outputs = [self._interpreter.get_tensor(d["index"]) for d in self._outputs]
        inferred = time.perf_counter()
        classifications = [
            postprocess.classify_head(plan, outputs[plan.head_index]) for plan in self._plans
        ]
        finished = time.perf_counter()
        self.last_timings_ms = {
            "preprocess": preprocess_ms,
            "inference": (inferred - started) * 1e3,
            "postprocess": (finished - inferred) * 1e3,
        }
        return ClassificationResult(classifications=classifications, timestamp_ms=timestamp_ms)

    def close(self) -> None:
        """Stops the task and frees the engine.

        Raises:
          RuntimeError: The engine failed to close.
        """
        super().close()
        self._interpreter.close()

