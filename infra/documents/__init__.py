"""Document reading: a PDF, Markdown or plain-text file -> a structured ``Document``.

Pure parsing (no Prefect, no settings object): the caller passes the limits. Every reader is linear
in its input and capped: text past ``max_chars`` is left out and flagged ``truncated``.

    read_document(path, doc_type, *, max_chars, max_pages, min_chars=50) -> Document
        raises InputInvalid (text that is not UTF-8), InputTooLarge (too many PDF pages),
        InputUnreadable (encrypted, corrupt, scanned or nearly empty; pypdf's LimitReachedError
        and page trees nested too deeply included)
    looks_like_media_list(head) -> bool
        an HLS playlist or an ffconcat list (never a document, whatever its extension)
"""

from __future__ import annotations

from pathlib import Path

from infra.documents.markdown import parse_markdown
from infra.documents.model import (
    Block,
    CodeBlock,
    Document,
    ImageBlock,
    ListBlock,
    Paragraph,
    QuoteBlock,
    Section,
    TableBlock,
)
from infra.documents.pdf import read_pdf
from infra.documents.sentences import split_sentences
from infra.documents.text import parse_text
from infra.errors import InputInvalid, InputUnreadable

__all__ = [
    "Block",
    "CodeBlock",
    "Document",
    "ImageBlock",
    "ListBlock",
    "Paragraph",
    "QuoteBlock",
    "Section",
    "TableBlock",
    "looks_like_media_list",
    "parse_markdown",
    "parse_text",
    "read_document",
    "split_sentences",
]

_MEDIA_LIST_STARTS = (b"#extm3u", b"ffconcat version", b"#extinf")


def looks_like_media_list(head: bytes) -> bool:
    """Whether the first bytes of a file are an HLS playlist (``#EXTM3U``) or an ffconcat list.

    Such files are text but never documents: the probe refuses them (or routes them to a media
    job) instead of narrating them. Case, a BOM and leading blank lines are ignored.
    """
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(_MEDIA_LIST_STARTS):
        return True
    first = start.split(b"\n", 1)[0].strip()
    # A bare concat list: "file 'a.mp4'" lines without the version header.
    return first.startswith(b"file ") and first[5:6] in (b"'", b'"') or first.startswith(b"file '")


def _read_text(path: Path, max_chars: int) -> tuple[str, bool]:
    try:
        with path.open("r", encoding="utf-8-sig") as fh:
            text = fh.read(max_chars + 1)
    except UnicodeDecodeError as exc:
        raise InputInvalid(f"{path.name} is not UTF-8 text") from exc
    return text[:max_chars], len(text) > max_chars


def read_document(
    path: Path, doc_type: str, *, max_chars: int, max_pages: int, min_chars: int = 50
) -> Document:
    """The structure of the document at ``path``, sniffed as ``doc_type`` (pdf, markdown, text).

    Raises the probe's documented errors (see the module docstring); fewer than ``min_chars``
    visible characters is InputUnreadable.
    """
    if doc_type == "pdf":
        return read_pdf(path, max_chars=max_chars, max_pages=max_pages, min_chars=min_chars)
    if doc_type not in ("markdown", "text"):
        raise InputInvalid(f"{path.name} is not a PDF, Markdown or UTF-8 text file")
    text, truncated = _read_text(path, max_chars)
    visible = len("".join(text.split()))
    if visible < min_chars:
        raise InputUnreadable(
            f"{path.name} has only {visible} characters of text; at least {min_chars} are needed"
        )
    document = parse_markdown(text) if doc_type == "markdown" else parse_text(text)
    return document.model_copy(update={"truncated": truncated})
