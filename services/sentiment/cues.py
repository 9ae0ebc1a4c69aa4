"""Explicit escalation cues: the words and typography that make a support agent step in.

A sentence encoder trained on movie and product reviews misses what matters most in a support
chat: "third time I'm asking", "垃圾服务", "WORST", "!!!". These cues are listed by hand in
`data/escalation_cues.json` (per category: a weight and regular expressions per language), so
they can be read, reviewed and extended without touching code. The engine combines them with
the trained classifiers; this module only finds them.

The lexicon stays a file of its own, not part of the language files in services/common/locales: it
is copied into every trained model version, so a version keeps the cues it was evaluated with. Its
languages are the served ones (`locales.languages()`); a language written in Latin script has its
patterns matched on word boundaries.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
from collections.abc import Mapping

from services.common import locales

DEFAULT_CUES_PATH = pathlib.Path(__file__).with_name("data") / "escalation_cues.json"
ENGLISH = "en"  # its cues are checked in every language's messages, where English turns up too

# Short all-caps tokens that are names, not shouting.
_ACRONYMS = frozenset(
    [
        "OK",
        "USA",
        "UK",
        "EU",
        "ID",
        "PIN",
        "SMS",
        "FAQ",
        "ASAP",
        "PDF",
        "DHL",
        "UPS",
        "USPS",
        "FEDEX",
        "EMS",
        "SF",
        "VIP",
        "CEO",
        "API",
        "APP",
        "IOS",
        "TV",
        "PC",
        "USB",
        "GPS",
    ]
)
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_REPEATED_BANG = re.compile(r"[!！]{2,}")
_REPEATED_QUESTION = re.compile(r"[?？]{2,}|[?？][!！]|[!！][?？]")


@dataclasses.dataclass(frozen=True)
class CueCategory:
    name: str
    weight: float
    raises_anger: bool
    patterns: Mapping[str, tuple[re.Pattern[str], ...]]


@dataclasses.dataclass(frozen=True)
class CueMatch:
    """What a message contains; `matched` names each hit as "category:text" for explanations."""

    matched: tuple[str, ...]
    categories: frozenset[str]
    lexical_anger: float
    shouting: int

    def has(self, category: str) -> bool:
        return category in self.categories


class EscalationCues:
    """Finds escalation cues in a message; the lexicon comes from a JSON file."""

    def __init__(self, categories: list[CueCategory]) -> None:
        self.categories = categories

    @classmethod
    def load(cls, path: pathlib.Path = DEFAULT_CUES_PATH) -> EscalationCues:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the escalation cue lexicon {path}: {exc}; fix or restore the file") from exc
        categories = []
        for name, spec in raw.items():
            if name.startswith("_"):
                continue
            patterns = {
                lang: tuple(_compile(lang, p, path) for p in spec.get(lang, ())) for lang in locales.languages()
            }
            categories.append(CueCategory(name, float(spec["weight"]), bool(spec["raises_anger"]), patterns))
        return cls(categories)

    def match(self, text: str, language: str) -> CueMatch:
        """Cues for the message's language plus English, which turns up in every language's chats.

        An unknown or empty language checks every list, because language detection on a short,
        angry, code-mixed message is the least reliable.
        """
        languages = _languages_to_check(language)
        matched: list[str] = []
        categories: set[str] = set()
        keep_anger = 1.0
        for category in self.categories:
            for lang in languages:
                for pattern in category.patterns.get(lang, ()):
                    hit = pattern.search(text)
                    if hit is None:
                        continue
                    matched.append(f"{category.name}:{hit.group(0)}")
                    categories.add(category.name)
                    if category.raises_anger:
                        keep_anger *= 1.0 - category.weight
        shouting = _count_shouting(text)
        matched.extend(["shouting"] * min(shouting, 1))
        return CueMatch(tuple(matched), frozenset(categories), 1.0 - keep_anger, shouting)


def _compile(language: str, pattern: str, path: pathlib.Path) -> re.Pattern[str]:
    source = rf"\b(?:{pattern})(?!\w)" if locales.text(language, "script") == "latin" else pattern
    try:
        return re.compile(source, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"bad {language} pattern {pattern!r} in {path}: {exc}") from exc


def _languages_to_check(language: str) -> tuple[str, ...]:
    primary = (language or "").lower().split("-")[0].split("_")[0]
    if primary in locales.languages():
        return (primary, ENGLISH) if primary != ENGLISH else (ENGLISH,)
    return locales.languages()


def _count_shouting(text: str) -> int:
    """Typographic intensity: runs of !!! or ?!, and words in capitals (not acronyms)."""
    caps = [w for w in _CAPS_WORD.findall(text) if w not in _ACRONYMS]
    count = len(_REPEATED_BANG.findall(text)) + len(_REPEATED_QUESTION.findall(text))
    letters = sum(ch.isascii() and ch.isalpha() for ch in text)
    upper = sum(ch.isascii() and ch.isupper() for ch in text)
    whole_message_in_caps = letters >= 12 and upper / letters > 0.7
    return count + min(len(caps), 2) + (1 if whole_message_in_caps else 0)
