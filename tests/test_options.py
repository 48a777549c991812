"""Every option of ImageClassifierOptions, with MediaPipe's semantics and error messages."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
from conftest import model_file, photo

from image_classifier import (
    BaseOptions,
    Image,
    ImageClassifier,
    ImageClassifierOptions,
    ImageFormat,
    ImageProcessingOptions,
    RectF,
    postprocess,
)
from image_classifier.metadata import HeadMetadata, ModelMetadata
from image_classifier.onnx_model import METADATA_KEY, read_onnx_metadata


def classifier(model: str = "lite0_fp32", **options) -> ImageClassifier:
    return ImageClassifier.create_from_options(
        ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=str(model_file(model))), **options
        )
    )


def with_metadata(metadata: ModelMetadata, model: str = "lite0_fp32") -> bytes:
    """The model's bytes with its metadata replaced: a custom model made in the test."""
    proto = onnx.load(str(model_file(model)))
    for prop in proto.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = metadata.to_json()
    return proto.SerializeToString()


def default_metadata() -> ModelMetadata:
    return read_onnx_metadata(model_file("lite0_fp32").read_bytes())


def names(result, head: int = 0) -> list[str]:
    return [c.category_name for c in result.classifications[0 + head].categories]


def test_defaults_return_every_category_sorted():
    with classifier() as fresh:  # its first IMAGE-mode call: timestamp 0, as in MediaPipe
        result = fresh.classify(photo("chelsea.png"))
    categories = result.classifications[0].categories
    assert len(categories) == 1000
    scores = [c.score for c in categories]
    assert scores == sorted(scores, reverse=True)
    assert sorted(c.index for c in categories) == list(range(1000))
    assert result.classifications[0].head_name == "probability"
    assert result.classifications[0].head_index == 0
    assert result.timestamp_ms == 0


@pytest.mark.parametrize("max_results, expected", [(3, 3), (1, 1), (-1, 1000), (None, 1000)])
def test_max_results(max_results, expected):
    with classifier(max_results=max_results) as c:
        assert len(c.classify(photo("coffee.png")).classifications[0].categories) == expected


def test_max_results_zero_is_an_error():
    with pytest.raises(ValueError, match=r"^Invalid `max_results` option: value must be != 0\.$"):
        classifier(max_results=0)


def test_score_threshold_keeps_scores_at_or_above():
    with classifier() as c:
        all_scores = [x.score for x in c.classify(photo("chelsea.png")).classifications[0].categories]
    threshold = all_scores[2]  # exactly the third score: kept (>=), the fourth is not
    with classifier(score_threshold=threshold) as c:
        kept = c.classify(photo("chelsea.png")).classifications[0].categories
    assert [x.score for x in kept] == all_scores[:3]


def test_metadata_threshold_applies_when_unset_and_explicit_value_overrides_it():
    metadata = default_metadata()
    head = dataclasses.replace(metadata.heads[0], score_threshold=0.05)
    model = with_metadata(dataclasses.replace(metadata, heads=(head,)))
    base = BaseOptions(model_asset_buffer=model)
    with ImageClassifier.create_from_options(ImageClassifierOptions(base_options=base)) as c:
        from_metadata = c.classify(photo("chelsea.png")).classifications[0].categories
    assert from_metadata and all(x.score >= 0.05 for x in from_metadata)
    assert len(from_metadata) < 10
    with ImageClassifier.create_from_options(
        ImageClassifierOptions(base_options=base, score_threshold=0.0)
    ) as c:
        assert len(c.classify(photo("chelsea.png")).classifications[0].categories) == 1000


def test_allowlist_keeps_only_listed_names_and_ignores_unknown_and_duplicates():
    allow = ["espresso", "cup", "cup", "no such category", "tench"]
    with classifier(category_allowlist=allow) as c:
        result = c.classify(photo("coffee.png"))
    assert names(result) == ["espresso", "cup", "tench"]


def test_denylist_drops_listed_names():
    with classifier(category_denylist=["espresso", "unknown"], max_results=3) as c:
        result = c.classify(photo("coffee.png"))
    assert "espresso" not in names(result)
    assert names(result)[0] == "cup"


def test_allowlist_and_denylist_are_exclusive():
    with pytest.raises(
        ValueError,
        match=r"^`category_allowlist` and `category_denylist` are mutually exclusive options\.$",
    ):
        classifier(category_allowlist=["cup"], category_denylist=["espresso"])


def test_allowlist_needs_labels():
    metadata = default_metadata()
    unlabelled = dataclasses.replace(metadata, heads=(HeadMetadata(name="probability"),))
    options = ImageClassifierOptions(
        base_options=BaseOptions(model_asset_buffer=with_metadata(unlabelled)),
        category_allowlist=["cup"],
    )
    with pytest.raises(ValueError, match="requires labels to be present"):
        ImageClassifier.create_from_options(options)
    # Without the list the same model classifies, with indices and no names.
    options = dataclasses.replace(options, category_allowlist=None, max_results=1)
    with ImageClassifier.create_from_options(options) as c:
        top = c.classify(photo("coffee.png")).classifications[0].categories[0]
    assert (top.index, top.category_name, top.display_name) == (967, "", None)


@pytest.mark.parametrize(
    "locale, expected", [(None, "espresso"), ("en", "espresso"), ("zh", "translated"), ("xx", None)]
)
def test_display_names_locale(locale, expected):
    with classifier(display_names_locale=locale, max_results=1) as c:
        top = c.classify(photo("coffee.png")).classifications[0].categories[0]
    assert top.category_name == "espresso"
    if expected == "translated":  # a real translation: non-empty, not ASCII
        assert top.display_name and not top.display_name.isascii()
    else:
        assert top.display_name == expected


@pytest.mark.parametrize("locale", ["zh", "ja", "it"])
def test_every_shipped_locale_names_every_class(locale):
    with classifier(display_names_locale=locale) as c:
        categories = c.classify(photo("coffee.png")).classifications[0].categories
    assert all(x.display_name for x in categories)
    assert len({x.display_name for x in categories}) > 900


def test_float_model_without_normalization_is_an_error():
    metadata = default_metadata()
    bare = dataclasses.replace(metadata, input=dataclasses.replace(metadata.input, normalization=None))
    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=with_metadata(bare)))
    with pytest.raises(ValueError, match="requires specifying NormalizationOptions metadata"):
        ImageClassifier.create_from_options(options)


def test_model_path_and_buffer_give_the_same_result(lite0):
    buffer = model_file("lite0_fp32").read_bytes()
    options = ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=buffer))
    with ImageClassifier.create_from_options(options) as c:
        assert (c.classify(photo("chelsea.png")).classifications
                == lite0.classify(photo("chelsea.png")).classifications)


def test_missing_model_file():
    with pytest.raises(FileNotFoundError):
        ImageClassifier.create_from_model_path("models/no_such_model.onnx")


def test_set_options_changes_postprocessing_only_and_keeps_old_options_on_error():
    with classifier(max_results=2) as c:
        c.set_options(max_results=1, display_names_locale="it")
        top = c.classify(photo("coffee.png")).classifications[0].categories
        assert len(top) == 1 and top[0].display_name != "espresso"
        with pytest.raises(ValueError, match="must be != 0"):
            c.set_options(max_results=0)
        assert len(c.classify(photo("coffee.png")).classifications[0].categories) == 1


# --- region of interest and rotation ----------------------------------------------------------

def side_by_side() -> Image:
    """A cat on the left half and an espresso on the right half, same height."""
    cat = photo("chelsea.png").numpy_view()
    coffee = photo("coffee.png").numpy_view()
    height = min(cat.shape[0], coffee.shape[0])
    return Image(ImageFormat.SRGB, np.concatenate([cat[:height], coffee[:height]], axis=1))


def test_region_of_interest_selects_what_is_classified(lite0):
    image = side_by_side()
    left = lite0.classify(image, ImageProcessingOptions(RectF(left=0, top=0, right=0.5, bottom=1)))
    right = lite0.classify(image, ImageProcessingOptions(RectF(left=0.5, top=0, right=1, bottom=1)))
    assert names(left)[0] in ("Egyptian cat", "tabby", "tiger cat")
    assert names(right)[0] == "espresso"


@pytest.mark.parametrize("quarter_turns_ccw", [1, 2, 3])
def test_rotation_is_clockwise_and_undoes_a_turned_photo(lite0, quarter_turns_ccw):
    """A portrait turned counter-clockwise is recognised only with the matching clockwise turn.

    Scores differ a little from the upright photo's: MediaPipe maps corners onto corners, so a
    turned photo is sampled half a pixel away from the upright one.
    """
    upright = photo("grace_hopper.jpg")
    turned = Image(ImageFormat.SRGB, np.rot90(upright.numpy_view(), quarter_turns_ccw))
    expected = lite0.classify(upright).classifications[0].categories[0]
    for rotation in (90, 180, 270, -90, -180, -270):
        got = lite0.classify(turned, ImageProcessingOptions(rotation_degrees=rotation))
        top = got.classifications[0].categories[0]
        if rotation % 360 == quarter_turns_ccw * 90:
            assert top.index == expected.index
            assert abs(top.score - expected.score) < 0.1
        else:
            assert top.index != expected.index, rotation


@pytest.mark.parametrize(
    "processing, message",
    [
        (ImageProcessingOptions(rotation_degrees=45), "Expected rotation to be a multiple of 90°."),
        (ImageProcessingOptions(RectF(left=0.5, top=0, right=0.4, bottom=1)), "Expected RectF with left < right and top < bottom."),
        (ImageProcessingOptions(RectF(left=0, top=0.6, right=1, bottom=0.6)), "Expected RectF with left < right and top < bottom."),
        (ImageProcessingOptions(RectF(left=-0.1, top=0, right=1, bottom=1)), "Expected RectF values to be in [0,1]."),
        (ImageProcessingOptions(RectF(left=0, top=0, right=1, bottom=1.5)), "Expected RectF values to be in [0,1]."),
    ],
)
def test_processing_option_errors(lite0, processing, message):
    with pytest.raises(ValueError) as error:
        lite0.classify(photo("chelsea.png"), processing)
    assert str(error.value) == message


@pytest.mark.parametrize("count", [-1, 0, 1, 3, 5, 40, 999, 1000, 1001])
def test_top_results_are_those_of_a_full_stable_sort(count):
    """postprocess.ranked picks the top scores without sorting them all: the same positions
    as a stable sort of the negated scores (ties in position order, NaN last), for scores
    with many ties, NaN and infinities."""
    rng = np.random.default_rng(7)
    special = np.array([0.0, -0.0, 0.25, 0.5, 1.0, np.nan, np.inf, -np.inf], np.float32)
    for share in [0.0, 0.01, 0.5, 0.99, 1.0]:  # of special values among random scores
        scores = rng.random(1000, dtype=np.float32)
        chosen = rng.random(1000) < share
        scores[chosen] = rng.choice(special, int(chosen.sum()))
        full = np.argsort(-scores, kind="stable")
        expected = full if count < 0 else full[:count]
        assert postprocess.ranked(scores, count).tolist() == expected.tolist()
