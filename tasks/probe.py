"""Probe stage: validate and inspect the input before any work is spent on it.

The type is sniffed from content (``%PDF-`` header, UTF-8 text, else ffprobe), never from the
extension; the extension only tells Markdown from plain text. Limits come from settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from uuid import UUID

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from infra.errors import InputInvalid, InputTooLarge, InputUnreadable
from infra.jobs.limits import check_free_space
from infra.jobs.models import DocumentInput, JobKind, JobRequest
from infra.media.ffprobe import MediaInfo, probe_media
from infra.media.safety import check_references
from infra.settings import Settings, get_settings
from infra.store.artifacts import sha256_file
from tasks.stage import ledger, stage

__all__ = ["probe_document", "probe_stage", "sniff_type", "split_markdown", "split_text"]

MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown"}
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def sniff_type(path: Path) -> str:
    """``pdf``, ``markdown``, ``text`` or ``binary``, from the first bytes of the file."""
    with path.open("rb") as fh:
        head = fh.read(8192)
    if not head:
        raise InputInvalid(f"{path.name} is empty; upload a PDF, Markdown or text file")
    if head.lstrip(b"\xef\xbb\xbf\r\n\t ").startswith(b"%PDF-"):
        return "pdf"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            is_text = True
        except UnicodeDecodeError as exc:
            is_text = exc.start >= len(head) - 3  # a character cut at the 8 KiB boundary
        if is_text:
            return "markdown" if path.suffix.lower() in MARKDOWN_SUFFIXES else "text"
    return "binary"


def _read_pdf(path: Path, settings: Settings) -> tuple[str, list[tuple[str, str]], int]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError, PdfStreamError

    cfg = settings.input
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InputUnreadable(
                f"{path.name} is password-protected; upload a copy without a password"
            )
        pages = len(reader.pages)
    except FileNotDecryptedError as exc:
        raise InputUnreadable(
            f"{path.name} is password-protected; upload a copy without a password"
        ) from exc
    except (PdfReadError, PdfStreamError, ValueError, KeyError, OSError) as exc:
        raise InputUnreadable(f"{path.name} is not a readable PDF ({exc})") from exc
    if pages > cfg.max_pdf_pages:
        raise InputTooLarge(
            f"{path.name} has {pages} pages; the limit is {cfg.max_pdf_pages} "
            "(REELFLOW_INPUT__MAX_PDF_PAGES)"
        )
    sections: list[tuple[str, str]] = []
    total = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as exc:  # pypdf raises many types on broken content streams
            raise InputUnreadable(f"page {number} of {path.name} cannot be read ({exc})") from exc
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not lines:
            continue
        title = lines[0] if len(lines[0]) <= 80 else f"Page {number}"
        body = " ".join(lines[1:] if title == lines[0] else lines)
        sections.append((title, body))
        total += len(text)
        if total >= cfg.max_text_chars:
            break
    text = "\n\n".join(f"{t}\n{b}" for t, b in sections)[: cfg.max_text_chars]
    return text, sections, pages


def split_markdown(text: str) -> list[tuple[str, str]]:
    """Headings become section titles; code blocks, images and link targets are dropped."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            sections.append((_clean_inline(match.group(2)), []))
            continue
        if not sections:
            sections.append(("", []))
        sections[-1][1].append(line)
    out = []
    for title, lines in sections:
        body = "\n".join(_clean_md_line(ln) for ln in lines).strip()
        if title or body:
            out.append((title or _first_words(body), body))
    return out


def _clean_inline(text: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)  # images
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"[*_`~]+", "", text)
    return text.strip()


def _clean_md_line(line: str) -> str:
    line = re.sub(r"^\s{0,3}(>\s*)+", "", line)  # quotes
    line = re.sub(r"^\s*\|?[-:| ]+\|?\s*$", "", line)  # table rules
    line = line.replace("|", " ")
    bullet = re.match(r"^\s*([-*+]|\d+[.)])\s+(.*)$", line)
    if bullet:
        return "- " + _clean_inline(bullet.group(2))
    return _clean_inline(line)


def _first_words(text: str, count: int = 6) -> str:
    words = re.sub(r"^- ", "", text).split()
    return " ".join(words[:count]).rstrip(".,;:") or "Overview"


def split_text(text: str) -> list[tuple[str, str]]:
    """Paragraphs; a short line without final punctuation before a paragraph is its heading."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    sections: list[tuple[str, str]] = []
    pending_title = ""
    for para in paragraphs:
        lines = para.splitlines()
        if len(lines) == 1 and len(para) <= 70 and not re.search(r"[.!?؟:;,]$", para):
            pending_title = para
            continue
        if len(lines) > 1 and len(lines[0]) <= 70 and not re.search(r"[.!?؟,;]$", lines[0]):
            sections.append((lines[0].strip(), " ".join(ln.strip() for ln in lines[1:])))
        else:
            body = " ".join(ln.strip() for ln in lines)
            sections.append((pending_title or _first_words(body), body))
        pending_title = ""
    if pending_title:
        sections.append((pending_title, ""))
    return sections


def _read_text(path: Path, settings: Settings) -> str:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputInvalid(f"{path.name} is not UTF-8 text") from exc
    return text[: settings.input.max_text_chars]


def probe_document(path: Path, settings: Settings | None = None) -> DocumentInput:
    """Validate a document and extract its text and sections.

    Raises InputInvalid (missing, empty, not a document), InputTooLarge (bytes or pages over the
    limit) or InputUnreadable (encrypted, corrupt, scanned or nearly empty).
    """
    settings = settings or get_settings()
    if not path.is_file():
        raise InputInvalid(f"{path} does not exist or is not a file")
    size = path.stat().st_size
    if size > settings.input.max_bytes:
        raise InputTooLarge(
            f"{path.name} is {size / 1e6:.1f} MB; the limit is "
            f"{settings.input.max_bytes / 1e6:.1f} MB (REELFLOW_INPUT__MAX_BYTES)"
        )
    doc_type = sniff_type(path)
    pages = None
    if doc_type == "pdf":
        text, sections, pages = _read_pdf(path, settings)
    elif doc_type == "markdown":
        text = _read_text(path, settings)
        sections = split_markdown(text)
    elif doc_type == "text":
        text = _read_text(path, settings)
        sections = split_text(text)
    else:
        raise InputInvalid(
            f"{path.name} is not a PDF, Markdown or UTF-8 text file (content sniffed, "
            "extension ignored)"
        )
    visible = len("".join(text.split()))
    if visible < settings.input.min_text_chars:
        hint = " The PDF looks scanned (images only) or empty; OCR it first." if pages else ""
        raise InputUnreadable(
            f"{path.name} has only {visible} characters of text; at least "
            f"{settings.input.min_text_chars} are needed.{hint}"
        )
    return DocumentInput(
        path=str(path),
        doc_type=doc_type,
        sha256=sha256_file(path),
        size=size,
        pages=pages,
        text=text,
        sections=sections,
    )


def probe_media_file(path: Path, settings: Settings | None = None) -> MediaInfo:
    """ffprobe a media input after refusing playlists that point outside its folder."""
    settings = settings or get_settings()
    check_references(path)
    return probe_media(
        path, ffprobe=settings.render.ffprobe_bin, timeout_s=settings.input.probe_timeout_s
    )


@task(name="probe", cache_policy=NO_CACHE)
def probe_stage(request: JobRequest, job_id: str, progress_id: UUID | None) -> DocumentInput:
    ledger().create_job(
        job_id,
        flow_run_id=str(flow_run.id or "") or None,
        source=request.source,
        kind=request.kind,
        preset=request.preset,
    )
    with stage(job_id, "probe", progress_id, done=10):
        settings = get_settings()
        check_free_space(settings.work_dir_root, request.preset, settings)
        path = Path(request.source)
        if request.kind == JobKind.MEDIA:
            info = probe_media_file(path)
            raise InputInvalid(
                f"{path.name} is media ({info.format_name}); media jobs are not available yet"
            )
        doc = probe_document(path)
        ledger().mark_running(job_id, "probe", input_sha256=doc.sha256)
        return doc
