"""Where MediaPipe's warp samples: the region of interest and rotation as its matrix.

MediaPipe (``ImageToTensorCalculator`` with its OpenCV converter) turns the region of interest
and rotation into a normalized rect, then a rotated rectangle, and maps its corners onto the
output with ``cv::getPerspectiveTransform``; the warp (preprocess.py) samples the image through
the inverse of that map. Each step is reproduced in MediaPipe's own precision and order of
operations, so that the matrix, and with it every sampled pixel, is MediaPipe's.
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import numpy as np

_F32 = np.float32
_LU_EPSILON = np.finfo(np.float64).eps * 100
# Maps kept: a few geometries in turn (photo sizes, a camera, drawn regions).
_MAPS = 8


def check_processing_options(processing) -> None:
    """MediaPipe's checks of ImageProcessingOptions, with its messages (ValueError)."""
    if processing is None:
        return
    if processing.rotation_degrees % 90 != 0:
        raise ValueError("Expected rotation to be a multiple of 90°.")
    roi = processing.region_of_interest
    if roi is not None:
        if roi.left >= roi.right or roi.top >= roi.bottom:
            raise ValueError("Expected RectF with left < right and top < bottom.")
        if roi.left < 0 or roi.top < 0 or roi.right > 1 or roi.bottom > 1:
            raise ValueError("Expected RectF values to be in [0,1].")
        if any(math.isnan(v) for v in (roi.left, roi.top, roi.right, roi.bottom)):
            # NaN passes the checks above; MediaPipe's ImageToTensorCalculator rejects it next.
            raise ValueError("ROI contains NaN values.")


def _normalized_rect(
    region: Optional[tuple[float, float, float, float]], rotation_degrees: int,
    width: int, height: int,
) -> tuple[np.float32, ...]:
    """MediaPipe's ConvertToNormalizedRect (C++ BaseVisionTaskApi), in its float32 arithmetic:
    RectF and NormalizedRect hold floats, and the 90° swap multiplies floats by ints."""
    one, half = _F32(1), _F32(0.5)
    x_center, y_center, rect_width, rect_height = half, half, one, one
    rotation = _F32(-rotation_degrees * math.pi / 180.0)
    if region is not None:
        left, top, right, bottom = (_F32(v) for v in region)
        x_center, y_center = (left + right) / _F32(2), (top + bottom) / _F32(2)
        rect_width, rect_height = right - left, bottom - top
    if rotation_degrees % 180 != 0:
        rect_width, rect_height = (
            rect_height * _F32(height) / _F32(width),
            rect_width * _F32(width) / _F32(height),
        )
    return x_center, y_center, rect_width, rect_height, rotation


def _box_points(cx, cy, box_width, box_height, angle_degrees) -> list[tuple]:
    """cv::RotatedRect::points as MediaPipe 1.2.3's OpenCV (5.1, bundled in its wheel) computes
    them: in double from the float32 rect, each point rounded to float32 once. (OpenCV 4's,
    all in float32, puts a corner an ulp away on some regions: a few pixels then sample 1/32
    pixel apart; bench/agreement.py measures it.)"""
    angle = float(angle_degrees) * math.pi / 180.0
    b, a = math.cos(angle) * 0.5, math.sin(angle) * 0.5
    cx, cy, width, height = float(cx), float(cy), float(box_width), float(box_height)
    p0 = (cx - a * height - b * width, cy + b * height - a * width)
    p1 = (cx + a * height - b * width, cy - b * height - a * width)
    points = [p0, p1, (2 * cx - p0[0], 2 * cy - p0[1]), (2 * cx - p1[0], 2 * cy - p1[1])]
    return [(_F32(x), _F32(y)) for x, y in points]


def _lu_solve(a: list[list[float]], b: list[float]) -> list[float]:
    """OpenCV's hal::LU (Gaussian elimination, partial pivoting), same operation order."""
    m = len(a)
    for i in range(m):
        k = max(range(i, m), key=lambda j: (abs(a[j][i]), -j))
        if abs(a[k][i]) < _LU_EPSILON:
            raise ValueError("The region of interest is degenerate.")
        if k != i:
            a[i], a[k] = a[k], a[i]
            b[i], b[k] = b[k], b[i]
        d = -1.0 / a[i][i]
        for j in range(i + 1, m):
            alpha = a[j][i] * d
            for col in range(i + 1, m):
                a[j][col] += alpha * a[i][col]
            b[j] += alpha * b[i]
    for i in range(m - 1, -1, -1):
        s = b[i]
        for col in range(i + 1, m):
            s -= a[i][col] * b[col]
        b[i] = s / a[i][i]
    return b


def _perspective_transform(src: list[tuple], dst: list[tuple]) -> list[float]:
    """cv::getPerspectiveTransform: products in float32, the 8x8 system in float64."""
    a = [[0.0] * 8 for _ in range(8)]
    b = [0.0] * 8
    for i, ((sx, sy), (dx, dy)) in enumerate(zip(src, dst)):
        a[i][0] = a[i + 4][3] = float(sx)
        a[i][1] = a[i + 4][4] = float(sy)
        a[i][2] = a[i + 4][5] = 1.0
        a[i][6] = float(-sx * dx)
        a[i][7] = float(-sy * dx)
        a[i + 4][6] = float(-sx * dy)
        a[i + 4][7] = float(-sy * dy)
        b[i], b[i + 4] = float(dx), float(dy)
    return _lu_solve(a, b) + [1.0]


def _invert3(m: list[float]) -> list[float]:
    """cv::invert of a 3x3 double matrix (DECOMP_LU takes the closed form for n <= 3)."""
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m
    det = m00 * (m11 * m22 - m12 * m21) - m01 * (m10 * m22 - m12 * m20) + m02 * (
        m10 * m21 - m11 * m20
    )
    if det == 0:
        raise ValueError("The region of interest is degenerate.")
    d = 1.0 / det
    return [
        (m11 * m22 - m12 * m21) * d, (m02 * m21 - m01 * m22) * d, (m01 * m12 - m02 * m11) * d,
        (m12 * m20 - m10 * m22) * d, (m00 * m22 - m02 * m20) * d, (m02 * m10 - m00 * m12) * d,
        (m10 * m21 - m11 * m20) * d, (m01 * m20 - m00 * m21) * d, (m00 * m11 - m01 * m10) * d,
    ]


def transform(processing, width: int, height: int, out_width: int, out_height: int) -> np.ndarray:
    """The 3x3 map from output pixels to source pixels that MediaPipe's warp uses (read-only).

    Raises:
      ValueError: Processing options MediaPipe rejects (``check_processing_options``).
    """
    check_processing_options(processing)
    region, rotation_degrees = None, 0
    if processing is not None:
        roi = processing.region_of_interest
        if roi is not None:
            region = (roi.left, roi.top, roi.right, roi.bottom)
        # MediaPipe's rotation (counter-clockwise) is normalized to (-180°, 180°], as its
        # tensors show (270 turns as -90, 180 as -180): here in integer degrees, exactly, as a
        # huge multiple of 360 would otherwise turn the crop by its float rounding error.
        rotation_degrees = (processing.rotation_degrees + 180) % 360 - 180
    return _transform(region, rotation_degrees, int(width), int(height),
                      int(out_width), int(out_height))


@functools.lru_cache(maxsize=_MAPS)
def _transform(region, rotation_degrees: int, width: int, height: int, out_width: int,
               out_height: int) -> np.ndarray:
    x_center, y_center, rect_width, rect_height, rotation = _normalized_rect(
        region, rotation_degrees, width, height
    )
    # ImageToTensorCalculator's GetRoi, then the OpenCV converter's RotatedRect (degrees).
    angle = _F32(float(rotation * _F32(180.0)) / math.pi)
    src = _box_points(
        x_center * _F32(width), y_center * _F32(height),
        rect_width * _F32(width), rect_height * _F32(height), angle,
    )
    w, h = _F32(out_width), _F32(out_height)
    dst = [(_F32(0), h), (_F32(0), _F32(0)), (w, _F32(0)), (w, h)]
    matrix = np.array(_invert3(_perspective_transform(src, dst))).reshape(3, 3)
    matrix.flags.writeable = False
    return matrix
