"""ImageClassifier: MediaPipe's Image Classifier task over any engine of ``engines``.

A frame travels one way: image → ``preprocess`` (MediaPipe's warp, then normalization) →
the engine → ``postprocess`` → ClassificationResult. The same code runs on CPython and in
Pyodide; only the engine behind ``engines.load`` differs.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from . import engines, geometry, postprocess, preprocess
from .image import Image
from .live_stream import Scheduling
from .metadata import ModelMetadata
from .model import check_engine_outputs, model_format, read_model_file, read_model_metadata
from .options import (
    BaseOptions,
    Delegate,
    ImageClassifierOptions,
    ImageProcessingOptions,
    RunningMode,
)
from .results import ClassificationResult, Classifications
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
        self._metadata: ModelMetadata = read_model_metadata(model)  # checks it for the engine
        # One inference at a time, as MediaPipe's graph runs them: an engine's input and
        # output tensors are shared state, so two threads would swap each other's results.
        self._engine_lock = threading.Lock()
        self._interpreter = engines.load(
            model, model_format(model), (options.base_options.delegate or Delegate.CPU).name
        )
        try:
            self._input = self._interpreter.get_input_details()[0]
            self._outputs = self._interpreter.get_output_details()
            check_engine_outputs(self._outputs)
            # Each output's number of values, worked out once (numpy's prod is slow in wasm).
            self._output_sizes = [int(np.prod(d["shape"])) for d in self._outputs]
            self._input_normalization = preprocess.input_normalization(
                self._input["dtype"], self._metadata.input.normalization
            )
            self._options = options
            self._plans = self._plan(options)
        except BaseException:  # a model refused after loading frees its engine at once
            self._interpreter.close()
            raise
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
            model = read_model_file(options.base_options.model_asset_path)
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

    def warm_up(self, image: Image) -> None:
        """Classifies ``image`` once and forgets it: an engine's first run allocates and
        compiles (in a browser several times the time of the next ones), so a caller that
        warms up at creation makes its first real call as fast as the tenth. Any running mode;
        no timestamp, result or callback. An engine that has run the model already (``warm``,
        see engines.base) is not run again: the preprocessing and post-processing warm up
        alone, on outputs of zeros."""
        if getattr(self._interpreter, "warm", False):
            self._preparation()(image.rgb_view(), processing=None)
            self._heads([np.zeros(d["shape"], d["dtype"]) for d in self._outputs])
        else:
            self._classify(image, None, 0)
        self.last_timings_ms = {}

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
          The classifications of every head, with MediaPipe's IMAGE-mode timestamp (0, 1000,
          2000... one call after another).

        Raises:
          ValueError: Wrong running mode, invalid processing options or image.
          RuntimeError: The engine failed.
        """
        self._check_mode(RunningMode.IMAGE)
        _check_processing(image_processing_options)
        return self._classify(image, image_processing_options, self._next_image_timestamp())

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
        _check_processing(image_processing_options)
        timestamp_ms = self._check_timestamp(timestamp_ms)
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
        _check_processing(image_processing_options)
        timestamp_ms = self._check_timestamp(timestamp_ms)
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
        with self._engine_lock:
            self._interpreter.set_tensor(self._input["index"], tensor)
            self._interpreter.invoke()
            outputs = [self._interpreter.get_tensor(d["index"]) for d in self._outputs]  # fresh arrays
        for details, output, size in zip(self._outputs, outputs, self._output_sizes):
            if output.size != size:  # a graph that resized it
                raise RuntimeError(
                    f"Inference failed: output tensor {details['name']} has {output.size} "
                    f"values, the model declares {details['shape'].tolist()}."
                )
        inferred = time.perf_counter()
        classifications = self._heads(outputs)
        finished = time.perf_counter()
        self.last_timings_ms = {
            "preprocess": preprocess_ms,
            "inference": (inferred - started) * 1e3,
            "postprocess": (finished - inferred) * 1e3,
        }
        return ClassificationResult(classifications=classifications, timestamp_ms=timestamp_ms)

    def _heads(self, outputs: list[np.ndarray]) -> list[Classifications]:
        """Each head's categories from the engine's outputs (post-processing)."""
        return [postprocess.classify_head(plan, outputs[plan.head_index]) for plan in self._plans]

    def close(self) -> None:
        """Stops the task and frees the engine; classifying afterwards raises "The task is
        closed." (MediaPipe 1.2.3 returns an empty result instead).

        Raises:
          RuntimeError: The engine failed to close.
        """
        super().close()
        with self._engine_lock:
            self._interpreter.close()


def _check_processing(processing: Optional[ImageProcessingOptions]) -> None:
    """Types (TypeError) and then values (ValueError, MediaPipe's messages)."""
    if processing is not None:
        if not isinstance(processing, ImageProcessingOptions):
            raise TypeError(
                f"`image_processing_options` must be ImageProcessingOptions, got {processing!r}."
            )
        processing.validate()
    geometry.check_processing_options(processing)
