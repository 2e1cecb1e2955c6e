"""Builders for test documents (real PDFs through reportlab, encrypted through pypdf)."""

from __future__ import annotations

from pathlib import Path

SAMPLE_PAGES: list[tuple[str, list[str]]] = [
    (
        "Why reelflow exists",
        [
            "Video teams lose hours to stuck render jobs and silent failures.",
            "Reelflow turns documents into narrated videos without a person watching.",
            "Every job runs as a Prefect flow with clear stages and error codes.",
        ],
    ),
    (
        "How a job runs",
        [
            "The probe stage checks the file and extracts its text.",
            "The script stage writes slides and the narration for each slide.",
            "The render stage speaks the narration, draws the slides and encodes the video.",
            "The upload stage stores every output and writes the manifest last.",
        ],
    ),
    (
        "What comes out",
        [
            "Each job produces an MP4 file that plays everywhere.",
            "An HLS ladder lets players pick the right quality for the network.",
            "A thumbnail and WebVTT captions are made from the same narration.",
        ],
    ),
    (
        "Running it in production",
        [
            "Docker work pools run jobs on many hosts with hard resource limits.",
            "Outputs land in MinIO and a ledger keeps the record of every job.",
            "Nothing is left behind when a job fails or is canceled.",
        ],
    ),
]


def make_pdf(path: Path, pages: list[tuple[str, list[str]]] | None = None) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    for title, lines in pages if pages is not None else SAMPLE_PAGES:
        pdf.setFont("Helvetica-Bold", 20)
        pdf.drawString(72, 760, title)
        pdf.setFont("Helvetica", 12)
        y = 720
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 18
        pdf.showPage()
    pdf.save()
    return path


def make_image_only_pdf(path: Path, pages: int = 2) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    for i in range(pages):
        pdf.setFillGray(0.2 + 0.1 * i)
        pdf.rect(72, 400, 400, 300, fill=1)  # a "scanned" page: shapes, no text layer
        pdf.showPage()
    pdf.save()
    return path


def make_many_page_pdf(path: Path, pages: int) -> Path:
    return make_pdf(path, [(f"Page {i}", [f"This is page number {i}."]) for i in range(pages)])


def make_encrypted_pdf(path: Path, password: str = "secret") -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(path.with_name(path.stem + "-plain.pdf"))
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password)
    with path.open("wb") as fh:
        writer.write(fh)
    plain.unlink()
    return path


SAMPLE_MARKDOWN = """# Reelflow in one page

Reelflow turns documents into narrated videos. Every job runs as a Prefect flow.
Outputs land in object storage with a manifest written last.

## The stages

- The probe stage checks the input file
- The script stage writes slides and narration
- The render stage speaks, draws and encodes
- The upload stage stores the outputs

Each stage is a task with its own timeout and retry policy. Failures carry a stable error code.

## Operating it

Operators trigger jobs from the Prefect UI, the API or a schedule. Nothing is left behind after
a job fails or is canceled, and the ledger records what happened to every job.
"""


def make_vector_heavy_pdf(path: Path, pages: int, shapes: int) -> Path:
    """A PDF of drawings with a line of text per page: valid, small, and slow to probe (pypdf
    walks every drawing operator of a page to extract its text), like engineering plans."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4, pageCompression=1)
    for page in range(pages):
        pdf.setFont("Helvetica-Bold", 16)
        pdf.drawString(72, 800, f"Plan sheet {page + 1}")
        pdf.setFont("Helvetica", 11)
        pdf.drawString(72, 780, "Each sheet shows the site drawings that the narration describes.")
        for i in range(shapes):
            pdf.rect((i * 7) % 500 + 40, (i * 13) % 700 + 40, 2, 2, fill=1)
        pdf.showPage()
    pdf.save()
    return path
