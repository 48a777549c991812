"""The JS API's side of the package: classifiers, results and images as @mediapipe/tasks-vision
has them (camelCase), the options' conversion being js_options.py's.

The browser worker (web/worker.mjs) hands JS objects (converted to dicts and lists) to
``WorkerApi`` and posts back what it returns; every check, default and error message comes
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
import time
import warnings
from dataclasses import replace
from typing import Any, Mapping, Optional

import numpy as np
from PIL import Image as PILImage

from .classifier import ImageClassifier
from .image import Image, ImageFormat, ImageTooLarge, check_pixels
from .live_stream import HostScheduling, LiveStreamStats
from .metadata import HeadMetadata
from .model import model_format, read_weight_types
from .js_options import (
    IN_PLACE,
    ModelLoader,
    in_place_changes,
    integer,
    merge_options,
    options_from_js,
    processing_options_from_js,
    read_file,
)
from . import preprocess
from .preprocess import input_normalization
from .results import ClassificationResult

# Weight types that make a model quantized (TFLite's float16 quantization included).
QUANTIZED_TYPES = ("int8", "uint8", "int16", "float16")

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

    def __init__(self, options: Mapping, load_model: ModelLoader = read_file) -> None:
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
            self._classifier.set_options(**in_place_changes({k: merged.get(k) for k in IN_PLACE}))
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
        timestamp = integer("timestamp", timestamp_ms)
        if timestamp is None:
            raise ValueError("classifyForVideo needs a timestamp in milliseconds.")
        result = self._classifier.classify_for_video(
            image, timestamp, processing_options_from_js(processing)
        )
        return result_to_js(result)

    def classify_async(self, image: Image, timestamp_ms: Any, processing: Any = None) -> None:
        """Hands a frame over (LIVE_STREAM); ``run_pending`` processes it (or a newer one)."""
        timestamp = integer("timestamp", timestamp_ms)
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
        image["rgba"], integer("width", image["width"]), integer("height", image["height"]),
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

    def __init__(self, load_model: ModelLoader = read_file) -> None:
        self._load_model = load_model
        self._classifiers: dict[int, WebClassifier] = {}
        self._next_handle = 1
        self._frame: Optional[np.ndarray] = None  # of frame_buffer: the worker's to fill

    def frame_buffer(self, handle: int, width: Any, height: Any, processing: Any = None) -> dict:
        """A buffer in Python's memory for the pixels (four bytes each) of a width x height
        frame, which the worker writes there itself and then classifies as ``{"filled": True,
        width, height, order}``: its ``address``, and the ``rows`` classify reads (runs of
        ``rows_read``), the only ones the worker copies (at 1920x1280, 448 of 1280). Pixels
        written into Python's memory are not copied again on the way in.

        The buffer stays the worker's for every frame of that size until it asks for another
        size or the last classifier closes (one buffer at a time): the worker may keep the
        reply and fill the same rows again, with no call into Python for the next frame of
        the same classifier, size and processing options."""
        classifier = self._get(handle)
        width, height = integer("width", width), integer("height", height)
        check_pixels(width, height)
        if self._frame is None or self._frame.shape != (height, width * 4):
            self._frame = None  # freed before the next one is allocated
            self._frame = np.empty((height, width * 4), np.uint8)
        return {"address": self._frame.__array_interface__["data"][0],
                "rows": classifier.rows_read(width, height, processing)}

    def _filled_frame(self, image: Mapping) -> Image:
        """The image of the buffer of ``frame_buffer``, filled by the worker. Classifying it
        keeps no reference to it (IMAGE and VIDEO modes: a live frame never comes this way),
        so the next frame may be written there."""
        width, height = integer("width", image["width"]), integer("height", image["height"])
        if self._frame is None or self._frame.shape != (height, width * 4):
            raise ValueError(f"No frame buffer of {width}x{height} pixels was filled.")
        return image_from_rgba(self._frame, width, height, image.get("order") or "RGBA")

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
        if not self._classifiers:
            self._frame = None
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
