"""The engine interface: the part of tflite-runtime's ``Interpreter`` that a classifier uses.

Tensor details are dicts with tflite-runtime's keys (``name``, ``index``, ``shape``, ``dtype``,
``quantization`` as ``(scale, zero_point)``, ``(0.0, 0)`` when not quantized). ``invoke`` is
synchronous: the browser adapter makes an asynchronous JS engine look synchronous with
Pyodide's ``run_sync``, so no thread and no async rewrite is needed on either side.

An interpreter whose engine has run the model already (the browser's model loaded and run
while Python booted) says so with ``warm = True``: warming up a classifier then leaves the
engine out.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Protocol

import numpy as np

TensorDetails = dict[str, Any]

_cpu_threads: Optional[int] = None


def use_cpu_threads(count: Optional[int]) -> None:
    """How many threads each CPU engine created from now on in this process runs on (None:
    one per core). A process that shares the cores with others doing the same work (batch
    worker processes) takes 1: N engines of N threads each on N cores would spin-wait for
    cores the others hold."""
    global _cpu_threads
    _cpu_threads = count


def cpu_threads() -> int:
    """The threads a CPU engine created now runs on (``use_cpu_threads``)."""
    return _cpu_threads or os.cpu_count() or 1


class Interpreter(Protocol):
    def get_input_details(self) -> list[TensorDetails]: ...

    def get_output_details(self) -> list[TensorDetails]: ...

    def set_tensor(self, tensor_index: int, value: np.ndarray) -> None: ...

    def invoke(self) -> None: ...

    def get_tensor(self, tensor_index: int) -> np.ndarray: ...

    def close(self) -> None:
        """Frees the engine's resources; the interpreter is unusable afterwards."""
