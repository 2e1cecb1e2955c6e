"""Regenerate samples/sample.pdf and samples/sample.md (needs the test extras: reportlab)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.documents import SAMPLE_MARKDOWN, make_pdf  # noqa: E402

if __name__ == "__main__":
    (ROOT / "samples").mkdir(exist_ok=True)
    make_pdf(ROOT / "samples" / "sample.pdf")
    (ROOT / "samples" / "sample.md").write_text(SAMPLE_MARKDOWN)
    print("wrote samples/sample.pdf and samples/sample.md")
