"""ONNX models read straight from the protobuf: metadata, weight types, inputs, graph checks.

The ``onnx`` package is not in Pyodide, so ``protobuf`` walks the wire format. What is read
(onnx.proto field numbers below): the ``metadata_props`` that carry our ``ModelMetadata`` as
JSON under ``METADATA_KEY``, the element types of the initializers, the graph's inputs and
outputs with their shapes, and the nodes, which ``verify`` checks before any engine sees the
model: every node input is a constant, a graph input or an earlier node's output, no node
writes a graph input, a constant or another node's output, and no weight lives in a file
beside the model (an engine would open any path the model names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from . import protobuf
from .metadata import ModelMetadata

METADATA_KEY = "image_classifier.metadata"

# ModelProto
_MODEL_GRAPH, _MODEL_METADATA_PROPS = 7, 14
_PROP_KEY, _PROP_VALUE = 1, 2
# GraphProto
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 1, 5, 11, 12
_GRAPH_SPARSE_INITIALIZER = 15
# NodeProto
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP_TYPE, _NODE_ATTRIBUTE = 1, 2, 4, 5
# AttributeProto: a tensor, a graph, tensors, graphs
_ATTR_TENSOR, _ATTR_GRAPH, _ATTR_TENSORS, _ATTR_GRAPHS = 5, 6, 10, 11
# TensorProto, SparseTensorProto
_TENSOR_DATA_TYPE, _TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 2, 8, 13, 14
_SPARSE_VALUES = 1
# ValueInfoProto → TypeProto → TypeProto.Tensor → TensorShapeProto → Dimension
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TYPE_TENSOR = 1
_TENSOR_TYPE_ELEM, _TENSOR_TYPE_SHAPE = 1, 2
_SHAPE_DIM = 1
_DIM_VALUE, _DIM_PARAM = 1, 2

ONNX_TYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    9: "bool", 10: "float16", 11: "float64",
}

Dimension = Union[int, str, None]
"""A size, a symbolic name (dim_param), or None when the model says nothing."""


@dataclass(frozen=True)
class ValueInfo:
    """A graph input or output as the file declares it."""

    name: str
    element_type: str
    shape: Optional[tuple[Dimension, ...]]  # None: the rank is unknown


def _graph(model: bytes) -> memoryview:
    graphs = list(protobuf.messages(memoryview(model), _MODEL_GRAPH))
    if not graphs:
        raise protobuf.ProtobufError("no graph: not an ONNX model")
    return graphs[-1]


def read_onnx_metadata_props(model: bytes) -> dict[str, str]:
    """The key/value metadata of an ONNX model.

    Raises:
      ProtobufError: The bytes are not an ONNX model.
    """
    _graph(model)
    return {
        protobuf.string(entry, _PROP_KEY): protobuf.string(entry, _PROP_VALUE)
        for entry in protobuf.messages(memoryview(model), _MODEL_METADATA_PROPS)
    }


def read_onnx_metadata(model: bytes) -> ModelMetadata:
    """Our metadata from an ONNX model; an ONNX model without it says nothing about itself."""
    props = read_onnx_metadata_props(model)
    if METADATA_KEY not in props:
        return ModelMetadata()
    try:
        return ModelMetadata.from_json(props[METADATA_KEY])
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"The model's {METADATA_KEY} metadata is broken ({error}).") from None


def _initializers(graph: memoryview) -> list[memoryview]:
    return list(protobuf.messages(graph, _GRAPH_INITIALIZER)) + [
        values
        for sparse in protobuf.messages(graph, _GRAPH_SPARSE_INITIALIZER)
        for values in protobuf.messages(sparse, _SPARSE_VALUES)
    ]


def read_onnx_weight_types(model: bytes) -> frozenset[str]:
    """The element types of an ONNX model's initializers (its weights and constants)."""
    types = set()
    for tensor in _initializers(_graph(model)):
        code = protobuf.integer(tensor, _TENSOR_DATA_TYPE)
        types.add(ONNX_TYPES.get(code, f"type {code}"))
    return frozenset(types)


def _value_info(value: memoryview) -> ValueInfo:
    name = protobuf.string(value, _VALUE_NAME)
    element_type, shape = "undefined", None
    for type_proto in protobuf.messages(value, _VALUE_TYPE):
        for tensor in protobuf.messages(type_proto, _TYPE_TENSOR):
            code = protobuf.integer(tensor, _TENSOR_TYPE_ELEM)
            element_type = ONNX_TYPES.get(code, f"type {code}")
            for shape_proto in protobuf.messages(tensor, _TENSOR_TYPE_SHAPE):
                shape = tuple(_dimension(d) for d in protobuf.messages(shape_proto, _SHAPE_DIM))
    return ValueInfo(name, element_type, shape)


def _dimension(dim: memoryview) -> Dimension:
    if protobuf.has(dim, _DIM_VALUE):
        return protobuf.integer(dim, _DIM_VALUE)
    return protobuf.string(dim, _DIM_PARAM) or None


def read_onnx_io(model: bytes) -> tuple[list[ValueInfo], list[ValueInfo]]:
    """The graph's inputs (without those an initializer feeds: old exporters list weights
    as inputs) and outputs, as declared in the file."""
    graph = _graph(model)
    constants = {protobuf.string(t, _TENSOR_NAME) for t in _initializers(graph)}
    inputs = [_value_info(v) for v in protobuf.messages(graph, _GRAPH_INPUT)]
    outputs = [_value_info(v) for v in protobuf.messages(graph, _GRAPH_OUTPUT)]
    return [v for v in inputs if v.name not in constants], outputs


def _check_tensor(tensor: memoryview) -> None:
    if protobuf.integer(tensor, _TENSOR_DATA_LOCATION) != 0 or protobuf.has(
        tensor, _TENSOR_EXTERNAL_DATA
    ):
        raise ValueError(
            f"Tensor {protobuf.string(tensor, _TENSOR_NAME)} keeps its data in an external "
            "file: only self-contained ONNX models are supported."
        )


def _verify_graph(graph: memoryview, outer: frozenset[str]) -> None:
    """Checks one graph; ``outer`` names what an enclosing graph makes visible to it."""
    initializers = _initializers(graph)
    for tensor in initializers:
        _check_tensor(tensor)
    constants = {protobuf.string(t, _TENSOR_NAME) for t in initializers}
    inputs = {protobuf.string(v, _VALUE_NAME) for v in protobuf.messages(graph, _GRAPH_INPUT)}
    produced: set[str] = set()
    for index, node in enumerate(protobuf.messages(graph, _GRAPH_NODE)):
        op_type = protobuf.string(node, _NODE_OP_TYPE)
        for name in protobuf.strings(node, _NODE_INPUT):
            if name and not (name in constants or name in inputs or name in produced
                             or name in outer):
                raise ValueError(f"Input tensor {name} to node {index} ({op_type}) is not "
                                 "produced")
        for attribute in protobuf.messages(node, _NODE_ATTRIBUTE):
            for tensor in protobuf.messages(attribute, _ATTR_TENSOR):
                _check_tensor(tensor)
            for tensor in protobuf.messages(attribute, _ATTR_TENSORS):
                _check_tensor(tensor)
            for number in (_ATTR_GRAPH, _ATTR_GRAPHS):  # If, Loop, Scan see this scope
                for subgraph in protobuf.messages(attribute, number):
                    _verify_graph(subgraph, outer | constants | inputs | produced)
        for name in protobuf.strings(node, _NODE_OUTPUT):
            if not name:
                continue
            problem = (
                "is a constant" if name in constants
                else "is a graph input" if name in inputs
                else "is an output from another node. There is a cycle in the graph"
                if name in produced
                else None
            )
            if problem:
                raise ValueError(f"Output tensor {name} to node {index} ({op_type}) {problem}")
            produced.add(name)
    for name in (protobuf.string(v, _VALUE_NAME) for v in protobuf.messages(graph, _GRAPH_OUTPUT)):
        if not (name in produced or name in inputs or name in constants or name in outer):
            raise ValueError(f"Graph output {name} is not produced")


def verify_onnx(model: bytes) -> None:
    """Checks that the model's graph is well formed (see the module docstring).

    Raises:
      ValueError: What is wrong, naming the node and tensor.
    """
    _verify_graph(_graph(model), frozenset())
