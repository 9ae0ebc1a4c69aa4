"""Informal copies of training messages: how the same request reads when typed fast in a chat.

Bitext's English utterances are complete, polite sentences ("I would like to cancel my order,
could you help me?"); customers write "cancel my order pls", "cancl order", "order status?". The
intent head learns from both when each training text also appears in an informal copy made here:

- the polite frame is dropped ("i would like to", "could you help me", "can you tell me how to");
- with some probability only the content words are kept (the telegraphic "cancel order"), and a
  "pls" or "?" is added;
- a few words get one typo each (a letter dropped, doubled, or swapped with the next one).

The copies are made with a seeded generator, so a training run is reproducible; the out-of-scope
threshold is picked on copies of the dev split made the same way, so informal in-domain messages
are not rejected. Chat abbreviations are not made here: `normalise.py` maps them back before a
message is read, in training and in the worker alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

# Name of this procedure: part of the intent model's fingerprint. Change it when the rules change.
SCHEME = "informal-copies/v1"

_FRAMES = re.compile(
    r"^(?:(?:hi|hello|hey)[,!.]?\s+)?(?:"
    r"i(?:'d| would) like to (?:know (?:how to |how i can |if i can )?)?|i want to (?:know (?:how to )?)?|"
    r"i need to (?:know how to )?|i(?:'m| am) trying to |i have to |i wanna |"
    r"(?:could|can|would) you (?:please )?(?:help me (?:to )?|tell me (?:how to |how i can )?|show me how to )?|"
    r"help me (?:to )?|please |how (?:can|do|could) i |where (?:can|do) i |is it possible to |"
    r"would it be possible to |i'd like |i would like |i want |i need |"
    r"i (?:do not|don't) know (?:how (?:i could |i can |to )|what to do to |what i (?:have|need) to do to )?|"
    r"where (?:could|can) i find information (?:about|on) |(?:some )?(?:assistance|help) (?:with |to |for )?"
    r")+",
    re.IGNORECASE,
)
_TAIL = re.compile(
    r"[,.]?\s*(?:could|can|would) you help( me)?\??$|[,.]?\s*(?:please|thanks|thank you)[.!?]*$", re.IGNORECASE
)
_FUNCTION_WORDS = frozenset(
    [
        "i",
        "me",
        "my",
        "mine",
        "you",
        "your",
        "we",
        "our",
        "the",
        "a",
        "an",
        "to",
        "of",
        "for",
        "in",
        "on",
        "at",
        "with",
        "is",
        "are",
        "was",
        "be",
        "been",
        "am",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "have",
        "has",
        "had",
        "it",
        "its",
        "this",
        "that",
        "there",
        "some",
        "any",
        "please",
        "help",
        "know",
        "how",
        "what",
        "when",
        "where",
        "which",
        "want",
        "need",
        "like",
        "i'd",
        "i'm",
        "i've",
        "would",
        "it's",
    ]
)
_WORD = re.compile(r"[A-Za-z']+|[^A-Za-z'\s]+")


def _typo(word: str, rng: np.random.Generator) -> str:
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(3))
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def informal_copy(text: str, rng: np.random.Generator, typo_rate: float = 0.12, telegraphic: float = 0.35) -> str:
    """One informal copy of an English training text (lower case, frame dropped, maybe telegraphic, typos)."""
    lowered = text.strip().lower()
    body = _TAIL.sub("", _FRAMES.sub("", lowered)).strip(" ,.?!") or lowered
    words = _WORD.findall(body)
    if rng.random() < telegraphic:
        kept = [w for w in words if w not in _FUNCTION_WORDS and w.isalpha()]
        words = kept if len(kept) >= 2 else words
    words = [_typo(w, rng) if w.isalpha() and len(w) >= 4 and rng.random() < typo_rate else w for w in words]
    ending = ["", "", " pls", "?", " please", "!"][int(rng.integers(6))]
    return " ".join(words) + ending


def informal_copies(texts: Sequence[str], seed: int) -> list[str]:
    """One informal copy of each text, the same for the same texts and seed."""
    rng = np.random.default_rng(seed)
    return [informal_copy(t, rng) for t in texts]
