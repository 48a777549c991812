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


@dataclass(frozen=True)
class _Calibration:
    """A score calibration as arrays, one entry per class (NaN slope marks an empty line)."""

    function: str
    default_score: float
    scale: np.ndarray
    slope: np.ndarray
    offset: np.ndarray
    min_score: np.ndarray

    @classmethod
    def create(cls, calibration: ScoreCalibration, num_classes: int) -> _Calibration:
        if len(calibration.parameters) != num_classes:
            raise ValueError(
                f"Score calibration has {len(calibration.parameters)} lines but the "
                f"head has {num_classes} categories."
            )
        columns = np.full((4, num_classes), np.nan)
        for i, params in enumerate(calibration.parameters):
            if params is not None:
                columns[:, i] = (
                    params.scale,
                    params.slope,
                    params.offset,
                    -np.inf if params.min_score is None else params.min_score,
                )
        return cls(calibration.function, calibration.default_score, *columns)

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """MediaPipe's ScoreCalibrationCalculator: scale * sigmoid(slope * f(x) + offset)."""
        x = scores.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.function == "LOG":
                x = np.log(x)
            elif self.function == "INVERSE_LOGISTIC":
                x = np.log(x) - np.log1p(-x)
            shifted = x * self.slope + self.offset
            calibrated = self.scale / (1.0 + np.exp(-shifted))
        calibrated = np.clip(calibrated, 0.0, self.scale)
        use_default = np.isnan(self.slope) | (scores < self.min_score)
        return np.where(use_default, self.default_score, calibrated).astype(np.float32)


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
    if heads and len(heads) != len(output_details):
        raise ValueError(
            f"The model metadata describes {len(heads)} output tensors, "
            f"the model has {len(output_details)}."
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
        keep = None
        if names_filter:
            if names is None:
                raise ValueError(
                    "Using `category_allowlist` or `category_denylist` requires labels to be "
                    "present in the TFLite Model Metadata but none was found."
                )
            listed = np.isin(np.asarray(names, dtype=object), list(names_filter))
            keep = listed if category_allowlist else ~listed
        plans.append(
            HeadPlan(
                head_index=head_index,
                head_name=head.name,
                tensor_index=details["index"],
                quantization=tuple(details.get("quantization", (0.0, 0))),
                category_names=names,
                display_names=head.display_names(locale),
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


def dequantize(values: np.ndarray, quantization: tuple[float, int]) -> np.ndarray:
    """scale * (q - zero_point) for integer outputs; float outputs pass unchanged."""
    if np.issubdtype(values.dtype, np.integer):
        scale, zero_point = quantization
        return (scale * (values.astype(np.float32) - zero_point)).astype(np.float32)
    return values.astype(np.float32, copy=False)


def classify_head(plan: HeadPlan, output: np.ndarray) -> Classifications:
    """The Classifications of one head from its raw output tensor."""
    scores = dequantize(output.reshape(-1), plan.quantization)
    if plan.calibration is not None:
        scores = plan.calibration.apply(scores)
    candidates = np.arange(scores.size) if plan.keep is None else np.flatnonzero(plan.keep)
    if plan.score_threshold is not None:
        candidates = candidates[scores[candidates] >= plan.score_threshold]
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    if plan.max_results >= 0:
        order = order[: plan.max_results]
    return Classifications(
        categories=[
            Category(
                index=int(i),
                score=float(scores[i]),
                display_name=plan.display_names[i] if plan.display_names else "",
                category_name=plan.category_names[i] if plan.category_names else "",
            )
            for i in order
        ],
        head_index=plan.head_index,
        head_name=plan.head_name,
    )
