"""PDF structure: headings from fonts, whole sentences across wraps and pages, no running lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.documents import Paragraph, read_document
from infra.documents.pdf import PdfLine, drop_running_lines
from infra.errors import InputTooLarge, InputUnreadable
from tests.support.documents import make_encrypted_pdf, make_image_only_pdf, make_many_page_pdf
from tests.support.narration_docs import (
    BULLETS,
    HEADER,
    REPORT_SECTIONS,
    REPORT_TITLE,
    SUB_SENTENCES,
    SUBHEADING,
    make_structured_pdf,
    wrap_with_hyphens,
)


def _read(path: Path, **kw: int):
    limits = {"max_chars": 50_000, "max_pages": 200} | kw
    return read_document(path, "pdf", **limits)


def _sentences(section) -> list[str]:
    return [s for b in section.blocks if isinstance(b, Paragraph) for s in b.sentences]


def test_headings_levels_and_whole_sentences(tmp_path: Path):
    doc = _read(make_structured_pdf(tmp_path / "r.pdf"))
    assert doc.pages == 2
    titles = [(s.title, s.level) for s in doc.sections]
    assert titles == [
        (REPORT_TITLE, 1),
        (REPORT_SECTIONS[0][0], 2),
        (REPORT_SECTIONS[1][0], 2),
        (SUBHEADING, 3),
        (REPORT_SECTIONS[2][0], 2),
    ]
    by_title = {s.title: s for s in doc.sections}
    for title, sentences in REPORT_SECTIONS:
        assert _sentences(by_title[title]) == sentences
    assert _sentences(by_title[SUBHEADING]) == SUB_SENTENCES
    assert by_title[REPORT_SECTIONS[2][0]].blocks[-1].items == BULLETS  # type: ignore[union-attr]


def test_hyphenation_and_page_breaks_are_repaired(tmp_path: Path):
    doc = _read(make_structured_pdf(tmp_path / "r.pdf"))
    # The fixture really hyphenated words at line ends...
    broken = [
        line.split()[-1]
        for _, sentences in REPORT_SECTIONS
        for line in wrap_with_hyphens(" ".join(sentences))
        if line.endswith("-")
    ]
    assert len(broken) >= 2
    text = doc.text
    for stub in broken:
        assert stub not in text  # ...and each came back whole
    assert "Internationalization" in text and "backwards." in text
    # Section 2 starts at the foot of page 1 and goes on on page 2 mid-paragraph.
    section2 = next(s for s in doc.sections if s.title.startswith("Section 2"))
    assert len(_sentences(section2)) == len(REPORT_SECTIONS[1][1])


def test_running_header_footer_and_page_numbers_are_dropped(tmp_path: Path):
    doc = _read(make_structured_pdf(tmp_path / "r.pdf"))
    assert HEADER not in doc.text
    assert "Page 1" not in doc.text and "Page 2" not in doc.text
    lines = [PdfLine("Quarterly report", 72, 800, 9, False, page, 842) for page in (1, 2, 3)] + [
        PdfLine(str(page), 300, 30, 9, False, page, 842) for page in (1, 2, 3)
    ]
    body = PdfLine("Quarterly report numbers are up.", 72, 500, 11, False, 1, 842)
    kept = drop_running_lines([*lines, body], pages=3)
    assert kept == [body]


def test_a_line_on_one_page_only_is_kept(tmp_path: Path):
    first = PdfLine("Confidential summary", 72, 800, 9, False, 1, 842)
    other = PdfLine("Appendix", 72, 800, 9, False, 2, 842)
    assert drop_running_lines([first, other], pages=4) == [first, other]


def test_same_font_pdf_is_one_untitled_section(tmp_path: Path):
    from reportlab.pdfgen import canvas

    path = tmp_path / "plain.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.setFont("Helvetica", 11)
    for i, line in enumerate(["The first sentence wraps onto", "the next line. A second one."]):
        pdf.drawString(72, 700 - 14 * i, line)
    pdf.save()
    doc = _read(path, min_chars=10)
    assert [s.title for s in doc.sections] == [""]
    assert _sentences(doc.sections[0]) == [
        "The first sentence wraps onto the next line.",
        "A second one.",
    ]


def test_a_number_wrapped_to_the_start_of_a_line_is_not_a_list_item(tmp_path: Path):
    # Found in the 150-page benchmark PDF: "... during step" / "13. The next ..." was read as an
    # ordered list item, so a sentence was cut and the next paragraph started mid-sentence.
    from reportlab.pdfgen import canvas

    path = tmp_path / "wrapped-number.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.setFont("Helvetica", 11)
    lines = [
        "The encoder keeps the ladder consistent during step",
        "13. The ledger keeps the manifest consistent during",
        "step 14. A list follows:",
        "1. Probe the source.",
        "2. Encode the ladder.",
    ]
    for i, line in enumerate(lines):
        pdf.drawString(72, 700 - 14 * i, line)
    pdf.save()
    doc = _read(path, min_chars=10)
    blocks = doc.sections[0].blocks
    assert isinstance(blocks[0], Paragraph) and blocks[0].sentences == [
        "The encoder keeps the ladder consistent during step 13.",
        "The ledger keeps the manifest consistent during step 14.",
        "A list follows:",
    ]
    assert [type(b).__name__ for b in blocks] == ["Paragraph", "ListBlock"]
    assert blocks[1].items == ["Probe the source.", "Encode the ladder."]


@pytest.mark.parametrize(
    ("make", "error", "fragment"),
    [
        (make_encrypted_pdf, InputUnreadable, "password"),
        (make_image_only_pdf, InputUnreadable, "scanned"),
        (lambda p: make_many_page_pdf(p, 30), InputTooLarge, "30 pages"),
        (lambda p: p.write_bytes(b"%PDF-1.4\n garbage \n%%EOF") or p, InputUnreadable, "PDF"),
    ],
    ids=["encrypted", "scanned", "too-many-pages", "corrupt"],
)
def test_documented_errors(tmp_path: Path, make, error, fragment):
    path = tmp_path / "in.pdf"
    make(path)
    with pytest.raises(error) as err:
        _read(path, max_pages=20)
    assert fragment in err.value.message


def _deep_page_tree(path: Path, depth: int) -> Path:
    """A PDF whose page tree nests ``depth`` /Pages nodes before its one page."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    for level in range(depth):
        kid = 3 + level
        objects.append(f"<< /Type /Pages /Kids [{kid} 0 R] /Count 1 >>".encode())
    objects.append(b"<< /Type /Page /MediaBox [0 0 200 200] >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(bytes(out))
    return path


def test_deep_page_tree_is_unreadable_not_an_internal_error(tmp_path: Path):
    path = _deep_page_tree(tmp_path / "deep.pdf", 5000)
    with pytest.raises(InputUnreadable):
        _read(path)


def test_pypdf_limit_is_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from pypdf.errors import LimitReachedError

    import infra.documents.pdf as pdf_module

    def over_limit(*_args: object) -> list[PdfLine]:
        raise LimitReachedError("decompressed stream too large")

    monkeypatch.setattr(pdf_module, "page_lines", over_limit)
    with pytest.raises(InputUnreadable, match="too large"):
        _read(make_structured_pdf(tmp_path / "r.pdf"))


def test_text_past_max_chars_is_left_out(tmp_path: Path):
    doc = _read(make_many_page_pdf(tmp_path / "m.pdf", 12), max_chars=100)
    assert doc.truncated
    assert len(doc.sections) < 12


def test_wrapped_heading_is_one_title_and_stacked_headings_stay_apart(tmp_path: Path):
    from reportlab.pdfgen import canvas

    path = tmp_path / "h.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.setFont("Helvetica-Bold", 18)
    pdf.drawString(72, 760, "A heading long enough that the")
    pdf.drawString(72, 740, "layout wrapped it")
    pdf.setFont("Helvetica", 11)
    pdf.drawString(72, 710, "Body text of the first part sits under its heading.")
    pdf.setFont("Helvetica-Bold", 18)
    pdf.drawString(72, 660, "Part two")
    pdf.drawString(72, 600, "Part three")
    pdf.setFont("Helvetica", 11)
    pdf.drawString(72, 570, "Body text of the third part sits under its heading.")
    pdf.save()
    doc = _read(path)
    assert [s.title for s in doc.sections] == [
        "A heading long enough that the layout wrapped it",
        "Part two",
        "Part three",
    ]
