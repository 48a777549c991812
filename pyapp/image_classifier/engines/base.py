"""The engine interface: the part of tflite-runtime's ``Interpreter`` that a classifier uses.

Tensor details are dicts with tflite-runtime's keys (``name``, ``index``, ``shape``, ``dtype``,
``quantization`` as ``(scale, zero_point)``, ``(0.0, 0)`` when not quantized). ``invoke`` is
synchronous: the browser adapter makes an asynchronous JS engine look synchronous with
Pyodide's ``run_sync``, so no thread and no async rewrite is needed on either side.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

TensorDetails = dict[str, Any]


class Interpreter(Protocol):
    def get_input_details(self) -> list[TensorDetails]: ...

    def get_output_details(self) -> list[TensorDetails]: ...

    def set_tensor(self, tensor_index: int, value: np.ndarray) -> None: ...

    def invoke(self) -> None: ...

    def get_tensor(self, tensor_index: int) -> np.ndarray: ...

    def close(self) -> None:
        """Frees the engine's resources; the interpreter is unusable afterwards."""
