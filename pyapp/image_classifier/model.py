"""A model file, whatever its format: read within limits, checked whole, then described.

Everything an engine would trust is checked here first, in pure Python, so the same checks
run in the browser: the file is a regular file of at most ``limits.MAX_MODEL_BYTES`` (a path to
/dev/zero or a FIFO is never read), the graph is well formed (``tflite_graph``,
``onnx_model``), and the image input is one MediaPipe's image classifier takes, with
MediaPipe's messages. Engines then load only models that passed.
"""

from __future__ import annotations

import os
import stat

import numpy as np

from . import onnx_model, tflite, tflite_graph
from .flatbuffer import FlatBufferError
from .limits import MAX_MODEL_BYTES, check_model_size, check_tensor
from .metadata import ModelMetadata
from .protobuf import ProtobufError

_IMAGE_TYPES = ("float32", "uint8")


def read_model_file(path: str) -> bytes:
    """The bytes of the model file at ``path``, refused before reading unless it is a regular
    file of at most ``MAX_MODEL_BYTES``.

    Raises:
      FileNotFoundError: There is no file at ``path``.
      ValueError: Not a regular file, or too large.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"Unable to open file at {path}") from None  # MediaPipe's words
    if not stat.S_ISREG(mode):  # a FIFO would block, /dev/zero never end
        raise ValueError(f"The model file at {path} is not a regular file.")
    with open(path, "rb") as file:
        check_model_size(os.fstat(file.fileno()).st_size)
        model = file.read(MAX_MODEL_BYTES + 1)  # the file may grow after the check
    check_model_size(len(model))
    return model


def model_format(model: bytes) -> str:
    """'tflite' or 'onnx', from the file's content (a TFLite flatbuffer says TFL3 at byte 4)."""
    return "tflite" if model[4:8] == tflite_graph.MODEL_IDENTIFIER else "onnx"


def read_model_metadata(model: bytes) -> ModelMetadata:
    """What the model says about itself, after checking that an engine can be given it: its
    size, its graph and its image input.

    Raises:
      ValueError: The bytes are not a model this package can read, its graph is broken, its
        input is not an image MediaPipe's classifier takes, or its metadata is broken.
    """
    if not model:
        raise ValueError("The model file is empty.")
    check_model_size(len(model))
    return _read_tflite(model) if model_format(model) == "tflite" else _read_onnx(model)


def _read_tflite(model: bytes) -> ModelMetadata:
    try:
        tflite_graph.verify_tflite(model)
        metadata = tflite.read_tflite_metadata(model)
        inputs, _ = tflite.read_tensor_details(model)
    except FlatBufferError as error:
        raise ValueError(f"The model file is not a valid TFLite model ({error})") from None
    except UnicodeDecodeError as error:  # a name, a labels or a calibration file
        raise ValueError(f"The model's metadata has text that is not UTF-8 ({error}).") from None
    image = inputs[0]
    _check_image_input(image["name"], tuple(int(d) for d in image["shape"]),
                       np.dtype(image["dtype"]).name, "NHWC")
    return metadata


def _read_onnx(model: bytes) -> ModelMetadata:
    try:
        onnx_model.verify_onnx(model)
        metadata = onnx_model.read_onnx_metadata(model)
        inputs, outputs = onnx_model.read_onnx_io(model)
    except (ProtobufError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise ValueError(
            "The model is not a valid Flatbuffer buffer (TFLite) or ONNX model, or it is "
            f"truncated ({error})."
        ) from None
    if len(inputs) != 1:
        raise ValueError("Image classifier models are assumed to have a single input.")
    image = inputs[0]
    _check_image_input(image.name, _onnx_shape(image), image.element_type, metadata.input.layout)
    for output in outputs:  # a symbolic size (the batch) is 1
        check_tensor(output.name, tuple(d if isinstance(d, int) else 1 for d in output.shape or ()),
                     _element_bytes(output.element_type))
    return metadata


def _element_bytes(element_type: str) -> int:
    try:
        return np.dtype(element_type).itemsize
    except TypeError:  # a type numpy does not know ("type 16"): count the widest
        return 8


def _onnx_shape(value: onnx_model.ValueInfo) -> tuple[int, ...]:
    """The input's shape with a symbolic batch taken as 1; any other unknown size refused
    (an exporter's dynamic height and width would shrink every photo to one pixel)."""
    if value.shape is None:
        raise ValueError("Only 4D tensors in BHWD layout are supported.")
    shape = tuple(1 if i == 0 and not isinstance(d, int) else d for i, d in enumerate(value.shape))
    unknown = [str(d or "?") for d in shape if not isinstance(d, int)]
    if unknown:
        raise ValueError(
            f"The input tensor {value.name} has symbolic dimensions ({', '.join(unknown)}) "
            f"in its shape [{', '.join(str(d or '?') for d in value.shape)}]: only the batch "
            "may be symbolic. Export the model with a fixed height and width."
        )
    return shape


def _check_image_input(
    name: str, shape: tuple[int, ...], element_type: str, layout: str
) -> None:
    """MediaPipe's BuildInputImageTensorSpecs, in its order and words, plus the sizes this
    package allocates."""
    if len(shape) != 4:
        raise ValueError("Only 4D tensors in BHWD layout are supported.")
    if element_type not in _IMAGE_TYPES:
        raise ValueError(
            f"Type mismatch for input tensor {name}. Requested one of these types: "
            f"uint8/float32, got {element_type.upper()}."
        )
    if layout == "NCHW":
        batch, depth, height, width = shape
    else:
        batch, height, width, depth = shape
    if batch != 1 or depth not in (3, 4):
        raise ValueError(
            "The input tensor should have dimensions 1 x height x width x depth, where depth "
            f"= 3 or 4. Got {batch} x {height} x {width} x {depth}."
        )
    if depth == 4:  # MediaPipe takes it, then fails on every frame: it fills 3 channels
        raise ValueError(
            f"The input tensor {name} has 4 channels: only RGB input (depth 3) is supported."
        )
    if width <= 0:
        raise ValueError("The input width should be positive.")
    if height <= 0:
        raise ValueError("The input height should be positive.")
    check_tensor(name, shape, _element_bytes(element_type))


def read_weight_types(model: bytes) -> frozenset[str]:
    """The element types a model stores its tensors in (TFLite: every tensor; ONNX: the
    initializers), e.g. {"float32", "int8", "int32"}: a quantized model shows its 8-bit types
    here even when its input and output stay float32.

    Raises:
      ValueError: The bytes are not a model this package can read.
    """
    if model_format(model) == "tflite":
        return tflite.read_tensor_types(model)
    return onnx_model.read_onnx_weight_types(model)


def check_engine_outputs(outputs: list[dict]) -> None:
    """The outputs an engine reports are one batch of scores each, as the heads read them.

    Raises:
      ValueError: An output with a batch other than 1 (its scores would be read as classes).
    """
    for details in outputs:
        shape = [int(d) for d in details["shape"]]
        if len(shape) >= 2 and shape[0] != 1:
            raise ValueError(
                f"The output tensor {details['name']} should have batch size 1, got shape {shape}."
            )
