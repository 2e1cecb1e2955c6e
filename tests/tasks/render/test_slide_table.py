"""A slide's table is drawn as a grid; emoji never reach the slide font."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from infra.jobs.models import Slide, SlideTable
from infra.settings import RenderSettings
from tasks.render.slides import BACKGROUND, layout_slide, render_slide

FONT = str(RenderSettings().font_path)
TABLE = SlideTable(
    header=["stage", "share", "note"],
    rows=[["encode", "62%", "x264 with three renditions " * 4], ["probe", "3%", ""]],
)


def _band_has_ink(image: Image.Image, top: int, bottom: int) -> bool:
    px = image.load()
    return any(
        px[x, y] != BACKGROUND for y in range(top, bottom, 2) for x in range(0, image.width, 4)
    )


def test_table_rows_are_drawn_below_the_bullets(tmp_path: Path):
    plain = Slide(title="Where the time goes", bullets=["Encoding dominates"], narration="x")
    with_table = plain.model_copy(update={"table": TABLE})
    assert layout_slide(with_table, 1280, 720, FONT).table_rows == 3
    a = Image.open(render_slide(plain, tmp_path / "a.png", 1280, 720, FONT)).convert("RGB")
    b = Image.open(render_slide(with_table, tmp_path / "b.png", 1280, 720, FONT)).convert("RGB")
    assert not _band_has_ink(a, 330, 560)  # nothing there without a table
    assert _band_has_ink(b, 330, 560)


def test_a_table_too_tall_keeps_the_rows_that_fit(tmp_path: Path):
    tall = TABLE.model_copy(update={"rows": [["row", str(i), "x"] for i in range(40)]})
    slide = Slide(title="T", bullets=["b"] * 5, narration="x", table=tall)
    layout = layout_slide(slide, 640, 360, FONT)
    assert 0 < layout.table_rows < 41
    render_slide(slide, tmp_path / "t.png", 640, 360, FONT, "ar")  # mirrored, still inside


def test_emoji_are_removed_before_layout():
    slide = Slide(title="Launch 🚀", bullets=["Done ✅", "🎉"], narration="x")
    layout = layout_slide(slide, 1280, 720, FONT)
    assert layout.title_lines == ["Launch"]
    assert layout.bullet_lines == [["Done"]]  # a bullet of emoji only is no bullet
