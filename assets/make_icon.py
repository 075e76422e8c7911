"""Draw the application icon (a simple "IC" badge with a download arrow) and write icon.png and icon.ico.

Run once after changing the design: ``python assets/make_icon.py``; the outputs are committed so the build needs no
drawing step.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SIZE = 256
BLUE = (31, 106, 165, 255)  # customtkinter's "blue" theme accent
LIGHT = (235, 243, 250, 255)


def draw(size: int = SIZE) -> Image.Image:
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    s = size / 256
    d.rounded_rectangle((8 * s, 8 * s, 248 * s, 248 * s), radius=48 * s, fill=BLUE)
    # a database/tray at the bottom
    d.rounded_rectangle((56 * s, 172 * s, 200 * s, 212 * s), radius=12 * s, fill=LIGHT)
    # a downward arrow into it
    d.rectangle((112 * s, 44 * s, 144 * s, 120 * s), fill=LIGHT)
    d.polygon([(76 * s, 112 * s), (180 * s, 112 * s), (128 * s, 164 * s)], fill=LIGHT)
    return img


def main() -> None:
    img = draw()
    img.save(HERE / "icon.png", optimize=True)
    img.save(HERE / "icon.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])


if __name__ == "__main__":
    main()
