"""The espeak-ng voices a job may ask for: only what ``espeak-ng --voices`` lists.

A request's ``voice`` goes into ``espeak-ng -v``; a path there makes espeak-ng read that file.
Accepted: a language code of the list (``en-us``, ``ar``, ``cmn``), optionally with a variant
(``en-us+f3``, a name from ``espeak-ng --voices=variant``). To add a voice, install its espeak-ng
data (or a variant file under espeak-ng's ``voices/!v``); it is accepted as soon as
``espeak-ng --voices`` lists it (docs/CONFIGURATION.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from infra.errors import InputInvalid
from infra.process.runner import Deadlines, run_process

__all__ = ["Voices", "check_voice", "installed_voices", "parse_voice_list"]


@dataclass(frozen=True)
class Voices:
    languages: frozenset[str]
    variants: frozenset[str]

    def __contains__(self, voice: object) -> bool:
        if not isinstance(voice, str):
            return False
        language, plus, variant = voice.partition("+")
        return language in self.languages and (not plus or variant in self.variants)


def parse_voice_list(text: str) -> tuple[set[str], set[str]]:
    """(language codes, variant names) from ``espeak-ng --voices`` style output."""
    languages: set[str] = set()
    variants: set[str] = set()
    for line in text.splitlines()[1:]:
        columns = line.split()
        if len(columns) < 5:
            continue
        language, file = columns[1], columns[4]
        if language == "variant":
            variants.add(file.rsplit("/", 1)[-1])
        else:
            languages.add(language)
    return languages, variants


@functools.cache
def installed_voices(espeak: str = "espeak-ng") -> Voices:
    """The voices of this machine's espeak-ng (read once per process)."""
    languages, _ = parse_voice_list(_list(espeak, "--voices"))
    _, variants = parse_voice_list(_list(espeak, "--voices=variant"))
    return Voices(frozenset(languages), frozenset(variants))


def _list(espeak: str, flag: str) -> str:
    result = run_process([espeak, flag], deadlines=Deadlines(15.0))
    return result.stdout.decode("utf-8", "replace")


def check_voice(voice: str, espeak: str = "espeak-ng") -> str:
    """``voice`` when espeak-ng lists it; else InputInvalid saying how to see the list."""
    if voice not in installed_voices(espeak):
        raise InputInvalid(
            f"voice {voice[:60]!r} is not an installed espeak-ng voice; `espeak-ng --voices` "
            "lists them (a variant is added as LANGUAGE+VARIANT)"
        )
    return voice
