"""Language detection, voices and direction; the length policy of the summariser."""

from __future__ import annotations

import pytest

from tasks.script.language import (
    choose_language,
    count_spoken_words,
    detect_language,
    is_rtl,
    voice_for,
)
from tasks.script.summarize import Candidate, select_sentences


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Backups finished at midnight. The next run starts tomorrow at six.", "en"),
        ("انتهى النسخ الاحتياطي عند منتصف الليل. يبدأ التشغيل التالي غدا.", "ar"),
        ("Резервное копирование завершилось в полночь. Следующий запуск завтра.", "ru"),
        ("Το αντίγραφο ασφαλείας ολοκληρώθηκε τα μεσάνυχτα.", "el"),
        ("बैकअप आधी रात को पूरा हुआ। अगला रन कल सुबह शुरू होगा।", "hi"),
        ("La sauvegarde s'est terminée à minuit.", "fr"),
        ("12345 67890 !!!", "en"),
    ],
)
def test_detection_on_short_texts(text: str, language: str):
    assert detect_language(text) == language


def test_the_job_language_overrides_detection():
    arabic = "انتهى النسخ الاحتياطي عند منتصف الليل."
    assert choose_language(arabic, None) == "ar"
    assert choose_language(arabic, "auto") == "ar"
    assert choose_language(arabic, "en") == "en"


def test_voice_and_direction():
    assert (voice_for("en"), voice_for("en-GB"), voice_for("ar"), voice_for("zh")) == (
        "en-us",
        "en-us",
        "ar",
        "cmn",
    )
    assert is_rtl("ar") and is_rtl("he") and not is_rtl("ru")
    assert count_spoken_words("यह फ़ाइल बहुत बड़ी है।") == 5


def _section(n: int, words: int = 10) -> list[Candidate]:
    return [Candidate(f"s{n}.{i} " + "w " * (words - 1), words) for i in range(n)]


def test_short_documents_keep_every_sentence():
    sections = [_section(3), _section(2)]
    assert select_sentences(sections, max_words=400, max_sections=20) == [[0, 1, 2], [0, 1]]


def test_long_documents_are_summarised_in_order_without_cuts():
    sections = [
        [Candidate(f"Encoder chunk {i} joins keyframes seamlessly.", 5) for i in range(30)],
        [Candidate(f"Ledger row {i} records outcomes.", 4) for i in range(30)],
        [Candidate("A table shows stage and share.", 6, required=True)]
        + [Candidate(f"Upload part {i} streams.", 3) for i in range(30)],
    ]
    kept = select_sentences(sections, max_words=60, max_sections=20)
    words = sum(sections[s][i].words for s, ids in enumerate(kept) for i in ids)
    assert 60 - 5 < words <= 60
    assert all(ids == sorted(ids) and ids for ids in kept)
    assert 0 in kept[2]  # the table's sentence is always said


def test_more_sections_than_slides_keeps_the_most_informative():
    sections = [[Candidate("the the the.", 3)] for _ in range(5)]
    sections[3] = [Candidate("Keyframes align chunk boundaries precisely.", 5)]
    kept = select_sentences(sections, max_words=400, max_sections=1)
    assert kept == [[], [], [], [0], []]


def test_a_sentence_longer_than_the_budget_is_skipped_not_cut():
    sections = [[Candidate("long " * 50, 50), Candidate("Short one.", 2)]]
    assert select_sentences(sections, max_words=10, max_sections=5) == [[1]]
