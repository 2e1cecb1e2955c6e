"""PDF -> ``Document``: structure from the text layer's fonts and positions (pypdf's visitor).

Per page, pypdf reports each text run with its matrix, font and size; runs become lines with a
position, an effective size and a weight. Then, over the whole document:

- running headers and footers go: a line near the top or bottom of a page whose text (digits
  ignored) repeats on at least half the pages, and any bare page number (``7``, ``Page 7 of 9``);
- the body size is the most common size (by characters); a line clearly bigger, or bold and short,
  is a heading (wrapped heading lines are joined); heading sizes give the levels;
- the other lines are re-joined across line and page wraps (hyphenation repaired) into paragraphs
  and lists, and split into whole sentences. A section runs until the next heading, across pages.

Reading order is the content stream's order (right for single-column documents; multi-column
layouts are read column-run by column-run as the producer wrote them). Tables in PDFs stay text.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.documents.model import Block, Document, ListBlock, Paragraph, Section
from infra.documents.sentences import is_sentence_end, join_wrapped_lines, split_sentences
from infra.documents.text import list_marker_end
from infra.errors import InputTooLarge, InputUnreadable

__all__ = ["PdfLine", "drop_running_lines", "lines_to_document", "page_lines", "read_pdf"]

HEADING_RATIO = 1.15  # a heading's size over the body size
MAX_HEADING_WORDS = 20
EDGE_SHARE = 0.12  # top/bottom band of a page where running headers and footers live
_BOLD_NAMES = ("bold", "black", "heavy", "semibold", "demi")


@dataclass
class PdfLine:
    text: str
    x: float
    y: float
    size: float
    bold: bool
    page: int
    page_height: float


def _is_bold(font: Any) -> bool:
    try:
        name = str(font.get("/BaseFont", "")).lower() if font else ""
        if any(word in name for word in _BOLD_NAMES):
            return True
        descriptor = font.get("/FontDescriptor") if font else None
        if descriptor is not None:
            descriptor = descriptor.get_object()
            return float(descriptor.get("/FontWeight", 400)) >= 600
    except (AttributeError, TypeError, ValueError, KeyError):
        return False
    return False


def page_lines(page: Any, number: int) -> list[PdfLine]:
    """The text lines of one pypdf page, in content-stream order."""
    try:
        height = float(page.mediabox.height) or 792.0
    except (AttributeError, TypeError, ValueError, KeyError):
        height = 792.0
    lines: list[PdfLine] = []
    current: dict[str, Any] = {}
    bold_cache: dict[int, bool] = {}

    def flush() -> None:
        text = " ".join(current.get("text", "").split())
        if text:
            chars = current["chars"]
            lines.append(
                PdfLine(
                    text=text,
                    x=current["x"],
                    y=current["y"],
                    size=current["size"],
                    bold=current["bold_chars"] * 2 > chars,
                    page=number,
                    page_height=height,
                )
            )
        current.clear()

    def visit(text: str, cm: list[float], tm: list[float], font: Any, font_size: float) -> None:
        if not text:
            return
        scale = math.hypot(tm[2], tm[3]) * math.hypot(cm[2], cm[3]) or 1.0
        size = round(float(font_size) * scale, 1)
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        key = id(font)
        if key not in bold_cache:
            bold_cache[key] = _is_bold(font)
        bold = bold_cache[key]
        pieces = text.split("\n")
        for index, piece in enumerate(pieces):
            if index:
                flush()
            if current and abs(current["y"] - y) > max(size, current["size"]) * 0.6 and piece:
                flush()
            if piece.strip():
                if not current:
                    current.update(text="", x=x, y=y, size=size, chars=0, bold_chars=0)
                current["text"] += piece
                n = len(piece.strip())
                current["chars"] += n
                current["bold_chars"] += n if bold else 0
                current["size"] = max(current["size"], size)
            elif current and piece:
                current["text"] += piece

    page.extract_text(visitor_text=visit)
    flush()
    return lines


def _digits_blanked(text: str) -> str:
    return "".join("#" if c.isdigit() else c for c in text.lower())


def _is_page_number(text: str) -> bool:
    """``7``, ``- 7 -``, ``Page 7``, ``7 / 9``, ``Page 7 of 9``, ``vii``: nothing to narrate."""
    if len(text) > 24:
        return False
    words = text.lower().replace("-", " ").replace("/", " of ").replace("|", " ").split()
    words = [w for w in words if w not in ("page", "of", "p.", "seite", "página", "страница")]
    if not words or len(words) > 2:
        return False
    return all(w.isdigit() or set(w) <= set("ivxlc") for w in words)


def _near_edge(line: PdfLine) -> bool:
    return line.y >= line.page_height * (1 - EDGE_SHARE) or line.y <= line.page_height * EDGE_SHARE


def drop_running_lines(lines: list[PdfLine], pages: int) -> list[PdfLine]:
    """Without running headers/footers and page numbers (see the module docstring)."""
    seen: dict[str, set[int]] = {}
    for line in lines:
        if _near_edge(line):
            seen.setdefault(_digits_blanked(line.text), set()).add(line.page)
    threshold = max(2, math.ceil(pages * 0.5))
    running = {key for key, on in seen.items() if len(on) >= threshold and pages >= 2}
    return [
        line
        for line in lines
        if not (
            _near_edge(line)
            and (_digits_blanked(line.text) in running or _is_page_number(line.text))
        )
    ]


def _body_size(lines: list[PdfLine]) -> float:
    weights: Counter[float] = Counter()
    for line in lines:
        weights[round(line.size * 2) / 2] += len(line.text)
    return weights.most_common(1)[0][0] if weights else 12.0


def _heading_style(line: PdfLine, body: float) -> tuple[float, bool] | None:
    """The (size, bold) style of a heading line, or None for body text."""
    words = len(line.text.split())
    if not any(c.isalpha() for c in line.text) or words > MAX_HEADING_WORDS:
        return None
    if line.size >= body * HEADING_RATIO:
        return (round(line.size * 2) / 2, line.bold)
    if line.bold and line.size >= body * 0.95 and words <= 12 and not line.text.endswith(","):
        return (round(line.size * 2) / 2, True)
    return None


def lines_to_document(lines: list[PdfLine], pages: int) -> Document:
    """Sections, paragraphs and lists from positioned lines (see the module docstring)."""
    lines = drop_running_lines(lines, pages)
    body = _body_size(lines)
    styles = [_heading_style(line, body) for line in lines]
    # A bold paragraph is not a run of headings: a run of same-style lines longer than a title
    # goes back to the body.
    i = 0
    while i < len(lines):
        style = styles[i]
        j = i + 1
        while j < len(lines) and style is not None and styles[j] == style:
            j += 1
        if style is not None and sum(len(ln.text.split()) for ln in lines[i:j]) > MAX_HEADING_WORDS:
            for k in range(i, j):
                styles[k] = None
        i = j
    levels = {
        style: rank + 1
        for rank, style in enumerate(
            sorted({s for s in styles if s is not None}, key=lambda s: (-s[0], not s[1]))
        )
    }
    spacing = _line_spacing(lines, styles)

    sections: list[Section] = []
    prose: list[str] = []
    items: list[str] = []
    item_x = 0.0
    heading: list[str] = []
    heading_style: tuple[float, bool] | None = None

    def blocks() -> list[Block]:
        if not sections:
            sections.append(Section(title="", level=0))
        return sections[-1].blocks

    def close_prose() -> None:
        if prose:
            sentences = split_sentences(join_wrapped_lines(prose))
            if sentences:
                blocks().append(Paragraph(sentences=sentences))
            prose.clear()

    def close_items() -> None:
        if items:
            blocks().append(ListBlock(items=list(items), depths=[0] * len(items)))
            items.clear()

    def close_heading() -> None:
        nonlocal heading_style
        if heading and heading_style is not None:
            sections.append(
                Section(title=join_wrapped_lines(heading), level=min(6, levels[heading_style]))
            )
        heading.clear()
        heading_style = None

    previous: PdfLine | None = None
    for line, style in zip(lines, styles, strict=True):
        if style is not None:
            wrapped = (
                previous is not None
                and previous.page == line.page
                and 0 < previous.y - line.y <= line.size * 1.6
            )
            if heading and (style != heading_style or not wrapped):
                close_heading()  # two headings in a row, not one wrapped over two lines
            if not heading:
                close_prose()
                close_items()
            heading.append(line.text)
            heading_style = style
            previous = line
            continue
        close_heading()
        gap = (
            previous is not None
            and previous.page == line.page
            and previous.y - line.y > spacing * 1.6
        )
        cut = list_marker_end(line.text)
        if cut and prose and not gap and not _ends_clause(prose[-1]):
            cut = 0  # "... during step" / "13. The next ...": a wrapped number, not an item
        if cut:
            close_prose()
            items.append(line.text[cut:].strip())
            item_x = line.x
        elif items and not gap and line.x > item_x + 1:
            items[-1] = join_wrapped_lines([items[-1], line.text])
        else:
            close_items()
            if gap and prose and is_sentence_end(prose[-1]):
                close_prose()
            prose.append(line.text)
        previous = line
    close_heading()
    close_prose()
    close_items()
    return Document(
        doc_type="pdf", pages=pages, sections=[s for s in sections if s.title or s.blocks]
    )


def _ends_clause(text: str) -> bool:
    """Whether a line can be the last before a list: it ends a sentence or announces one."""
    return is_sentence_end(text) or text.rstrip().endswith(":")


def _line_spacing(lines: list[PdfLine], styles: list[tuple[float, bool] | None]) -> float:
    gaps = [
        a.y - b.y
        for a, b, sa, sb in zip(lines, lines[1:], styles, styles[1:], strict=False)
        if a.page == b.page and sa is None and sb is None and 0 < a.y - b.y < a.size * 3
    ]
    return statistics.median(gaps) if gaps else 14.0


def _unreadable(path: Path, why: str) -> InputUnreadable:
    return InputUnreadable(f"{path.name} is not a readable PDF ({why})")


def read_pdf(path: Path, *, max_chars: int, max_pages: int, min_chars: int) -> Document:
    """The structure of the PDF at ``path``; text past ``max_chars`` is left out (``truncated``).

    Raises InputUnreadable (password-protected, corrupt, over pypdf's own limits, a page tree too
    deep, or a text layer under ``min_chars`` characters: scanned) and InputTooLarge (more than
    ``max_pages`` pages). Any failure inside pypdf is one of these, never an internal error.
    """
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PyPdfError

    password = InputUnreadable(
        f"{path.name} is password-protected; upload a copy without a password"
    )
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise password
        pages = len(reader.pages)
    except FileNotDecryptedError as exc:
        raise password from exc
    except RecursionError as exc:
        raise _unreadable(path, "its page tree is nested too deeply") from exc
    except (
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
    ) as exc:
        raise _unreadable(path, str(exc) or type(exc).__name__) from exc
    if pages > max_pages:
        raise InputTooLarge(
            f"{path.name} has {pages} pages; the limit is {max_pages} "
            "(REELFLOW_INPUT__MAX_PDF_PAGES)"
        )
    lines: list[PdfLine] = []
    total = 0
    truncated = False
    for number in range(1, pages + 1):
        try:
            found = page_lines(reader.pages[number - 1], number)
        except FileNotDecryptedError as exc:
            raise password from exc
        except RecursionError as exc:
            raise _unreadable(path, f"page {number} nests too deeply") from exc
        except Exception as exc:  # pypdf raises many types on broken content streams
            raise _unreadable(path, f"page {number}: {exc or type(exc).__name__}") from exc
        lines += found
        total += sum(len(line.text) + 1 for line in found)
        if total >= max_chars:
            truncated = number < pages or total > max_chars
            break
    visible = sum(len("".join(line.text.split())) for line in lines)
    if visible < min_chars:
        raise InputUnreadable(
            f"{path.name} has only {visible} characters of text; at least {min_chars} are "
            "needed. The PDF looks scanned (images only) or empty; OCR it first."
        )
    document = lines_to_document(lines, pages)
    return document.model_copy(update={"truncated": truncated})
