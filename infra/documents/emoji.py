"""Emoji removal: slides and speech never carry emoji (see tasks/render/slides.py for why)."""

from __future__ import annotations

__all__ = ["strip_emoji"]

_EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),
    (0x2600, 0x27BF),
    (0x2B00, 0x2BFF),
    (0x1F1E6, 0x1F1FF),
    (0xFE00, 0xFE0F),
    (0x200D, 0x200D),
    (0x20E3, 0x20E3),
    (0xE0020, 0xE007F),
    (0x2300, 0x23FF),
)


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _EMOJI_RANGES)


def strip_emoji(text: str) -> str:
    """``text`` without emoji (pictographs, dingbats, flags, joiners, variation selectors)."""
    if text.isascii():
        return text
    return " ".join("".join(c for c in text if not _is_emoji(c)).split())
