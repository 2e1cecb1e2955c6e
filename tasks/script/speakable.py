"""What a voice should say for a piece of document text, in the narration language.

- URLs become "a link to example dot org" (the host, never the path); e-mail addresses "an e-mail
  address at example dot org";
- numbers, percentages, currencies, units (MB, ms, GHz...), ordinals and years become words
  through num2words where it supports the language; elsewhere digits stay (espeak-ng reads them in
  the voice's language);
- symbols (→ ≤ ≥ ≠ ≈ & + = × %) become words in the languages of ``PHRASES``; in others the arrows
  and comparison signs become a pause and the rest is left to espeak-ng;
- emoji and leftover markup characters (``* _ ` # | < > [ ] { } \\``) are never spoken;
- a table is one short sentence (:func:`table_sentence`); code is never read.

Every pattern here is a flat character class or a fixed alternation (no nested quantifiers), so
the transform is linear in its input.
"""

from __future__ import annotations

import re

from infra.documents.emoji import strip_emoji
from infra.documents.model import TableBlock

__all__ = ["PHRASES", "speakable", "strip_emoji", "table_sentence"]

# Per language: link, e-mail, dot, percent, and symbol words; table sentence templates.
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "link": "a link to {host}",
        "email": "an e-mail address at {host}",
        "dot": "dot",
        "%": "percent",
        "→": "to",
        "←": "from",
        "↔": "and",
        "⇒": "so",
        "≤": "at most",
        "≥": "at least",
        "≠": "is not",
        "≈": "about",
        "~": "about",
        "&": "and",
        "+": "plus",
        "=": "equals",
        "×": "times",
        "÷": "divided by",
        "#": "number",
        "table": "A table shows {columns} in {rows} rows.",
        "table_plain": "A table of {rows} rows is shown.",
        "rows_one": "rows:row",  # singular form after "1"
        "and": "and",
    },
    "ar": {
        "link": "رابط إلى {host}",
        "email": "عنوان بريد إلكتروني في {host}",
        "dot": "نقطة",
        "%": "بالمئة",
        "→": "إلى",
        "≤": "على الأكثر",
        "≥": "على الأقل",
        "≈": "حوالي",
        "&": "و",
        "+": "زائد",
        "=": "يساوي",
        "table": "يعرض جدول {columns} في {rows} صفوف.",
        "table_plain": "يظهر جدول من {rows} صفوف.",
        "and": "و",
    },
    "ru": {
        "link": "ссылка на {host}",
        "email": "адрес электронной почты на {host}",
        "dot": "точка",
        "%": "процентов",
        "→": "в",
        "≤": "не более",
        "≥": "не менее",
        "≈": "около",
        "&": "и",
        "+": "плюс",
        "=": "равно",
        "table": "Таблица показывает {columns}, {rows} строк.",
        "table_plain": "Показана таблица из {rows} строк.",
        "and": "и",
    },
    "fr": {
        "link": "un lien vers {host}",
        "email": "une adresse e-mail chez {host}",
        "dot": "point",
        "%": "pour cent",
        "→": "vers",
        "≤": "au plus",
        "≥": "au moins",
        "&": "et",
        "+": "plus",
        "=": "égale",
        "table": "Un tableau montre {columns} sur {rows} lignes.",
        "table_plain": "Un tableau de {rows} lignes est affiché.",
        "and": "et",
    },
    "de": {
        "link": "ein Link zu {host}",
        "email": "eine E-Mail-Adresse bei {host}",
        "dot": "Punkt",
        "%": "Prozent",
        "→": "zu",
        "≤": "höchstens",
        "≥": "mindestens",
        "&": "und",
        "+": "plus",
        "=": "gleich",
        "table": "Eine Tabelle zeigt {columns} in {rows} Zeilen.",
        "table_plain": "Eine Tabelle mit {rows} Zeilen wird gezeigt.",
        "and": "und",
    },
    "es": {
        "link": "un enlace a {host}",
        "email": "una dirección de correo en {host}",
        "dot": "punto",
        "%": "por ciento",
        "→": "a",
        "≤": "como máximo",
        "≥": "al menos",
        "&": "y",
        "+": "más",
        "=": "igual a",
        "table": "Una tabla muestra {columns} en {rows} filas.",
        "table_plain": "Se muestra una tabla de {rows} filas.",
        "and": "y",
    },
}
_UNITS_EN = {
    "KB": "kilobytes",
    "kB": "kilobytes",
    "MB": "megabytes",
    "GB": "gigabytes",
    "TB": "terabytes",
    "MiB": "mebibytes",
    "GiB": "gibibytes",
    "ms": "milliseconds",
    "s": "seconds",
    "min": "minutes",
    "h": "hours",
    "km": "kilometres",
    "kg": "kilograms",
    "Hz": "hertz",
    "kHz": "kilohertz",
    "MHz": "megahertz",
    "GHz": "gigahertz",
    "fps": "frames per second",
    "kbps": "kilobits per second",
    "Mbps": "megabits per second",
    "px": "pixels",
    "°C": "degrees Celsius",
    "°F": "degrees Fahrenheit",
}
_CURRENCIES = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
_NUM2WORDS = {
    "en", "ar", "ru", "fr", "de", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs",
    "sk", "ro", "hu", "tr", "uk", "sr", "fa", "he", "id", "vi", "ja", "ko",
}  # fmt: skip
_DECIMAL_COMMA = {"de", "fr", "es", "it", "pt", "nl", "ru", "uk", "pl", "cs", "sk", "ro", "tr"}

_URL = re.compile(r"\b(?:https?://|ftp://|www\.)[^\s<>\"'()\[\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]{1,64}@([\w-]{1,63}(?:\.[\w-]{1,63}){1,8})\b")
_UNIT_ALT = "|".join(sorted((re.escape(u) for u in _UNITS_EN), key=len, reverse=True))
# A number stands alone: not inside a name such as MP4, x264, H.264 or 720p (those are read by
# espeak-ng as written). Backtracking is bounded by the digit counts, so matching stays linear.
_NUMBER = re.compile(
    r"(?:(?P<cur>[$€£¥])|(?<![\w.]))"
    r"(?P<num>\d{1,3}(?:,\d{3}){1,5}(?:\.\d{1,6})?|\d{1,15}(?:[.,]\d{1,6})?)"
    r"(?P<ord>st|nd|rd|th)?"
    rf"(?:(?P<pct>\s?%)|\s?(?P<unit>{_UNIT_ALT})(?![\w°]))?"
    r"(?!\w)"
)
_MARKUP = str.maketrans(dict.fromkeys("*`|<>[]{}\\^", " "))
_NUMBER_SIGN = re.compile(r"#(?=\d)")
_HEADING_HASHES = re.compile(r"(?:^|\s)#{1,6}(?=\s)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?؟])")


def _phrases(language: str) -> dict[str, str]:
    return PHRASES.get(language.split("-")[0].lower(), {})


def _spoken_host(host: str, language: str) -> str:
    host = host.lower().removeprefix("www.").split(":")[0].strip(".")
    dot = _phrases(language).get("dot")
    return f" {dot} ".join(host.split(".")) if dot else host


def _url(match: re.Match[str], language: str) -> str:
    url = match.group(0).rstrip(".,;:!?")
    rest = match.group(0)[len(url) :]
    body = url.split("://", 1)[-1]
    host = body.split("/", 1)[0].split("?", 1)[0].split("@")[-1]
    template = _phrases(language).get("link", "{host}")
    return " " + template.format(host=_spoken_host(host, language)) + rest


def _words(value: float | int, language: str, **kw: str) -> str | None:
    lang = language.split("-")[0].lower()
    if lang not in _NUM2WORDS:
        return None
    from num2words import num2words

    try:
        return str(num2words(value, lang=lang, **kw)).replace(",", "")
    except (NotImplementedError, OverflowError, ValueError, TypeError, KeyError):
        return None


def _number(match: re.Match[str], language: str) -> str:
    raw = match.group("num")
    lang = language.split("-")[0].lower()
    text = raw
    if "," in raw and (
        lang in _DECIMAL_COMMA and raw.count(",") == 1 and len(raw.split(",")[1]) != 3
    ):
        text = raw.replace(",", ".")
    else:
        text = raw.replace(",", "")
    value: float | int = float(text) if "." in text else int(text)
    phrases = _phrases(language)
    cur, ordinal, pct, unit = (match.group(g) for g in ("cur", "ord", "pct", "unit"))
    if cur:
        spoken = _words(float(value), language, to="currency", currency=_CURRENCIES[cur])
        if spoken:
            return " " + spoken.replace(" zero cents", "") + " "
        return match.group(0)
    if ordinal and isinstance(value, int):
        spoken = _words(value, language, to="ordinal")
        return f" {spoken} " if spoken else match.group(0)
    if ordinal:
        return match.group(0)
    words = None
    is_year = isinstance(value, int) and 1100 <= value <= 2099 and raw.isdigit()
    if lang == "en" and is_year and not (pct or unit):
        words = _words(value, language, to="year")
    words = words or _words(value, language)
    if words is None:
        return match.group(0)
    if pct:
        return f" {words} {phrases.get('%', '%')} "
    if unit:
        name = _UNITS_EN.get(unit) if lang == "en" else None
        return f" {words} {name or unit} "
    return f" {words} "


def _symbols(text: str, language: str) -> str:
    phrases = _phrases(language)
    out: list[str] = []
    for i, char in enumerate(text):
        word = phrases.get(char) if char in "→←↔⇒≤≥≠≈~&+=×÷%" else None
        if word:
            out.append(f" {word} ")
        elif char in "→←↔⇒≤≥≠≈":
            out.append(", ")
        elif char in "/_" and 0 < i < len(text) - 1 and text[i - 1].isalnum():
            out.append(" ")  # snake_case, a/b
        elif char == "#" or char == "_":
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def speakable(text: str, language: str) -> str:
    """The spoken form of ``text`` (one sentence or a short passage); see the module docstring."""
    text = strip_emoji(text)
    text = _URL.sub(lambda m: _url(m, language), text)
    text = _EMAIL.sub(
        lambda m: (
            " "
            + _phrases(language)
            .get("email", "{host}")
            .format(host=_spoken_host(m.group(1), language))
        ),
        text,
    )
    text = _HEADING_HASHES.sub(" ", text).translate(_MARKUP)
    sign = _phrases(language).get("#")
    if sign:
        text = _NUMBER_SIGN.sub(f" {sign} ", text)
    text = _NUMBER.sub(lambda m: _number(m, language), text)
    text = _symbols(text, language)
    text = " ".join(text.split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text).strip()


def table_sentence(table: TableBlock, language: str) -> str:
    """One short sentence that says what a table holds ("A table shows stage and share in 3
    rows."), spoken; empty in languages without a template (the table is still drawn)."""
    phrases = _phrases(language)
    rows = len(table.rows)
    columns = [c for c in (strip_emoji(h).strip() for h in table.header) if c]
    if columns and len(columns) <= 4 and "table" in phrases:
        joined = (
            columns[0]
            if len(columns) == 1
            else ", ".join(columns[:-1]) + f" {phrases['and']} {columns[-1]}"
        )
        sentence = phrases["table"].format(columns=joined, rows=rows)
    elif "table_plain" in phrases:
        sentence = phrases["table_plain"].format(rows=rows)
    else:
        return ""
    if rows == 1 and "rows_one" in phrases:
        plural, singular = phrases["rows_one"].split(":")
        sentence = sentence.replace(f"1 {plural}", f"1 {singular}")
    return speakable(sentence, language)
