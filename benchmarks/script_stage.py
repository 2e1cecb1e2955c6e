"""The script stage's share of a document job, and the share of source sentences it keeps.

Documents (generated): a 150-page PDF (headings, wrapped paragraphs, running header, page numbers)
and a 5,000-word plain-text report. For each, side by side in one run: the probe stage's reading
(``tasks.probe.inspect_document``: structure, text, checks) and the script stage
(``write_script``: language detection, summary to ``REELFLOW_SCRIPT__MAX_WORDS``, speakable text,
validation), medians of ``--rounds``; then one render of that script (speech, slides, encode, HLS,
captions; preset ``--preset``) under the job's watchdog. The job is probe + script + render (the
upload and Prefect's per-run cost come on top, so the share printed is an upper bound). Target:
the script stage under 10 % of the job.

    .venv/bin/python benchmarks/script_stage.py [--pages 150] [--words 5000] [--rounds 3]
        [--preset hd]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.documents import split_sentences  # noqa: E402
from infra.settings import Settings  # noqa: E402
from tasks.script.language import choose_language  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=150)
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="hd")
    args = parser.parse_args()

    from infra.jobs.limits import effective_limits
    from infra.jobs.models import JobLimits, JobRequest
    from infra.process.watchdog import JobWatchdog
    from tasks.probe import inspect_document
    from tasks.render.document import render_document
    from tasks.script.extractive import write_script

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
            (f"{args.pages}-page PDF", pdf, pdf_sentences),
            (f"{args.words}-word text", txt, sum(len(s) for s in sections)),
        ]
        choose_language("warm the detector up", None)
        for n, (name, path, source_sentences) in enumerate(docs):
            probe_s, script_s = [], []
            for _ in range(args.rounds):
                start = time.perf_counter()
                doc = inspect_document(path, settings)
                probe_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                script = write_script(doc, None, settings.script)
                script_s.append(time.perf_counter() - start)
            work = root / f"job{n}"
            work.mkdir()
            request = JobRequest(source=str(path), preset=args.preset)
            start = time.perf_counter()
            with JobWatchdog(effective_limits(JobLimits(), settings), work) as guard:
                outputs = render_document(script, request, work, settings, guard)
            render_s = time.perf_counter() - start
            probe, scripting = statistics.median(probe_s), statistics.median(script_s)
            job = probe + scripting + render_s
            kept = sum(len(split_sentences(slide.narration)) for slide in script.slides)
            print(
                f"{name}: probe {probe:.2f} s | script {scripting:.2f} s | render {render_s:.1f} s "
                f"({outputs.narration_s:.0f} s of video, preset {args.preset}) | script = "
                f"{scripting / job:.1%} of the job (probe + script {(probe + scripting) / job:.1%})"
                f" | {len(script.slides)} slides, {script.word_count} words | sentences kept "
                f"{kept}/{source_sentences} ({kept / source_sentences:.1%})"
            )


if __name__ == "__main__":
    main()
