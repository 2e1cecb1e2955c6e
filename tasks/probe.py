"""Probe stage: get the source into the job's work folder, then validate and inspect it.

The source is copied first (``infra/jobs/sources.py``: input roots, no symlink swaps, regular files
only, ``s3://`` inbox keys, https under the SSRF rules), bounded by the size limit of its kind;
every later stage reads only that private copy. The type is sniffed from content
(``infra/jobs/detect.py``); the extension only tells Markdown from plain text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from infra.errors import InputInvalid, InputTooLarge, InputUnreadable
from infra.jobs.detect import Content, detect_kind, sniff_file
from infra.jobs.limits import check_free_space
from infra.jobs.models import DocumentInput, JobKind, JobRequest
from infra.jobs.sources import (
    copy_bounded,
    fd_chunks,
    open_local_source,
    parse_s3_source,
    resolve_local_source,
    safe_file_name,
    source_name,
)
from infra.settings import Settings
from tasks.stage import JobContext

__all__ = [
    "InputFile",
    "fetch_source",
    "inspect_document",
    "probe_document",
    "probe_stage",
    "split_markdown",
    "split_text",
]

_HEADING = re.compile(r"^(#{1,6})[ \t]+(\S.*)$")
_CLOSING_HASHES = re.compile(r"[ \t]+#+[ \t]*$")


@dataclass(frozen=True)
class InputFile:
    """The job's private copy of its source."""

    path: Path
    name: str  # the name as the client gave it (kept in the manifest)
    size: int
    sha256: str


def fetch_source(
    ctx: JobContext, request: JobRequest, max_bytes: int, folder_name: str = "input"
) -> InputFile:
    """Copy the request's source into ``<work>/<folder_name>/`` under the rules above."""
    settings = ctx.settings
    name = source_name(request.source)
    folder = ctx.work_dir / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_file_name(name)
    if request.source.startswith("s3://"):
        s3 = parse_s3_source(request.source, settings.storage.bucket, settings.input.s3_prefixes)
        store = ctx.store()
        with ctx.doing("download"):
            if store.size_of(s3.key) is None:
                raise InputInvalid(f"the source object {s3.key!r} does not exist")
            digest = copy_bounded(store.iter_chunks(s3.key), target, max_bytes, name)
    elif request.source.startswith(("https://", "http://")):
        from infra.net.fetch import fetch_url

        with ctx.doing("download"):
            digest = fetch_url(request.source, target, max_bytes, settings.net)
    else:
        local = resolve_local_source(request.source, settings.input.roots)
        with open_local_source(local) as fd:
            digest = copy_bounded(fd_chunks(fd, name), target, max_bytes, name)
    return InputFile(target, name, target.stat().st_size, digest)


def _read_pdf(path: Path, settings: Settings) -> tuple[str, list[tuple[str, str]], int]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, LimitReachedError, PdfReadError, PdfStreamError

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
    except LimitReachedError as exc:
        raise InputUnreadable(
            f"{path.name} is beyond what reelflow reads ({exc}); re-export the PDF"
        ) from exc
    except RecursionError as exc:
        raise InputUnreadable(f"{path.name} has a page tree nested too deeply to read") from exc
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
        except RecursionError as exc:
            raise InputUnreadable(f"page {number} of {path.name} is nested too deeply") from exc
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
    """Headings become section titles; code blocks, images and link targets are dropped.

    Line-by-line with anchored, non-backtracking patterns (a hostile heading stays linear).
    """
    sections: list[tuple[str, list[str]]] = []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        match = _HEADING.match(line)
        if match:
            title = _CLOSING_HASHES.sub("", match.group(2))
            sections.append((_clean_inline(title), []))
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
    limit = settings.input.max_text_chars
    try:
        with path.open(encoding="utf-8-sig") as fh:
            return fh.read(limit)
    except UnicodeDecodeError as exc:
        raise InputInvalid(f"{path.name} is not UTF-8 text") from exc


def probe_document(
    path: Path, content: Content, settings: Settings, *, name: str | None = None, sha256: str
) -> DocumentInput:
    """Validate a document and extract its text and sections.

    Raises InputTooLarge (pages over the limit) or InputUnreadable (encrypted, corrupt, scanned or
    nearly empty).
    """
    shown = name or path.name
    pages = None
    if content == Content.PDF:
        text, sections, pages = _read_pdf(path, settings)
    elif content == Content.MARKDOWN:
        text = _read_text(path, settings)
        sections = split_markdown(text)
    else:
        text = _read_text(path, settings)
        sections = split_text(text)
    visible = len("".join(text.split()))
    if visible < settings.input.min_text_chars:
        hint = " The PDF looks scanned (images only) or empty; OCR it first." if pages else ""
        noun = "character" if visible == 1 else "characters"
        raise InputUnreadable(
            f"{shown} has only {visible} {noun} of text; at least "
            f"{settings.input.min_text_chars} are needed.{hint}"
        )
    return DocumentInput(
        path=str(path),
        name=shown,
        doc_type=content.value,
        sha256=sha256,
        size=path.stat().st_size,
        pages=pages,
        text=text,
        sections=sections,
    )


def inspect_document(path: Path, settings: Settings, name: str | None = None) -> DocumentInput:
    """Sniff and read a document file (a private copy); InputInvalid when it is not one."""
    from infra.store.artifacts import sha256_file

    shown = name or path.name
    size = path.stat().st_size
    if size > settings.input.max_bytes:
        raise InputTooLarge(
            f"{shown} is {size / 1e6:.1f} MB; the limit is "
            f"{settings.input.max_bytes / 1e6:.1f} MB (REELFLOW_INPUT__MAX_BYTES)"
        )
    content = sniff_file(path, shown)
    if content not in (Content.PDF, Content.MARKDOWN, Content.TEXT):
        raise InputInvalid(
            f"{shown} is not a PDF, Markdown or UTF-8 text file (content sniffed, extension "
            "ignored)"
        )
    return probe_document(path, content, settings, name=shown, sha256=sha256_file(path))


@task(name="probe", cache_policy=NO_CACHE)
def probe_stage(ctx: JobContext, request: JobRequest) -> DocumentInput:
    """The document job's probe: free space, the private copy, its type, its text."""
    settings = ctx.settings
    check_free_space(settings.work_dir_root, request.preset or "hd", settings)
    source = fetch_source(ctx, request, settings.input.max_bytes)
    content = sniff_file(source.path, source.name)
    kind = detect_kind(
        source.path,
        content,
        ffprobe=settings.render.ffprobe_bin,
        timeout_s=settings.input.probe_timeout_s,
        guard=ctx.guard,
    )
    if kind != JobKind.DOCUMENT or request.kind == JobKind.MEDIA:
        raise InputInvalid(
            f"{source.name} is a media file: it is a media job, not a document job "
            "(reelflow run and the job API route it by content)"
        )
    doc = probe_document(source.path, content, settings, name=source.name, sha256=source.sha256)
    ctx.ledger.mark_running(ctx.job_id, "probe", input_sha256=doc.sha256)
    return doc
