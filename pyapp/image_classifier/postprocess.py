"""From output tensors to Classifications, as MediaPipe's classification post-processing graph.

Per head: dequantize, calibrate, filter (allow/deny), threshold, sort by descending score,
keep the top k, attach names. Everything that depends only on the options and the model is
worked out once in ``plan_heads`` so each frame pays only for the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .engines import TensorDetails
from .metadata import HeadMetadata, ScoreCalibration
from .results import Category, Classifications

DEFAULT_LOCALE = "en"
_F32 = np.float32
# The score types MediaPipe's classification heads take (uint8 and bool are "quantized").
_SCORE_TYPES = (np.dtype(np.float32), np.dtype(np.uint8), np.dtype(np.bool_))
# MediaPipe's kLogScoreMinimum: below it, the log is continued by its mirror image.
_LOG_SCORE_MINIMUM = _F32(1e-16)


def _clamped_log(x: np.ndarray) -> np.ndarray:
    """MediaPipe's ClampedLog(x, 1e-16) on float32 values, in its float/double arithmetic."""
    threshold = np.float64(_LOG_SCORE_MINIMUM)
    wide = x.astype(np.float64)
    mirrored = 2.0 * np.log(threshold) - np.log(2.0 * threshold - wide)
    return np.where(x < _LOG_SCORE_MINIMUM, mirrored, np.log(wide)).astype(_F32)


@dataclass(frozen=True)
class _Calibration:
    """A score calibration as float32 arrays, one entry per class (NaN slope: an empty line)."""

    function: str
    default_score: np.float32
    scale: np.ndarray
    slope: np.ndarray
    offset: np.ndarray
    min_score: np.ndarray

    @classmethod
    def create(cls, calibration: ScoreCalibration, num_classes: int) -> _Calibration:
        if len(calibration.parameters) != num_classes:
            raise ValueError(
                f"Mismatch between number of sigmoids ({len(calibration.parameters)}) and "
                f"number of elements in the input scores tensor ({num_classes})."
            )
        columns = np.full((4, num_classes), np.nan, dtype=_F32)
        for i, params in enumerate(calibration.parameters):
            if params is not None:
                columns[:, i] = (
                    params.scale,
                    params.slope,
                    params.offset,
                    -np.inf if params.min_score is None else params.min_score,
                )
        return cls(calibration.function, _F32(calibration.default_score), *columns)

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """MediaPipe's ScoreCalibrationCalculator: scale * sigmoid(slope * f(x) + offset),
        clamped to [0, scale], with the same float32/float64 steps so results agree bit for bit.
        """
        x = scores.astype(_F32)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.function == "LOG":
                x = _clamped_log(x)
            elif self.function == "INVERSE_LOGISTIC":
                x = _clamped_log(x) - _clamped_log((1.0 - x.astype(np.float64)).astype(_F32))
            shifted = x * self.slope + self.offset
            wide = shifted.astype(np.float64)
            # 1 / (1 + exp(-x)) for x >= 0, exp(x) / (1 + exp(x)) below, as MediaPipe.
            positive = (self.scale / (1.0 + np.exp(-wide))).astype(_F32)
            exp = np.exp(wide).astype(_F32)
            negative = ((self.scale * exp) / (1.0 + exp.astype(np.float64))).astype(_F32)
        calibrated = np.where(shifted >= 0, positive, negative)
        calibrated = np.maximum(np.minimum(calibrated, self.scale), _F32(0))
        use_default = np.isnan(self.slope) | (scores < self.min_score)
        return np.where(use_default, self.default_score, calibrated).astype(_F32)


@dataclass(frozen=True)
class HeadPlan:
    """What post-processing does for one output tensor, fixed at creation time."""

    head_index: int
    head_name: str
    tensor_index: int
    quantization: tuple[float, int]
    category_names: Optional[Sequence[str]]
    display_names: Optional[Sequence[str]]
    keep: Optional[np.ndarray]
    score_threshold: Optional[float]
    max_results: int
    calibration: Optional[_Calibration]


def plan_heads(
    heads: Sequence[HeadMetadata],
    output_details: Sequence[TensorDetails],
    *,
    display_names_locale: Optional[str],
    max_results: Optional[int],
    score_threshold: Optional[float],
    category_allowlist: Optional[Sequence[str]],
    category_denylist: Optional[Sequence[str]],
) -> list[HeadPlan]:
    """One plan per output tensor.

    Raises:
      ValueError: Allow/deny lists without labels, or metadata that does not fit the outputs.
    """
    _check_output_types(output_details)
    if heads and len(heads) != len(output_details):
        raise ValueError(
            f"Mismatch between number of output tensors ({len(output_details)}) and "
            f"output tensors metadata ({len(heads)})."
        )
    locale = display_names_locale or DEFAULT_LOCALE
    names_filter = category_allowlist or category_denylist
    plans = []
    for head_index, details in enumerate(output_details):
        head = heads[head_index] if heads else HeadMetadata(name="")
        num_classes = int(np.prod(details["shape"][1:]))
        names = head.category_names
        if names is not None and len(names) != num_classes:
            raise ValueError(
                f"Mismatch between number of categories ({num_classes}) and number of "
                f"labels ({len(names)}) in head {head_index}."
            )
        display_names = head.display_names(locale)
        if display_names is not None and len(display_names) != len(names):
            raise ValueError(
                f"Mismatch between number of labels ({len(names)}) and display names "
                f"({len(display_names)})."
            )
        keep = None
        if names_filter:
            if names is None:
                raise ValueError(
                    "Using `category_allowlist` or `category_denylist` requires labels to be "
                    "present in the TFLite Model Metadata but none was found."
                )
            listed = np.isin(np.asarray(names, dtype=object), list(names_filter))
            # As MediaPipe: unknown names are ignored, so an allowlist of unknown names only
            # allows everything.
            if category_denylist or listed.any():
                keep = listed if category_allowlist else ~listed
        plans.append(
            HeadPlan(
                head_index=head_index,
                head_name=head.name,
                tensor_index=details["index"],
                quantization=tuple(details.get("quantization", (0.0, 0))),
                category_names=names,
                display_names=display_names,
                keep=keep,
                score_threshold=(
                    score_threshold if score_threshold is not None else head.score_threshold
                ),
                max_results=-1 if max_results is None or max_results < 0 else max_results,
                calibration=(
                    _Calibration.create(head.score_calibration, num_classes)
                    if head.score_calibration
                    else None
                ),
            )
        )
    return plans


def _check_output_types(output_details: Sequence[TensorDetails]) -> None:
    """MediaPipe's rule: float32 scores, or quantized (uint8, bool) ones on every head."""
    quantized = 0
    for i, details in enumerate(output_details):
        dtype = np.dtype(details["dtype"])
        if dtype not in _SCORE_TYPES:
            raise ValueError(
                f"Expected output tensor at index {i} to have type UINT8 or FLOAT32 or BOOL, "
                f"found {dtype.name.upper()} instead."
            )
        quantized += dtype != np.float32
    if quantized not in (0, len(output_details)):
        raise ValueError(
            "Expected either all or none of the output tensors to be quantized, but found "
            f"{quantized} quantized outputs for {len(output_details)} total outputs."
        )


def dequantize(values: np.ndarray, quantization: tuple[float, int]) -> np.ndarray:
    """scale * (q - zero_point) for integer outputs; float outputs pass unchanged."""
    if values.dtype.kind in "iu":  # integers (np.issubdtype's answer, without its cost)
        scale, zero_point = quantization
        return (scale * (values.astype(np.float32) - zero_point)).astype(np.float32)
    return values.astype(np.float32, copy=False)


def ranked(scores: np.ndarray, count: int) -> np.ndarray:
    """The positions of the ``count`` highest ``scores`` (all of them when ``count`` < 0), by
    descending score, ties in ascending position, NaN last: what a stable sort of the negated
    scores gives, without sorting them all when a few are asked for (a photo's top 5 of 1000:
    the full sort was most of its post-processing)."""
    keys = -scores
    if 0 < count < keys.size:
        # The count-th smallest key; NaN sorts last here as in argsort. Every key at or below it
        # (ties included) is kept, in position order, so the stable sort below sees them as
        # the full one would.
        last = np.partition(keys, count - 1)[count - 1]
        if not np.isnan(last):
            kept = np.flatnonzero(keys <= last)
            return kept[np.argsort(keys[kept], kind="stable")][:count]
    order = np.argsort(keys, kind="stable")
    return order if count < 0 else order[:count]


def classify_head(plan: HeadPlan, output: np.ndarray) -> Classifications:
    """The Classifications of one head from its raw output tensor."""
    scores = dequantize(output.reshape(-1), plan.quantization)
    if plan.calibration is not None:
        scores = plan.calibration.apply(scores)
    if plan.keep is None and plan.score_threshold is None:
        order = ranked(scores, plan.max_results)  # every category is a candidate
    else:
        candidates = np.arange(scores.size) if plan.keep is None else np.flatnonzero(plan.keep)
        if plan.score_threshold is not None:
            candidates = candidates[scores[candidates] >= plan.score_threshold]
        order = candidates[ranked(scores[candidates], plan.max_results)]
    # Python ints and floats (float32's values) in one call each: numpy scalars cost more.
    return Classifications(
        categories=[
            Category(
                index=i,
                score=score,
                # None when the locale has no display names, as MediaPipe's Python API.
                display_name=plan.display_names[i] if plan.display_names else None,
                category_name=plan.category_names[i] if plan.category_names else "",
            )
            for i, score in zip(order.tolist(), scores[order].tolist())
        ],
        head_index=plan.head_index,
        head_name=plan.head_name,
    )
