"""The JS API's options, as @mediapipe/tasks-vision names them (camelCase), checked and turned
into the package's options: the classifier's own checks then run on them, so the JS API and
the Python API cannot drift apart.

JS values arrive as Python ones (objects as dicts, arrays as lists, numbers as floats);
``undefined`` and ``null`` both as None. Nothing here imports ``js``: CPython tests run it as the
browser worker does.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional

from .options import (
    BaseOptions,
    Delegate,
    ImageClassifierOptions,
    ImageProcessingOptions,
    RectF,
    ResultCallback,
    RunningMode,
)

BASE_OPTIONS = ("modelAssetPath", "modelAssetBuffer", "delegate")
OPTIONS = (
    "baseOptions",
    "runningMode",
    "displayNamesLocale",
    "maxResults",
    "scoreThreshold",
    "categoryAllowlist",
    "categoryDenylist",
    "resultCallback",
)
PROCESSING_OPTIONS = ("regionOfInterest", "rotationDegrees")
RECT = ("left", "top", "right", "bottom")
RUNNING_MODES = tuple(mode.name for mode in RunningMode)
DELEGATES = tuple(delegate.name for delegate in Delegate)

# Options the classifier can change in place (the model and its session stay).
IN_PLACE = {
    "displayNamesLocale": "display_names_locale",
    "maxResults": "max_results",
    "scoreThreshold": "score_threshold",
    "categoryAllowlist": "category_allowlist",
    "categoryDenylist": "category_denylist",
}

ModelLoader = Callable[[str], bytes]
"""Reads the model named by ``modelAssetPath`` (in the browser: fetches the URL)."""


def read_file(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _check_keys(what: str, value: Any, allowed: tuple[str, ...]) -> Mapping:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be an object, got {type(value).__name__}.")
    unknown = [key for key in value if key not in allowed]
    if unknown:
        raise ValueError(
            f"Unknown {what} {', '.join(repr(k) for k in unknown)}. "
            f"Should be one of: {', '.join(allowed)}."
        )
    return value


def integer(name: str, value: Any) -> Optional[int]:
    """A JS number that must be an integer (3.0 is one; 2.5, NaN and Infinity are not)."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise ValueError(f"`{name}` must be an integer, got {_js_repr(value)}.")
    return int(value)


def _float(name: str, value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"`{name}` must be a number, got {_js_repr(value)}.")
    return float(value)


def _js_repr(value: Any) -> str:
    """A value as JS would print it (NaN, Infinity), not as Python would (nan, inf)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return repr(value)


def _names(name: str, value: Any) -> Optional[list[str]]:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"`{name}` must be an array of strings, got {value!r}.")
    return list(value)


def _locale(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"`displayNamesLocale` must be a string, got {value!r}.")
    return value


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> Optional[str]:
    if value is None:
        return None
    if value not in choices:
        raise ValueError(f"Unsupported {name} {value!r}. Should be one of: {', '.join(choices)}.")
    return value


def in_place_changes(options: Mapping) -> dict[str, Any]:
    """The snake_case values of the in-place options present in ``options``."""
    convert = {
        "displayNamesLocale": _locale,
        "maxResults": lambda v: integer("maxResults", v),
        "scoreThreshold": lambda v: _float("scoreThreshold", v),
        "categoryAllowlist": lambda v: _names("categoryAllowlist", v),
        "categoryDenylist": lambda v: _names("categoryDenylist", v),
    }
    return {IN_PLACE[k]: convert[k](options[k]) for k in IN_PLACE if k in options}


def options_from_js(
    options: Mapping,
    load_model: ModelLoader = read_file,
    result_callback: Optional[ResultCallback] = None,
) -> ImageClassifierOptions:
    """ImageClassifierOptions from JS options; the model named by a path is read with
    ``load_model`` (after the options are validated), so the result always holds a buffer.
    ``resultCallback: true`` (the JS API keeps the function itself) becomes
    ``result_callback``.

    Raises:
      ValueError: Unknown names, wrong types or an invalid combination (MediaPipe's messages).
    """
    options = _check_keys("option", options, OPTIONS)
    base = _check_keys("baseOptions option", options.get("baseOptions"), BASE_OPTIONS)
    path = base.get("modelAssetPath")
    buffer = base.get("modelAssetBuffer")
    if path is not None and not isinstance(path, str):
        raise ValueError(f"`modelAssetPath` must be a string, got {type(path).__name__}.")
    if buffer is not None and not isinstance(buffer, (bytes, bytearray, memoryview)):
        raise ValueError(
            f"`modelAssetBuffer` must be a Uint8Array or ArrayBuffer, got {type(buffer).__name__}."
        )
    delegate = _choice("delegate", base.get("delegate"), DELEGATES)
    mode = _choice("runningMode", options.get("runningMode"), RUNNING_MODES)
    callback = options.get("resultCallback")
    if callback is not None and not isinstance(callback, bool):
        raise ValueError(f"`resultCallback` must be a function, got {callback!r}.")
    result = ImageClassifierOptions(
        base_options=BaseOptions(
            model_asset_path=path or None,
            model_asset_buffer=bytes(buffer) if buffer is not None else None,
            delegate=Delegate[delegate] if delegate else None,
        ),
        running_mode=RunningMode[mode] if mode else RunningMode.IMAGE,
        result_callback=(result_callback or (lambda *_: None)) if callback else None,
        **in_place_changes(options),
    )
    result.validate()
    if result.base_options.model_asset_path:
        result.base_options = BaseOptions(
            model_asset_buffer=load_model(result.base_options.model_asset_path),
            delegate=result.base_options.delegate,
        )
    return result


def merge_options(current: Mapping, partial: Mapping) -> dict:
    """``current`` updated as MediaPipe's setOptions does: a key set to None (undefined) goes
    back to its default; a new model path or buffer replaces the old one."""
    partial = _check_keys("option", partial, OPTIONS)
    merged = {k: v for k, v in current.items() if k != "baseOptions"}
    base = dict(current.get("baseOptions") or {})
    for key, value in partial.items():
        if key == "baseOptions":
            new_base = _check_keys("baseOptions option", value, BASE_OPTIONS)
            if (
                new_base.get("modelAssetPath") is not None
                or new_base.get("modelAssetBuffer") is not None
            ):
                base.pop("modelAssetPath", None)
                base.pop("modelAssetBuffer", None)
            base.update(new_base)
        else:
            merged[key] = value
    merged["baseOptions"] = {k: v for k, v in base.items() if v is not None}
    return {k: v for k, v in merged.items() if v is not None and v is not False}


def processing_options_from_js(options: Any) -> Optional[ImageProcessingOptions]:
    """ImageProcessingOptions from ``{regionOfInterest: {left, top, right, bottom},
    rotationDegrees}``; None when both are absent."""
    options = _check_keys("image processing option", options, PROCESSING_OPTIONS)
    roi = options.get("regionOfInterest")
    rotation = integer("rotationDegrees", options.get("rotationDegrees"))
    if roi is None and not rotation:
        return None
    rect = None
    if roi is not None:
        roi = _check_keys("regionOfInterest field", roi, RECT)
        missing = [k for k in RECT if roi.get(k) is None]
        if missing:
            raise ValueError(f"regionOfInterest needs {', '.join(missing)}.")
        rect = RectF(**{k: _float(k, roi[k]) for k in RECT})
    return ImageProcessingOptions(region_of_interest=rect, rotation_degrees=rotation or 0)
