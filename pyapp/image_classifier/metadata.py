"""What a model says about itself, independent of the file format it came in.

The dataclasses mirror TFLite metadata one to one (a labels file per locale, normalization,
score thresholding, score calibration, one entry per output tensor), so the TFLite reader
(``tflite``) and the ONNX reader below fill the same structure and the rest of the package
never asks which format the model was.

ONNX models carry this structure as JSON in the model's ``metadata_props`` under
``METADATA_KEY``; the reader walks the protobuf by hand because the ``onnx`` package is not
available in Pyodide.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from dataclasses import dataclass, field

METADATA_KEY = "image_classifier.metadata"

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


# --- ONNX: metadata_props read straight from the protobuf wire format -----------------------

_ONNX_METADATA_PROPS = 14  # ModelProto.metadata_props
_ONNX_GRAPH = 7  # ModelProto.graph: its presence tells a model from random bytes
_ONNX_INITIALIZER = 5  # GraphProto.initializer
_ONNX_DATA_TYPE = 2  # TensorProto.data_type
_ONNX_TYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    9: "bool", 10: "float16", 11: "float64",
}


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(data: memoryview):
    """Yields (field_number, value) for one protobuf message; values of length fields as views."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 1:
            value, pos = struct.unpack_from("<Q", data, pos)[0], pos + 8
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            value, pos = data[pos : pos + length], pos + length
        elif wire_type == 5:
            value, pos = struct.unpack_from("<I", data, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        if number == 0:
            raise ValueError("invalid field number 0")
        yield number, value


def read_onnx_metadata_props(model: bytes) -> dict[str, str]:
    """The key/value metadata of an ONNX model; ValueError if the bytes are not an ONNX model."""
    props: dict[str, str] = {}
    has_graph = False
    for number, value in _fields(memoryview(model)):
        if number == _ONNX_GRAPH and isinstance(value, memoryview):
            has_graph = True
        elif number == _ONNX_METADATA_PROPS and isinstance(value, memoryview):
            entry = {n: bytes(v).decode("utf-8") for n, v in _fields(value)}
            props[entry.get(1, "")] = entry.get(2, "")
    if not has_graph:
        raise ValueError("not an ONNX model")
    return props


def read_onnx_metadata(model: bytes) -> ModelMetadata:
    """Our metadata from an ONNX model; an ONNX model without it says nothing about itself."""
    props = read_onnx_metadata_props(model)
    if METADATA_KEY not in props:
        return ModelMetadata()
    return ModelMetadata.from_json(props[METADATA_KEY])


def read_onnx_weight_types(model: bytes) -> frozenset[str]:
    """The element types of an ONNX model's initializers (its weights and constants)."""
    types = set()
    for number, graph in _fields(memoryview(model)):
        if number == _ONNX_GRAPH and isinstance(graph, memoryview):
            for field, tensor in _fields(graph):
                if field == _ONNX_INITIALIZER and isinstance(tensor, memoryview):
                    types.update(
                        _ONNX_TYPES.get(value, f"type {value}")
                        for key, value in _fields(tensor)
                        if key == _ONNX_DATA_TYPE
                    )
    return frozenset(types)


def model_format(model: bytes) -> str:
    """'tflite' or 'onnx', from the file's content (a TFLite flatbuffer says TFL3 at byte 4)."""
    return "tflite" if model[4:8] == b"TFL3" else "onnx"


def read_model_metadata(model: bytes) -> ModelMetadata:
    """What the model says about itself, whatever its format.

    Raises:
      ValueError: The bytes are not a model this package can read, or its metadata is broken.
    """
    if model_format(model) == "tflite":
        from .flatbuffer import FlatBufferError
        from .tflite import read_tflite_metadata  # imported here: tflite builds on this module

        try:
            return read_tflite_metadata(model)
        except FlatBufferError as error:
            raise ValueError(f"The model file is not a valid TFLite model ({error})") from None
    try:
        return read_onnx_metadata(model)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"The model is not a valid Flatbuffer buffer (TFLite) or ONNX model ({error})."
        ) from None


def read_weight_types(model: bytes) -> frozenset[str]:
    """The element types a model stores its tensors in (TFLite: every tensor; ONNX: the
    initializers), e.g. {"float32", "int8", "int32"}: a quantized model shows its 8-bit types
    here even when its input and output stay float32.

    Raises:
      ValueError: The bytes are not a model this package can read.
    """
    if model_format(model) == "tflite":
        from .tflite import read_tensor_types

        return read_tensor_types(model)
    return read_onnx_weight_types(model)
