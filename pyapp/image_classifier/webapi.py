"""The JS API's side of the package: camelCase options and results, as @mediapipe/tasks-vision.

The browser worker (web/worker.mjs) hands JS objects (converted to dicts and lists) to
``WebClassifier`` and posts back what it returns; every check, default and error message comes
from the Python classifier, so the JS API and the Python API cannot drift apart. Nothing here
imports ``js``: this module is tested on CPython like the rest of the package.

JS ``undefined`` and ``null`` both arrive as None: in ``setOptions`` they reset an option to its
default, as in MediaPipe's web API.

LIVE_STREAM: the JS API keeps the user's ``resultCallback`` and sends ``resultCallback: true``
in its place. The classifier then runs on a ``HostScheduling`` (Pyodide has no threads): the
worker hands frames over with ``classify_async`` and calls ``run_pending`` when it is free;
the results delivered meanwhile come back from ``run_pending``. Which frame waits, which is
dropped, and the timestamp checks are the Python runner's, as on CPython.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from dataclasses import replace
from typing import Any, Callable, Mapping, Optional

import numpy as np
from PIL import Image as PILImage

from .classifier import ImageClassifier
from .image import Image, ImageFormat, ImageTooLarge, check_pixels
from .live_stream import HostScheduling, LiveStreamStats
from .metadata import HeadMetadata
from .model import model_format, read_weight_types
from .options import (
    BaseOptions,
    Delegate,
    ImageClassifierOptions,
    ImageProcessingOptions,
    RectF,
    ResultCallback,
    RunningMode,
)
from . import preprocess
from .preprocess import input_normalization
from .results import ClassificationResult

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
# Weight types that make a model quantized (TFLite's float16 quantization included).
QUANTIZED_TYPES = ("int8", "uint8", "int16", "float16")

# Options the classifier can change in place (the model and its session stay).
_IN_PLACE = {
    "displayNamesLocale": "display_names_locale",
    "maxResults": "max_results",
    "scoreThreshold": "score_threshold",
    "categoryAllowlist": "category_allowlist",
    "categoryDenylist": "category_denylist",
}

ModelLoader = Callable[[str], bytes]
"""Reads the model named by ``modelAssetPath`` (in the browser: fetches the URL)."""


def _read_file(path: str) -> bytes:
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


def _int(name: str, value: Any) -> Optional[int]:
    if value is None:
        return None
    # JS numbers arrive as floats: 3.0 is an integer, 2.5, NaN and Infinity are not.
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


def _in_place_changes(options: Mapping) -> dict[str, Any]:
    """The snake_case values of the in-place options present in ``options``."""
    convert = {
        "displayNamesLocale": _locale,
        "maxResults": lambda v: _int("maxResults", v),
        "scoreThreshold": lambda v: _float("scoreThreshold", v),
        "categoryAllowlist": lambda v: _names("categoryAllowlist", v),
        "categoryDenylist": lambda v: _names("categoryDenylist", v),
    }
    return {_IN_PLACE[k]: convert[k](options[k]) for k in _IN_PLACE if k in options}


def options_from_js(
    options: Mapping,
    load_model: ModelLoader = _read_file,
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
        **_in_place_changes(options),
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
    rotation = _int("rotationDegrees", options.get("rotationDegrees"))
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


def result_to_js(result: ClassificationResult) -> dict:
    """A ClassificationResult in MediaPipe web's shape (missing names are '')."""
    return {
        "classifications": [
            {
                "categories": [
                    {
                        "index": category.index,
                        "score": float(category.score),
                        "categoryName": category.category_name or "",
                        "displayName": category.display_name or "",
                    }
                    for category in head.categories
                ],
                "headIndex": head.head_index,
                "headName": head.head_name or "",
            }
            for head in result.classifications
        ],
        "timestampMs": result.timestamp_ms or 0,
    }


def stats_to_js(stats: Optional[LiveStreamStats]) -> Optional[dict]:
    """The live-stream counters in camelCase (None outside LIVE_STREAM)."""
    if stats is None:
        return None
    return {
        "received": stats.received,
        "processed": stats.processed,
        "dropped": stats.dropped,
        "waiting": stats.waiting,
        "maxWaiting": stats.max_waiting,
    }


def model_to_js(classifier: ImageClassifier, model: bytes) -> dict:
    """What the model says about itself, for the page: its metadata, its tensors as the
    engine reports them, and its quantization, which only its weight types reveal (our int8
    models keep a float32 input and output). The normalization is the one preprocessing
    applies: None for uint8 input, which takes raw pixels whatever the metadata says."""
    metadata = classifier.metadata
    tensor = classifier.input_details
    shape = [int(d) for d in tensor["shape"]]
    layout = metadata.input.layout
    height, width, channels = shape[1:] if layout == "NHWC" else (*shape[2:], shape[1])
    normalization = metadata.input.normalization
    if input_normalization(tensor["dtype"], normalization) is None:
        normalization = None
    weight_types = read_weight_types(model)
    heads = metadata.heads or [HeadMetadata(name="")] * len(classifier.output_details)
    return {
        "name": metadata.name,
        "description": metadata.description,
        "version": metadata.version,
        "author": metadata.author,
        "license": metadata.license,
        "format": model_format(model),
        "sizeBytes": len(model),
        "input": {
            "width": width,
            "height": height,
            "channels": channels,
            "layout": layout,
            "dtype": np.dtype(tensor["dtype"]).name,
            "normalization": (
                {"mean": list(normalization.mean), "std": list(normalization.std)}
                if normalization
                else None
            ),
        },
        "quantization": [t for t in QUANTIZED_TYPES if t in weight_types],
        "heads": [
            {
                "index": index,
                "name": head.name,
                "classes": int(np.prod(output["shape"][1:])),
                "dtype": np.dtype(output["dtype"]).name,
                "quantization": (
                    {"scale": float(output["quantization"][0]),
                     "zeroPoint": int(output["quantization"][1])}
                    if output["quantization"][0]
                    else None
                ),
                "labels": len(head.category_names or ()),
                "locales": [f.locale for f in head.labels if f.locale],
                "scoreThreshold": head.score_threshold,
                "calibration": head.score_calibration.function if head.score_calibration else None,
            }
            for index, (head, output) in enumerate(zip(heads, classifier.output_details))
        ],
    }


_PIXEL_ORDERS = {"RGBA": ImageFormat.SRGBA, "BGRA": ImageFormat.SBGRA}


def image_from_rgba(pixels: Any, width: int, height: int, order: str = "RGBA") -> Image:
    """An image of ``width * height * 4`` bytes (a canvas's ImageData.data, or a VideoFrame's
    pixels in its own ``order``, RGBA or BGRA), taken over without a copy: the bytes are the
    worker's fresh copy, which nothing else holds."""
    data = np.frombuffer(pixels, dtype=np.uint8)
    if width <= 0 or height <= 0 or data.size != width * height * 4:
        raise ValueError(f"Expected {width}x{height} RGBA pixels, got {data.size} bytes.")
    if order not in _PIXEL_ORDERS:
        raise ValueError(f"Unsupported pixel order {order!r}. Should be one of: RGBA, BGRA.")
    return Image._adopt(_PIXEL_ORDERS[order], data.reshape(height, width, 4))


# A camera-sized blank frame: the warm-up at creation goes through resizing too.
_WARM_UP_IMAGE = Image(ImageFormat.SRGBA, np.zeros((480, 640, 4), dtype=np.uint8))


class WebClassifier:
    """One JS ``ImageClassifier``: the worker calls these methods with converted JS values."""

    def __init__(self, options: Mapping, load_model: ModelLoader = _read_file) -> None:
        self._load_model = load_model
        self._delivered: list[dict] = []
        self._options = merge_options({}, options)
        self._classifier, self._model = self._create(self._options)

    def _create(self, options: Mapping) -> tuple[ImageClassifier, dict]:
        """A classifier for JS options, warmed up, and its model's ``model_to_js``; in
        LIVE_STREAM its results collect in ``_delivered`` and its frames wait for
        ``run_pending`` (a HostScheduling of its own)."""
        converted = options_from_js(options, self._load_model, self._deliver)
        classifier = ImageClassifier.create_from_options(
            converted, live_stream_scheduling=HostScheduling()
        )
        try:
            model = model_to_js(classifier, converted.base_options.model_asset_buffer)
            classifier.warm_up(_WARM_UP_IMAGE)
            return classifier, model
        except Exception:
            classifier.close()
            raise

    def _deliver(self, result: ClassificationResult, _image: Image, _timestamp_ms: int) -> None:
        self._delivered.append(
            {"result": result_to_js(result), "timings": dict(self._classifier.last_timings_ms)}
        )

    @property
    def classifier(self) -> ImageClassifier:
        return self._classifier

    @property
    def model(self) -> dict:
        """What the model in use says about itself (``model_to_js``)."""
        return self._model

    @property
    def options(self) -> dict:
        """The JS options in force (without the model bytes)."""
        base = {
            k: v for k, v in self._options.get("baseOptions", {}).items() if k != "modelAssetBuffer"
        }
        return {**self._options, "baseOptions": base}

    def set_options(self, partial: Mapping) -> None:
        """Applies ``partial``; a new model, delegate or running mode makes a new classifier
        (the old one stays if that fails), the rest changes in place."""
        merged = merge_options(self._options, partial or {})
        if (
            merged["baseOptions"] != self._options["baseOptions"]
            or (merged.get("runningMode") or "IMAGE") != (self._options.get("runningMode") or "IMAGE")
            or merged.get("resultCallback") != self._options.get("resultCallback")
        ):
            replacement, model = self._create(merged)
            self._classifier.close()
            self._classifier, self._model = replacement, model
        else:
            # Raises before anything changes when a value or the combination is invalid.
            self._classifier.set_options(**_in_place_changes({k: merged.get(k) for k in _IN_PLACE}))
        self._options = merged

    def rows_read(self, width: int, height: int, processing: Any = None) -> list[int]:
        """The rows of a width x height image that classifying it reads, as runs [first,
        count, first, count...]; all of them when the processing options are invalid (the
        classify reports that)."""
        classifier = self._classifier
        try:
            runs = preprocess.rows_read(width, height, classifier.input_details,
                                        classifier.metadata.input.layout,
                                        processing_options_from_js(processing))
        except ValueError:
            runs = ((0, height),)
        return [value for run in runs for value in run]

    def classify(self, image: Image, processing: Any = None) -> dict:
        """IMAGE mode; ``timestampMs`` stays 0 (MediaPipe's Python clock of 1000 ms a call is
        not part of the web API)."""
        result = self._classifier.classify(image, processing_options_from_js(processing))
        return result_to_js(replace(result, timestamp_ms=0))

    def classify_for_video(self, image: Image, timestamp_ms: Any, processing: Any = None) -> dict:
        timestamp = _int("timestamp", timestamp_ms)
        if timestamp is None:
            raise ValueError("classifyForVideo needs a timestamp in milliseconds.")
        result = self._classifier.classify_for_video(
            image, timestamp, processing_options_from_js(processing)
        )
        return result_to_js(result)

    def classify_async(self, image: Image, timestamp_ms: Any, processing: Any = None) -> None:
        """Hands a frame over (LIVE_STREAM); ``run_pending`` processes it (or a newer one)."""
        timestamp = _int("timestamp", timestamp_ms)
        if timestamp is None:
            raise ValueError("classifyAsync needs a timestamp in milliseconds.")
        self._classifier.classify_async(image, timestamp, processing_options_from_js(processing))

    def run_pending(self) -> list[dict]:
        """Processes the waiting LIVE_STREAM frame, if any; the results delivered since the
        last call (``{result, timings}``), oldest first."""
        scheduling = self._classifier.live_stream_scheduling
        if scheduling is not None:
            scheduling.run_pending()
        return self._take_delivered()

    def _take_delivered(self) -> list[dict]:
        delivered, self._delivered = self._delivered, []
        return delivered

    @property
    def live_stream_pending(self) -> bool:
        scheduling = self._classifier.live_stream_scheduling
        return bool(scheduling is not None and scheduling.pending)

    @property
    def live_stream_stats(self) -> Optional[dict]:
        return stats_to_js(self._classifier.live_stream_stats)

    @property
    def last_timings_ms(self) -> dict[str, float]:
        return dict(self._classifier.last_timings_ms)

    def close(self) -> list[dict]:
        """Closes the classifier; in LIVE_STREAM, after the frame still waiting is processed
        (as MediaPipe does): returns the results delivered meanwhile."""
        self._classifier.close()
        return self._take_delivered()


def error_to_js(error: BaseException) -> dict:
    """What the JS API rejects with: MediaPipe's message, and the Python exception's type."""
    public = next(c for c in type(error).__mro__ if not c.__name__.startswith("_"))
    return {"name": public.__name__, "message": str(error)}


class _DecodeError(ValueError):
    """An encoded image Pillow cannot decode: the worker may try the browser's decoders."""


class _DecodeInBrowser(Exception):
    """A JPEG the browser decodes exactly as CPython's Pillow does (see ``jpeg_for_browser``)."""

    def __init__(self, jpeg: bytes) -> None:
        super().__init__("decode in the browser")
        self.jpeg = jpeg


def jpeg_for_browser(encoded: bytes) -> Optional[bytes]:
    """The JPEG to decode with the browser instead of Pillow, or None for any other image.

    Pyodide's Pillow decodes JPEG with IJG libjpeg 9, whose output differs from the
    libjpeg-turbo that CPython's Pillow wheels and Chromium both use (measured: the browser's
    pixels are bit-identical to CPython's, Pyodide's are not). So a baseline RGB or grayscale
    JPEG is decoded by the browser, which also applies its EXIF orientation, as MediaPipe's
    ``Image.create_from_file`` does (a phone photo is classified upright). The size limit of
    ``image.MAX_PIXELS`` is checked first, as for every decoded image.
    """
    if not encoded.startswith(b"\xff\xd8\xff"):
        return None
    try:
        with warnings.catch_warnings():  # the size is checked below, against MAX_PIXELS
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            picture = PILImage.open(io.BytesIO(encoded))
        with picture:
            if picture.format != "JPEG" or picture.mode not in ("RGB", "L"):
                return None
            width, height = picture.size
    except Exception:  # Pillow will report the problem when it decodes
        return None
    check_pixels(width, height)
    return encoded


def image_from_js(image: Mapping) -> Image:
    """An Image from the worker's message: ``{rgba: bytes, width, height}`` or ``{encoded:
    bytes}``, decoded by Pillow as ``Image.create_from_file`` on CPython, except for the JPEGs
    of ``jpeg_for_browser`` (unless ``{browserDecoding: false}``)."""
    if "encoded" in image:
        encoded = bytes(image["encoded"])
        if image.get("browserDecoding", True):
            jpeg = jpeg_for_browser(encoded)
            if jpeg is not None:
                raise _DecodeInBrowser(jpeg)
        try:
            return Image.create_from_bytes(encoded)
        except ImageTooLarge:
            raise  # a refusal, not a failure: no other decoder may try
        except ValueError as error:
            raise _DecodeError(str(error)) from None
    return image_from_rgba(
        image["rgba"], _int("width", image["width"]), _int("height", image["height"]),
        image.get("order") or "RGBA",
    )


class WorkerApi:
    """What web/worker.mjs calls: classifiers by handle, plain data in and out.

    ``dispatch(op, args)`` never raises: it returns ``{"value": ...}``, ``{"error": {name,
    message, decode}}`` (``decode`` is True when Pillow could not decode the image: the worker
    then tries the browser's decoders before reporting the error), or ``{"decodeInBrowser":
    bytes}`` when the browser must decode the image first (a JPEG: see ``jpeg_for_browser``)
    and send its pixels in a new ``classify``.
    """

    def __init__(self, load_model: ModelLoader = _read_file) -> None:
        self._load_model = load_model
        self._classifiers: dict[int, WebClassifier] = {}
        self._next_handle = 1
        self._frame: Optional[np.ndarray] = None  # of frame_buffer, until a classify takes it

    def frame_buffer(self, handle: int, width: Any, height: Any, processing: Any = None) -> dict:
        """A buffer in Python's memory for the pixels (four bytes each) of a width x height
        frame, which the worker writes there itself and then classifies as ``{"filled": True,
        width, height, order}``: its ``address``, and the ``rows`` classify reads (runs of
        ``rows_read``), the only ones the worker copies (at 1920x1280, 448 of 1280). Pixels
        written into Python's memory are not copied again on the way in."""
        classifier = self._get(handle)
        width, height = _int("width", width), _int("height", height)
        check_pixels(width, height)
        self._frame = np.empty(width * height * 4, np.uint8)
        return {"address": self._frame.__array_interface__["data"][0],
                "rows": classifier.rows_read(width, height, processing)}

    def _filled_frame(self, image: Mapping) -> Image:
        """The image of the buffer of ``frame_buffer``, filled by the worker (taken once)."""
        frame, self._frame = self._frame, None
        if frame is None:
            raise ValueError("No frame buffer was filled.")
        return image_from_rgba(frame, _int("width", image["width"]),
                               _int("height", image["height"]), image.get("order") or "RGBA")

    def create(self, options: Mapping) -> dict:
        classifier = WebClassifier(options, self._load_model)
        handle, self._next_handle = self._next_handle, self._next_handle + 1
        self._classifiers[handle] = classifier
        return {"handle": handle, "options": classifier.options, "model": classifier.model}

    def set_options(self, handle: int, partial: Mapping) -> dict:
        classifier = self._get(handle)
        classifier.set_options(partial)
        return {"options": classifier.options, "model": classifier.model}

    def classify(
        self,
        handle: int,
        image: Mapping,
        processing: Any = None,
        timestamp_ms: Any = None,
        decode_ms: float = 0.0,
    ) -> dict:
        classifier = self._get(handle)
        started = time.perf_counter()
        picture = self._filled_frame(image) if image.get("filled") else image_from_js(image)
        decoded_ms = (time.perf_counter() - started) * 1e3
        if timestamp_ms is None:
            result = classifier.classify(picture, processing)
        else:
            result = classifier.classify_for_video(picture, timestamp_ms, processing)
        timings = {"decode": decode_ms + decoded_ms, **classifier.last_timings_ms}
        return {
            "result": result,
            "timings": timings,
            "image": {"width": picture.width, "height": picture.height},
        }

    def classify_async(
        self,
        handle: int,
        image: Mapping,
        processing: Any = None,
        timestamp_ms: Any = None,
        decode_ms: float = 0.0,
    ) -> dict:
        """Hands a LIVE_STREAM frame over; returns the counters and whether a frame waits
        for ``run_pending``. Synchronous: the worker calls it even while another request is
        suspended in an engine."""
        classifier = self._get(handle)
        classifier.classify_async(image_from_js(image), timestamp_ms, processing)
        return {"stats": classifier.live_stream_stats, "pending": classifier.live_stream_pending}

    def run_pending(self, handle: int) -> dict:
        """Processes the waiting LIVE_STREAM frame (JSPI: the engine runs meanwhile); returns
        the results delivered, the counters, and whether a newer frame waits."""
        classifier = self._get(handle)
        results = classifier.run_pending()
        return {
            "results": results,
            "stats": classifier.live_stream_stats,
            "pending": classifier.live_stream_pending,
        }

    def close(self, handle: int) -> dict:
        classifier = self._classifiers.pop(handle, None)
        if classifier is None:
            return {"results": [], "stats": None}
        results = classifier.close()
        return {"results": results, "stats": classifier.live_stream_stats}

    def _get(self, handle: int) -> WebClassifier:
        try:
            return self._classifiers[handle]
        except KeyError:
            raise ValueError("The task is closed.") from None

    def dispatch(self, op: str, args: Any = ()) -> dict:
        try:
            method = {
                "create": self.create,
                "frameBuffer": self.frame_buffer,
                "setOptions": self.set_options,
                "classify": self.classify,
                "classifyAsync": self.classify_async,
                "runPending": self.run_pending,
                "close": self.close,
            }[op]
            return {"value": method(*(args or ()))}
        except _DecodeInBrowser as redirect:
            return {"decodeInBrowser": redirect.jpeg}
        except Exception as error:  # every failure goes back to JS as a rejection
            return {"error": {**error_to_js(error), "decode": isinstance(error, _DecodeError)}}
