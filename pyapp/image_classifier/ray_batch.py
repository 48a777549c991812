"""Batch classification on a Ray cluster with Ray Data (``pip install 'image_classifier[ray]'``).

The photo paths become a Ray Dataset; ``map_batches`` sends its batches to a pool of actors,
each holding one ``ImageClassifier`` (the model travels through Ray's object store, so the
nodes need only the photos). ``classify_with_ray`` streams the records back here, where the
caller writes them (``RecordWriter``); ``ray_dataset`` gives the Dataset itself, e.g. for
``write_parquet`` on the cluster's storage.

    from image_classifier.ray_batch import classify_with_ray
    for record in classify_with_ray(paths, options, address="ray://head:10001", workers=8):
        ...
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from typing import Optional

from . import engines, geometry
from .batch import classify_file
from .classifier import ImageClassifier
from .options import ImageClassifierOptions, ImageProcessingOptions
from .records import PhotoRecord, arrow_schema

# Photos per batch sent to an actor: large enough to hide Ray's per-batch cost, small enough
# that the records stream back steadily.
BATCH_SIZE = 16


class _ClassifierActor:
    """One actor of the pool: one classifier, kept for every batch it is given."""

    def __init__(self, options: ImageClassifierOptions, model, processing) -> None:
        import ray

        model_bytes = ray.get(model)
        engines.use_cpu_threads(1)  # one core per actor, as batch's worker processes
        self._classifier = ImageClassifier.create_from_options(dataclasses.replace(
            options, base_options=dataclasses.replace(
                options.base_options, model_asset_path=None, model_asset_buffer=model_bytes)))
        self._processing = processing

    def __call__(self, batch):
        import pyarrow as pa

        records = [classify_file(self._classifier, str(path), self._processing)
                   for path in batch["path"]]
        return pa.Table.from_pylist([r.to_dict() for r in records], schema=arrow_schema(pa))


def _model_bytes(options: ImageClassifierOptions) -> bytes:
    base = options.base_options
    if base.model_asset_buffer is not None:
        return bytes(base.model_asset_buffer)
    with open(base.model_asset_path, "rb") as file:
        return file.read()


def ray_dataset(
    paths: Sequence[str],
    options: ImageClassifierOptions,
    processing: Optional[ImageProcessingOptions] = None,
    address: Optional[str] = None,
    workers: int = 2,
):
    """A Ray Dataset of one record per path (lazy: nothing runs until it is read or written).

    Joins the Ray cluster at ``address``, or starts a local Ray when there is none and Ray is
    not running in this process yet.
    """
    import ray

    geometry.check_processing_options(processing)
    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False,
                 include_dashboard=False)
    ray.data.DataContext.get_current().enable_progress_bars = False  # the caller shows its own
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ImageClassifier.create_from_options(options).close()  # a bad model fails here, once
    dataset = ray.data.from_items([{"path": path} for path in paths])
    return dataset.map_batches(
        _ClassifierActor,
        # The model goes to the object store once, not into every actor's arguments.
        fn_constructor_kwargs={"options": options, "model": ray.put(_model_bytes(options)),
                               "processing": processing},
        batch_size=BATCH_SIZE,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )


def classify_with_ray(paths: Sequence[str], *args, **kwargs) -> Iterator[PhotoRecord]:
    """One record per path (arguments as ``ray_dataset``'s), streamed back as the actors finish
    their batches: not in the order of ``paths``."""
    if not paths:
        return
    for batch in ray_dataset(paths, *args, **kwargs).iter_batches(batch_size=None,
                                                                  batch_format="pyarrow"):
        for row in batch.to_pylist():
            yield PhotoRecord(**row)
