"""Which language a customer wrote in, from the scripts its characters belong to.

The platform answers in Chinese or English, so the question is mostly "Han or Latin". Counting
scripts is instant, needs no model, and is more reliable than a statistical detector on the short,
mixed messages customers send ("我的订单 #12345 没到", "我想买 Calvin Klein jeans"): digits,
order numbers and Latin brand names must not turn a Chinese message into an English one.
Japanese and Korean are reported when their own scripts (kana, Hangul) appear, because that is
certain.

Latin-script text is told apart by lingua (`lingua-language-detector`, n-gram models shipped in the
wheel) among `LATIN_LANGUAGES`: until issue 16 every Latin-script message counted as English, so a
French or Spanish customer's message was read with the English cues. Short English chat ("thx",
"reset password pls", "order status?") looks like anything to an n-gram model, so a message is
another language only when it has at least two words and lingua gives English less than
`ENGLISH_FLOOR` (bench/eval_entities.py: 54 of 55 fr/es/de/it/pt messages recognised, none of 210
English ones taken for another language). What the platform does with a language it does not
serve: the generator answers in the tenant's default language (README, "Languages").
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_KANA = re.compile(r"[\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
# A Latin word is a run of letters not glued to digits: "A1B2C3" is an identifier, not three words.
_LATIN_WORD = re.compile(r"(?<![0-9A-Za-z\u00c0-\u024f])[A-Za-z\u00c0-\u024f]+(?![0-9A-Za-z\u00c0-\u024f])")
# Letters of any other script (Cyrillic, Arabic, Thai, ...): a message written in one is neither zh nor en.
_OTHER_LETTER = re.compile(r"[^\W\d_A-Za-z\u00c0-\u024f]")
# Latin-script languages lingua chooses among (ISO 639-1 names of lingua's `Language` members).
LATIN_LANGUAGES = ("ENGLISH", "FRENCH", "SPANISH", "GERMAN", "ITALIAN", "PORTUGUESE", "DUTCH")
# Below this English confidence (and with two words or more) a Latin-script message is another language.
ENGLISH_FLOOR = 0.15
_lingua_lock = threading.Lock()


@functools.cache
def _lingua():
    """The detector, built once per process (2-5 s and about 230 MB with its seven models preloaded)."""
    from lingua import Language, LanguageDetectorBuilder

    languages = [getattr(Language, name) for name in LATIN_LANGUAGES]
    return LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models().build()


def load_detector() -> None:
    """Build lingua's detector now (the intent engine does at load), not on the first Latin-script message."""
    with _lingua_lock:
        _lingua()


def latin_language(text: str) -> str:
    """ "en", or the ISO 639-1 code of another of `LATIN_LANGUAGES` when lingua is sure enough."""
    if len(_LATIN_WORD.findall(text)) < 2:
        return "en"
    with _lingua_lock:
        detector = _lingua()
    confidences = {c.language: c.value for c in detector.compute_language_confidence_values(text)}
    best = max(confidences, key=confidences.__getitem__)
    english = next((value for language, value in confidences.items() if language.name == "ENGLISH"), 0.0)
    if best.name == "ENGLISH" or english >= ENGLISH_FLOOR:
        return "en"
    return best.iso_code_639_1.name.lower()


def detect_language(text: str) -> str:
    """ "zh", "en", "ja", "ko" or "und" (nothing to go on, or a script the platform does not serve).

    A Han character carries about as much meaning as a Latin word, so a message is Chinese when it
    has at least as many Han characters as Latin words: a Chinese sentence keeps its language
    when it quotes an English brand name, and an English sentence that quotes a Chinese word stays
    English.
    """
    text = unicodedata.normalize("NFKC", text)
    kana = len(_KANA.findall(text))
    hangul = len(_HANGUL.findall(text))
    han = len(_HAN.findall(text))
    latin_words = len(_LATIN_WORD.findall(text))
    # Chinese writers occasionally use a lone "の" as decoration; Japanese uses kana throughout.
    if kana >= 2 or (kana and not han):
        return "ja"
    if hangul and hangul >= han:
        return "ko"
    if han and han >= latin_words:
        return "zh"
    if latin_words:
        other = len(_OTHER_LETTER.findall(_HAN.sub("", text)))
        return latin_language(text) if other < sum(map(len, _LATIN_WORD.findall(text))) else "und"
    return "und"
