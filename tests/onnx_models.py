"""Tiny ONNX models made at test time with the ``onnx`` package: an image input, one head.

``tiny_onnx`` computes ``softmax(flatten(image) @ W)``; its arguments break it the ways the
issue lists (symbolic sizes, a node input nobody produces, weights in an external file, a
gather that fails only when run). Small enough to read, real enough for onnxruntime to run.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from image_classifier.metadata import InputMetadata, ModelMetadata, Normalization
from image_classifier.onnx_model import METADATA_KEY


def tiny_onnx(
    shape=(1, 3, 8, 8),
    classes: int = 5,
    *,
    input_type: int = TensorProto.FLOAT,
    flatten_input: str = "image",
    gather_index: int | None = None,
    external_weights: bool = False,
    output_shape=None,
) -> bytes:
    """``shape`` may hold strings (symbolic sizes); ``flatten_input`` another name makes the
    Flatten read a tensor nobody produces; ``gather_index`` gathers that channel first (out
    of range: onnxruntime fails only when it runs)."""
    fixed = [d if isinstance(d, int) else 1 for d in shape]
    features = int(np.prod(fixed[1:]))
    weights = numpy_helper.from_array(
        np.random.default_rng(0).normal(size=(features, classes)).astype(np.float32) / features,
        "weights",
    )
    if external_weights:
        weights.data_location = TensorProto.EXTERNAL
        entry = weights.external_data.add()
        entry.key, entry.value = "location", "/dev/zero"
        weights.ClearField("raw_data")
    nodes = []
    source = flatten_input
    if gather_index is not None:
        nodes.append(helper.make_node("Gather", ["image", "index"], ["gathered"], axis=1))
        nodes.append(helper.make_node("Concat", ["gathered"] * fixed[1], ["picked"], axis=1))
        source = "picked"
    nodes += [
        helper.make_node("Cast", [source], ["floats"], to=TensorProto.FLOAT),
        helper.make_node("Flatten", ["floats"], ["flat"]),
        helper.make_node("MatMul", ["flat", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["scores"]),
    ]
    initializers = [weights]
    if gather_index is not None:
        initializers.append(numpy_helper.from_array(np.array([gather_index], np.int64), "index"))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", input_type, list(shape))],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT,
                                       list(output_shape or [shape[0], classes]))],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    normalization = Normalization((127.5,), (127.5,)) if input_type == TensorProto.FLOAT else None
    metadata = ModelMetadata(name="tiny", input=InputMetadata("NCHW", normalization))
    helper.set_model_props(model, {METADATA_KEY: metadata.to_json()})
    return model.SerializeToString()


def with_input_dims(model: bytes, dims: list) -> bytes:
    """A real ONNX model with its input's sizes replaced (strings become symbolic)."""
    proto = onnx.load_from_string(model)
    shape = proto.graph.input[0].type.tensor_type.shape
    for dim, value in zip(shape.dim, dims):
        if isinstance(value, str):
            dim.dim_param = value
        else:
            dim.dim_value = value
    return proto.SerializeToString()
