"""JPEG decoding gives MediaPipe's pixels (stb_image's) with either decoder: stb_image itself
(libstb, on CPython) and its arithmetic in numpy on coefficients Huffman-decoded in Python
(what Pyodide runs); and a corrupt, truncated or hostile JPEG gives a ValueError, never a
crash or a hang of the process (each runs in a child process of the model fuzzer's).

MediaPipe's ``Image.numpy_view()`` points into memory its ``Image`` owns: the images are kept
alive while their pixels are used.
"""

from __future__ import annotations

import io
import random
import sys

import mediapipe as mp
import numpy as np
import pytest
from conftest import IMAGES, ROOT
from PIL import Image as PILImage

import image_classifier as ic
from image_classifier import jpeg

sys.path.insert(0, str(ROOT / "tools"))
import fuzz_models  # noqa: E402

DECODERS = {"stb_image": jpeg.stb_pixels, "numpy": jpeg.numpy_pixels}


def encoded(picture: PILImage.Image, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def variants() -> dict[str, bytes]:
    """Our test JPEGs as they are, and re-encodings of two photos that exercise every sampling
    Pillow writes, qualities, grey, odd sizes, a 1-pixel-wide chroma plane, restart markers
    and progressive scans."""
    made = {name: (IMAGES / name).read_bytes() for name in ("grace_hopper.jpg", "rocket.jpg", "china.jpg")}
    for name in ("chelsea.png", "astronaut.png"):
        source = PILImage.open(IMAGES / name).convert("RGB")
        odd = source.crop((3, 5, 402, 288))
        for subsampling, label in ((0, "444"), (1, "422"), (2, "420")):
            for quality in (50, 95):
                made[f"{name}-{label}-q{quality}"] = encoded(source, subsampling=subsampling, quality=quality)
            made[f"{name}-{label}-odd"] = encoded(odd, subsampling=subsampling)
            made[f"{name}-{label}-progressive"] = encoded(odd, subsampling=subsampling, progressive=True)
        made[f"{name}-grey"] = encoded(source.convert("L"))
        made[f"{name}-grey-progressive"] = encoded(odd.convert("L"), progressive=True)
        made[f"{name}-tiny"] = encoded(source.resize((1, 3)), subsampling=2)
        made[f"{name}-restarts"] = encoded(source, subsampling=2, restart_marker_blocks=3)
        assert b"\xff\xdd" in made[f"{name}-restarts"]
    return made


VARIANTS = variants()


def mediapipes(data: bytes, tmp_path) -> np.ndarray:
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    image = mp.Image.create_from_file(str(path))
    return np.array(image.numpy_view())  # a copy, taken while ``image`` is alive


@pytest.mark.parametrize("name", VARIANTS)
def test_pixels_are_mediapipes_with_either_decoder(name, tmp_path):
    data = VARIANTS[name]
    theirs = mediapipes(data, tmp_path)
    for decoder, pixels_of in DECODERS.items():
        ours = jpeg._decode(data, pixels_of)
        if ours is None:  # Pillow's job in Pyodide: progressive scans
            assert decoder == "numpy" and "progressive" in name
            continue
        assert np.array_equal(ours, theirs.reshape(ours.shape)), decoder
    ours = ic.Image.create_from_bytes(data).numpy_view()  # what users get
    assert np.array_equal(ours, theirs.reshape(ours.shape))


def truncations() -> dict[str, bytes]:
    baseline, progressive = VARIANTS["chelsea.png-420-q95"], VARIANTS["chelsea.png-420-progressive"]
    return {
        f"{kind}-{fraction}": data[: int(len(data) * fraction)]
        for kind, data in (("baseline", baseline), ("progressive", progressive))
        for fraction in (0.02, 0.3, 0.7, 0.99)
    }


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("name", truncations())
def test_truncated_jpegs_raise_value_error(name, decoder):
    data = truncations()[name]
    if decoder == "numpy" and name.startswith("progressive"):
        assert jpeg._decode(data, jpeg.numpy_pixels) is None  # left to Pillow
        return
    with pytest.raises(ValueError, match="Image decoding failed"):
        jpeg._decode(data, DECODERS[decoder])


def decoded_in_child(data: bytes, pixels_of) -> fuzz_models.Outcome:
    """The outcome of ``jpeg._decode`` in a child process: "decoded" or "refused ..."."""
    return fuzz_models.run_in_child(lambda: f"decoded {jpeg._decode(data, pixels_of) is not None}", 60)


def test_a_bad_marker_length_is_refused_without_a_crash():
    # jpeglib's reader of coefficients, which CPython used before libstb, died of SIGSEGV on
    # any error in the headers.
    data = bytearray(VARIANTS["chelsea.png-444-q95"])
    scan = data.find(b"\xff\xda")
    data[scan + 2 : scan + 4] = (1804).to_bytes(2, "big")
    for pixels_of in DECODERS.values():
        outcome = decoded_in_child(bytes(data), pixels_of)
        assert outcome.kind == "refused" and outcome.detail.startswith("ValueError"), outcome


def mutated(seed: int, count: int) -> list[bytes]:
    """JPEGs with a few bytes changed, mostly in their headers, or cut short."""
    rng, made = random.Random(seed), []
    seeds = [VARIANTS[name] for name in ("rocket.jpg", "chelsea.png-422-progressive",
                                         "chelsea.png-restarts", "chelsea.png-grey-progressive")]
    for _ in range(count):
        data = bytearray(rng.choice(seeds))
        headers = data.find(b"\xff\xda") + 12
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(2, headers) if rng.random() < 0.7 else rng.randrange(len(data))
            data[position] = rng.choice([0, 1, 0x3F, 0xFF, rng.randrange(256)])
        if rng.random() < 0.3:
            data = data[: rng.randrange(2, len(data))]
        made.append(bytes(data))
    return made


def test_mutated_jpegs_decode_or_raise_value_error_never_crash():
    kinds = []
    for data in mutated(seed=3, count=30):
        for pixels_of in DECODERS.values():
            outcome = decoded_in_child(data, pixels_of)
            kinds.append(outcome.kind)
            assert outcome.kind == "decoded" or (
                outcome.kind == "refused" and outcome.detail.startswith("ValueError")), outcome
    assert "refused" in kinds and "decoded" in kinds
