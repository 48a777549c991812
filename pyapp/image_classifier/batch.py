"""Many photos at once, in plain Python: which files, and their records in a stream.

``expand_paths`` turns what a user names (files, folders searched recursively, glob patterns)
into photo paths, kept as given (relative paths stay relative to the current directory).
``classify_paths`` yields one ``PhotoRecord`` per path, in order, as soon as it is ready; a
photo that fails gives a record with its error and the others go on. With ``workers`` > 1,
that many worker processes each classify whole photos (decoding, preprocessing, inference)
on one core, and this process only puts their records back in order.

    from image_classifier import ImageClassifierOptions, BaseOptions
    from image_classifier.batch import classify_paths, expand_paths

    options = ImageClassifierOptions(BaseOptions(model_asset_path="lite0_int8.tflite"))
    for record in classify_paths(expand_paths(["photos/"]), options, workers=2):
        print(record.path, record.categories[:1], record.error)
"""

from __future__ import annotations

import collections
import glob
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image as PILImage

from . import engines, geometry
from .classifier import ImageClassifier
from .image import Image
from .options import ImageClassifierOptions, ImageProcessingOptions
from .records import PhotoRecord

_GLOB_CHARACTERS = set("*?[")
# Photos a worker is given at a time: few enough that records stream out steadily, enough
# that handing them over costs next to nothing.
_CHUNK_PHOTOS = 8
# Chunks given out and not yet collected, per worker: enough to keep every worker busy, few
# enough that a million photos never pile up in memory.
_IN_FLIGHT_PER_WORKER = 2


def image_suffixes() -> frozenset[str]:
    """File extensions Pillow can open (.jpg, .png, .webp, ...): what a folder search keeps."""
    return frozenset(suffix.lower() for suffix, kind in PILImage.registered_extensions().items()
                     if kind in PILImage.OPEN)  # not formats Pillow only writes (.pdf)


def _folder_photos(folder: str, suffixes: frozenset[str]) -> list[str]:
    photos = []
    for parent, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))  # no .cache/
        photos += [os.path.join(parent, name) for name in sorted(files)
                   if not name.startswith(".") and Path(name).suffix.lower() in suffixes]
    return photos


def expand_paths(sources: Iterable[str]) -> Iterator[str]:
    """Photo paths from files, folders (recursively: image files only) and glob patterns
    (``photos/**/*.jpg``). A name that is none of these is passed on as it is, so that its
    record says why it could not be read; a pattern matching nothing, likewise."""
    suffixes = image_suffixes()
    for source in sources:
        if os.path.isdir(source):
            yield from _folder_photos(source, suffixes)
        elif not os.path.exists(source) and _GLOB_CHARACTERS & set(source):
            matches = sorted(glob.glob(source, recursive=True))
            for match in matches or [source]:
                if os.path.isdir(match):
                    yield from _folder_photos(match, suffixes)
                else:
                    yield match
        else:
            yield source


def read_path_list(lines: Iterable[str]) -> Iterator[str]:
    """Paths from a list, one a line (blank lines skipped): a file or standard input."""
    for line in lines:
        line = line.rstrip("\r\n")
        if line.strip():
            yield line


Preparation = Callable[..., np.ndarray]


def _prepare(prepare: Preparation, path: str, processing) -> tuple:
    """Decoding and preprocessing of one photo: (tensor, decode ms, preprocess ms) or, when the
    photo cannot be used, (error message, decode ms, None)."""
    started = time.perf_counter()
    try:
        if not os.path.exists(path) and _GLOB_CHARACTERS & set(path):
            raise FileNotFoundError("no file matches this pattern")
        image = Image.create_from_file(path)
    except (OSError, ValueError) as error:
        return _error_text(error), (time.perf_counter() - started) * 1e3, None
    decoded = time.perf_counter()
    try:
        tensor = prepare(image.rgb_view(), processing=processing)
    except ValueError as error:
        return _error_text(error), (decoded - started) * 1e3, None
    return tensor, (decoded - started) * 1e3, (time.perf_counter() - decoded) * 1e3


def _error_text(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror  # "No such file or directory", without the path said twice
    return str(error)


def _finish(classifier: ImageClassifier, path: str, prepared: tuple) -> PhotoRecord:
    tensor, decode_ms, preprocess_ms = prepared
    if isinstance(tensor, str):
        return PhotoRecord(path=path, decode_ms=decode_ms, error=tensor)
    try:
        result = classifier._classify_tensor(tensor, 0, preprocess_ms)
    except (RuntimeError, ValueError) as error:
        return PhotoRecord(path=path, decode_ms=decode_ms, error=str(error))
    timings = classifier.last_timings_ms
    return PhotoRecord.from_result(
        path, result, decode_ms=decode_ms, preprocess_ms=preprocess_ms,
        inference_ms=timings["inference"] + timings["postprocess"],
    )


def classify_file(
    classifier: ImageClassifier, path: str, processing: Optional[ImageProcessingOptions] = None
) -> PhotoRecord:
    """The record of one photo file, classified in this process; never raises for a bad file."""
    return _finish(classifier, path, _prepare(classifier._preparation(), path, processing))


def classify_paths(
    paths: Iterable[str],
    options: ImageClassifierOptions,
    processing: Optional[ImageProcessingOptions] = None,
    workers: int = 1,
) -> Iterator[PhotoRecord]:
    """One record per path, in the order of ``paths``, each yielded when it is ready.

    Raises:
      ValueError, FileNotFoundError, NotImplementedError: The options or the model cannot be
        used (before any photo is read). A bad photo never raises: its record has the error.
    """
    geometry.check_processing_options(processing)
    with ImageClassifier.create_from_options(options) as classifier:
        if workers <= 1:
            for path in paths:
                yield classify_file(classifier, path, processing)
            return
    # Each worker classifies whole photos with an engine of its own on one thread: photos
    # cost the least CPU time that way (no tensors between processes, no engine threads
    # waiting for cores the other workers hold). Forked once the checking classifier above is
    # closed (its engine threads ended), so that the workers start with everything imported.
    with multiprocessing.get_context("fork").Pool(
        workers, _start_worker, (options, processing)
    ) as pool:
        waiting: collections.deque = collections.deque()
        for chunk in _chunks(paths, _CHUNK_PHOTOS):
            if len(waiting) >= workers * _IN_FLIGHT_PER_WORKER:
                yield from waiting.popleft().get()
            waiting.append(pool.apply_async(_classify_chunk, (chunk,)))
        while waiting:
            yield from waiting.popleft().get()
        pool.close()  # all done: let the workers end (leaving early terminates them)
        pool.join()


def _chunks(paths: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for path in paths:
        chunk.append(path)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# A worker process's classifier and processing options (``_start_worker``).
_worker: Optional[tuple[ImageClassifier, Optional[ImageProcessingOptions]]] = None


def _start_worker(options: ImageClassifierOptions, processing) -> None:
    global _worker
    engines.use_cpu_threads(1)
    _worker = ImageClassifier.create_from_options(options), processing


def _classify_chunk(paths: list[str]) -> list[PhotoRecord]:
    classifier, processing = _worker
    return [classify_file(classifier, path, processing) for path in paths]
