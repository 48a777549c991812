"""The pure-Python TFLite reader and metadata writer, on TFLite files made here."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from conftest import model_file, photo
from tflite_models import ANIMALS, METADATA, Head, tiny_model, two_heads_model

from image_classifier import BaseOptions, ImageClassifier, ImageClassifierOptions, tflite
from image_classifier.flatbuffer import Vector, build
from image_classifier.metadata import (
    HeadMetadata,
    InputMetadata,
    LabelFile,
    ModelMetadata,
    Normalization,
)
from image_classifier.model import model_format, read_model_metadata

@pytest.fixture(scope="module")
def two_heads() -> bytes:
    return two_heads_model()


def classifier(model: bytes, **options) -> ImageClassifier:
    return ImageClassifier.create_from_options(
        ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=model), **options)
    )


def test_metadata_reads_back(two_heads):
    assert model_format(two_heads) == "tflite"
    metadata = read_model_metadata(two_heads)
    assert metadata == METADATA  # 0.25 and 0.375 are exact in float32, the stored type


def test_tensor_details_are_litert_details(two_heads):
    interpreter = Interpreter(model_content=two_heads)
    inputs, outputs = tflite.read_tensor_details(two_heads)
    for ours, theirs in zip(
        inputs + outputs, interpreter.get_input_details() + interpreter.get_output_details()
    ):
        assert ours["name"] == theirs["name"]
        assert ours["index"] == theirs["index"]
        assert list(ours["shape"]) == list(theirs["shape"])
        assert ours["dtype"] == theirs["dtype"]
        assert ours["quantization"] == pytest.approx(theirs["quantization"])
    assert inputs[0]["dtype"] == np.uint8
    assert [o["quantization"] for o in outputs] == [
        pytest.approx((1 / 255, 0)), pytest.approx((1 / 64, 100))
    ]


def test_signature_names_are_litert_names(two_heads):
    """The names LiteRT's signature runner (and so LiteRT.js) gives the tensors: the first
    SignatureDef's, or the tensor names when the model has none (LiteRT.js's default
    signature: tests/browser/test_litert.py runs such models)."""
    data = model_file("lite0_int8", "tflite").read_bytes()
    runner = Interpreter(model_content=data).get_signature_runner()
    details = runner.get_input_details() | runner.get_output_details()
    assert tflite.signature_names(data) == {d["index"]: name for name, d in details.items()}
    inputs, outputs = tflite.read_tensor_details(two_heads)
    assert tflite.signature_names(two_heads) == {d["index"]: d["name"] for d in inputs + outputs}


def test_builtin_tflite_details():
    data = model_file("lite0_int8", "tflite").read_bytes()
    (image,), (probability,) = tflite.read_tensor_details(data)
    assert (list(image["shape"]), image["dtype"]) == ([1, 224, 224, 3], np.float32)
    assert (list(probability["shape"]), probability["dtype"]) == ([1, 1000], np.float32)


def test_classifies_with_two_heads(two_heads):
    with classifier(two_heads, display_names_locale="it") as c:
        result = c.classify(photo("chelsea.png"))
    animals, colours = result.classifications
    assert (animals.head_index, animals.head_name) == (0, "animals")
    assert (colours.head_index, colours.head_name) == (1, "colours")
    assert len(animals.categories) == 6  # no threshold on this head
    assert {c.category_name for c in animals.categories} == set(ANIMALS)
    assert all(c.display_name != c.category_name for c in animals.categories)  # Italian
    assert all(c.display_name is None for c in colours.categories)  # no Italian labels
    assert colours.categories and all(c.score >= 0.375 for c in colours.categories)
    assert len(colours.categories) < 5
    # An empty calibration line gives the default score.
    assert next(c.score for c in animals.categories if c.index == 1) == 0.25


def test_allowlist_needs_labels():
    bare = tiny_model([Head(3, uint8=True)], uint8_input=True)
    assert read_model_metadata(bare) == ModelMetadata()
    with pytest.raises(ValueError, match="requires labels"):
        classifier(bare, category_allowlist=["cat"])
    with classifier(bare) as c:
        (head,) = c.classify(photo("coffee.png")).classifications
    assert head.head_name == ""
    assert [c.category_name for c in head.categories] == ["", "", ""]


def test_float_input_without_normalization():
    bare = tiny_model([Head(3)])
    assert read_model_metadata(bare) == ModelMetadata()
    with pytest.raises(ValueError, match="requires specifying NormalizationOptions"):
        classifier(bare)
    labelled = ModelMetadata(heads=(HeadMetadata("x", labels=(LabelFile(("a", "b", "c")),)),))
    with pytest.raises(ValueError, match="requires specifying NormalizationOptions"):
        classifier(tflite.write_metadata(bare, labelled))
    normalized = ModelMetadata(input=InputMetadata(normalization=Normalization((0.0,), (255.0,))))
    with classifier(tflite.write_metadata(bare, normalized)) as c:
        assert len(c.classify(photo("coffee.png")).classifications[0].categories) == 3


def with_files(model: bytes, files: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    """The model with its associated files replaced (the zip cut off and written anew)."""
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
        old = {info.filename: archive.read(info) for info in archive.infolist()}
        start = min(info.header_offset for info in archive.infolist())
    output = io.BytesIO(model[:start])
    output.seek(0, io.SEEK_END)
    with zipfile.ZipFile(output, "a", compression=compression) as archive:
        for name, data in {**old, **files}.items():
            archive.writestr(name, data)
    return output.getvalue()


@pytest.mark.parametrize(
    "calibration, message",
    [
        (b"1,2\n" * 5 + b"1,2", "Expected 3 or 4 parameters per line in score calibration file"),
        (b"1,2,x\n" * 5 + b"1,2,3", "Could not parse score calibration parameter as float: x."),
        (b"-1,2,3\n" * 5 + b"1,2,3", "The scale parameter of the sigmoids must be positive"),
        (b"1,2,3\n" * 6, r"Mismatch between number of sigmoids \(7\)"),  # a final newline
        (b"", "Expected non-empty score calibration file."),
    ],
)
def test_calibration_file_errors(two_heads, calibration, message):
    model = with_files(two_heads, {"head0_score_calibration.txt": calibration})
    with pytest.raises(ValueError, match=message):
        classifier(model)


def test_label_file_lines(two_heads):
    # \r\n, \r and \n all end a line; one empty last line is dropped, as MediaPipe.
    model = with_files(two_heads, {"head0_labels_en.txt": b"a\r\nb\rc\nd\ne\nf\n\n"})
    assert read_model_metadata(model).heads[0].category_names == tuple("abcdef")
    model = with_files(two_heads, {"head0_labels_it.txt": b"a\nb"})
    assert classifier(model, display_names_locale="en")  # the Italian file is not used
    with pytest.raises(ValueError, match=r"number of labels \(6\) and display names \(2\)"):
        classifier(model, display_names_locale="it")


def test_associated_file_errors(two_heads):
    with pytest.raises(ValueError, match="Expected uncompressed zip archive."):
        read_model_metadata(with_files(two_heads, {}, zipfile.ZIP_DEFLATED))
    labels = two_heads.rindex(b"cat\ndog")  # a label file's bytes: its CRC no longer fits
    broken = two_heads[:labels] + b"CAT" + two_heads[labels + 3 :]
    with pytest.raises(ValueError, match="Unable to read the file in zip archive."):
        read_model_metadata(broken)
    start = two_heads.rindex(b"PK\x05\x06")  # cut the zip's central directory: no files
    with pytest.raises(ValueError, match="No associated file with name: head0_labels_en.txt"):
        read_model_metadata(two_heads[:start])


def metadata_flatbuffer(input_tensor: dict, **root) -> bytes:
    """A metadata flatbuffer of one input and one plain output tensor, by schema slot."""
    fields = {3: Vector([{2: Vector([input_tensor]), 3: Vector([{0: "score"}])}])}
    if "min_parser_version" in root:
        fields[7] = root["min_parser_version"]
    return build(fields, b"M001")


def normalization(mean, std) -> dict:
    return {0: ("<B", 1), 1: {0: Vector(mean, "<f"), 1: Vector(std, "<f")}}


@pytest.mark.parametrize(
    "flatbuffer, message",
    [
        (
            metadata_flatbuffer({4: Vector([normalization([127.0], [128.0, 128.0])])}),
            "expected mean and std of same dimension, got 1 and 2.",
        ),
        (
            metadata_flatbuffer({4: Vector([normalization([1.0, 2.0], [3.0, 4.0])])}),
            "only 1 or 3 mean and std values are supported, got 2.",
        ),
        (
            metadata_flatbuffer({4: Vector([normalization([0.0], [1.0])] * 2)}),
            "Found multiple ProcessUnits with type=NormalizationOptions, expected at most one.",
        ),
        (
            metadata_flatbuffer({3: {0: ("<B", 2), 1: {0: ("<b", 2)}}}),  # GRAYSCALE
            "Only RGB color space is supported for now.",
        ),
        (
            metadata_flatbuffer({3: {0: ("<B", 4), 1: {}}}, ),
            "Expected ImageProperties for tensor #0, got AudioProperties.",
        ),
        (
            metadata_flatbuffer({}, min_parser_version="1.6.0"),
            "smaller than the minimum version 1.6.0",
        ),
        (build({}, b"M002"), "Invalid metadata schema version: expected M001, got M002"),
    ],
)
def test_metadata_rules(monkeypatch, flatbuffer, message):
    monkeypatch.setattr(tflite, "_metadata_flatbuffer", lambda metadata, files: flatbuffer)
    model = tflite.write_metadata(tiny_model([Head(3)]), ModelMetadata())
    with pytest.raises(ValueError, match=message):
        read_model_metadata(model)


@pytest.mark.parametrize("cut", [8, 100, 1000])
def test_broken_files(cut):
    data = model_file("lite0_int8", "tflite").read_bytes()
    with pytest.raises(ValueError):
        read_model_metadata(data[:cut])
    with pytest.raises(ValueError):
        ImageClassifier.create_from_options(
            ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=data[:cut]))
        )


def test_writer_refuses_a_second_metadata(two_heads):
    with pytest.raises(ValueError, match="already has TFLite metadata"):
        tflite.write_metadata(two_heads, METADATA)
    with pytest.raises(ValueError, match="2 heads, the model has 1 outputs"):
        tflite.write_metadata(tiny_model([Head(3)]), METADATA)
