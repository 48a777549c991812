"""Tiny TFLite models made at test time, written with the package's own FlatBuffer builder.

An image input [1, 4, 4, 3] (float32, or uint8 dequantized in the graph), then per head a
FULLY_CONNECTED layer on the 48 pixel values, its output float32 or QUANTIZE'd to uint8.
Small enough to write by hand, real enough for LiteRT and MediaPipe to run. ``two_heads_model``
adds metadata with labels in two locales, score calibration and a score threshold.
``identity_model`` gives its uint8 input back as "scores": the input tensor a classifier made,
MediaPipe's included, read off its result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from image_classifier import tflite
from image_classifier.flatbuffer import Vector, build
from image_classifier.metadata import (
    CalibrationParams,
    HeadMetadata,
    LabelFile,
    ModelMetadata,
    ScoreCalibration,
)

SIZE = 4
_FLOAT32, _INT32, _UINT8 = 0, 2, 3  # TensorType
_DEQUANTIZE, _FULLY_CONNECTED, _RESHAPE, _QUANTIZE = 6, 9, 22, 114  # BuiltinOperator


@dataclass(frozen=True)
class Head:
    classes: int
    uint8: bool = False
    # Output quantization of a uint8 head: scores = scale * (q - zero_point).
    scale: float = 1 / 255
    zero_point: int = 0


def _tensor(shape, kind, buffer, name, quantization=None) -> dict:
    tensor = {0: Vector(shape, "<i"), 1: ("<b", kind), 2: ("<I", buffer), 3: name}
    if quantization is not None:
        scale, zero_point = quantization
        tensor[4] = {2: Vector([scale], "<f"), 3: Vector([zero_point], "<q")}
    return tensor


def tiny_model(heads: list[Head], uint8_input: bool = False, seed: int = 0,
               input_shape: tuple[int, ...] = (1, SIZE, SIZE, 3)) -> bytes:
    """A model whose head h computes ``pixels @ W_h.T + b_h`` (pixels 0..255 when the input
    is uint8, the normalized floats otherwise), seeded random weights. Another
    ``input_shape`` makes the models MediaPipe refuses: the weights fit its sizes after the
    first, up to 4096 values (larger inputs make models that exist only to be refused)."""
    rng = np.random.default_rng(seed)
    inputs = int(np.prod(input_shape[1:], dtype=np.int64))
    inputs = inputs if 0 < inputs <= 4096 else 1
    buffers = [{}]  # buffer 0: the empty sentinel every TFLite model starts with
    tensors, operators = [], []

    def constant(array: np.ndarray, name: str) -> int:
        buffers.append({0: Vector(np.ascontiguousarray(array).tobytes(), "B", align=16)})
        tensors.append(_tensor(array.shape, _FLOAT32, len(buffers) - 1, name))
        return len(tensors) - 1

    def activation(shape, kind, name, quantization=None) -> int:
        tensors.append(_tensor(shape, kind, 0, name, quantization))
        return len(tensors) - 1

    shape = list(input_shape)
    image = activation(shape, _UINT8 if uint8_input else _FLOAT32, "image",
                       (1.0, 0) if uint8_input else None)
    pixels = image
    if uint8_input:
        pixels = activation(shape, _FLOAT32, "pixels")
        operators.append((0, [image], [pixels]))
    scale = 1 / (inputs * 128.0) if uint8_input else 1 / inputs
    outputs = []
    for h, head in enumerate(heads):
        weights = constant((rng.normal(size=(head.classes, inputs)) * scale).astype(np.float32),
                           f"weights{h}")
        bias = constant(rng.uniform(0.2, 0.6, head.classes).astype(np.float32), f"bias{h}")
        logits = activation([1, head.classes], _FLOAT32, f"logits{h}")
        operators.append((1, [pixels, weights, bias], [logits]))
        if head.uint8:
            scores = activation([1, head.classes], _UINT8, f"scores{h}",
                                (head.scale, head.zero_point))
            operators.append((2, [logits], [scores]))
            logits = scores
        outputs.append(logits)
    opcodes = [{0: ("<b", code), 2: ("<i", 1), 3: ("<i", code)}
               for code in (_DEQUANTIZE, _FULLY_CONNECTED, _QUANTIZE)]
    subgraph = {
        0: Vector(tensors),
        1: Vector([image], "<i"),
        2: Vector(outputs, "<i"),
        3: Vector([{0: ("<I", op), 1: Vector(ins, "<i"), 2: Vector(outs, "<i")}
                   for op, ins, outs in operators]),
        4: "main",
    }
    model = {0: ("<I", 3), 1: Vector(opcodes), 2: Vector([subgraph]), 3: "tiny test model",
             4: Vector(buffers)}
    return build(model, b"TFL3")


ANIMALS = ("cat", "dog", "fox", "owl", "bee", "ant")
COLOURS = ("red", "green", "blue", "cyan", "pink")
METADATA = ModelMetadata(
    name="tiny",
    description="Two heads, uint8 in and out.",
    version="v7",
    author="tests",
    license="Apache-2.0",
    heads=(
        HeadMetadata(
            name="animals",
            labels=(
                LabelFile(ANIMALS, "en"),
                LabelFile(("gatto", "cane", "volpe", "gufo", "ape", "formica"), "it"),
            ),
            score_calibration=ScoreCalibration(
                function="INVERSE_LOGISTIC",
                default_score=0.25,
                parameters=(
                    CalibrationParams(1.0, 2.0, 0.5),
                    None,
                    CalibrationParams(0.9, 1.5, -0.2, 0.35),  # min_score: some photos below
                    CalibrationParams(1.0, 1.0, 0.0),
                    CalibrationParams(1.0, 3.0, 1.0),
                    CalibrationParams(0.8, 0.5, 0.1),
                ),
            ),
        ),
        HeadMetadata(name="colours", labels=(LabelFile(COLOURS, "en"),), score_threshold=0.375),
    ),
)
HEADS = [Head(6, uint8=True), Head(5, uint8=True, scale=1 / 64, zero_point=100)]


def two_heads_model() -> bytes:
    """uint8 in, two uint8 heads, labels in two locales, calibration, a threshold."""
    return tflite.write_metadata(tiny_model(HEADS, uint8_input=True), METADATA)


def identity_model(size: int = 224) -> bytes:
    """uint8 input [1, size, size, 3], DEQUANTIZE'd and RESHAPE'd to one head of size * size * 3
    "scores": category i's score is the i-th value of the input tensor (row, column, channel)."""
    values = size * size * 3
    buffers = [{}, {0: Vector(np.array([1, values], np.int32).tobytes(), "B", align=16)}]
    tensors = [
        _tensor([1, size, size, 3], _UINT8, 0, "image", (1.0, 0)),
        _tensor([1, size, size, 3], _FLOAT32, 0, "pixels"),
        _tensor([2], _INT32, 1, "shape"),
        _tensor([1, values], _FLOAT32, 0, "scores"),
    ]
    operators = [(0, [0], [1]), (1, [1, 2], [3])]
    subgraph = {
        0: Vector(tensors),
        1: Vector([0], "<i"),
        2: Vector([3], "<i"),
        3: Vector([{0: ("<I", op), 1: Vector(ins, "<i"), 2: Vector(outs, "<i")}
                   for op, ins, outs in operators]),
        4: "main",
    }
    opcodes = [{0: ("<b", code), 2: ("<i", 1), 3: ("<i", code)} for code in (_DEQUANTIZE, _RESHAPE)]
    model = {0: ("<I", 3), 1: Vector(opcodes), 2: Vector([subgraph]), 3: "identity",
             4: Vector(buffers)}
    return build(model, b"TFL3")
