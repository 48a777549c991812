"""Hostile and broken models are refused at creation, before any engine sees them.

Issue 16, the model items: graph validation (TFLite and ONNX, MediaPipe's messages), a fixed
sample of the mutation fuzzer (tools/fuzz_models.py), tensor size limits, the protobuf
reader against hostile bytes, unbounded model files, symbolic ONNX sizes, the inputs
MediaPipe refuses, engine errors as the package's errors. Anything that could crash or
exhaust memory before the fix runs in a child process under a memory limit.
"""

from __future__ import annotations

import ast
import os
import random
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, model_file, photo
from onnx import TensorProto
from onnx_models import tiny_onnx, with_input_dims
from tflite_models import Head, tiny_model

from image_classifier import BaseOptions, ImageClassifier, ImageClassifierOptions
from image_classifier.flatbuffer import Table
from image_classifier.limits import MAX_MODEL_BYTES
from image_classifier.model import read_model_metadata
from image_classifier.tflite_graph import MODEL_SUBGRAPHS, SUBGRAPH_OPERATORS, model_root

sys.path.insert(0, str(ROOT / "tools"))
import fuzz_models  # noqa: E402

LITE0_INT8 = model_file("lite0_int8", "tflite").read_bytes()
LITE0_FP32 = model_file("lite0_fp32", "tflite").read_bytes()
REFUSED = ("refused",)


def create(model: bytes) -> ImageClassifier:
    return ImageClassifier.create_from_options(
        ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=model))
    )


def rewired(model: bytes, op: int, slot: int, position: int, tensor: int) -> bytes:
    """``model`` with operator ``op``'s input (slot 1) or output (slot 2) at ``position``
    replaced by ``tensor``: four bytes of the operator table."""
    operator = model_root(model).tables(MODEL_SUBGRAPHS)[0].tables(SUBGRAPH_OPERATORS)[op]
    at = operator.target(slot) + 4 + 4 * position
    data = bytearray(model)
    data[at : at + 4] = tensor.to_bytes(4, "little", signed=True)
    return bytes(data)


def mediapipe_refusal(model: bytes) -> str:
    """MediaPipe 1.2.3's message for a model it refuses at creation."""
    from mediapipe.tasks.python import BaseOptions as MpBaseOptions
    from mediapipe.tasks.python import vision

    options = vision.ImageClassifierOptions(base_options=MpBaseOptions(model_asset_buffer=model))
    try:
        vision.ImageClassifier.create_from_options(options).close()
    except (ValueError, RuntimeError) as error:
        return str(error).removeprefix(
            "Could not build model from the provided pre-loaded flatbuffer: "
        )
    raise AssertionError("MediaPipe took the model")


# --- item 1: the graph is checked before any engine -----------------------------------------

# Op 10 of Lite0 int8 is an ADD; its output made the subgraph input killed LiteRT (SIGABRT).
GRAPH_BREAKS = {
    "output-is-the-input": (LITE0_INT8, 10, 2, 0, 0),
    "input-not-produced": (LITE0_INT8, 5, 1, 0, 110),
    "input-produced-later": (LITE0_FP32, 10, 1, 0, 116),
    "output-written-twice": (LITE0_FP32, 30, 2, 0, 112),
}


@pytest.mark.parametrize("name", GRAPH_BREAKS)
def test_broken_graphs_are_refused_with_mediapipes_message_and_never_crash(name):
    model, op, slot, position, tensor = GRAPH_BREAKS[name]
    broken = rewired(model, op, slot, position, tensor)
    outcome = fuzz_models.run_variant(broken)
    assert outcome.kind == "refused", outcome
    with pytest.raises(ValueError) as refused:
        create(broken)
    assert str(refused.value) == mediapipe_refusal(broken)


def test_out_of_range_indices_and_buffers_are_refused():
    with pytest.raises(ValueError, match=r"Tensor index 9999 of op 3 \(.*\) is out of range"):
        create(rewired(LITE0_INT8, 3, 1, 0, 9999))
    # The first buffer's data claims 2 GB.
    root = model_root(LITE0_INT8)
    buffers = root.tables(4)
    with_data = next(b for b in buffers if b.bytes(0) is not None and len(b.bytes(0)) > 0)
    at = with_data.target(0)
    data = bytearray(LITE0_INT8)
    data[at : at + 4] = (2 << 30).to_bytes(4, "little")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        create(bytes(data))


def test_onnx_graph_checks():
    with pytest.raises(ValueError, match=r"Input tensor nowhere to node 0 \(Cast\) is not produced"):
        create(tiny_onnx(flatten_input="nowhere"))
    with pytest.raises(ValueError, match="keeps its data in an external file"):
        create(tiny_onnx(external_weights=True))
    with create(tiny_onnx()) as classifier:  # the same model unbroken classifies
        assert len(classifier.classify(photo("coffee.png")).classifications[0].categories) == 5


def test_a_fixed_sample_of_the_fuzzer_never_crashes():
    """36 variants of both formats, each in a child process: refused or classified, never a
    crash, a hang, a runaway allocation or an unexpected exception type."""
    kinds = [fuzz_models.run_variant(v.data).kind for v in fuzz_models.variants(36, seed=16)]
    print(kinds)
    assert set(kinds) <= {"classified", "refused"}
    assert "refused" in kinds


def test_truncated_models_say_so():
    with pytest.raises(ValueError, match="truncated"):
        create(LITE0_INT8[:100_000])
    with pytest.raises(ValueError, match="truncated"):
        create(model_file("lite0_int8").read_bytes()[:100_000])


# --- item 2: tensor sizes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 40000, 40000, 3), "Tensor image dimension overflow"),
        ((1, 6000, 6000, 3), "Tensor image needs 432000000 bytes, more than the 268435456"),
        ((1, 5000, 5000, 4), "Tensor image needs 400000000 bytes"),
    ],
)
def test_huge_inputs_are_refused_before_anything_is_allocated(shape, message):
    model = tiny_model([Head(6, uint8=True)], input_shape=shape)  # float32 input
    assert len(model) < 2000
    outcome = fuzz_models.run_variant(model)  # before: 22 GB, the OOM killer
    assert outcome.kind == "refused" and message in outcome.detail, outcome
    if "overflow" in message:
        assert mediapipe_refusal(model) == message


def test_huge_outputs_are_refused():
    with pytest.raises(ValueError, match="Tensor scores needs 400000000 bytes"):
        create(tiny_onnx(output_shape=[1, 100_000_000]))


# --- item 3: the protobuf reader ------------------------------------------------------------


def test_eight_bytes_claiming_two_gigabytes_allocate_nothing():
    # Field 7 (graph) empty, field 14 (metadata_props) holding field 1 as a varint 2e9.
    model = b"\x3a\x00\x72\x06\x08\x80\xa8\xd6\xb9\x07"
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="wire type"):
            read_model_metadata(model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_random_bytes_give_value_errors_only():
    rng = random.Random(3)
    for _ in range(3000):
        data = rng.randbytes(rng.randrange(1, 64))
        try:
            read_model_metadata(data)
        except ValueError:
            pass


# --- item 5: model files are checked before they are read -----------------------------------


def open_path(path: str):
    """Creating a classifier from a model path, as a task for a child process."""

    def task() -> str:
        ImageClassifier.create_from_options(
            ImageClassifierOptions(base_options=BaseOptions(model_asset_path=path))
        ).close()
        return "classified"

    return task


def test_dev_zero_and_a_fifo_are_refused_without_reading(tmp_path):
    # Before: /dev/zero was read until memory ran out, a FIFO blocked until a writer came.
    fifo = tmp_path / "model.tflite"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        outcome = fuzz_models.run_in_child(open_path(path), timeout=30)
        assert outcome.kind == "refused" and "not a regular file" in outcome.detail, outcome


def test_a_model_file_past_the_limit_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.tflite"
    with open(big, "wb") as file:
        file.truncate(3 << 30)  # sparse: 3 GB on paper, nothing on disk
    started = time.perf_counter()
    outcome = fuzz_models.run_in_child(open_path(str(big)), timeout=60)
    assert outcome.kind == "refused", outcome
    assert f"has {3 << 30} bytes, more than the {MAX_MODEL_BYTES} bytes allowed" in outcome.detail
    assert time.perf_counter() - started < 5  # before: 3 GB read, then "not a valid model"


def _error(function, *args):
    try:
        function(*args)
    except Exception as error:  # noqa: BLE001 - the test looks at what came out
        return error
    return None


# --- item 8: one classifier, many threads ---------------------------------------------------

PHOTOS = ["coffee.png", "chelsea.png", "grace_hopper.jpg", "rocket.jpg", "astronaut.png",
          "china.jpg"]


@pytest.mark.parametrize("model", [model_file("lite0_int8", "tflite"), model_file("lite0_int8")],
                         ids=["litert", "onnxruntime"])
def test_a_classifier_shared_by_threads_gives_every_thread_its_own_result(model):
    images = {name: photo(name) for name in PHOTOS}
    with ImageClassifier.create_from_model_path(str(model)) as classifier:
        # Classifications only: IMAGE-mode timestamps advance with every call, as MediaPipe's.
        expected = {name: classifier.classify(image).classifications
                    for name, image in images.items()}
        wrong, errors = [], []

        def work(seed: int) -> None:
            order = random.Random(seed).choices(PHOTOS, k=40)
            for name in order:
                try:
                    if classifier.classify(images[name]).classifications != expected[name]:
                        wrong.append(name)
                except Exception as error:  # noqa: BLE001 - counted, then asserted
                    errors.append(error)

        threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == [] and wrong == []


# --- item 10 and the models MediaPipe refuses -----------------------------------------------


def test_symbolic_height_and_width_are_refused_a_symbolic_batch_is_one():
    onnx_model = model_file("lite0_fp32").read_bytes()
    with pytest.raises(ValueError, match="symbolic dimensions \\(height, width\\)"):
        create(with_input_dims(onnx_model, ["batch", "height", "width", 3]))
    with create(with_input_dims(onnx_model, ["batch"])) as batch, create(onnx_model) as fixed:
        assert batch.input_details["shape"].tolist() == [1, 224, 224, 3]
        image = photo("coffee.png")
        assert batch.classify(image) == fixed.classify(image)


REFUSED_SHAPES = {
    "gray": (1, 8, 8, 1),
    "nchw": (1, 3, 8, 8),
    "batch-4": (4, 8, 8, 3),
    "rank-2": (1, 48),
    "zero-height": (1, 0, 8, 3),
}


@pytest.mark.parametrize("name", REFUSED_SHAPES)
def test_inputs_mediapipe_refuses_are_refused_at_creation_with_its_message(name):
    model = tiny_model([Head(6, uint8=True)], uint8_input=True, input_shape=REFUSED_SHAPES[name])
    with pytest.raises(ValueError) as refused:
        create(model)
    assert str(refused.value) == mediapipe_refusal(model)


def test_four_channel_input_is_refused_at_creation():
    """MediaPipe creates it, then fails on every frame ("TfLiteTensor and Tensor sizes do not
    match"): refused at once here."""
    model = tiny_model([Head(6, uint8=True)], uint8_input=True, input_shape=(1, 8, 8, 4))
    with pytest.raises(ValueError, match="has 4 channels: only RGB input"):
        create(model)


def test_an_engine_failure_while_running_is_the_packages_runtime_error():
    # Gathers channel 7 of 3: onnxruntime fails only when it runs, with its own exception type.
    with create(tiny_onnx(gather_index=7)) as classifier:
        with pytest.raises(RuntimeError, match="Inference failed: .*out of"):
            classifier.classify(photo("coffee.png"))
        assert type(_error(classifier.classify, photo("coffee.png"))) is RuntimeError


def test_onnx_int8_input_is_refused_with_mediapipes_wording():
    with pytest.raises(ValueError, match="Requested one of these types: uint8/float32, got INT8"):
        create(tiny_onnx(input_type=TensorProto.INT8))


# --- the package's own imports point one way ------------------------------------------------


def _package_imports() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in it, functions too)."""
    package = ROOT / "pyapp" / "image_classifier"
    paths = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package).with_suffix("").parts
        paths[".".join(p for p in parts if p != "__init__")] = (path, parts[-1] == "__init__")
    graph = {}
    for name, (path, is_package) in paths.items():
        here = name.split(".") if name else []
        home = here if is_package else here[:-1]
        imports = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = home[: len(home) - node.level + 1] + (node.module or "").split(".")
                target = [part for part in target if part]
                for alias in node.names:
                    module = ".".join([*target, alias.name])
                    imports.add(module if module in paths else ".".join(target))
        graph[name] = imports - {name}
    return graph


def test_no_import_cycles_in_the_package():
    graph = _package_imports()
    assert graph["metadata"] == set()  # the dataclasses every reader fills
    state: dict[str, str] = {}
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                cycles.append(path[path.index(imported):] + [imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []
