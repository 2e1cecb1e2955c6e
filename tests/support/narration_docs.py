"""Documents for the structure and narration tests, built in the tests (reportlab for PDFs).

Each builder returns what was written, so tests can compare the parsed result with the source:
``REPORT_SECTIONS`` is the text of the structured PDF, section by section, sentence by sentence.
"""

from __future__ import annotations

from pathlib import Path

HEADER = "Reelflow design notes - internal draft"
REPORT_TITLE = "Reelflow design notes"
REPORT_SECTIONS: list[tuple[str, list[str]]] = [
    (
        "Section 1. Chunked encoding",
        [
            "The encoder splits the input into chunks and encodes them on every available core.",
            "Each chunk is an independent flow run, so a failed chunk is retried on its own.",
            "Characteristically, the chunk boundaries fall on keyframes of the source video.",
        ],
    ),
    (
        "Section 2. Seamless joins",
        [
            "The joiner reads the encoded chunks in order and concatenates them without "
            "re-encoding anything.",
            "Because every chunk starts on a keyframe, the playback crosses the boundaries "
            "without visible seams or audio clicks.",
            "Timestamps are rewritten so that the joined stream starts at zero and never "
            "jumps backwards.",
            "The joined file is checked with ffprobe before the upload stage may publish it.",
            "Operators can follow every join in the Prefect UI, where each chunk is a run.",
            "Internationalization of the captions happens after the join, not before it.",
            "A join that fails is retried once and then reported with the error code of "
            "the failing step.",
            "The temporary chunk files are removed as soon as the joined file is verified.",
        ],
    ),
    (
        "Section 3. Operating it",
        [
            "Operators start jobs from the Prefect UI, the API or a schedule.",
            "The ledger records the outcome of every job and the error code of every failure.",
            "Nothing is left behind when a job fails or is canceled.",
        ],
    ),
]
BULLETS = ["Start a job from the UI", "Watch its progress bar", "Download the outputs"]
SUBHEADING = "What operators see"
SUB_SENTENCES = ["The progress bar moves with every stage of the job."]
PAGE_HEIGHT = 842.0
LINE_CHARS = 61  # this width hyphenates "backwa-rds", "Internationali-zation", "sched-ule"


def wrap_with_hyphens(text: str, width: int = LINE_CHARS) -> list[str]:
    """Lines of at most ``width`` characters; a long word over the edge is hyphenated."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if len(candidate) <= width:
            line = candidate
            continue
        room = width - len(line) - 2
        if len(word) >= 8 and room >= 3 and word[: room + 2].isalpha():
            lines.append(f"{line} {word[:room]}-")
            line = word[room:]
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def make_structured_pdf(path: Path) -> Path:
    """A report with a title, three "Section N." headings (bold 16 pt), a bold body-size
    sub-heading, wrapped and hyphenated 11 pt paragraphs, a section that runs over a page
    break mid-sentence, a bullet list, a running header and "Page N" footers."""
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=(595.0, PAGE_HEIGHT))
    state = {"y": 0.0, "page": 0}

    def new_page() -> None:
        if state["page"]:
            pdf.showPage()
        state["page"] += 1
        pdf.setFont("Helvetica", 9)
        pdf.drawString(72, 810, HEADER)
        pdf.drawString(280, 30, f"Page {state['page']}")
        state["y"] = 770.0

    def line(text: str, font: str, size: float, gap: float, x: float = 72) -> None:
        if state["y"] < 90:
            new_page()
        pdf.setFont(font, size)
        pdf.drawString(x, state["y"], text)
        state["y"] -= gap

    new_page()
    line(REPORT_TITLE, "Helvetica-Bold", 22, 40)
    for number, (title, sentences) in enumerate(REPORT_SECTIONS):
        line(title, "Helvetica-Bold", 16, 26)
        for text in wrap_with_hyphens(" ".join(sentences)):
            line(text, "Helvetica", 11, 14)
        state["y"] -= 10
        if number == 0:
            state["y"] = 200.0  # section 2 starts low: its paragraph runs onto page 2
        if number == 1:
            line(SUBHEADING, "Helvetica-Bold", 11, 18)
            for text in wrap_with_hyphens(" ".join(SUB_SENTENCES)):
                line(text, "Helvetica", 11, 14)
            state["y"] -= 10
    for bullet in BULLETS:
        line(f"• {bullet}", "Helvetica", 11, 14, x=84)
    pdf.showPage()
    pdf.save()
    return path


RICH_MARKDOWN = """# Encoding report 📊

Reelflow encodes every upload into an HLS ladder. See <https://docs.example.org/hls/ladder> for
the details, or read [the design notes](https://www.example.org/notes?id=7).

## Where the time goes

| stage | share | note |
|-------|-------|------|
| encode | 62% | x264, 3 renditions |
| upload | 20% | multipart |
| probe | 3% | ffprobe |

Encoding takes 62% of the time → upload 20% ≤ a third. A job costs about $0.40 & runs in 250 ms
per slide. 🚀

## Running it

- Install the **worker** image
  - Pass the CA bundle to `pip`
  - Use host networking
- Start the worker ✅

```python
from reelflow import submit
submit("report.pdf")
```

![A diagram of the stages](stages.png)

> Nothing is left behind when a job fails. The ledger keeps the record.

<div class="note">Raw HTML is never narrated.</div>
"""

NOTE = "Backups finished at midnight. The next run starts tomorrow at six."

ARABIC_MARKDOWN = """# تقرير الترميز

يحول النظام المستندات إلى مقاطع فيديو مروية دون أن يراقبها أحد. تعمل كل مهمة كتدفق له مراحل واضحة
ورموز أخطاء. تتحقق مرحلة الفحص من الملف وتستخرج نصه.

## المراحل

تكتب مرحلة النص الشرائح والسرد لكل شريحة. تنطق مرحلة العرض السرد وترسم الشرائح وترمز الفيديو. ترفع
مرحلة التحميل كل الملفات وتكتب البيان في النهاية.
"""

RUSSIAN_TEXT = """Отчёт о кодировании

Система превращает документы в видео с озвучкой без участия человека. Каждая задача выполняется
как поток с понятными этапами и кодами ошибок. Этап проверки читает файл и извлекает его текст.

Этапы работы

Этап сценария пишет слайды и текст для каждого слайда. Этап отрисовки озвучивает текст, рисует
слайды и кодирует видео. Ничего не остаётся после сбоя или отмены задачи.
"""

_TOPICS = [
    "storage", "encoding", "captions", "scheduling", "retries", "budgets", "voices", "ledgers",
    "playlists", "thumbnails",
]  # fmt: skip


def long_report(words: int = 5000) -> tuple[str, list[list[str]]]:
    """A plain-text report of about ``words`` words in ten titled sections; returns the text and
    the sentences of each section."""
    sections: list[list[str]] = []
    per_section = words // len(_TOPICS)
    parts = []
    for n, topic in enumerate(_TOPICS):
        sentences: list[str] = []
        count = 0
        i = 0
        while count < per_section:
            sentence = (
                f"Finding {n + 1}.{i} shows that {topic} behaves well under load number {i + 1} "
                f"when the workers share {topic} state across hosts."
            )
            if i % 3 == 1:
                sentence = (
                    f"Operators of {topic} reported that retry storms and slow disks "
                    f"dominated incident {i} of the quarter."
                )
            sentences.append(sentence)
            count += len(sentence.split())
            i += 1
        sections.append(sentences)
        parts.append(f"Findings on {topic}\n\n" + " ".join(sentences))
    return "\n\n".join(parts) + "\n", sections
