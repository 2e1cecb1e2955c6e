"""Slide images with Pillow: title and bullets, wrapped and shrunk so text never leaves the frame.

Layout works on a margin box. The text block is laid out at a starting size and shrunk step by
step until it fits; at the smallest size, lines that still do not fit are cut with an ellipsis.
Right-to-left languages are aligned right (Pillow's raqm layout shapes Arabic when available).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from infra.jobs.models import Slide

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


def _measure(
    slide: Slide, font_path: str, title_size: int, body_size: int, box_w: float
) -> SlideLayout:
    title_font = _font(font_path, title_size)
    body_font = _font(font_path, body_size)
    title_lines = wrap_text(slide.title, title_font, box_w)
    bullets = [wrap_text(b, body_font, box_w - body_size * 1.2) for b in slide.bullets]
    height = int(
        len(title_lines) * title_size * 1.2
        + title_size * 0.8
        + sum(len(b) * body_size * 1.3 + body_size * 0.5 for b in bullets)
    )
    return SlideLayout(title_lines, bullets, title_size, body_size, height)


# What a slide can show at all: longer text is cut (with "…") before any layout work, so the
# layout's cost is bounded whatever a document contains.
MAX_TITLE_CHARS = 160
MAX_BULLET_CHARS = 280


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def layout_slide(slide: Slide, width: int, height: int, font_path: str) -> SlideLayout:
    """Largest text sizes whose block fits the margin box (shrinks, then truncates)."""
    slide = Slide(
        title=_capped(slide.title, MAX_TITLE_CHARS),
        bullets=[_capped(b, MAX_BULLET_CHARS) for b in slide.bullets],
        narration=slide.narration,
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
    # Still too tall at the smallest size: keep whole lines that fit, mark the cut.
    budget = box_h - (len(layout.title_lines[:2]) * title_size * 1.2 + title_size * 0.8)
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
    return SlideLayout(title, kept, title_size, body_size, box_h)


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
    image.save(path, format="PNG", compress_level=1)
    return path
