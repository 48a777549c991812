"""A folder of many real photos for the batch tests and the throughput bench: crops, rotations
and flips of the test photos, as JPEG and PNG in nested folders, made when needed (not committed).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

IMAGES = Path(__file__).resolve().parent / "images"
SOURCES = ("chelsea.png", "coffee.png", "china.jpg", "motorcycle_left.png", "astronaut.png",
           "grace_hopper.jpg", "rocket.jpg", "camera.png")
# (left, top, right, bottom) fractions of the photo kept by each variant.
CROPS = ((0, 0, 1, 1), (0.1, 0.1, 0.9, 0.9), (0, 0, 0.8, 0.8), (0.2, 0.2, 1, 1),
         (0.05, 0.15, 0.95, 0.85))
TURNS = (None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
         Image.Transpose.ROTATE_270, Image.Transpose.FLIP_LEFT_RIGHT)
CORRUPT = "broken.jpg"
NOT_AN_IMAGE = "notes.txt"


def make_photo_folder(
    folder: Path, count: int, longest_side: int = 480, kinds: tuple[str, ...] = ("png", "jpg", "jpg")
) -> list[Path]:
    """Writes ``count`` distinct photos under ``folder/<source>/`` (in turn as each of ``kinds``,
    at most ``longest_side`` pixels); returns their paths in the order written."""
    variants = [(s, c, t) for t in TURNS for c in CROPS for s in SOURCES]
    repeats, made = 0, []
    while len(made) < count:
        for source, crop, turn in variants[: count - len(made)]:
            with Image.open(IMAGES / source) as original:
                picture = original.convert("RGB")
            width, height = picture.size
            picture = picture.crop((round(crop[0] * width), round(crop[1] * height),
                                    round(crop[2] * width), round(crop[3] * height)))
            if turn is not None:
                picture = picture.transpose(turn)
            # Each repeat a few pixels smaller, so that every photo differs.
            picture.thumbnail((longest_side - 7 * repeats,) * 2)
            kind = kinds[len(made) % len(kinds)]
            path = folder / Path(source).stem / f"photo_{len(made):04d}.{kind}"
            path.parent.mkdir(parents=True, exist_ok=True)
            picture.save(path, quality=90) if kind == "jpg" else picture.save(path)
            made.append(path)
        repeats += 1
    return made


def add_bad_files(folder: Path) -> tuple[Path, Path]:
    """A corrupt JPEG (a real JPEG's first bytes, then garbage: no decoder, Pillow or a
    browser's, makes pixels of it) and a text file: (corrupt, not an image)."""
    corrupt, text = folder / CORRUPT, folder / NOT_AN_IMAGE
    header = (IMAGES / "grace_hopper.jpg").read_bytes()[:20]
    corrupt.write_bytes(header + bytes(range(256)) * 8)
    text.write_text("These are not pixels.\n")
    return corrupt, text


def make_test_folder(tmp_path_factory, name: str, count: int, longest_side: int = 480) -> Path:
    """A new folder ``name`` with ``count`` photos and the two bad files (for fixtures)."""
    folder = tmp_path_factory.mktemp("photos") / name
    make_photo_folder(folder, count, longest_side)
    add_bad_files(folder)
    return folder
