"""How much a model may make the package allocate, checked before anything is allocated.

A model comes from anyone, and its sizes are only numbers in the file: a 1.2 KB model can
declare a [1, 40000, 40000, 3] input (22 GB, the machine's OOM killer on CPython; a tab
that never gets its memory back in the browser). The limits are far above what image
classifiers need and far below what breaks a browser tab.
"""

from __future__ import annotations

# 512 MiB: ten times EfficientNet-Lite4 in float32; a browser tab holds the model twice
# (the worker's copy and the engine's) in a WebAssembly memory of at most 4 GiB.
MAX_MODEL_BYTES = 512 << 20
# 256 MiB: a 4096 x 4096 float32 RGB input; EfficientNet-Lite's largest tensor is 5 MiB.
MAX_TENSOR_BYTES = 256 << 20
# All the tensors an engine may allocate for one model together (TFLite declares them all).
MAX_ARENA_BYTES = 1 << 30
# Past this, TFLite's verifier (and so MediaPipe) says "dimension overflow".
_OVERFLOW_BYTES = (1 << 31) - 1


def check_model_size(size: int) -> None:
    """Raises ValueError when a model file of ``size`` bytes is too large to read."""
    if size > MAX_MODEL_BYTES:
        raise ValueError(
            f"The model file has {size} bytes, more than the {MAX_MODEL_BYTES} bytes allowed."
        )


def tensor_bytes(name: str, shape: tuple[int, ...], element_bytes: int) -> int:
    """The bytes of a tensor, as TFLite's verifier counts them.

    Raises:
      ValueError: A negative size, or more than 2 GiB ("Tensor NAME dimension overflow").
    """
    if any(size < 0 for size in shape):
        raise ValueError(f"Tensor {name} has a negative dimension: {list(shape)}")
    total = element_bytes
    for size in shape:
        total *= size
        if total > _OVERFLOW_BYTES:
            raise ValueError(f"Tensor {name} dimension overflow")
    return total


def check_tensor(name: str, shape: tuple[int, ...], element_bytes: int) -> int:
    """The bytes of a tensor the engine will allocate.

    Raises:
      ValueError: Its size overflows or is past ``MAX_TENSOR_BYTES``.
    """
    size = tensor_bytes(name, shape, element_bytes)
    if size > MAX_TENSOR_BYTES:
        raise ValueError(
            f"Tensor {name} needs {size} bytes, more than the {MAX_TENSOR_BYTES} bytes allowed "
            "for one tensor."
        )
    return size
