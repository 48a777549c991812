"""The CPython engine for .tflite models: LiteRT (``ai-edge-litert``), tflite-runtime's heir.

Its ``Interpreter`` already is the interface ``base.Interpreter`` describes; this wrapper only
loads the model, chooses the threads and gives errors the package's types.
"""

from __future__ import annotations

import logging

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from .base import TensorDetails, cpu_threads

_log = logging.getLogger(__name__)


class LiteRtInterpreter:
    """Runs a TFLite model on the CPU (XNNPack), on ``base.cpu_threads()`` threads."""

    def __init__(self, model: bytes, delegate: str = "CPU") -> None:
        if delegate == "GPU":
            _log.warning("The GPU delegate is not available with LiteRT here; using CPU.")
        try:
            self._interpreter = Interpreter(model_content=model, num_threads=cpu_threads())
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"Unable to load the TFLite model: {error}") from None

    def get_input_details(self) -> list[TensorDetails]:
        return self._interpreter.get_input_details()

    def get_output_details(self) -> list[TensorDetails]:
        return self._interpreter.get_output_details()

    def set_tensor(self, tensor_index: int, value: np.ndarray) -> None:
        self._interpreter.set_tensor(tensor_index, value)

    def invoke(self) -> None:
        try:
            self._interpreter.invoke()
        except (ValueError, RuntimeError) as error:
            raise RuntimeError(f"Inference failed: {error}") from None

    def get_tensor(self, tensor_index: int) -> np.ndarray:
        return self._interpreter.get_tensor(tensor_index)

    def close(self) -> None:
        self._interpreter = None
