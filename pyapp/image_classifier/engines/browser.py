"""The browser engine adapter: JavaScript engines behind the ``Interpreter`` interface.

The only module of the package that imports ``js`` and ``pyodide``; it is imported only in
Pyodide, by the worker, which calls ``install`` with its JS engine adapters (``web/engines/``:
onnxruntime-web for 'onnx', LiteRT.js for 'tflite'). Each adapter has the same shape
(documented in ``web/engines/ort.mjs``), so one class serves them all.

Tensors cross as numbers: ``invoke`` hands the worker the addresses in Pyodide's memory of
the input arrays and of fresh output arrays (plain integers, which need no conversion; a view
lent by ``getBuffer`` would also keep a few bytes of Python's memory for good in Pyodide 0.27:
over a live stream's thousands of runs, megabytes). The worker views the inputs there and
copies each output there once (web/python-bridge.mjs, ``runOnHeap``). ``invoke`` is
synchronous: an engine that runs synchronously (LiteRT.js on the CPU) has written the outputs
when its run returns, and one that gives a promise (onnxruntime-web, WebGPU) is waited for
through ``pyodide.ffi.run_sync``: the worker enters Python with ``callPromising``, so JSPI can
suspend Python while the engine works.
"""

from __future__ import annotations

import inspect

import js  # type: ignore[import-not-found]
import numpy as np
from pyodide.ffi import JsException, JsProxy, create_proxy, run_sync  # type: ignore[import-not-found]

from .. import preprocess, tflite
from . import register
from .base import TensorDetails

_DTYPES = {"float32": np.float32, "uint8": np.uint8, "int8": np.int8, "int32": np.int32}

_Tensor = tuple[str, tuple[float, int]]  # (name the adapter uses, quantization)
_Layout = tuple[list[_Tensor], list[_Tensor]]  # inputs, outputs


def tflite_layout(model: bytes) -> _Layout:
    """A TFLite model's inputs and outputs as LiteRT.js names them, in the model's order,
    with their quantization (read from the file: LiteRT.js does not report it)."""
    names = tflite.signature_names(model)
    inputs, outputs = tflite.read_tensor_details(model)
    return (
        [(names[d["index"]], d["quantization"]) for d in inputs],
        [(names[d["index"]], d["quantization"]) for d in outputs],
    )


def _js_bytes(model: bytes) -> JsProxy:
    """The model's bytes for an adapter: the worker's own Uint8Array when ``model`` is the
    very object ``load_model`` made of it (handed back once: a preloaded model is then known
    by identity, not by hashing 5 MB again), else a copy."""
    global _fetched
    fetched, _fetched = _fetched, None
    if fetched is not None and fetched[0] is model:
        return fetched[1]
    return _js_copy(model)


def _js_copy(data: bytes) -> JsProxy:
    """A Uint8Array of JS's own. A view into Pyodide's heap would not outlive an adapter's
    ``await``: whatever enters Python meanwhile (a live frame handed over) may grow the heap,
    which detaches every view of it."""
    lent = _Lent(data)
    try:
        return lent.data.slice()
    finally:
        lent.release()


class _Lent:
    """A read-only JS view of a Python buffer, valid until ``release``."""

    def __init__(self, value) -> None:
        self._proxy = create_proxy(value)
        self._buffer = self._proxy.getBuffer()
        self.data = self._buffer.data

    def release(self) -> None:
        self._buffer.release()
        self._proxy.destroy()


class JsEngineInterpreter:
    """A model loaded by a JS engine adapter. Tensor indices: inputs first, then outputs.

    ``layout`` lists, per input and per output in the model's own order, the name the adapter
    uses and the quantization (the order of heads; LiteRT.js reports neither), else the
    adapter's order is kept and tensors are unquantized.
    """

    def __init__(
        self, adapter: JsProxy, model: bytes, delegate: str, layout: _Layout | None = None
    ) -> None:
        try:
            self._model = run_sync(adapter.load(_js_bytes(model), delegate))
        except JsException as error:
            raise ValueError(error.message) from None
        inputs, outputs = layout or (None, None)
        self._inputs = self._details(self._model.inputs, 0, inputs)
        self._outputs = self._details(self._model.outputs, len(self._inputs), outputs)
        # The adapter's order, in which the worker takes the tensors' addresses.
        by_name = {d["name"]: d for d in [*self._inputs, *self._outputs]}
        self._run_order = [
            by_name[tensor.name]["index"] for tensor in [*self._model.inputs, *self._model.outputs]
        ]
        self._feeds: dict[int, np.ndarray] = {}
        self._results: list[np.ndarray] = []
        # The worker's preloaded model has run once already (engines.base).
        self.warm = bool(getattr(self._model, "warm", False))

    @staticmethod
    def _details(
        tensors: JsProxy, first_index: int, order: list[_Tensor] | None
    ) -> list[TensorDetails]:
        by_name = {tensor.name: tensor for tensor in tensors}
        order = order or [(name, (0.0, 0)) for name in by_name]
        if sorted(name for name, _ in order) != sorted(by_name):
            raise ValueError(
                f"The engine's tensors {sorted(by_name)} are not the model's "
                f"{sorted(name for name, _ in order)}."
            )
        return [
            {
                "name": name,
                "index": first_index + i,
                "shape": np.array(list(by_name[name].shape), dtype=np.int32),
                "dtype": _DTYPES[by_name[name].dtype],
                "quantization": quantization,
            }
            for i, (name, quantization) in enumerate(order)
        ]

    @property
    def info(self) -> dict:
        """The engine, the backend it runs on, its threads, and a note (e.g. a fallback)."""
        return self._model.info.to_py()

    def get_input_details(self) -> list[TensorDetails]:
        return self._inputs

    def get_output_details(self) -> list[TensorDetails]:
        return self._outputs

    def set_tensor(self, tensor_index: int, value: np.ndarray) -> None:
        details = self._inputs[tensor_index]
        if tuple(value.shape) != tuple(details["shape"]):
            raise ValueError(
                f"Cannot set tensor: got shape {list(value.shape)}, expected "
                f"{details['shape'].tolist()} for input {tensor_index}."
            )
        self._feeds[tensor_index] = np.ascontiguousarray(value, dtype=details["dtype"])

    def invoke(self) -> None:
        # Fresh outputs (get_tensor's arrays are the caller's); every array stays referenced
        # here while the engine reads or writes it.
        outputs = [np.empty(d["shape"], d["dtype"]) for d in self._outputs]
        arrays = {**self._feeds, **{d["index"]: a for d, a in zip(self._outputs, outputs)}}
        addresses = [_address(arrays[index]) for index in self._run_order]
        try:
            done = self._model.run(*addresses)
            if inspect.isawaitable(done):  # a promise (a future here)
                run_sync(done)
        except JsException as error:
            raise RuntimeError(f"Inference failed: {error.message}") from None
        self._results = outputs

    def get_tensor(self, tensor_index: int) -> np.ndarray:
        return self._results[tensor_index - len(self._inputs)]

    def close(self) -> None:
        if self._model is not None:
            self._model.release()
            self._model = None
        self._feeds = {}
        self._results = []


_fetch_model: JsProxy | None = None
# The last model load_model fetched, and the worker's Uint8Array of it (_js_bytes).
_fetched: tuple[bytes, JsProxy] | None = None


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def words_kernel(warp_words: JsProxy):
    """``preprocess.use_words_kernel``'s kernel as the worker's WebAssembly function
    (``warp`` of web/warp.wat, on Pyodide's memory): it gets numbers only, the arrays'
    addresses in Pyodide's memory among them (no conversion on the way)."""

    last: list = [None, ()]  # a plan and its arguments (kept: its arrays' addresses stay valid)

    def kernel(table, channel_bytes, plan, values, planes) -> None:
        if last[0] is not plan:  # a plan serves many frames: its 8 addresses are worked out once
            rows, columns = plan
            last[:] = plan, (
                *(_address(array) for tap in rows for array in tap), rows[0][0].size,
                *(_address(array) for tap in columns for array in tap), columns[0][0].size,
            )
        step, item = planes[0].strides[1], planes[0].itemsize
        warp_words(
            _address(table), *channel_bytes, *last[1],
            0 if values is None else _address(values),
            *(_address(plane) for plane in planes), step // item,
        )

    return kernel


def install(adapters: JsProxy, fetch_model: JsProxy, warp_words: JsProxy | None) -> None:
    """Registers each JS engine adapter (``{format: adapter}``) as the engine of its format;
    ``fetch_model(url)`` (a JS function returning a Promise of a Uint8Array) reads models;
    ``warp_words`` samples 4-byte pixels (``words_kernel``; None: numpy does)."""
    global _fetch_model
    _fetch_model = fetch_model
    preprocess.use_words_kernel(words_kernel(warp_words) if warp_words else None)
    for model_format in js.Object.keys(adapters):
        adapter = getattr(adapters, model_format)

        def factory(
            model: bytes, delegate: str, adapter: JsProxy = adapter, model_format: str = model_format
        ) -> JsEngineInterpreter:
            layout = tflite_layout(model) if model_format == "tflite" else None
            return JsEngineInterpreter(adapter, model, delegate, layout)

        register(model_format, factory)


def load_model(url: str) -> bytes:
    """The bytes of the model at ``url`` (a ``modelAssetPath``), fetched by the worker.

    Raises:
      FileNotFoundError: The model could not be fetched.
    """
    if _fetch_model is None:
        raise RuntimeError("engines.browser.install() was not called.")
    global _fetched
    try:
        fetched = run_sync(_fetch_model(url))
    except JsException as error:
        raise FileNotFoundError(error.message) from None
    model = fetched.to_bytes()
    _fetched = model, fetched
    return model
