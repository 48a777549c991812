"""The CPython engine: onnxruntime, shaped like tflite-runtime's Interpreter."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime

from .base import TensorDetails, cpu_threads

_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
}

_log = logging.getLogger(__name__)


def _details(index: int, node) -> TensorDetails:
    if node.type not in _DTYPES:
        raise ValueError(f"Unsupported tensor type {node.type} for '{node.name}'.")
    return {
        "name": node.name,
        "index": index,
        "shape": np.array([d if isinstance(d, int) else 1 for d in node.shape], dtype=np.int32),
        "dtype": _DTYPES[node.type],
        "quantization": (0.0, 0),
    }


class OnnxRuntimeInterpreter:
    """Runs an ONNX model on the CPU. Tensor indices: inputs first, then outputs."""

    def __init__(self, model: bytes, delegate: str = "CPU") -> None:
        if delegate == "GPU":
            _log.warning("The GPU delegate is not available with onnxruntime here; using CPU.")
        options = onnxruntime.SessionOptions()
        # On x86 CPUs without VNNI (AVX2 only) the fast u8s8 kernels saturate 16-bit sums and
        # move int8 scores by up to 0.06 (coffee.png: 0.853 instead of 0.912); this switches
        # those products to u8u8, which cannot overflow. No effect on float models or VNNI CPUs.
        options.add_session_config_entry("session.x64quantprecision", "1")
        options.intra_op_num_threads = cpu_threads()
        try:
            self._session = onnxruntime.InferenceSession(
                model, options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own pybind exception types
            raise ValueError(f"Unable to load the ONNX model: {error}") from None
        inputs = self._session.get_inputs()
        self._inputs = [_details(i, node) for i, node in enumerate(inputs)]
        self._outputs = [
            _details(len(inputs) + i, node) for i, node in enumerate(self._session.get_outputs())
        ]
        self._feeds: dict[str, np.ndarray] = {}
        self._results: list[np.ndarray] = []

    def get_input_details(self) -> list[TensorDetails]:
        return self._inputs

    def get_output_details(self) -> list[TensorDetails]:
        return self._outputs

    def set_tensor(self, tensor_index: int, value: np.ndarray) -> None:
        self._feeds[self._inputs[tensor_index]["name"]] = value

    def invoke(self) -> None:
        try:
            self._results = self._session.run(None, self._feeds)
        except Exception as error:  # onnxruntime's own exception types, as when loading
            raise RuntimeError(f"Inference failed: {error}") from None

    def get_tensor(self, tensor_index: int) -> np.ndarray:
        return self._results[tensor_index - len(self._inputs)]

    def close(self) -> None:
        self._session = None
        self._feeds = {}
        self._results = []
