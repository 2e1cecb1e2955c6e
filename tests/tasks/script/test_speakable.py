"""Text -> what a voice says: links, numbers, units, currencies, symbols, emoji, markup, tables."""

from __future__ import annotations

import pytest

from infra.documents import TableBlock
from tasks.script.speakable import speakable, strip_emoji, table_sentence


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        (
            "See https://www.example.org/a/very/long/path?x=1&y=2 for details.",
            "See a link to example dot org for details.",
        ),
        ("Mail ops@example.com today.", "Mail an e-mail address at example dot com today."),
        ("Encode takes 62% of the time.", "Encode takes sixty-two percent of the time."),
        (
            "It moved 1,200 jobs in 2026.",
            "It moved one thousand two hundred jobs in twenty twenty-six.",
        ),
        (
            "Segments of 3.5 GB in 250 ms.",
            "Segments of three point five gigabytes in two hundred and fifty milliseconds.",
        ),
        ("It costs $12.50 or €5.", "It costs twelve dollars fifty cents or five euro."),
        ("The 1st and 22nd runs.", "The first and twenty-second runs."),
        ("An MP4 in H.264 (x264) at 720p, v2.", "An MP4 in H.264 (x264) at 720p, v2."),
        ("probe → script, n ≤ 5 & m ≥ 2.", "probe to script, n at most five and m at least two."),
        ("Ship it 🚀✅ now 👍🏽.", "Ship it now."),
        (
            "The **fast** `code` path | and/or snake_case #3.",
            "The fast code path and or snake case number three.",
        ),
    ],
)
def test_english(text: str, spoken: str):
    assert speakable(text, "en") == spoken


def test_arabic_and_russian_numbers_and_symbols():
    assert speakable("الترميز 62% من الوقت → https://example.org", "ar") == (
        "الترميز اثنان و ستون بالمئة من الوقت إلى رابط إلى example نقطة org"
    )
    assert speakable("Кодирование занимает 62% и 3,5 секунды.", "ru") == (
        "Кодирование занимает шестьдесят два процентов и три целых пять десятых секунды."
    )


def test_languages_without_number_words_keep_digits_for_espeak():
    # num2words has no Greek: espeak-ng's Greek voice reads the digits itself.
    assert speakable("Το 62% των εργασιών.", "el") == "Το 62% των εργασιών."


def test_emoji_are_removed_and_other_text_kept():
    assert strip_emoji("Done ✅ 🎉 — ok ©") == "Done — ok ©"
    assert strip_emoji("plain") == "plain"


def test_a_table_is_one_short_sentence():
    table = TableBlock(header=["stage", "share"], rows=[["encode", "62%"], ["probe", "3%"]])
    assert table_sentence(table, "en") == "A table shows stage and share in two rows."
    wide = TableBlock(header=[f"c{i}" for i in range(6)], rows=[["x"] * 6])
    assert table_sentence(wide, "en") == "A table of one row is shown."
    assert table_sentence(table, "el") == ""  # no template: drawn, not narrated


@pytest.mark.timeout(30)
def test_linear_on_hostile_text():
    for hostile in ("1," * 100_000, "http://" + "a." * 100_000, "$" * 200_000, "@." * 100_000):
        speakable(hostile, "en")
