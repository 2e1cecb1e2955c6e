"""Probe stage logic on real files: sniffing, limits, and the documented error codes."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from infra.errors import InputInvalid, InputTooLarge, InputUnreadable
from infra.jobs.detect import Content, sniff_file
from infra.media.ffprobe import probe_media
from infra.settings import Settings
from tasks.probe import inspect_document, split_markdown, split_text
from tests.support.documents import (
    SAMPLE_MARKDOWN,
    make_encrypted_pdf,
    make_image_only_pdf,
    make_many_page_pdf,
    make_pdf,
)
from tests.support.tools import make_clip


def test_pdf_sections_from_pages(settings: Settings, tmp_path: Path):
    doc = inspect_document(make_pdf(tmp_path / "a.pdf"), settings)
    assert (doc.doc_type, doc.pages) == ("pdf", 4)
    assert doc.sections[0][0] == "Why reelflow exists"
    assert "stuck render jobs" in doc.sections[0][1]
    assert len(doc.sha256) == 64


def test_type_is_sniffed_from_content_not_extension(tmp_path: Path):
    pdf_named_txt = make_pdf(tmp_path / "a.pdf").rename(tmp_path / "a.txt")
    assert sniff_file(pdf_named_txt) == Content.PDF
    md = tmp_path / "notes.md"
    md.write_text("# Title\n\nBody")
    assert sniff_file(md) == Content.MARKDOWN
    random_pdf = tmp_path / "random.pdf"
    random_pdf.write_bytes(b"\x00\x01" + os.urandom(4096))
    assert sniff_file(random_pdf) == Content.UNKNOWN
    playlist = tmp_path / "notes.txt"
    playlist.write_text("#EXTM3U\n#EXTINF:1,\nseg.ts\n")
    assert sniff_file(playlist) == Content.MEDIA_LIST  # never narrated as a document


@pytest.mark.parametrize(
    ("make", "error", "fragment"),
    [
        (lambda p: p.write_bytes(b"") or p, InputInvalid, "empty"),
        (lambda p: p.write_bytes(os.urandom(5000)) or p, InputInvalid, "not a PDF"),
        (lambda p: make_encrypted_pdf(p), InputUnreadable, "password"),
        (lambda p: make_image_only_pdf(p), InputUnreadable, "scanned"),
        (lambda p: make_many_page_pdf(p, 300), InputTooLarge, "300 pages"),
        (lambda p: p.write_bytes(b"%PDF-1.4\n garbage \n%%EOF") or p, InputUnreadable, "PDF"),
    ],
    ids=["empty", "random-bytes", "encrypted", "image-only", "300-pages", "corrupt"],
)
def test_bad_documents(settings: Settings, tmp_path: Path, make, error, fragment):
    path = tmp_path / "input.pdf"
    make(path)
    with pytest.raises(error) as err:
        inspect_document(path, settings)
    assert fragment in err.value.message


def test_size_limit(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * (21 * 1024 * 1024))
    with pytest.raises(InputTooLarge, match="limit is 21.0 MB|limit is 20"):
        inspect_document(path, settings)
    monkeypatch.setattr(settings.input, "max_bytes", 22 * 1024 * 1024)
    assert inspect_document(path, settings).size == 21 * 1024 * 1024


def test_markdown_sections_drop_markup():
    sections = split_markdown(SAMPLE_MARKDOWN + "\n```\ncode();\n```\n[link](http://x) ![i](y.png)")
    titles = [t for t, _ in sections]
    assert titles == ["Reelflow in one page", "The stages", "Operating it"]
    body = sections[-1][1]
    assert "code();" not in body and "http://x" not in body and "link" in body
    assert "- The probe stage checks the input file" in sections[1][1]


def test_plain_text_headings_and_paragraphs():
    text = "Introduction\n\nFirst paragraph here. It has two sentences.\n\nSecond one, no title."
    assert split_text(text) == [
        ("Introduction", "First paragraph here. It has two sentences."),
        ("Second one, no title", "Second one, no title."),
    ]


@pytest.mark.media
def test_probe_media_reads_a_real_clip(tmp_path: Path):
    clip = make_clip(tmp_path / "clip.mp4", audio=True)
    info = probe_media(clip, timeout_s=10)
    assert (info.video_codec, info.audio_codec, info.width, info.height) == ("h264", "aac", 160, 90)
    assert info.duration_s == pytest.approx(1.0, abs=0.1)
    junk = tmp_path / "junk.mp4"
    # Fixed bytes: os.urandom's now and then parsed as some audio format (a flaky CI failure).
    junk.write_bytes(random.Random(7).randbytes(2048))
    with pytest.raises(InputUnreadable):
        probe_media(junk, timeout_s=10)
