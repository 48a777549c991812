"""From an image to the model's input tensor, bit for bit as MediaPipe does it.

MediaPipe (``ImageToTensorCalculator`` with its OpenCV converter) turns the region of interest
and rotation into a map onto the output (geometry.py) and resamples the 8-bit image with
``cv::warpPerspective``
(INTER_LINEAR, BORDER_REPLICATE) in OpenCV 4's fixed-point arithmetic: source coordinates
rounded to 1/32 pixel, integer bilinear weights. An ordinary (antialiased or float) resize
moves scores by up to 0.18, so every step is reproduced here in the same precision and the
same order of operations. On CPython the resampling itself is OpenCV 4's own
``cv2.warpPerspective`` (the function MediaPipe calls; a dependency there) on the map worked
out here: a batch photo's warp in 0.4 ms instead of numpy's 0.8-1.8. OpenCV is not available
in the browser, so ``warp`` reproduces it bit for bit in numpy (tests/test_preprocess.py checks
both paths against OpenCV).

Speed of the numpy warp, measured on CPython and in Pyodide by bench/preprocess.py: it gathers
with 1-D indices and blends per channel plane, and where the map is axis-aligned (MediaPipe's
are, up to float rounding) it proves that and computes coordinates per axis instead of per
pixel. A host may install a kernel that does the sampling of 4-byte pixels on such a map in
one pass (``use_words_kernel``: the browser's worker does, in WebAssembly); the plan stays here.
"""

from __future__ import annotations

import functools
import math
from typing import Optional, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .geometry import transform
from .metadata import Normalization

try:  # CPython: OpenCV's own warp (pyproject.toml pins 4.12, whose arithmetic is MediaPipe's)
    import cv2
except ImportError:  # Pyodide: ``warp``, in numpy
    cv2 = None

_F32 = np.float32
_INTER_BITS = 5
_INTER_TAB_SIZE = 1 << _INTER_BITS
_BLOCK_WIDTH = 64  # warpPerspective works in 64-pixel-wide blocks, which rounding can see
_INT32_RANGE = (float(np.iinfo(np.int32).min), float(np.iinfo(np.int32).max))
# OpenCV's warp refuses images and outputs with a side of SHRT_MAX or more (its remap holds
# coordinates in 16 bits): those, rare but within the pixel limit, take the numpy warp.
_OPENCV_SIDES = 32767
# Sampling plans kept: a few geometries in turn (photo sizes, a camera, drawn regions).
_PLANS = 8
# The fused sampling of 4-byte pixels that a host may install (``use_words_kernel``).
_words_kernel = None


def _projection(matrix: np.ndarray, x: np.ndarray, y: np.ndarray):
    """warpPerspective's source-coordinate numerators and 1/32-pixel scale (INTER_TAB_SIZE / w)
    for output pixels (x, y) (float arrays, broadcast), in its order of operations."""
    m = matrix.reshape(-1)
    block = np.floor_divide(x, _BLOCK_WIDTH) * _BLOCK_WIDTH
    offset = x - block
    x_numerator = m[0] * block + m[1] * y + m[2] + m[0] * offset
    y_numerator = m[3] * block + m[4] * y + m[5] + m[3] * offset
    w = m[6] * block + m[7] * y + m[8] + m[6] * offset
    with np.errstate(divide="ignore"):
        scale = np.where(w != 0, _INTER_TAB_SIZE / w, 0.0)
    return x_numerator, y_numerator, scale


def _fixed(value: np.ndarray) -> np.ndarray:
    """OpenCV's saturate_cast<int>; np.intp also makes them valid indices on wasm32 (int32)."""
    return np.rint(np.clip(value, *_INT32_RANGE)).astype(np.intp)


def _pixel_coordinates(matrix: np.ndarray, out_width: int, out_height: int):
    """warpPerspective's fixed-point source coordinates (in 1/32 pixel) of every output pixel."""
    x = np.arange(out_width, dtype=np.float64)
    y = np.arange(out_height, dtype=np.float64)[:, None]
    x_numerator, y_numerator, scale = _projection(matrix, x, y)
    return _fixed(x_numerator * scale), _fixed(y_numerator * scale)


def _axis_coordinates(matrix: np.ndarray, out_width: int, out_height: int):
    """The same coordinates as ``_pixel_coordinates``, as a row and a column that broadcast to
    them, when that is provably exact; None otherwise.

    MediaPipe's maps are axis-aligned (a region of interest, turns of 90°), so one source
    coordinate follows the output column and the other the output row, up to float rounding,
    which this proves away: along a column, or along a row within one 64-pixel block, the
    numerators and the scale are each monotonic, so every pixel's product lies between the
    products at the segment's ends; equal rounded bounds mean equal coordinates. Computing only
    the ends costs O(width + height) instead of O(width * height). (At 90° and 270° MediaPipe's
    float32 corners make the map faintly projective, and some regions fail the proof.)
    """
    x = np.arange(out_width, dtype=np.float64)
    y = np.arange(out_height, dtype=np.float64)[:, None]
    starts = x[::_BLOCK_WIDTH]
    ends = np.minimum(starts + _BLOCK_WIDTH - 1, out_width - 1)
    first_and_last_row = np.array([[0.0], [out_height - 1.0]])
    *column_numerators, column_scale = _projection(matrix, x, first_and_last_row)
    *row_numerators, row_scale = _projection(matrix, np.concatenate([starts, ends]), y)
    if not ((column_scale > 0).all() and (row_scale > 0).all()):
        return None  # w <= 0 somewhere: its inverse need not be monotonic
    blocks = len(starts)

    def down_columns(numerator):
        return _proven(numerator[0], column_scale[0], numerator[1], column_scale[1])

    def along_rows(numerator):
        fixed = _proven(numerator[:, :blocks], row_scale[:, :blocks],
                        numerator[:, blocks:], row_scale[:, blocks:])
        return fixed[:, :1] if fixed is not None and (fixed == fixed[:, :1]).all() else None

    fixed_x, fixed_y = down_columns(column_numerators[0]), along_rows(row_numerators[1])
    if fixed_x is None or fixed_y is None:  # turned by 90°: x follows the output row
        fixed_x, fixed_y = along_rows(row_numerators[0]), down_columns(column_numerators[1])
    return None if fixed_x is None or fixed_y is None else (fixed_x, fixed_y)


def _proven(numerator_a, scale_a, numerator_b, scale_b) -> Optional[np.ndarray]:
    """The fixed-point coordinate of every pixel between ends a and b, if the ends' products
    (the extremes of numerator * scale over the segment) round to the same one; else None."""
    products = [n * s for n in (numerator_a, numerator_b) for s in (scale_a, scale_b)]
    low, high = _fixed(np.minimum.reduce(products)), _fixed(np.maximum.reduce(products))
    return low if np.array_equal(low, high) else None


def _axis_taps(fixed: np.ndarray, size: int, step: int):
    """The two taps along one axis: table offsets, each clamped on its own as remapBilinear
    does (BORDER_REPLICATE), and their weights in 1/32."""
    start = fixed >> _INTER_BITS
    fraction = (fixed & (_INTER_TAB_SIZE - 1)).astype(np.int32)
    return [
        (np.clip(start, 0, size - 1) * step, _INTER_TAB_SIZE - fraction),
        (np.clip(start + 1, 0, size - 1) * step, fraction),
    ]


@functools.lru_cache(maxsize=_PLANS)
def _fixed_coordinates(matrix: bytes, out_width: int, out_height: int):
    """(fixed_x, fixed_y) of one geometry (``matrix``: the map's bytes), per axis where that is
    proven exact, else per pixel; kept, as the sampling plan and the rows read both need them
    (read-only)."""
    transform_matrix = np.frombuffer(matrix, np.float64).reshape(3, 3)
    coordinates = _axis_coordinates(transform_matrix, out_width, out_height)
    return coordinates or _pixel_coordinates(transform_matrix, out_width, out_height)


@functools.lru_cache(maxsize=_PLANS)
def _sampling_plan(
    matrix: bytes, height: int, width: int, row_step: int, col_step: int,
    out_width: int, out_height: int,
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """warpPerspective's four bilinear taps for every output pixel of one geometry, row after
    row: table indices and integer weights (which sum to 32 * 32). A fixed mapping, worked out
    once and reused by every frame of that geometry."""
    fixed_x, fixed_y = _fixed_coordinates(matrix, out_width, out_height)
    shape = (out_height, out_width)
    return tuple(
        (_frozen(np.broadcast_to(row + column, shape).reshape(-1)),
         _frozen(np.broadcast_to(row_weight * column_weight, shape).reshape(-1)))
        for row, row_weight in _axis_taps(fixed_y, height, row_step)
        for column, column_weight in _axis_taps(fixed_x, width, col_step)
    )


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


def warp(pixels: np.ndarray, matrix: np.ndarray, out_width: int, out_height: int) -> np.ndarray:
    """cv::warpPerspective(INTER_LINEAR, BORDER_REPLICATE) of an 8-bit image for the 3x3
    output-to-source ``matrix``, bit-exact, in numpy, as (channels, out_height, out_width) int32
    planes: per frame, on the geometry's cached sampling plan, one gather per tap and one
    weighted sum per channel, all in long loops (interleaved channels make numpy loop over 3
    values); planes feed any layout."""
    height, width, channels = pixels.shape
    gather, row_step, col_step = _pixel_table(pixels)
    plan = _sampling_plan(np.asarray(matrix, np.float64).tobytes(), height, width,
                          row_step, col_step, out_width, out_height)
    total = np.full((channels, out_height * out_width), 1 << 9, np.int32)
    for index, weight in plan:
        for plane, values in zip(total, gather(index)):
            plane += weight * values
    # Weights sum to 32 * 32: with INTER_REMAP_COEF_BITS = 15 this is rounding >> 10.
    total >>= 10
    return total.reshape(channels, out_height, out_width)


def _opencv_warp(
    pixels: np.ndarray, matrix: np.ndarray, out_width: int, out_height: int
) -> np.ndarray:
    """``warp`` by OpenCV's own warpPerspective (0.4 ms for a batch photo, numpy's 0.8-1.8),
    as (out_height, out_width, channels) uint8."""
    source, channels = _opencv_source(pixels)
    warped = cv2.warpPerspective(
        source, matrix, (out_width, out_height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
    ).reshape(out_height, out_width, -1)  # OpenCV gives one channel as a 2-D array
    return warped if channels == list(range(warped.shape[2])) else warped[..., channels]


def _opencv_source(pixels: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """(image, channels): an image OpenCV reads in place, and which of its channels are the
    pixels', in order. An RGB view of 4-byte pixels (RGBA, or BGRA backwards) is read as the
    four-channel image under it rather than copied."""
    words = _words(pixels)
    if words is not None:
        table, row_step, channels = words
        height, width = pixels.shape[:2]
        return np.ndarray((height, width, 4), np.uint8, table, 0, (row_step * 4, 4, 1)), channels
    if pixels.strides[1:] != (pixels.shape[2], 1):
        pixels = np.ascontiguousarray(pixels)
    return pixels, list(range(pixels.shape[2]))


def _pixel_table(pixels: np.ndarray):
    """(gather, row_step, col_step): ``gather(index)`` gives, per channel, the values of the
    pixels at table index ``y * row_step + x * col_step``, made without copying the image.

    Pixels of four bytes (RGBA, every frame in the browser, or its RGB view, forwards or
    backwards as a BGRA frame's) are gathered whole, as uint32: one gather per tap instead of
    one per channel. Other layouts gather one 1-D view per channel. A 1-D index into a 1-D
    array is numpy's fast gather, in wasm too, where np.take and indexing rows of pixels are
    several times slower."""
    words = _words(pixels)
    if words is not None:
        table, row_step, channel_bytes = words

        def gather_words(index: np.ndarray) -> list[np.ndarray]:
            values = table[index].view(np.uint8).reshape(-1, 4)
            return [values[:, byte] for byte in channel_bytes]

        return gather_words, row_step, 1
    if min(pixels.strides) <= 0:
        pixels = np.ascontiguousarray(pixels)
    rows, cols, channels = pixels.shape
    row_stride, col_stride, channel_stride = pixels.strides
    unit = math.gcd(row_stride, col_stride)
    count = ((rows - 1) * row_stride + (cols - 1) * col_stride) // unit + 1
    planes = list(as_strided(pixels, (channels, count), (channel_stride, unit), writeable=False))
    return (lambda index: [plane[index] for plane in planes]), row_stride // unit, col_stride // unit


def _words(pixels: np.ndarray) -> Optional[tuple[np.ndarray, int, list[int]]]:
    """(table, row_step, channel_bytes): the image as one uint32 per pixel (1-D, row after
    row), and each channel's byte in its word, when its pixels are four consecutive bytes
    inside one contiguous array (an RGB view keeps its alpha byte; channels may run
    backwards); else None."""
    row_stride, col_stride, channel_stride = pixels.strides
    if (pixels.dtype != np.uint8 or col_stride != 4 or abs(channel_stride) != 1
            or row_stride <= 0 or row_stride % 4):
        return None
    root = pixels
    while isinstance(root.base, np.ndarray):
        root = root.base
    if not root.flags.c_contiguous:
        return None
    offsets = [channel * channel_stride for channel in range(pixels.shape[2])]
    # The word of a pixel begins at its lowest channel byte (the last one when they run back).
    start = (pixels.__array_interface__["data"][0] - root.__array_interface__["data"][0]
             + min(offsets))
    count = (pixels.shape[0] - 1) * row_stride // 4 + pixels.shape[1]
    if start < 0:
        return None
    try:  # numpy refuses a view that would reach past the root's memory
        table = np.ndarray((count,), np.uint32, root, start, (4,))
    except (TypeError, ValueError):
        return None
    channel_bytes = [offset - min(offsets) for offset in offsets]
    return table, row_stride // 4, channel_bytes


def input_normalization(
    dtype: type, normalization: Optional[Normalization]
) -> Optional[tuple[float, float]]:
    """(scale, offset) taking pixels 0..255 to the model's float range; None for uint8 input.

    Raises:
      ValueError: A float model without normalization metadata (MediaPipe's rule), or with a
        std of 0 (or a NaN or infinite mean or std).
      NotImplementedError: Per-channel normalization, which MediaPipe does not support either.
    """
    if np.dtype(dtype) == np.uint8:
        return None
    if normalization is None:
        raise ValueError(
            "Input tensor has type float32: it requires specifying "
            "NormalizationOptions metadata to preprocess input images."
        )
    if len(set(normalization.mean)) != 1 or len(set(normalization.std)) != 1:
        raise NotImplementedError(
            "Per-channel image normalization is not available: mean and std must each "
            "have one value (or three equal values)."
        )
    mean, std = _F32(normalization.mean[0]), _F32(normalization.std[0])
    if not (np.isfinite(mean) and np.isfinite(std)) or std == 0:
        # (x - mean) / 0 makes every input NaN or infinite: every score would be NaN.
        raise ValueError(
            f"Invalid NormalizationOptions metadata: mean {float(mean)}, std {float(std)} "
            "(std must be a non-zero number)."
        )
    # GetValueRangeTransformation from 0..255 to [(0 - mean)/std, (255 - mean)/std].
    low, high = (_F32(0) - mean) / std, (_F32(255) - mean) / std
    scale = (high - low) / _F32(255)
    return float(scale), float(low)


def use_words_kernel(kernel) -> None:
    """Installs ``kernel(table, channel_bytes, plan, values, planes)`` (None uninstalls it):
    ``input_tensor``'s sampling of 4-byte pixels on an axis-aligned map, for a host where
    numpy's many passes over temporaries cost most of a photo (Pyodide: engines/browser.py
    installs the worker's WebAssembly kernel). ``table``: the pixels as aligned uint32 words;
    ``plan``: ``_axis_plan``'s two taps per output row and two per output column (int32
    word offsets and weights). It must write into each of ``planes`` (an output channel: a
    2-D view of the float32 or uint8 tensor) what ``warp`` and the normalization give: at
    output row i, column j, channel c's value ``(512 + sum over the row taps r and column
    taps k of weight_r[i] * weight_k[j] * byte channel_bytes[c] of table[offset_r[i] +
    offset_k[j]]) >> 10``, through ``values`` (float32, 256 entries) when it is not None."""
    global _words_kernel
    _words_kernel = kernel


@functools.lru_cache(maxsize=_PLANS)
def _axis_plan(matrix: bytes, height: int, width: int, row_step: int, out_width: int,
               out_height: int):
    """For a map that is axis-aligned (``_axis_coordinates``), the sampling plan per axis:
    (row taps, column taps), each two (int32 word offsets, int32 weights), one value per
    output row or column: the taps of ``_sampling_plan`` are their sums and products. None
    for any other map."""
    fixed_x, fixed_y = _fixed_coordinates(matrix, out_width, out_height)
    if fixed_x.ndim == 1 and fixed_y.shape == (out_height, 1):
        along_rows, along_columns = (fixed_y[:, 0], height, row_step), (fixed_x, width, 1)
    elif fixed_y.ndim == 1 and fixed_x.shape == (out_height, 1):  # turned: x follows the rows
        along_rows, along_columns = (fixed_x[:, 0], width, 1), (fixed_y, height, row_step)
    else:
        return None
    return tuple(
        tuple((_frozen(offsets.astype(np.int32)), _frozen(weights.astype(np.int32)))
              for offsets, weights in _axis_taps(*axis))
        for axis in (along_rows, along_columns)
    )


def input_tensor(
    rgb: np.ndarray,
    input_details: dict,
    layout: str,
    normalization: Optional[tuple[float, float]],
    processing=None,
) -> np.ndarray:
    """The batched model input for an RGB uint8 image: warp, then normalize, then lay out; the
    last two in one step, by table lookup and assignment: OpenCV's warp and LUT where OpenCV
    is installed, else the numpy warp and a lookup per channel (or all of it in one pass of
    the installed kernel: ``use_words_kernel``)."""
    out_height, out_width = _output_size(input_details, layout)
    height, width, channels = rgb.shape
    matrix = transform(processing, width, height, out_width, out_height)
    if layout == "NCHW":
        tensor = np.empty((1, channels, out_height, out_width), input_details["dtype"])
    else:
        tensor = np.empty((1, out_height, out_width, channels), input_details["dtype"])
    values = None if normalization is None else _normalization_table(*normalization)
    if cv2 is not None and max(height, width, out_height, out_width) < _OPENCV_SIDES:
        warped = _opencv_warp(rgb, matrix, out_width, out_height)
        image = tensor[0] if layout == "NHWC" else np.moveaxis(tensor[0], 0, -1)
        if values is None:
            image[...] = warped
        elif image.flags.c_contiguous and image.dtype == np.float32:
            cv2.LUT(warped, values.reshape(1, -1), dst=image)  # straight into the tensor
        else:
            image[...] = cv2.LUT(warped, values.reshape(1, -1))
        return tensor
    planes = tensor[0] if layout == "NCHW" else np.moveaxis(tensor[0], -1, 0)
    words = _words(rgb) if _words_kernel is not None and channels == 3 else None
    normalized = tensor.dtype == np.float32 and values is not None
    if (words is not None and words[0].flags.aligned
            and (normalized or (tensor.dtype == np.uint8 and values is None))):
        table, row_step, channel_bytes = words
        plan = _axis_plan(np.asarray(matrix, np.float64).tobytes(), height, width, row_step,
                          out_width, out_height)
        if plan is not None:
            _words_kernel(table, channel_bytes, plan, values, list(planes))
            return tensor
    for plane, warped in zip(planes, warp(rgb, matrix, out_width, out_height)):
        plane[...] = warped if values is None else values[warped]
    return tensor


def _output_size(input_details: dict, layout: str) -> tuple[int, int]:
    shape: Sequence[int] = [int(d) for d in input_details["shape"]]
    return (shape[1], shape[2]) if layout == "NHWC" else (shape[2], shape[3])


def rows_read(
    width: int, height: int, input_details: dict, layout: str, processing=None
) -> tuple[tuple[int, int], ...]:
    """The rows of a width x height image that ``input_tensor`` reads, as runs (first row,
    count): an image whose other rows hold anything gives the same tensor, so a reader may
    copy only these (the browser's worker reads a frame's pixels so, a run at a time).

    Raises:
      ValueError: Processing options MediaPipe rejects (``geometry.check_processing_options``).
    """
    out_height, out_width = _output_size(input_details, layout)
    matrix = transform(processing, width, height, out_width, out_height)
    return _rows_read(matrix.tobytes(), int(height), out_width, out_height)


@functools.lru_cache(maxsize=_PLANS)
def _rows_read(
    matrix: bytes, height: int, out_width: int, out_height: int
) -> tuple[tuple[int, int], ...]:
    """The runs of rows that the two vertical taps of ``_sampling_plan`` index, clamped as
    there."""
    start = _fixed_coordinates(matrix, out_width, out_height)[1] >> _INTER_BITS
    rows = np.unique(np.concatenate([np.clip(start, 0, height - 1).ravel(),
                                     np.clip(start + 1, 0, height - 1).ravel()]))
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    firsts, lasts = rows[np.r_[0, breaks]], rows[np.r_[breaks - 1, len(rows) - 1]]
    return tuple(zip(firsts.tolist(), (lasts - firsts + 1).tolist()))


@functools.lru_cache(maxsize=4)
def _normalization_table(scale: float, offset: float) -> np.ndarray:
    """Every pixel value 0..255 normalized, as float64 arithmetic rounded to float32 gives it."""
    return _frozen((np.arange(256) * np.float64(scale) + offset).astype(np.float32))
