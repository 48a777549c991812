"""Inference engines behind one interface shaped like tflite-runtime's ``Interpreter``.

The classifier never knows which engine runs the model: it asks ``load`` for an interpreter
for the model bytes and drives it through ``Interpreter``. CPython registers onnxruntime for
.onnx and LiteRT (ai-edge-litert) for .tflite, each imported when first used; the browser
adapter (``engines.browser``, imported only in Pyodide) registers its own factories over the
same formats, so one classifier serves both.
"""

from __future__ import annotations

import sys
from typing import Callable

from .base import Interpreter, TensorDetails, cpu_threads, use_cpu_threads

EngineFactory = Callable[[bytes, str], Interpreter]
"""Builds an interpreter from model bytes and a delegate name ('CPU' or 'GPU')."""

_factories: dict[str, EngineFactory] = {}


def register(model_format: str, factory: EngineFactory) -> None:
    """Makes ``factory`` the engine for ``model_format`` ('onnx', 'tflite')."""
    _factories[model_format] = factory


def _onnxruntime(model: bytes, delegate: str) -> Interpreter:
    from .onnxruntime import OnnxRuntimeInterpreter

    return OnnxRuntimeInterpreter(model, delegate)


def _litert(model: bytes, delegate: str) -> Interpreter:
    from .litert import LiteRtInterpreter

    return LiteRtInterpreter(model, delegate)


if sys.platform != "emscripten":  # Pyodide: engines.browser.install registers the JS engines
    register("onnx", _onnxruntime)
    register("tflite", _litert)


def load(model: bytes, model_format: str, delegate: str) -> Interpreter:
    """An interpreter for ``model``; NotImplementedError when no engine runs this format."""
    factory = _factories.get(model_format)
    if factory is None:
        raise NotImplementedError(
            f"No inference engine for {model_format} models. "
            f"Supported: {', '.join(sorted(_factories))}."
        )
    return factory(model, delegate)


__all__ = ["Interpreter", "TensorDetails", "EngineFactory", "register", "load", "cpu_threads",
           "use_cpu_threads"]
