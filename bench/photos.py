"""The bench's photos: real photos of tests/images/, resized with Pillow to the sizes a user
gives (from about 450x300 up to 1920x1280), made at bench time rather than committed."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

IMAGES = Path(__file__).resolve().parents[1] / "tests" / "images"
# Landscape photos of about 3:2, so that every size keeps their proportions.
PHOTOS = ["chelsea.png", "coffee.png", "china.jpg", "motorcycle_left.png"]
SIZES = [(451, 300), (960, 640), (1920, 1280)]


def size_name(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def make_photos(folder: Path) -> dict[str, list[str]]:
    """Writes every photo at every size as PNG under ``folder/<WxH>/``; returns, per size
    name, the paths relative to ``folder``."""
    made: dict[str, list[str]] = {}
    for size in SIZES:
        name = size_name(size)
        (folder / name).mkdir(parents=True, exist_ok=True)
        made[name] = []
        for photo in PHOTOS:
            path = f"{name}/{Path(photo).stem}.png"
            with Image.open(IMAGES / photo) as image:
                image.convert("RGB").resize(size, Image.LANCZOS).save(folder / path)
            made[name].append(path)
    return made
