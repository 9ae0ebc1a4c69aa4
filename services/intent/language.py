"""Which language a customer wrote in, from the scripts its characters belong to.

The platform answers in Chinese or English, so the question is mostly "Han or Latin". Counting
scripts is instant, needs no model, and is more reliable than a statistical detector on the short,
mixed messages customers send ("我的订单 #12345 没到", "我想买 Calvin Klein jeans"): digits,
order numbers and Latin brand names must not turn a Chinese message into an English one.
Japanese and Korean are reported when their own scripts (kana, Hangul) appear, because that is
certain; Latin-script languages other than English are reported as "en" (the platform serves no
other Latin-script language, and telling them apart needs a model).
"""

from __future__ import annotations

import re
import unicodedata

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_KANA = re.compile(r"[\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
# A Latin word is a run of letters not glued to digits: "A1B2C3" is an identifier, not three words.
_LATIN_WORD = re.compile(r"(?<![0-9A-Za-z\u00c0-\u024f])[A-Za-z\u00c0-\u024f]+(?![0-9A-Za-z\u00c0-\u024f])")
# Letters of any other script (Cyrillic, Arabic, Thai, ...): a message written in one is neither zh nor en.
_OTHER_LETTER = re.compile(r"[^\W\d_A-Za-z\u00c0-\u024f]")


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
        return "en" if other < sum(map(len, _LATIN_WORD.findall(text))) else "und"
    return "und"
