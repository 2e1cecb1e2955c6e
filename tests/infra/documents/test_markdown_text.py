"""Markdown (through markdown-it tokens) and plain text to structure; sentences; media lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.documents import (
    CodeBlock,
    ImageBlock,
    ListBlock,
    Paragraph,
    QuoteBlock,
    TableBlock,
    looks_like_media_list,
    parse_markdown,
    parse_text,
    read_document,
    split_sentences,
)
from infra.errors import InputInvalid, InputUnreadable
from tests.support.narration_docs import RICH_MARKDOWN


def _blocks(doc, kind):
    return [b for s in doc.sections for b in s.blocks if isinstance(b, kind)]


def test_markdown_structure_from_tokens():
    doc = parse_markdown(RICH_MARKDOWN)
    assert [(s.title, s.level) for s in doc.sections] == [
        ("Encoding report 📊", 1),
        ("Where the time goes", 2),
        ("Running it", 2),
    ]
    (table,) = _blocks(doc, TableBlock)
    assert table.header == ["stage", "share", "note"]
    assert table.rows[0] == ["encode", "62%", "x264, 3 renditions"]
    (items,) = _blocks(doc, ListBlock)
    assert items.items == [
        "Install the worker image",
        "Pass the CA bundle to pip",
        "Use host networking",
        "Start the worker ✅",
    ]
    assert items.depths == [0, 1, 1, 0]
    (code,) = _blocks(doc, CodeBlock)
    assert code.language == "python" and 'submit("report.pdf")' in code.text
    assert [i.alt for i in _blocks(doc, ImageBlock)] == ["A diagram of the stages"]
    (quote,) = _blocks(doc, QuoteBlock)
    assert quote.sentences == [
        "Nothing is left behind when a job fails.",
        "The ledger keeps the record.",
    ]


def test_markdown_prose_keeps_link_text_and_drops_markup():
    doc = parse_markdown(RICH_MARKDOWN)
    prose = [s for b in _blocks(doc, Paragraph) for s in b.sentences]
    assert prose[:2] == [
        "Reelflow encodes every upload into an HLS ladder.",
        "See https://docs.example.org/hls/ladder for the details, or read the design notes.",
    ]
    text = " ".join(prose)
    for markup in ("**", "`", "](", "<div", "Raw HTML", "|", "```", "submit("):
        assert markup not in text


def test_text_headings_paragraphs_lists_and_wraps():
    doc = parse_text(
        "Introduction\n\nFirst paragraph here. It has two\nsentences, wrapped and hy-\n"
        "phenated.\n\nSteps\n- check the file\n- write the\n  script\nDone.\n\n"
        "Setext title\n============\nBody of it.\n"
    )
    assert [(s.title, s.level) for s in doc.sections] == [
        ("Introduction", 1),
        ("Steps", 1),
        ("Setext title", 1),
    ]
    assert doc.sections[0].sentences() == [
        "First paragraph here.",
        "It has two sentences, wrapped and hyphenated.",
    ]
    assert doc.sections[1].sentences() == ["check the file", "write the script", "Done."]
    assert doc.sections[2].sentences() == ["Body of it."]


def test_text_without_headings_is_one_section():
    doc = parse_text("Backups finished at midnight. The next run starts tomorrow at six.")
    assert [s.title for s in doc.sections] == [""]
    assert doc.sections[0].sentences() == [
        "Backups finished at midnight.",
        "The next run starts tomorrow at six.",
    ]


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("It works. Really well!", ["It works.", "Really well!"]),
        (
            "Dr. Smith met e.g. Mr. Jones. Then he left.",
            ["Dr. Smith met e.g. Mr. Jones.", "Then he left."],
        ),
        (
            "Version 3.5 is out. The U.S. team said so.",
            ["Version 3.5 is out.", "The U.S. team said so."],
        ),
        ('He said "Stop." Then silence.', ['He said "Stop."', "Then silence."]),
        ("هذا نص قصير. وهذا نص آخر؟ نعم.", ["هذا نص قصير.", "وهذا نص آخر؟", "نعم."]),
        ("Это первое. Это второе.", ["Это первое.", "Это второе."]),
        ("यह पहला है। यह दूसरा है।", ["यह पहला है।", "यह दूसरा है।"]),
        ("no end punctuation", ["no end punctuation"]),
    ],
)
def test_sentence_boundaries(text: str, sentences: list[str]):
    assert split_sentences(text) == sentences


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "hostile",
    [
        "." * 300_000,
        "a." * 150_000,
        "1" * 300_000,
        "# " * 100_000 + "x",
        "- " * 100_000,
        "|" * 200_000,
        "[" * 100_000 + "](" * 50_000,
        "*a" * 100_000,
        "> " * 50_000 + "x",
    ],
    ids=["dots", "initials", "digits", "hashes", "dashes", "pipes", "brackets", "stars", "quotes"],
)
def test_parsers_stay_fast_on_hostile_input(hostile: str):
    split_sentences(hostile)
    parse_text(hostile)
    parse_markdown(hostile[:60_000])


def test_read_document_limits_and_errors(tmp_path: Path):
    md = tmp_path / "a.md"
    md.write_text(RICH_MARKDOWN)
    assert read_document(md, "markdown", max_chars=50_000, max_pages=1).doc_type == "markdown"
    cut = read_document(md, "markdown", max_chars=200, max_pages=1)
    assert cut.truncated and len(cut.text) <= 200
    latin1 = tmp_path / "b.txt"
    latin1.write_bytes("café ".encode("latin-1") * 40)
    with pytest.raises(InputInvalid, match="UTF-8"):
        read_document(latin1, "text", max_chars=1000, max_pages=1)
    short = tmp_path / "c.txt"
    short.write_text("Hi.")
    with pytest.raises(InputUnreadable, match="only 3 characters"):
        read_document(short, "text", max_chars=1000, max_pages=1)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"#EXTM3U\n#EXT-X-VERSION:3\nseg0.ts\n", True),
        (b"\xef\xbb\xbf\n#extm3u\n", True),
        (b"ffconcat version 1.0\nfile 'a.mp4'\n", True),
        (b"file 'a.mp4'\nfile 'b.mp4'\n", True),
        (b"# Title\n\nfile 'a.mp4' is a file name in prose.\n", False),
        (b"Files are listed below.\n", False),
        (b"%PDF-1.4", False),
    ],
)
def test_media_lists_are_never_documents(head: bytes, expected: bool):
    assert looks_like_media_list(head) is expected
