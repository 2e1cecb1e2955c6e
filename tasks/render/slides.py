"""Slide images with Pillow: title and bullets, wrapped and shrunk so text never leaves the frame.

Layout works on a margin box. The text block is laid out at a starting size and shrunk step by
step until it fits; at the smallest size, lines that still do not fit are cut with an ellipsis.
Right-to-left languages are aligned right (Pillow's raqm layout shapes Arabic when available).
A slide's table (``Slide.table``) is drawn under the bullets as a grid of equal columns (mirrored
for right-to-left languages), each cell cut with "…" to its column. Emoji are removed from slide
text: the slide font has no glyphs for them (they would be empty boxes), and a colour-emoji font
(Noto Color Emoji) is a bitmap font Pillow draws only at one size and without fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from infra.documents.emoji import strip_emoji
from infra.jobs.models import Slide, SlideTable

__all__ = [
    "MAX_BULLET_CHARS",
    "MAX_TITLE_CHARS",
    "SlideLayout",
    "layout_slide",
    "render_slide",
    "wrap_text",
]

BACKGROUND = (18, 24, 38)
TITLE_COLOR = (255, 255, 255)
BODY_COLOR = (214, 222, 235)
ACCENT = (86, 156, 214)
RTL_LANGUAGES = ("ar", "he", "fa", "ur")
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> Font:
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return ImageFont.load_default(size=size)


def _width(font: Font, text: str) -> float:
    return float(font.getlength(text))


def _fitting_prefix(word: str, font: Font, max_width: float) -> int:
    """Length of the longest prefix of ``word`` (at least 1) no wider than ``max_width``.

    A binary search: a 2,000-character word costs ~11 measurements per line, not one per
    character (the linear scan made a long unbroken heading cubic).
    """
    low, high = 1, len(word)
    while low < high:
        mid = (low + high + 1) // 2
        if _width(font, word[:mid]) <= max_width:
            low = mid
        else:
            high = mid - 1
    return low


def wrap_text(text: str, font: Font, max_width: float) -> list[str]:
    """Greedy word wrap; a word wider than the box is broken by characters."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if _width(font, candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while len(word) > 1 and _width(font, word) > max_width:
            cut = _fitting_prefix(word, font, max_width)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines


@dataclass(frozen=True)
class SlideLayout:
    title_lines: list[str]
    bullet_lines: list[list[str]]
    title_size: int
    body_size: int
    height: int
    table_rows: int = 0  # rows of the table drawn, its header included


ROW_HEIGHT = 1.7  # table row height, in body font sizes


def _table_rows(table: SlideTable | None) -> int:
    if table is None:
        return 0
    return (1 if table.header else 0) + len(table.rows)


def _measure(
    slide: Slide, font_path: str, title_size: int, body_size: int, box_w: float
) -> SlideLayout:
    title_font = _font(font_path, title_size)
    body_font = _font(font_path, body_size)
    title_lines = wrap_text(slide.title, title_font, box_w)
    bullets = [wrap_text(b, body_font, box_w - body_size * 1.2) for b in slide.bullets]
    rows = _table_rows(slide.table)
    height = int(
        len(title_lines) * title_size * 1.2
        + title_size * 0.8
        + sum(len(b) * body_size * 1.3 + body_size * 0.5 for b in bullets)
        + (rows * body_size * ROW_HEIGHT + body_size * 0.5 if rows else 0)
    )
    return SlideLayout(title_lines, bullets, title_size, body_size, height, rows)


# What a slide can show at all: longer text is cut (with "…") before any layout work, so the
# layout's cost is bounded whatever a document contains.
MAX_TITLE_CHARS = 160
MAX_BULLET_CHARS = 280


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def layout_slide(slide: Slide, width: int, height: int, font_path: str) -> SlideLayout:
    """Largest text sizes whose block fits the margin box (shrinks, then truncates)."""
    slide = Slide(
        title=_capped(strip_emoji(slide.title), MAX_TITLE_CHARS),
        bullets=[_capped(b, MAX_BULLET_CHARS) for b in map(strip_emoji, slide.bullets) if b],
        narration=slide.narration,
        table=slide.table,
    )
    margin = int(width * 0.07)
    box_w, box_h = width - 2 * margin, height - 2 * margin
    title_size, body_size = max(12, height // 14), max(10, height // 24)
    min_body = max(9, height // 40)  # smaller is unreadable on a phone
    layout = _measure(slide, font_path, title_size, body_size, box_w)
    while layout.height > box_h and body_size > min_body:
        title_size = max(min_body + 2, int(title_size * 0.9))
        body_size = max(min_body, int(body_size * 0.9))
        layout = _measure(slide, font_path, title_size, body_size, box_w)
    if layout.height <= box_h:
        return layout
    # Still too tall at the smallest size: keep whole lines that fit, mark the cut. The table
    # keeps its rows that fit under the title first; bullets get the rest.
    budget = box_h - (len(layout.title_lines[:2]) * title_size * 1.2 + title_size * 0.8)
    table_rows = min(layout.table_rows, max(0, int(budget * 0.6 // (body_size * ROW_HEIGHT))))
    if table_rows:
        budget -= table_rows * body_size * ROW_HEIGHT + body_size * 0.5
    kept: list[list[str]] = []
    for lines in layout.bullet_lines:
        room = int(budget // (body_size * 1.3))
        if room <= 0:
            break
        part = lines[:room]
        if len(part) < len(lines):
            part[-1] = _ellipsize(part[-1])
        kept.append(part)
        budget -= len(part) * body_size * 1.3 + body_size * 0.5
    if kept and len(kept) < len(layout.bullet_lines) and not kept[-1][-1].endswith("…"):
        kept[-1][-1] = _ellipsize(kept[-1][-1])
    title = layout.title_lines[:2]
    if len(layout.title_lines) > 2:
        title[-1] = _ellipsize(title[-1])
    return SlideLayout(title, kept, title_size, body_size, box_h, table_rows)


def _fit_cell(text: str, font: Font, width: float) -> str:
    """``text`` on one line no wider than ``width``, cut with "…" when it is wider."""
    text = " ".join(strip_emoji(text).split())
    if _width(font, text) <= width:
        return text
    if width <= _width(font, "…"):
        return ""
    return text[: _fitting_prefix(text, font, width - _width(font, "…"))].rstrip() + "…"


def _draw_table(
    draw: ImageDraw.ImageDraw,
    table: SlideTable,
    rows_shown: int,
    box: tuple[float, float, float],
    font: Font,
    size: int,
    rtl: bool,
) -> None:
    """The first ``rows_shown`` rows (header first) of ``table`` as a grid at ``box`` (x, y, w)."""
    x0, y, width = box
    rows = ([table.header] if table.header else []) + table.rows
    columns = max((len(r) for r in rows), default=0)
    if not columns:
        return
    col_w = width / columns
    row_h = size * ROW_HEIGHT
    pad = size * 0.3
    for r, row in enumerate(rows[:rows_shown]):
        if r == 0 and table.header:
            draw.rectangle([x0, y, x0 + width, y + row_h], fill=(40, 58, 88))
        for c in range(columns):
            cell = row[c] if c < len(row) else ""
            col = columns - 1 - c if rtl else c
            left = x0 + col * col_w
            text = _fit_cell(cell, font, col_w - 2 * pad)
            anchor, x = ("rm", left + col_w - pad) if rtl else ("lm", left + pad)
            fill = TITLE_COLOR if r == 0 and table.header else BODY_COLOR
            draw.text((x, y + row_h / 2), text, font=font, fill=fill, anchor=anchor)
        draw.line([(x0, y + row_h), (x0 + width, y + row_h)], fill=ACCENT, width=1)
        y += row_h


def _ellipsize(line: str) -> str:
    """Mark a cut without widening the line: the last word (or two letters) gives way to "…"."""
    head, _, _ = line.rstrip().rpartition(" ")
    return (head or line[:-2]).rstrip(" ,;:") + "…"


def render_slide(
    slide: Slide, path: Path, width: int, height: int, font_path: str, language: str = "en"
) -> Path:
    """Draw ``slide`` into a PNG at ``path`` and return it."""
    layout = layout_slide(slide, width, height, font_path)
    rtl = language.split("-")[0] in RTL_LANGUAGES
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    margin = int(width * 0.07)
    x_text = width - margin if rtl else margin
    anchor = "ra" if rtl else "la"
    title_font = _font(font_path, layout.title_size)
    body_font = _font(font_path, layout.body_size)
    y = float(margin)
    for line in layout.title_lines:
        draw.text((x_text, y), line, font=title_font, fill=TITLE_COLOR, anchor=anchor)
        y += layout.title_size * 1.2
    rule_y = y + layout.title_size * 0.3
    draw.line(
        [(margin, rule_y), (width - margin, rule_y)], fill=ACCENT, width=max(2, height // 270)
    )
    y += layout.title_size * 0.8
    indent = layout.body_size * 1.2
    for lines in layout.bullet_lines:
        dot_r = layout.body_size * 0.15
        cy = y + layout.body_size * 0.55
        cx = width - margin - dot_r * 2 if rtl else margin + dot_r * 2
        draw.ellipse([cx - dot_r, cy - dot_r, cx + dot_r, cy + dot_r], fill=ACCENT)
        for line in lines:
            x = x_text - indent if rtl else x_text + indent
            draw.text((x, y), line, font=body_font, fill=BODY_COLOR, anchor=anchor)
            y += layout.body_size * 1.3
        y += layout.body_size * 0.5
    if slide.table is not None and layout.table_rows:
        box = (float(margin), y, float(width - 2 * margin))
        _draw_table(draw, slide.table, layout.table_rows, box, body_font, layout.body_size, rtl)
    image.save(path, format="PNG", compress_level=1)
    return path
