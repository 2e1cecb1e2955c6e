"""Probe + script time of the structured narration path, beside the old page-per-slide probe and
beside the speech the script leads to.

Documents (generated): a 150-page PDF (headings, wrapped paragraphs, running header, page numbers)
and a 5,000-word plain-text report. For each: (a) the old ``tasks.probe.probe_document`` (pypdf
``extract_text`` per page) as the reference, (b) ``infra.documents.read_document`` (structure from
the visitor) + language detection + ``build_script`` + ``validate_script``, and (c) espeak-ng
speaking the resulting narration (a lower bound of a job's render time; the encode comes on top).
Rounds alternate; medians are compared. Also printed: the share of source sentences the summary
keeps.

    .venv/bin/python benchmarks/script_stage.py [--pages 150] [--words 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.documents import read_document, split_sentences  # noqa: E402
from infra.media.tts import synthesize  # noqa: E402
from infra.settings import ScriptSettings, Settings  # noqa: E402
from tasks.script.extractive import validate_script  # noqa: E402
from tasks.script.language import choose_language, profile  # noqa: E402
from tasks.script.slides import build_script  # noqa: E402
from tests.support.narration_docs import long_report, wrap_with_hyphens  # noqa: E402

WORDS = (
    "encoder chunk keyframe ledger upload manifest worker preset caption playlist rendition "
    "storage retry budget voice slide narration segment bitrate thumbnail"
).split()


def make_pdf(path: Path, pages: int) -> int:
    """A ``pages``-page report, a heading every two pages; returns its sentence count."""
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=(595.0, 842.0))
    sentences = 0
    for page in range(pages):
        pdf.setFont("Helvetica", 9)
        pdf.drawString(72, 810, "Reelflow operations handbook")
        pdf.drawString(290, 30, str(page + 1))
        y = 770.0
        if page % 2 == 0:
            pdf.setFont("Helvetica-Bold", 16)
            pdf.drawString(72, y, f"Chapter {page // 2 + 1}. {WORDS[page % len(WORDS)].title()}s")
            y -= 30
        text = []
        for i in range(14):
            a, b, c = (WORDS[(page * 7 + i * k) % len(WORDS)] for k in (1, 3, 5))
            text.append(
                f"The {a} of page {page + 1} talks to the {b} and keeps the {c} consistent "
                f"across hosts during step {i + 1}."
            )
        sentences += len(text)
        pdf.setFont("Helvetica", 11)
        for line in wrap_with_hyphens(" ".join(text), 80):
            pdf.drawString(72, y, line)
            y -= 14
        pdf.showPage()
    pdf.save()
    return sentences


def new_path(path: Path, doc_type: str, cfg: ScriptSettings) -> tuple[float, str, int]:
    """Seconds reading the document (probe); then the script's narration and slide count."""
    start = time.perf_counter()
    doc = read_document(path, doc_type, max_chars=10_000_000, max_pages=1000)
    read_s = time.perf_counter() - start
    language = choose_language(doc.text, None)
    script = validate_script(
        build_script(
            doc,
            language,
            max_words=cfg.max_words,
            max_slides=cfg.max_slides,
            max_bullets=cfg.max_bullets,
        ),
        cfg,
    )
    return read_s, " ".join(s.narration for s in script.slides), len(script.slides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=150)
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from tasks.probe import probe_document  # the old path (imports Prefect: not timed)

    cfg = ScriptSettings()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(home=root / "home")
        settings.input.max_pdf_pages = 1000
        settings.input.max_text_chars = 10_000_000
        settings.input.max_bytes = 1 << 30
        pdf = root / "handbook.pdf"
        pdf_sentences = make_pdf(pdf, args.pages)
        text, sections = long_report(args.words)
        txt = root / "report.txt"
        txt.write_text(text)
        docs = [
            (f"{args.pages}-page PDF", pdf, "pdf", pdf_sentences),
            (f"{args.words}-word text", txt, "text", sum(len(s) for s in sections)),
        ]
        choose_language("warm the detector up", None)
        for name, path, doc_type, source_sentences in docs:
            old_s, new_s, read_s = [], [], []
            narration, slides = "", 0
            for _ in range(args.rounds):
                start = time.perf_counter()
                probe_document(path, settings)
                old_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                reading, narration, slides = new_path(path, doc_type, cfg)
                new_s.append(time.perf_counter() - start)
                read_s.append(reading)
            language = choose_language(narration, None)
            start = time.perf_counter()
            speech_s = synthesize(
                narration,
                root / "speech.wav",
                voice=profile(language).voice,
                rate_wpm=profile(language).espeak_speed,
            )
            tts_wall = time.perf_counter() - start
            old, new = statistics.median(old_s), statistics.median(new_s)
            reading = statistics.median(read_s)
            kept = len(split_sentences(narration))
            print(
                f"{name}: old probe {old:.2f} s | new probe {reading:.2f} s + script "
                f"{new - reading:.2f} s = {new:.2f} s (x{new / old:.2f} the old probe) | "
                f"{slides} slides, {len(narration.split())} words, {speech_s:.0f} s of speech "
                f"(espeak-ng {tts_wall:.2f} s wall) | sentences kept {kept}/{source_sentences} "
                f"({kept / source_sentences:.1%})"
            )


if __name__ == "__main__":
    main()
