"""The TFLite model graph (schema.fbs): where things are, and the checks before any engine.

LiteRT trusts the graph it is given: an operator input that no one produces or a tensor index
past the end kills the process (SIGABRT, SIGSEGV) inside ``allocate_tensors``, and
LiteRT.js's WebAssembly module aborts for good. MediaPipe runs TFLite's verifier first;
``verify_tflite`` does the same checks in pure Python (so the browser runs them too), with
the verifier's messages: every index in range, every operator input a constant, a variable,
a subgraph input or an earlier operator's output, no output written twice or into an input
or a constant, every buffer inside the file and as large as its tensor, no tensor larger
than ``limits`` allow, alone and all together.
"""

from __future__ import annotations

import numpy as np

from .flatbuffer import Table
from .limits import MAX_ARENA_BYTES, check_tensor, tensor_bytes

MODEL_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3

# schema.fbs field slots.
MODEL_VERSION, MODEL_OPERATOR_CODES, MODEL_SUBGRAPHS, MODEL_BUFFERS, MODEL_METADATA = 0, 1, 2, 4, 6
MODEL_SIGNATURE_DEFS = 7
MODEL_SLOTS = 10  # version .. external_buffers: slot 0 is a scalar, the others offsets
SUBGRAPH_TENSORS, SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_OPERATORS = 0, 1, 2, 3
TENSOR_SHAPE, TENSOR_TYPE, TENSOR_BUFFER, TENSOR_NAME, TENSOR_QUANTIZATION = 0, 1, 2, 3, 4
TENSOR_IS_VARIABLE = 5
BUFFER_DATA, BUFFER_OFFSET, BUFFER_SIZE = 0, 1, 2
_OPCODE_DEPRECATED_BUILTIN, _OPCODE_CUSTOM, _OPCODE_BUILTIN = 0, 1, 3
_OPERATOR_OPCODE, _OPERATOR_INPUTS, _OPERATOR_OUTPUTS = 0, 1, 2
_OPTIONAL_TENSOR = -1
# Where an operator may leave an input out (-1): the bias of FULLY_CONNECTED and of
# TRANSPOSE_CONV. Elsewhere LiteRT's kernels read a missing input and crash (SIGSEGV).
_OPTIONAL_INPUTS = {"FULLY_CONNECTED": {2}, "TRANSPOSE_CONV": {3}}

# TensorType: numpy type where the package reads it, else None; and the bytes per element.
TENSOR_TYPES = {
    0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
    7: np.int16, 9: np.int8, 10: np.float64,
}
TENSOR_TYPE_NAMES = {
    0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 5: "STRING", 6: "BOOL",
    7: "INT16", 8: "COMPLEX64", 9: "INT8", 10: "FLOAT64", 11: "COMPLEX128", 12: "UINT64",
    13: "RESOURCE", 14: "VARIANT", 15: "UINT32", 16: "UINT16", 17: "INT4", 18: "BFLOAT16",
}
_ELEMENT_BYTES = {
    0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 15: 4, 16: 2,
    17: 1, 18: 2,
}
_STRING, _RESOURCE, _VARIANT = 5, 13, 14
# BuiltinOperator names of the operators image classifiers use; others show their number.
_OPERATOR_NAMES = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL",
    19: "RELU", 21: "RELU6", 22: "RESHAPE", 25: "SOFTMAX", 28: "TANH", 32: "CUSTOM",
    34: "PAD", 40: "MEAN", 41: "SUB", 43: "SQUEEZE", 49: "SPLIT", 67: "TRANSPOSE_CONV",
    114: "QUANTIZE", 117: "HARD_SWISH",
}


def model_root(model: bytes) -> Table:
    return Table.root(model, MODEL_IDENTIFIER)


def single_subgraph(root: Table) -> Table:
    subgraphs = root.tables(MODEL_SUBGRAPHS)
    if len(subgraphs) != 1:
        raise ValueError("Image tflite models are assumed to have a single subgraph.")
    return subgraphs[0]


def _operator_name(code: int) -> str:
    return _OPERATOR_NAMES.get(code, f"BUILTIN_{code}")


def _operator_names(root: Table) -> list[str]:
    names = []
    for opcode in root.tables(MODEL_OPERATOR_CODES):
        code = max(opcode.scalar(_OPCODE_DEPRECATED_BUILTIN, "<b"),
                   opcode.scalar(_OPCODE_BUILTIN, "<i"))
        custom = opcode.string(_OPCODE_CUSTOM) if code == 32 else None
        if code == 32 and not custom:
            raise ValueError("Invalid custom op name, cannot be null/empty.")
        names.append(custom or _operator_name(code))
    return names


def _buffer_sizes(root: Table, file_size: int) -> list[int | None]:
    """Each buffer's data size, None for a buffer without data (an activation's)."""
    sizes: list[int | None] = []
    for index, buffer in enumerate(root.tables(MODEL_BUFFERS)):
        data = buffer.bytes(BUFFER_DATA)  # checked against the file's end by ``flatbuffer``
        offset, size = buffer.scalar(BUFFER_OFFSET, "<Q"), buffer.scalar(BUFFER_SIZE, "<Q")
        if offset > 1:  # the data follows the FlatBuffer, at an offset from the file's start
            if offset + size > file_size:
                raise ValueError(f"Buffer {index} lies outside the model file "
                                 f"(bytes {offset}..{offset + size} of {file_size}).")
            sizes.append(size)
        else:
            sizes.append(len(data) if data is not None and len(data) else None)
    return sizes


def _check_tensors(subgraph: Table, buffers: list[int | None]) -> tuple[set[int], set[int]]:
    """Checks each tensor's type, size and buffer; returns the constant and variable ones."""
    constants, variables = set(), set()
    arena = 0
    for index, tensor in enumerate(subgraph.tables(SUBGRAPH_TENSORS)):
        name = tensor.string(TENSOR_NAME) or ""
        type_code = tensor.scalar(TENSOR_TYPE, "<b")
        buffer = tensor.scalar(TENSOR_BUFFER, "<I")
        if buffer >= len(buffers):
            raise ValueError(f"Tensor {name} invalid buffer index: {buffer}")
        if type_code in (_STRING, _RESOURCE, _VARIANT):
            raise ValueError(f"Tensor {name} has type {TENSOR_TYPE_NAMES[type_code]}, "
                             "which image classifiers do not use.")
        if type_code not in _ELEMENT_BYTES:
            raise ValueError(f"Tensor {name} invalid type: {type_code}")
        shape, element_bytes = tensor.scalars(TENSOR_SHAPE, "<i"), _ELEMENT_BYTES[type_code]
        data = buffers[buffer] if buffer else None
        if data is not None:
            size = tensor_bytes(name, shape, element_bytes)
            if data != size:
                raise ValueError(f"Tensor {name} requires {size} bytes, but is allocated with "
                                 f"{data} bytes buffer")
            constants.add(index)
            continue
        arena += check_tensor(name, shape, element_bytes)
        if tensor.scalar(TENSOR_IS_VARIABLE, "<B"):
            variables.add(index)
    if arena > MAX_ARENA_BYTES:
        raise ValueError(f"The model's tensors need {arena} bytes, more than the "
                         f"{MAX_ARENA_BYTES} bytes allowed for one model.")
    return constants, variables


def _check_indices(indices: tuple, count: int, where: str, optional: bool = False) -> None:
    for index in indices:
        if not (0 <= index < count or (optional and index == _OPTIONAL_TENSOR)):
            raise ValueError(f"Tensor index {index} of {where} is out of range "
                             f"(the subgraph has {count} tensors).")


def _verify_subgraph(subgraph: Table, operators: list[str], buffers: list[int | None]) -> None:
    count = len(subgraph.tables(SUBGRAPH_TENSORS))
    inputs = subgraph.scalars(SUBGRAPH_INPUTS, "<i")
    _check_indices(inputs, count, "the subgraph inputs")
    _check_indices(subgraph.scalars(SUBGRAPH_OUTPUTS, "<i"), count, "the subgraph outputs")
    constants, variables = _check_tensors(subgraph, buffers)
    if not subgraph.has(SUBGRAPH_OPERATORS):
        raise ValueError("Missing 'operators' section in subgraph.")
    produced: set[int] = set()
    for index, op in enumerate(subgraph.tables(SUBGRAPH_OPERATORS)):
        opcode = op.scalar(_OPERATOR_OPCODE, "<I")
        if opcode >= len(operators):
            raise ValueError(f"Operator {opcode} does not exist in model op codes")
        name = operators[opcode]
        if not op.has(_OPERATOR_INPUTS):
            raise ValueError("Missing 'inputs' for operator.")
        if not op.has(_OPERATOR_OUTPUTS):
            raise ValueError("Missing 'outputs' for operator.")
        op_inputs, op_outputs = op.scalars(_OPERATOR_INPUTS, "<i"), op.scalars(_OPERATOR_OUTPUTS, "<i")
        _check_indices(op_inputs, count, f"op {index} ({name})", optional=True)
        _check_indices(op_outputs, count, f"op {index} ({name})")
        for position, tensor in enumerate(op_inputs):
            if tensor == _OPTIONAL_TENSOR:
                if position not in _OPTIONAL_INPUTS.get(name, ()):
                    raise ValueError(f"Input {position} to op {index} ({name}) is missing: "
                                     "only an optional input may be left out")
            elif not (
                tensor in constants or tensor in variables or tensor in inputs or tensor in produced
            ):
                raise ValueError(f"Input tensor {tensor} to op {index} ({name}) is not produced")
        for tensor in op_outputs:
            problem = (
                "is a constant" if tensor in constants
                else "is a variable" if tensor in variables
                else "is a subgraph input" if tensor in inputs
                else "is an output from another op. There is a cycle in the graph"
                if tensor in produced
                else None
            )
            if problem:
                raise ValueError(f"Output tensor {tensor} to op {index} ({name}) {problem}")
            produced.add(tensor)


def verify_tflite(model: bytes) -> None:
    """Checks the model's graph as TFLite's verifier does (see the module docstring).

    Raises:
      ValueError: What is wrong, in the verifier's words.
    """
    root = model_root(model)
    version = root.scalar(MODEL_VERSION, "<I")
    if version != SCHEMA_VERSION:
        raise ValueError(f"Invalid model version {version}")
    if not root.has(MODEL_SUBGRAPHS):
        raise ValueError("Missing 'subgraphs' section.")
    if not root.has(MODEL_BUFFERS):
        raise ValueError("Missing 'buffers' section.")
    operators = _operator_names(root)
    buffers = _buffer_sizes(root, len(model))
    for subgraph in root.tables(MODEL_SUBGRAPHS):
        _verify_subgraph(subgraph, operators, buffers)
