"""WebVTT captions whose cues follow the narration.

Each slide's narration is spoken over a measured interval; it is cut into cues of at most
``MAX_CUE_WORDS`` words at sentence or clause boundaries, and the interval is shared among them in
proportion to their length. The last cue of the last slide ends exactly where the audio ends.
"""

from __future__ import annotations

import re

__all__ = ["build_vtt", "escape_cue", "split_cues", "vtt_timestamp"]

MAX_CUE_WORDS = 14


def vtt_timestamp(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def escape_cue(text: str) -> str:
    """Cue text as WebVTT requires: ``&`` and ``<`` escaped, no ``-->``, no blank lines.

    A cue containing ``-->`` would start a new timing line; ``<`` opens a tag.
    """
    text = " ".join(text.split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_cues(text: str, max_words: int = MAX_CUE_WORDS) -> list[str]:
    cues: list[str] = []
    for clause in re.split(r"(?<=[.!?؟;:,])\s+", " ".join(text.split())):
        words = clause.split()
        if cues and len(cues[-1].split()) + len(words) <= max_words:
            cues[-1] = f"{cues[-1]} {clause}"
            continue
        for i in range(0, len(words), max_words):
            cues.append(" ".join(words[i : i + max_words]))
    return [c for c in cues if c]


def build_vtt(narrations: list[str], durations: list[float]) -> str:
    """One cue list for slides spoken back to back for ``durations`` seconds each."""
    lines = ["WEBVTT", ""]
    start = 0.0
    index = 1
    for text, duration in zip(narrations, durations, strict=True):
        cues = split_cues(text) or [""]
        weights = [max(1, len(c)) for c in cues]
        total = sum(weights)
        t = start
        for cue, weight in zip(cues, weights, strict=True):
            end = t + duration * weight / total
            if cue:
                timing = f"{vtt_timestamp(t)} --> {vtt_timestamp(end)}"
                lines += [str(index), timing, escape_cue(cue), ""]
                index += 1
            t = end
        start += duration
    return "\n".join(lines)
