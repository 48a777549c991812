"""What a model says about itself, independent of the file format it came in.

The dataclasses mirror TFLite metadata one to one (a labels file per locale, normalization,
score thresholding, score calibration, one entry per output tensor), so the TFLite reader
(``tflite``) and the ONNX reader (``onnx_model``, which stores this structure as JSON) fill
the same structure and the rest of the package never asks which format the model was
(``model`` picks the reader).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

CALIBRATION_FUNCTIONS = ("IDENTITY", "LOG", "INVERSE_LOGISTIC")


@dataclass(frozen=True)
class Normalization:
    """NormalizationOptions: float input = (pixel - mean) / std."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class LabelFile:
    """A TENSOR_AXIS_LABELS associated file: one name per output index, optionally localized."""

    names: tuple[str, ...]
    locale: str | None = None


@dataclass(frozen=True)
class CalibrationParams:
    """One line of a score calibration file: ``scale,slope,offset[,min_score]``."""

    scale: float
    slope: float
    offset: float
    min_score: float | None = None


@dataclass(frozen=True)
class ScoreCalibration:
    """ScoreCalibrationOptions plus its associated file (None where a line is empty)."""

    function: str
    default_score: float
    parameters: tuple[CalibrationParams | None, ...]


@dataclass(frozen=True)
class HeadMetadata:
    """One output tensor: a classification head."""

    name: str
    labels: tuple[LabelFile, ...] = ()
    score_threshold: float | None = None
    score_calibration: ScoreCalibration | None = None

    @property
    def category_names(self) -> tuple[str, ...] | None:
        """The first labels file gives category names, as in MediaPipe."""
        return self.labels[0].names if self.labels else None

    def display_names(self, locale: str | None) -> tuple[str, ...] | None:
        """The first labels file whose locale matches, as in MediaPipe."""
        for label_file in self.labels:
            if label_file.locale == locale:
                return label_file.names
        return None


@dataclass(frozen=True)
class InputMetadata:
    """The image input tensor: layout and normalization (shape and type come from the engine)."""

    layout: str = "NHWC"
    normalization: Normalization | None = None


@dataclass(frozen=True)
class ModelMetadata:
    name: str = ""
    description: str = ""
    version: str = ""
    author: str = ""
    license: str = ""
    input: InputMetadata = field(default_factory=InputMetadata)
    heads: tuple[HeadMetadata, ...] = ()

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        raw = json.loads(text)
        return cls(
            name=raw.get("name", ""),
            description=raw.get("description", ""),
            version=raw.get("version", ""),
            author=raw.get("author", ""),
            license=raw.get("license", ""),
            input=_input_from_dict(raw.get("input", {})),
            heads=tuple(_head_from_dict(head) for head in raw.get("heads", ())),
        )


def _input_from_dict(raw: dict) -> InputMetadata:
    norm = raw.get("normalization")
    return InputMetadata(
        layout=raw.get("layout", "NHWC"),
        normalization=Normalization(tuple(norm["mean"]), tuple(norm["std"])) if norm else None,
    )


def _head_from_dict(raw: dict) -> HeadMetadata:
    calibration = raw.get("score_calibration")
    return HeadMetadata(
        name=raw["name"],
        labels=tuple(LabelFile(tuple(f["names"]), f.get("locale")) for f in raw.get("labels", ())),
        score_threshold=raw.get("score_threshold"),
        score_calibration=(
            ScoreCalibration(
                function=calibration["function"],
                default_score=calibration["default_score"],
                parameters=tuple(
                    CalibrationParams(**p) if p is not None else None
                    for p in calibration["parameters"]
                ),
            )
            if calibration
            else None
        ),
    )
