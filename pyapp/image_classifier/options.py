"""Options of the task, with MediaPipe's names, defaults and checks."""

from __future__ import annotations

import enum
import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from .image import Image
    from .results import ClassificationResult


class RunningMode(enum.Enum):
    """MediaPipe's VisionTaskRunningMode."""

    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    LIVE_STREAM = "LIVE_STREAM"

    @property
    def description(self) -> str:
        """How MediaPipe's messages name the mode: 'image mode', 'video mode', ..."""
        return self.name.lower().replace("_", " ") + " mode"


class Delegate(enum.Enum):
    """Where inference runs: CPU (WebAssembly in the browser) or GPU (WebGPU in the browser)."""

    CPU = 0
    GPU = 1


@dataclass
class BaseOptions:
    """The model, as a path or as bytes, and the delegate that runs it."""

    model_asset_path: Optional[str] = None
    model_asset_buffer: Optional[bytes] = None
    delegate: Optional[Delegate] = None

    Delegate = Delegate


def check_int(name: str, value: Any) -> int:
    """``value`` as an int; TypeError (as MediaPipe's bindings raise) for anything else,
    floats with an integer value, NaN and infinities included."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {value!r}.")
    return int(value)


def check_number(name: str, value: Any) -> float:
    """``value`` as a float: TypeError for a non-number, ValueError for NaN."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number, got {value!r}.")
    if math.isnan(value):
        raise ValueError(f"`{name}` must be a number, got nan.")
    return float(value)


def _check_names(name: str, value: Any) -> None:
    if isinstance(value, (str, bytes)) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"`{name}` must be a list of strings, got {value!r}.")


@dataclass
class RectF:
    """A rectangle in normalized coordinates: 0 is the left/top edge, 1 the right/bottom edge.

    The fields are in MediaPipe's order (``left, top, bottom, right``), so a positional
    ``RectF(...)`` ported from MediaPipe crops the same region.
    """

    left: float
    top: float
    bottom: float
    right: float


@dataclass
class ImageProcessingOptions:
    """The region of interest to classify and the rotation (clockwise degrees) to apply to it."""

    region_of_interest: Optional[RectF] = None
    rotation_degrees: int = 0

    def validate(self) -> None:
        """TypeError for a rotation that is not an int or a region that is not a RectF;
        ``geometry.check_processing_options`` checks the values."""
        check_int("rotation_degrees", self.rotation_degrees)
        roi = self.region_of_interest
        if roi is not None:
            if not isinstance(roi, RectF):
                raise TypeError(f"`region_of_interest` must be a RectF, got {roi!r}.")
            for side in ("left", "top", "bottom", "right"):
                check_number(side, getattr(roi, side))


ResultCallback = Callable[["ClassificationResult", "Image", int], None]


@dataclass
class ImageClassifierOptions:
    """Options for ImageClassifier, field for field as in MediaPipe.

    Attributes:
      base_options: The model and the delegate.
      running_mode: IMAGE, VIDEO or LIVE_STREAM.
      display_names_locale: Locale of the display names, from the model's labels files.
      max_results: How many top-scored categories to return; < 0 (or unset) returns all.
      score_threshold: Categories scoring below it are dropped. Unset, the model's own
        threshold (if its metadata has one) applies; set, it overrides the model's.
      category_allowlist: Only these category names are kept.
      category_denylist: These category names are dropped.
      result_callback: Receives LIVE_STREAM results (result, input image, timestamp_ms).
    """

    base_options: BaseOptions
    running_mode: RunningMode = RunningMode.IMAGE
    display_names_locale: Optional[str] = None
    max_results: Optional[int] = None
    score_threshold: Optional[float] = None
    category_allowlist: Optional[list[str]] = None
    category_denylist: Optional[list[str]] = None
    result_callback: Optional[ResultCallback] = None

    def validate(self) -> None:
        """Raises ValueError, with MediaPipe's messages, for options that cannot work together,
        and TypeError for values of the wrong type (MediaPipe's bindings raise it, later)."""
        if not isinstance(self.running_mode, RunningMode):
            raise TypeError(f"`running_mode` must be a RunningMode, got {self.running_mode!r}.")
        if self.result_callback is not None and not callable(self.result_callback):
            raise TypeError(f"`result_callback` must be callable, got {self.result_callback!r}.")
        if self.max_results is not None:
            check_int("max_results", self.max_results)
        if self.score_threshold is not None:
            check_number("score_threshold", self.score_threshold)
        for name in ("category_allowlist", "category_denylist"):
            if getattr(self, name) is not None:
                _check_names(name, getattr(self, name))
        if self.display_names_locale is not None and not isinstance(
            self.display_names_locale, str
        ):
            raise TypeError(
                f"`display_names_locale` must be a string, got {self.display_names_locale!r}."
            )
        if self.running_mode == RunningMode.LIVE_STREAM:
            if self.result_callback is None:
                raise ValueError(
                    "The vision task is in live stream mode, a user-defined result "
                    "callback must be provided."
                )
        elif self.result_callback is not None:
            raise ValueError(
                "The vision task is in image or video mode, a user-defined result "
                "callback should not be provided."
            )
        if self.max_results == 0:
            raise ValueError("Invalid `max_results` option: value must be != 0.")
        if self.category_allowlist and self.category_denylist:
            raise ValueError(
                "`category_allowlist` and `category_denylist` are mutually exclusive options."
            )
        if self.base_options.model_asset_path and self.base_options.model_asset_buffer:
            raise ValueError(
                "Cannot set both model_asset_path and model_asset_buffer; set only one."
            )
        if not self.base_options.model_asset_path and not self.base_options.model_asset_buffer:
            raise ValueError(
                "ExternalFile must specify at least one of 'file_content', 'file_name', "
                "'file_pointer_meta' or 'file_descriptor_meta'."
            )
