"""Narration language: detection, the espeak-ng voice, the writing direction and the speaking rate.

Detection uses py3langid (a naive-Bayes byte n-gram model, 4.6 MB, deterministic, ~0.2 ms per
sentence) restricted to the languages below, so it never answers a language we cannot voice. A
job's ``--language`` overrides it. Each language has an espeak-ng voice that ``espeak-ng --voices``
lists, a right-to-left flag, and a speaking rate:

=====  ==========  ===  ===========  ==========================================================
code   voice       wpm  espeak -s    source
=====  ==========  ===  ===========  ==========================================================
en     en-us       155  160          measured (espeak-ng 1.51: 152-162 wpm at -s 160)
ar     ar          120  190          measured (100 wpm at -s 160, 119 at -s 190)
ru     ru          145  160          measured
el     el          135  160          measured
hi     hi          160  160          measured (words = space-separated tokens)
fr     fr-fr       180  160          measured
de     de          125  160          measured
other  see table   150  160          not measured: espeak-ng's nominal rate
=====  ==========  ===  ===========  ==========================================================

The render stage speaks with ``-s <espeak speed>`` of the language, so the estimate
``words / wpm`` holds (a test measures it against real espeak-ng for English and Arabic).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "LANGUAGES",
    "LanguageProfile",
    "choose_language",
    "count_spoken_words",
    "detect_language",
    "estimate_duration_s",
    "is_rtl",
    "profile",
    "voice_for",
]

DEFAULT_LANGUAGE = "en"
DETECT_CHARS = 20_000  # enough for a confident answer; detection stays O(1) per document
MIN_CONFIDENCE = 0.5
NOMINAL_SPEED = 160


@dataclass(frozen=True)
class LanguageProfile:
    code: str
    voice: str
    wpm: int = 150
    espeak_speed: int = NOMINAL_SPEED
    rtl: bool = False
    measured: bool = False


def _p(code: str, voice: str, wpm: int = 150, speed: int = NOMINAL_SPEED, **kw: Any) -> Any:
    return code, LanguageProfile(code, voice, wpm, speed, **kw)


LANGUAGES: dict[str, LanguageProfile] = dict(
    [
        _p("en", "en-us", 155, measured=True),
        _p("ar", "ar", 120, 190, rtl=True, measured=True),
        _p("ru", "ru", 145, measured=True),
        _p("el", "el", 135, measured=True),
        _p("hi", "hi", 160, measured=True),
        _p("fr", "fr-fr", 180, measured=True),
        _p("de", "de", 125, measured=True),
        _p("es", "es"),
        _p("it", "it"),
        _p("pt", "pt"),
        _p("nl", "nl"),
        _p("sv", "sv"),
        _p("da", "da"),
        _p("no", "nb"),
        _p("fi", "fi"),
        _p("pl", "pl"),
        _p("cs", "cs"),
        _p("sk", "sk"),
        _p("ro", "ro"),
        _p("hu", "hu"),
        _p("tr", "tr"),
        _p("uk", "uk"),
        _p("bg", "bg"),
        _p("sr", "sr"),
        _p("hr", "hr"),
        _p("fa", "fa", rtl=True),
        _p("ur", "ur", rtl=True),
        _p("he", "he", rtl=True),
        _p("bn", "bn"),
        _p("id", "id"),
        _p("ms", "ms"),
        _p("vi", "vi"),
        _p("zh", "cmn"),
        _p("ja", "ja"),
        _p("ko", "ko"),
    ]
)
# Labels of the detector that are a dialect of a language above.
_ALIASES = {"arz": "ar", "ary": "ar", "nn": "no", "nb": "no", "iw": "he", "in": "id"}


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """The detector, loaded once per process (1.3 s, read-only afterwards)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages([c for c in LANGUAGES if c in set(identifier.labels)])
    return identifier


def detect_language(text: str, default: str = DEFAULT_LANGUAGE) -> str:
    """The language code (a key of ``LANGUAGES``) the text is written in; ``default`` when the
    text has no letters or the detector is unsure."""
    sample = text[:DETECT_CHARS]
    if not any(c.isalpha() for c in sample):
        return default
    code, confidence = _identifier().classify(sample)
    code = _ALIASES.get(code, code)
    if code not in LANGUAGES or confidence < MIN_CONFIDENCE:
        return default
    return str(code)


def _base(language: str) -> str:
    return language.replace("_", "-").split("-")[0].lower()


def choose_language(text: str, requested: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """``requested`` when given (``--language``; ``None``, ``""`` or ``auto`` mean detect)."""
    if requested and requested.lower() != "auto":
        return requested
    return detect_language(text, default)


def profile(language: str) -> LanguageProfile:
    """The profile of a language code (``en``, ``en-GB``, ``ar``...); unknown ones get the
    nominal rate and an espeak-ng voice named like the language."""
    base = _base(language)
    return LANGUAGES.get(base) or LanguageProfile(base, base)


def voice_for(language: str) -> str:
    return profile(language).voice


def is_rtl(language: str) -> bool:
    return profile(language).rtl


def count_spoken_words(text: str) -> int:
    """Space-separated tokens with a letter or digit (``\\w+`` would split Hindi words at their
    vowel signs)."""
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def estimate_duration_s(text: str, language: str) -> float:
    """Seconds espeak-ng takes to speak ``text`` at the language's ``espeak_speed``."""
    return round(count_spoken_words(text) / profile(language).wpm * 60.0, 1)
