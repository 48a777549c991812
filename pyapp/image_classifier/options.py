"""Options of the task, with MediaPipe's names, defaults and checks."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from .image import Image
    from .results import ClassificationResult


class RunningMode(enum.Enum):
    """MediaPipe's VisionTaskRunningMode."""

    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    LIVE_STREAM = "LIVE_STREAM"


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


@dataclass
class RectF:
    """A rectangle in normalized coordinates: 0 is the left/top edge, 1 the right/bottom edge."""

    left: float
    top: float
    right: float
    bottom: float


@dataclass
class ImageProcessingOptions:
    """The region of interest to classify and the rotation (clockwise degrees) to apply to it."""

    region_of_interest: Optional[RectF] = None
    rotation_degrees: int = 0


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
        """Raises ValueError, with MediaPipe's messages, for options that cannot work together."""
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
                "Please specify either model_asset_path or model_asset_buffer in BaseOptions."
            )
