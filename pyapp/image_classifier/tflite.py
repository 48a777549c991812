"""TFLite models as MediaPipe reads them: tensors, TFLite metadata, associated files.

Pure Python over the bytes (``flatbuffer`` walks the FlatBuffers), so it runs in Pyodide as
on CPython. What MediaPipe's ModelMetadataExtractor and the image classifier graphs read:

- the model (schema.fbs): subgraph 0's input and output tensors (name, shape, type,
  quantization) and the buffer named ``TFLITE_METADATA`` in ``Model.metadata``;
- the metadata (metadata_schema.fbs, identifier "M001"): the input tensor's
  NormalizationOptions and ImageProperties, and per output tensor its name, TENSOR_AXIS_LABELS
  files (with locales), ScoreThresholdingOptions and ScoreCalibrationOptions with their
  TENSOR_AXIS_SCORE_CALIBRATION file;
- the associated files: an uncompressed zip appended to the model.

Errors are ValueError with MediaPipe's messages. ``write_metadata`` is the inverse: it adds
a ``ModelMetadata`` to a model as MediaPipe's metadata writer would.
"""

from __future__ import annotations

import io
import zipfile
from typing import Optional

import numpy as np

from .flatbuffer import Ref, Table, Vector, build
from .metadata import (
    CALIBRATION_FUNCTIONS,
    CalibrationParams,
    HeadMetadata,
    InputMetadata,
    LabelFile,
    ModelMetadata,
    Normalization,
    ScoreCalibration,
)
from .tflite_graph import (
    BUFFER_DATA,
    BUFFER_OFFSET,
    BUFFER_SIZE,
    MODEL_BUFFERS,
    MODEL_IDENTIFIER,
    MODEL_METADATA,
    MODEL_SIGNATURE_DEFS,
    MODEL_SLOTS,
    MODEL_VERSION,
    SUBGRAPH_INPUTS,
    SUBGRAPH_OUTPUTS,
    SUBGRAPH_TENSORS,
    TENSOR_NAME,
    TENSOR_QUANTIZATION,
    TENSOR_SHAPE,
    TENSOR_TYPE,
    TENSOR_TYPES,
    model_root,
    single_subgraph,
)

METADATA_IDENTIFIER = b"M001"
METADATA_NAME = "TFLITE_METADATA"
# The newest metadata schema MediaPipe reads (kMetadataParserVersion).
PARSER_VERSION = "1.5.0"

# schema.fbs field slots this module needs besides those of ``tflite_graph``.
_QUANT_SCALE, _QUANT_ZERO_POINT = 2, 3
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_SIGNATURE_INPUTS, _SIGNATURE_OUTPUTS, _SIGNATURE_SUBGRAPH = 0, 1, 4
_TENSOR_MAP_NAME, _TENSOR_MAP_INDEX = 0, 1

# metadata_schema.fbs field slots (a union takes two: its type, then its value).
_MD_NAME, _MD_DESCRIPTION, _MD_VERSION, _MD_SUBGRAPHS = 0, 1, 2, 3
_MD_AUTHOR, _MD_LICENSE, _MD_MIN_PARSER_VERSION = 4, 5, 7
_SUBGRAPH_MD_INPUTS, _SUBGRAPH_MD_OUTPUTS = 2, 3
_TENSOR_MD_NAME, _TENSOR_MD_DESCRIPTION, _TENSOR_MD_CONTENT = 0, 1, 3
_TENSOR_MD_PROCESS_UNITS, _TENSOR_MD_FILES = 4, 6
_CONTENT_TYPE, _CONTENT_PROPERTIES = 0, 1
_FILE_NAME, _FILE_TYPE, _FILE_LOCALE = 0, 2, 3
_UNIT_TYPE, _UNIT_OPTIONS = 0, 1

# Enum values.
_LABELS_FILE, _CALIBRATION_FILE = 2, 4  # AssociatedFileType
_NORMALIZATION, _CALIBRATION, _THRESHOLDING = 1, 2, 3  # ProcessUnitOptions
_PROCESS_UNIT_NAMES = {
    1: "NormalizationOptions", 2: "ScoreCalibrationOptions", 3: "ScoreThresholdingOptions",
    4: "BertTokenizerOptions", 5: "SentencePieceTokenizerOptions", 6: "RegexTokenizerOptions",
}
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES = 1, 2  # ContentProperties
_CONTENT_NAMES = {1: "FeatureProperties", 2: "ImageProperties",
                  3: "BoundingBoxProperties", 4: "AudioProperties"}
_RGB = 1  # ColorSpaceType


def _details(tensors: list[Table], index: int) -> dict:
    if not 0 <= index < len(tensors):
        raise ValueError(f"Tensor index {index} is out of range.")
    tensor = tensors[index]
    type_code = tensor.scalar(TENSOR_TYPE, "<b")
    if type_code not in TENSOR_TYPES:
        raise ValueError(f"Unsupported type {type_code} of tensor {tensor.string(TENSOR_NAME)}.")
    quantization = (0.0, 0)
    params = tensor.table(TENSOR_QUANTIZATION)
    if params is not None:
        scales = params.scalars(_QUANT_SCALE, "<f")
        zero_points = params.scalars(_QUANT_ZERO_POINT, "<q")
        if len(scales) == 1 and len(zero_points) == 1:
            quantization = (scales[0], zero_points[0])
    return {
        "name": tensor.string(TENSOR_NAME) or "",
        "index": index,
        "shape": np.array(tensor.scalars(TENSOR_SHAPE, "<i"), dtype=np.int32),
        "dtype": TENSOR_TYPES[type_code],
        "quantization": quantization,
    }


def read_tensor_details(model: bytes) -> tuple[list[dict], list[dict]]:
    """The input and output tensors of subgraph 0, as tflite-runtime's ``get_input_details``
    and ``get_output_details`` give them (index = the tensor's index in the subgraph).

    For engines that do not report quantization (LiteRT.js) and for showing a model.

    Raises:
      ValueError: Not a TFLite model, or not one MediaPipe's image tasks take.
    """
    subgraph = single_subgraph(model_root(model))
    tensors = subgraph.tables(SUBGRAPH_TENSORS)
    return (
        [_details(tensors, i) for i in subgraph.scalars(SUBGRAPH_INPUTS, "<i")],
        [_details(tensors, i) for i in subgraph.scalars(SUBGRAPH_OUTPUTS, "<i")],
    )


def read_tensor_types(model: bytes) -> frozenset[str]:
    """The element types of subgraph 0's tensors (weights and activations), e.g. {"int8"}.

    Raises:
      ValueError: Not a TFLite model, or not one MediaPipe's image tasks take.
    """
    tensors = single_subgraph(model_root(model)).tables(SUBGRAPH_TENSORS)
    codes = {tensor.scalar(TENSOR_TYPE, "<b") for tensor in tensors}
    return frozenset(np.dtype(TENSOR_TYPES[c]).name if c in TENSOR_TYPES else f"type {c}"
                     for c in codes)


def signature_names(model: bytes) -> dict[int, str]:
    """Tensor index -> the name LiteRT's signature runner gives subgraph 0's inputs and
    outputs: the names of its first SignatureDef, else the tensor names (LiteRT's default
    signature). LiteRT.js addresses tensors only by these names.

    Raises:
      ValueError: Not a TFLite model, or not one MediaPipe's image tasks take.
    """
    root = model_root(model)
    subgraph = single_subgraph(root)
    for signature in root.tables(MODEL_SIGNATURE_DEFS):
        if signature.scalar(_SIGNATURE_SUBGRAPH, "<I") == 0:
            return {
                entry.scalar(_TENSOR_MAP_INDEX, "<I"): entry.string(_TENSOR_MAP_NAME) or ""
                for slot in (_SIGNATURE_INPUTS, _SIGNATURE_OUTPUTS)
                for entry in signature.tables(slot)
            }
    tensors = subgraph.tables(SUBGRAPH_TENSORS)
    return {
        index: tensors[index].string(TENSOR_NAME) or ""
        for slot in (SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS)
        for index in subgraph.scalars(slot, "<i")
        if 0 <= index < len(tensors)
    }


# --- reading the metadata --------------------------------------------------------------------


def _metadata_buffer(root: Table) -> Optional[memoryview]:
    """The TFLITE_METADATA buffer, None when the model has no metadata."""
    buffers = root.tables(MODEL_BUFFERS)
    for entry in root.tables(MODEL_METADATA):
        if entry.string(_METADATA_NAME) != METADATA_NAME:
            continue
        index = entry.scalar(_METADATA_BUFFER, "<I")
        if index >= len(buffers):
            raise ValueError("Metadata refers to an out-of-range buffer index.")
        data = buffers[index].bytes(BUFFER_DATA)
        if not data:
            raise ValueError("Metadata buffer has no data.")
        return data
    return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _associated_files(model: bytes) -> dict[str, bytes]:
    """The files zipped onto the end of the model (none when there is no zip)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(model))
    except zipfile.BadZipFile:
        return {}
    with archive:
        files = {}
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError("Expected uncompressed zip archive.")
            try:
                files[info.filename] = archive.read(info)
            except zipfile.BadZipFile:
                raise ValueError("Unable to read the file in zip archive.") from None
        return files


def _process_units(tensor: Table) -> dict[int, Table]:
    """The tensor's process units by type; at most one of each type, as MediaPipe requires."""
    units: dict[int, Table] = {}
    for unit in tensor.tables(_TENSOR_MD_PROCESS_UNITS):
        kind = unit.scalar(_UNIT_TYPE, "<B")
        if kind in units:
            raise ValueError(
                f"Found multiple ProcessUnits with type={_PROCESS_UNIT_NAMES.get(kind, kind)}, "
                "expected at most one."
            )
        options = unit.table(_UNIT_OPTIONS)
        if options is not None:
            units[kind] = options
    return units


def _file(files: dict[str, bytes], name: str) -> bytes:
    if name not in files:
        raise ValueError(f"No associated file with name: {name}")
    return files[name]


def _lines(data: bytes) -> tuple[str, ...]:
    """MediaPipe's label file lines: split at \\n, \\r or \\r\\n; one final empty line dropped."""
    if not data:
        raise ValueError("Expected non-empty labels file.")
    text = data.decode("utf-8")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if text.endswith(("\r", "\n")):
        lines.pop()  # a line break ends the last line, it does not start another
    if lines and not lines[-1]:
        lines.pop()
    return tuple(lines)


def _calibration_params(line: str) -> Optional[CalibrationParams]:
    """One line of a score calibration file, as MediaPipe's FillSigmoidFromLine parses it."""
    if not line:
        return None
    fields = line.split(",")
    if len(fields) not in (3, 4):
        raise ValueError(
            f"Expected 3 or 4 parameters per line in score calibration file, got {len(fields)}."
        )
    values = []
    for field in fields:
        try:
            values.append(float(field))
        except ValueError:
            raise ValueError(
                f"Could not parse score calibration parameter as float: {field}."
            ) from None
    if values[0] < 0:
        raise ValueError(
            f"The scale parameter of the sigmoids must be positive, found {values[0]:f}."
        )
    return CalibrationParams(*values)


def _score_calibration(options: Table, tensor: Table, files: dict[str, bytes]) -> ScoreCalibration:
    function = options.scalar(0, "<b")
    if not 0 <= function < len(CALIBRATION_FUNCTIONS):
        raise ValueError(f"Unsupported ScoreTransformation type: {function}")
    names = [
        f.string(_FILE_NAME)
        for f in tensor.tables(_TENSOR_MD_FILES)
        if f.scalar(_FILE_TYPE, "<b") == _CALIBRATION_FILE and f.string(_FILE_NAME) is not None
    ]
    if not names:
        raise ValueError(
            "Found ScoreCalibrationOptions but missing required associated parameters file "
            "with type TENSOR_AXIS_SCORE_CALIBRATION."
        )
    data = _file(files, names[0])
    if not data:
        raise ValueError("Expected non-empty score calibration file.")
    # ConfigureScoreCalibration splits at '\n' only: every line, even a last empty one, is a
    # sigmoid (an empty line gives the default score).
    return ScoreCalibration(
        function=CALIBRATION_FUNCTIONS[function],
        default_score=options.scalar(1, "<f", 0.0),
        parameters=tuple(_calibration_params(line) for line in data.decode("utf-8").split("\n")),
    )


def _head(tensor: Table, files: dict[str, bytes]) -> HeadMetadata:
    units = _process_units(tensor)
    labels = tuple(
        LabelFile(_lines(_file(files, f.string(_FILE_NAME))), f.string(_FILE_LOCALE))
        for f in tensor.tables(_TENSOR_MD_FILES)
        if f.scalar(_FILE_TYPE, "<b") == _LABELS_FILE and f.string(_FILE_NAME) is not None
    )
    return HeadMetadata(
        name=tensor.string(_TENSOR_MD_NAME) or "",
        labels=labels,
        score_threshold=(
            units[_THRESHOLDING].scalar(0, "<f", 0.0) if _THRESHOLDING in units else None
        ),
        score_calibration=(
            _score_calibration(units[_CALIBRATION], tensor, files)
            if _CALIBRATION in units
            else None
        ),
    )


def _input(tensor: Table) -> InputMetadata:
    """Checks of MediaPipe's BuildInputImageTensorSpecs that the metadata decides."""
    name = tensor.string(_TENSOR_MD_NAME) or "#0"
    content = tensor.table(_TENSOR_MD_CONTENT)
    if content is not None and content.has(_CONTENT_PROPERTIES):
        kind = content.scalar(_CONTENT_TYPE, "<B")
        if kind != _IMAGE_PROPERTIES:
            raise ValueError(
                f"Expected ImageProperties for tensor {name}, got "
                f"{_CONTENT_NAMES.get(kind, kind)}."
            )
        if content.table(_CONTENT_PROPERTIES).scalar(0, "<b") != _RGB:
            raise ValueError("Only RGB color space is supported for now.")
    normalization = None
    options = _process_units(tensor).get(_NORMALIZATION)
    if options is not None:
        mean, std = options.scalars(0, "<f"), options.scalars(1, "<f")
        if len(mean) != len(std):
            raise ValueError(
                "NormalizationOptions: expected mean and std of same dimension, "
                f"got {len(mean)} and {len(std)}."
            )
        if len(mean) not in (1, 3):
            raise ValueError(
                "NormalizationOptions: only 1 or 3 mean and std values are supported, "
                f"got {len(mean)}."
            )
        normalization = Normalization(mean, std)
    return InputMetadata(layout="NHWC", normalization=normalization)


def read_tflite_metadata(model: bytes) -> ModelMetadata:
    """What a TFLite model says about itself; a model without metadata says nothing.

    Raises:
      ValueError: Not a TFLite model, not one MediaPipe's image classifier takes, or broken
        metadata (MediaPipe's messages).
    """
    root = model_root(model)
    subgraph = single_subgraph(root)
    if len(subgraph.scalars(SUBGRAPH_INPUTS, "<i")) != 1:
        raise ValueError("Image tflite models are assumed to have a single input.")
    buffer = _metadata_buffer(root)
    if buffer is None:
        return ModelMetadata()
    if bytes(buffer[4:8]) != METADATA_IDENTIFIER:
        raise ValueError(
            f"Invalid metadata schema version: expected {METADATA_IDENTIFIER.decode()}, "
            f"got {bytes(buffer[4:8]).decode('latin-1')}"
        )
    metadata = Table.root(buffer)
    min_version = metadata.string(_MD_MIN_PARSER_VERSION)
    if min_version and _version(min_version) > _version(PARSER_VERSION):
        raise ValueError(
            f"Metadata schema version {PARSER_VERSION} is smaller than the minimum version "
            f"{min_version} to parse the metadata flatbuffer."
        )
    files = _associated_files(model)
    subgraphs = metadata.tables(_MD_SUBGRAPHS)
    inputs = subgraphs[0].tables(_SUBGRAPH_MD_INPUTS) if subgraphs else []
    outputs = subgraphs[0].tables(_SUBGRAPH_MD_OUTPUTS) if subgraphs else []
    model_outputs = len(subgraph.scalars(SUBGRAPH_OUTPUTS, "<i"))
    if subgraphs and subgraphs[0].has(_SUBGRAPH_MD_OUTPUTS) and len(outputs) != model_outputs:
        raise ValueError(
            f"Mismatch between number of output tensors ({model_outputs}) and output tensors "
            f"metadata ({len(outputs)})."
        )
    return ModelMetadata(
        name=metadata.string(_MD_NAME) or "",
        description=metadata.string(_MD_DESCRIPTION) or "",
        version=metadata.string(_MD_VERSION) or "",
        author=metadata.string(_MD_AUTHOR) or "",
        license=metadata.string(_MD_LICENSE) or "",
        input=_input(inputs[0]) if inputs else InputMetadata(),
        heads=tuple(_head(tensor, files) for tensor in outputs),
    )


# --- writing the metadata --------------------------------------------------------------------


def _number(value: float) -> str:
    return repr(float(value))


def _calibration_file(calibration: ScoreCalibration) -> bytes:
    lines = [
        "" if p is None else ",".join(
            _number(v) for v in (p.scale, p.slope, p.offset, p.min_score) if v is not None
        )
        for p in calibration.parameters
    ]
    return "\n".join(lines).encode("utf-8")


def _process_unit(kind: int, options: dict) -> dict:
    return {_UNIT_TYPE: ("<B", kind), _UNIT_OPTIONS: options}


def _output_metadata(head: HeadMetadata, prefix: str, files: dict[str, bytes]) -> dict:
    associated, units = [], []
    for label_file in head.labels:
        name = f"{prefix}labels{'_' + label_file.locale if label_file.locale else ''}.txt"
        if name in files:
            raise ValueError(f"Two label files of head '{head.name}' share a locale.")
        files[name] = "\n".join(label_file.names).encode("utf-8")
        entry = {_FILE_NAME: name, _FILE_TYPE: ("<b", _LABELS_FILE)}
        if label_file.locale:
            entry[_FILE_LOCALE] = label_file.locale
        associated.append(entry)
    calibration = head.score_calibration
    if calibration is not None:
        name = f"{prefix}score_calibration.txt"
        files[name] = _calibration_file(calibration)
        associated.append({_FILE_NAME: name, _FILE_TYPE: ("<b", _CALIBRATION_FILE)})
        units.append(_process_unit(_CALIBRATION, {
            0: ("<b", CALIBRATION_FUNCTIONS.index(calibration.function)),
            1: ("<f", calibration.default_score),
        }))
    if head.score_threshold is not None:
        units.append(_process_unit(_THRESHOLDING, {0: ("<f", head.score_threshold)}))
    tensor = {
        _TENSOR_MD_NAME: head.name,
        _TENSOR_MD_CONTENT: {_CONTENT_TYPE: ("<B", _FEATURE_PROPERTIES), _CONTENT_PROPERTIES: {}},
    }
    if units:
        tensor[_TENSOR_MD_PROCESS_UNITS] = Vector(units)
    if associated:
        tensor[_TENSOR_MD_FILES] = Vector(associated)
    return tensor


def _metadata_flatbuffer(metadata: ModelMetadata, files: dict[str, bytes]) -> bytes:
    image: dict = {
        _TENSOR_MD_NAME: "image",
        _TENSOR_MD_DESCRIPTION: "Input image to be classified.",
        _TENSOR_MD_CONTENT: {
            _CONTENT_TYPE: ("<B", _IMAGE_PROPERTIES),
            _CONTENT_PROPERTIES: {0: ("<b", _RGB)},
        },
    }
    normalization = metadata.input.normalization
    if normalization is not None:
        image[_TENSOR_MD_PROCESS_UNITS] = Vector([_process_unit(_NORMALIZATION, {
            0: Vector(normalization.mean, "<f"),
            1: Vector(normalization.std, "<f"),
        })])
    several = len(metadata.heads) > 1
    outputs = [
        _output_metadata(head, f"head{i}_" if several else "", files)
        for i, head in enumerate(metadata.heads)
    ]
    root = {
        slot: text
        for slot, text in (
            (_MD_NAME, metadata.name), (_MD_DESCRIPTION, metadata.description),
            (_MD_VERSION, metadata.version), (_MD_AUTHOR, metadata.author),
            (_MD_LICENSE, metadata.license),
        )
        if text
    }
    subgraph = {_SUBGRAPH_MD_INPUTS: Vector([image])}
    if outputs:
        subgraph[_SUBGRAPH_MD_OUTPUTS] = Vector(outputs)
    root[_MD_SUBGRAPHS] = Vector([subgraph])
    # Nothing written here is newer than the first metadata schema.
    root[_MD_MIN_PARSER_VERSION] = "1.0.0"
    return build(root, METADATA_IDENTIFIER)


def write_metadata(model: bytes, metadata: ModelMetadata) -> bytes:
    """The model with ``metadata`` as MediaPipe-format TFLite metadata.

    The metadata flatbuffer goes into a new buffer named TFLITE_METADATA, and the label and
    score calibration files into an uncompressed zip appended to the model, as MediaPipe's
    metadata writer does. The original model is kept byte for byte: a new root table in
    front of it refers to its subgraphs, operators and buffers where they are.

    Raises:
      ValueError: Not a TFLite model, one that already has metadata, or metadata that does
        not fit the model.
    """
    root = model_root(model)
    outputs = len(single_subgraph(root).scalars(SUBGRAPH_OUTPUTS, "<i"))
    if metadata.heads and len(metadata.heads) != outputs:
        raise ValueError(f"The metadata describes {len(metadata.heads)} heads, "
                         f"the model has {outputs} outputs.")
    if _metadata_buffer(root) is not None:
        raise ValueError("The model already has TFLite metadata.")
    files: dict[str, bytes] = {}
    flatbuffer = _metadata_flatbuffer(metadata, files)
    fields: dict = {}
    for slot in root.slots():
        if slot >= MODEL_SLOTS:
            raise ValueError(f"Unknown field {slot} in the TFLite model.")
        if slot == MODEL_VERSION:
            fields[slot] = ("<I", root.scalar(slot, "<I"))
        else:
            fields[slot] = Ref(root.target(slot))
    fields[MODEL_METADATA] = Vector(
        [Ref(p) for p in root.vector_targets(MODEL_METADATA)]
        + [{_METADATA_NAME: METADATA_NAME,
            _METADATA_BUFFER: ("<I", len(root.vector_targets(MODEL_BUFFERS)))}]
    )
    # Buffers stored after the FlatBuffer (offset > 1, counted from the start of the file,
    # as the AI Edge Quantizer writes them) move with the model: their tables are rewritten.
    # The offsets do not change the layout, so a first build gives the shift.
    shift = 0
    for _ in range(2):
        buffers = [
            Ref(position) if buffer.scalar(BUFFER_OFFSET, "<Q") <= 1 else {
                BUFFER_OFFSET: ("<Q", buffer.scalar(BUFFER_OFFSET, "<Q") + shift),
                BUFFER_SIZE: ("<Q", buffer.scalar(BUFFER_SIZE, "<Q")),
            }
            for position, buffer in zip(
                root.vector_targets(MODEL_BUFFERS), root.tables(MODEL_BUFFERS)
            )
        ]
        fields[MODEL_BUFFERS] = Vector(
            buffers + [{BUFFER_DATA: Vector(flatbuffer, "B", align=16)}]
        )
        # 64: the original bytes keep any alignment up to 64 they had from the file start.
        prefixed = build(fields, MODEL_IDENTIFIER, tail=model, tail_align=64)
        shift = len(prefixed) - len(model)
    output = io.BytesIO()
    output.write(prefixed)
    with zipfile.ZipFile(output, "a") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, compress_type=zipfile.ZIP_STORED)
    return output.getvalue()
