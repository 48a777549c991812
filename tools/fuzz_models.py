"""Mutation fuzzer for model files: corrupt .tflite and .onnx models, report every crash.

    python3 build.py fuzz [--variants N] [--seed S] [--save DIR]

Each variant is one of the repository's models with a few bytes changed (a byte, a 32-bit
integer nudged, four random bytes, a cut, an operator rewired to another tensor), mostly in
the file's structure (FlatBuffer tables, protobuf fields) rather than in the weights, where a
change only changes scores. Each runs in
a child process of its own through the package's ``ImageClassifier.create_from_options`` and
``classify``, under a memory limit, so a crash (a signal), a hang or a runaway allocation is
seen and reported, never taken for a refusal. The outcome of a variant:

- ``classified`` or ``refused`` (ValueError, RuntimeError, NotImplementedError): fine;
- ``error``: another exception type escaped the package (reported with its message);
- ``crash`` (killed by a signal), ``timeout``, ``memory`` (MemoryError under the limit): bugs.

Exits non-zero when any variant crashed, hung, ran out of memory or raised an unexpected type.
The test suite runs a fixed sample of this (tests/test_model_validation.py).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import resource
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [
    "efficientnet_lite0_int8.tflite",
    "efficientnet_lite0_fp32.tflite",
    "efficientnet_lite0_int8.onnx",
    "efficientnet_lite0_fp32.onnx",
]
CHILD_MEMORY_BYTES = 6 << 30  # a runaway allocation fails in the child, not on the machine
CHILD_SECONDS = 120
REFUSALS = (ValueError, RuntimeError, NotImplementedError)


@dataclass(frozen=True)
class Variant:
    seed_model: str
    mutation: str
    data: bytes


@dataclass(frozen=True)
class Outcome:
    kind: str  # classified, refused, error, crash, timeout, memory
    detail: str


def _weight_ranges(name: str, model: bytes) -> list[tuple[int, int]]:
    """Where the seed's weights are: mutations there change scores, not structure."""
    if name.endswith(".tflite"):
        from image_classifier.tflite_graph import BUFFER_DATA, MODEL_BUFFERS, model_root

        ranges = []
        base = memoryview(model)
        for buffer in model_root(model).tables(MODEL_BUFFERS):
            data = buffer.bytes(BUFFER_DATA)
            if data is not None and len(data) > 64:
                start = _offset_in(base, data)
                ranges.append((start, start + len(data)))
        return ranges
    from image_classifier import protobuf

    graph = next(protobuf.messages(memoryview(model), 7))
    ranges = []
    for tensor in protobuf.messages(graph, 5):
        for number, _, value in protobuf.fields(tensor):
            if number == 9 and len(value) > 64:  # raw_data
                start = _offset_in(memoryview(model), value)
                ranges.append((start, start + len(value)))
    return ranges


def _offset_in(base: memoryview, view: memoryview) -> int:
    """Where ``view`` (a slice of ``base``) starts in it."""
    import numpy as np

    def address(v: memoryview) -> int:
        return np.frombuffer(v, dtype=np.uint8).__array_interface__["data"][0]

    return address(view) - address(base)


def _index_positions(name: str, model: bytes) -> tuple[list[int], int]:
    """Where a TFLite seed's operators name their input and output tensors (the int32
    elements of each operator's ``inputs`` and ``outputs``: the graph's wiring), and how many
    tensors there are."""
    if not name.endswith(".tflite"):
        return [], 0
    from image_classifier.tflite_graph import (
        MODEL_SUBGRAPHS,
        SUBGRAPH_OPERATORS,
        SUBGRAPH_TENSORS,
        model_root,
    )

    positions, tensors = [], 0
    for subgraph in model_root(model).tables(MODEL_SUBGRAPHS):
        tensors = max(tensors, len(subgraph.tables(SUBGRAPH_TENSORS)))
        for op in subgraph.tables(SUBGRAPH_OPERATORS):
            for slot in (1, 2):  # Operator.inputs, Operator.outputs
                start = op.target(slot)
                if start:
                    count = int.from_bytes(model[start : start + 4], "little")
                    positions += [start + 4 + 4 * i for i in range(count)]
    return positions, tensors


def _structure_positions(size: int, weights: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The byte ranges of the file that are not weights."""
    ranges, start = [], 0
    for begin, end in sorted(weights):
        if begin > start:
            ranges.append((start, begin))
        start = max(start, end)
    if start < size:
        ranges.append((start, size))
    return ranges


def _position(rng: random.Random, size: int, structure: list[tuple[int, int]]) -> int:
    if rng.random() < 0.1:
        return rng.randrange(size)
    total = sum(end - begin for begin, end in structure)
    pick = rng.randrange(total)
    for begin, end in structure:
        if pick < end - begin:
            return begin + pick
        pick -= end - begin
    raise AssertionError


def mutate(
    rng: random.Random, model: bytes, structure: list[tuple[int, int]],
    indices: tuple[list[int], int],
) -> tuple[str, bytes]:
    """One mutation of ``model``: its description and the new bytes."""
    data = bytearray(model)
    kinds = ["byte", "byte", "int32", "int32", "four", "zero", "ones", "cut", "several"]
    positions, tensors = indices
    kind = rng.choice(kinds + ["index"] * 4 if positions else kinds)
    if kind == "index":  # rewire: an operator reads or writes another tensor (or none)
        at = rng.choice(positions)
        value = rng.choice([0, -1, rng.randrange(tensors), tensors + rng.randrange(3)])
        data[at : at + 4] = value.to_bytes(4, "little", signed=True)
        return f"tensor index at {at} = {value}", bytes(data)
    if kind == "cut":
        at = rng.randrange(1, len(data))
        return f"cut at {at}", bytes(data[:at])
    if kind == "several":
        changes = []
        for _ in range(rng.randint(2, 8)):
            at = _position(rng, len(data), structure)
            data[at] = rng.randrange(256)
            changes.append(str(at))
        return f"bytes {','.join(changes)} random", bytes(data)
    at = _position(rng, len(data), structure)
    if kind == "byte":
        data[at] = rng.randrange(256)
        return f"byte {at} = {data[at]}", bytes(data)
    if kind == "zero":
        data[at] = 0
        return f"byte {at} = 0", bytes(data)
    if kind == "ones":
        data[at] = 0xFF
        return f"byte {at} = 255", bytes(data)
    at -= at % 4
    if at + 4 > len(data):
        at = len(data) - 4
    if kind == "four":
        data[at : at + 4] = rng.randbytes(4)
        return f"bytes {at}..{at + 3} random", bytes(data)
    value = int.from_bytes(data[at : at + 4], "little", signed=True)
    value = max(-(1 << 31), min((1 << 31) - 1, value + rng.choice([-2, -1, 1, 2, 1 << 16, -(1 << 16)])))
    data[at : at + 4] = value.to_bytes(4, "little", signed=True)
    return f"int32 at {at} = {value}", bytes(data)


def variants(count: int, seed: int, models: list[str] = SEEDS) -> Iterator[Variant]:
    """``count`` variants spread evenly over ``models``, the same ones for the same seed."""
    rng = random.Random(seed)
    originals = {name: (ROOT / "models" / name).read_bytes() for name in models}
    structure = {
        name: _structure_positions(len(data), _weight_ranges(name, data))
        for name, data in originals.items()
    }
    indices = {name: _index_positions(name, data) for name, data in originals.items()}
    for i in range(count):
        name = models[i % len(models)]
        mutation, data = mutate(rng, originals[name], structure[name], indices[name])
        yield Variant(name, mutation, data)


def _photo():
    import numpy as np

    from image_classifier import Image, ImageFormat

    pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return Image(ImageFormat.SRGB, pixels)


def _child(task: Callable[[], str], report: int) -> None:
    """Runs in the child: the task, its outcome written to ``report``, then exit."""
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    quiet = os.open(os.devnull, os.O_WRONLY)  # the engines' logs, thousands of times over
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    try:
        outcome = task()
    except MemoryError:
        outcome = "memory"
    except REFUSALS as error:
        outcome = f"refused {type(error).__name__}: {error}"
    except BaseException as error:  # noqa: BLE001 - what escapes is what the fuzzer reports
        outcome = f"error {type(error).__name__}: {error}"
    os.write(report, outcome.encode("utf-8", "replace")[:4000])
    os._exit(0)


def run_in_child(task: Callable[[], str], timeout: float = CHILD_SECONDS) -> Outcome:
    """The outcome of ``task`` (which returns a description of what it did) run in a forked
    child process under ``CHILD_MEMORY_BYTES``: a crash, a hang or a runaway allocation
    there is reported, never suffered."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        try:
            _child(task, write)
        finally:
            os._exit(3)
    os.close(write)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            return Outcome("timeout", f"no answer in {timeout:.0f} s")
        time.sleep(0.005)
    chunks = []
    while chunk := os.read(read, 4096):
        chunks.append(chunk)
    os.close(read)
    text = b"".join(chunks).decode("utf-8", "replace")
    if os.WIFSIGNALED(status):
        return Outcome("crash", f"killed by {signal.Signals(os.WTERMSIG(status)).name}")
    if not text:
        return Outcome("crash", f"exited with status {os.WEXITSTATUS(status)} and no outcome")
    kind, _, detail = text.partition(" ")
    return Outcome(kind, detail)


def run_variant(model: bytes, photo=None, timeout: float = CHILD_SECONDS) -> Outcome:
    """The outcome of creating a classifier for ``model`` and classifying ``photo`` in a child
    process (forked: the engines are imported once, in the parent)."""
    from image_classifier import BaseOptions, ImageClassifier, ImageClassifierOptions

    photo = photo if photo is not None else _photo()

    def create_and_classify() -> str:
        options = ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=model))
        with ImageClassifier.create_from_options(options) as classifier:
            result = classifier.classify(photo)
        return f"classified {len(result.classifications)} heads"

    return run_in_child(create_and_classify, timeout)


def _preload() -> None:
    """Imports the package and both engines before forking, so each child starts at once."""
    import ai_edge_litert.interpreter  # noqa: F401
    import onnxruntime  # noqa: F401

    import image_classifier  # noqa: F401


BAD = ("crash", "timeout", "memory", "error")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=4000, help="default: 4000")
    parser.add_argument("--seed", type=int, default=1, help="default: 1")
    parser.add_argument("--save", type=Path, help="write every bad variant into this folder")
    args = parser.parse_args()
    _preload()
    photo = _photo()
    counts: collections.Counter = collections.Counter()
    per_model: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    reasons: collections.Counter = collections.Counter()
    started = time.monotonic()
    for i, variant in enumerate(variants(args.variants, args.seed)):
        outcome = run_variant(variant.data, photo)
        counts[outcome.kind] += 1
        per_model[variant.seed_model][outcome.kind] += 1
        if outcome.kind == "refused":
            reasons[outcome.detail.split(":")[0] + ": " + _first_words(outcome.detail)] += 1
        if outcome.kind in BAD:
            print(f"{outcome.kind.upper()}: {variant.seed_model}, {variant.mutation}: "
                  f"{outcome.detail}", flush=True)
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                (args.save / f"{i:05d}-{variant.seed_model}").write_bytes(variant.data)
        if (i + 1) % 250 == 0:
            print(f"{i + 1} variants, {time.monotonic() - started:.0f} s: {dict(counts)}",
                  flush=True)
    print(f"\n{args.variants} variants (seed {args.seed}) in {time.monotonic() - started:.0f} s, "
          f"load average {os.getloadavg()[0]:.1f}")
    for name, found in per_model.items():
        print(f"  {name}: {dict(found)}")
    print("Most common refusals:")
    for reason, count in reasons.most_common(12):
        print(f"  {count:5d}  {reason}")
    bad = sum(counts[kind] for kind in BAD)
    print(f"Crashes: {counts['crash']}, timeouts: {counts['timeout']}, out of memory: "
          f"{counts['memory']}, unexpected errors: {counts['error']}")
    sys.exit(1 if bad else 0)


def _first_words(text: str) -> str:
    """A refusal message without its numbers, to count refusals by kind."""
    words = text.partition(": ")[2].split()[:6]
    return " ".join("N" if any(c.isdigit() for c in w) else w for w in words)


if __name__ == "__main__":
    main()
