"""What the platform says and listens for in each language it serves: one TOML file per language.

`en.toml`, `zh.toml`, ... hold a language's texts (the handover notice, the prompt's instructions,
the fallback reply), its cue lists (the phrases that mean "a human, please") and the language parts
of the answer checks' regular expressions. Adding a language means adding its file, with exactly the
keys `en.toml` has (tests/unit/test_locales.py checks that), and no module changes; the modules loop
over `languages()`. (Until `Persona` and `AnswerLimits` in services/generator grow fields for it, a new
language uses the English persona fields and answer length.) What the files do not hold is knowledge
of scripts (Han character ranges, full-width punctuation): a file names its `script`, and the code
knows what that means.

In a file, a string is a text, with `str.format` placeholders in braces; a list is used as written
(phrases, regular expressions); a table with a "*" entry maps words (intent labels, queue names) to
what is shown, "*" standing for any word the table lacks and `{word}` for the word itself.

A language tag names a served language when it starts with that language's code ("zh-CN" and "zh_TW"
are "zh"); any other tag ("und", "fr", "") gets `FALLBACK_LANGUAGE`, English. A key missing from a file
is a `LocaleError` naming the file and the key, never a silent English text.

Cue lists of every language are merged where matching does not depend on the message's language:
the routing policy's built-in human, legal, complaint and safety cues and cue exclusions are all
languages' `policy.*` lists together, and a non-blank `CS_POLICY_HUMAN_CUES`, `CS_POLICY_LEGAL_CUES`,
`CS_POLICY_COMPLAINT_CUES`, `CS_POLICY_SAFETY_CUES` or `CS_POLICY_CUE_EXCLUSIONS` replaces that whole built-in list, for every
language, instead of adding to it.

Only the standard library is used, so every service (the gateway too) can import this package.
"""

from __future__ import annotations

import functools
import pathlib
import string
import tomllib
from collections.abc import Mapping

FALLBACK_LANGUAGE = "en"
LOCALES_DIR = pathlib.Path(__file__).resolve().parent
ANY_WORD = "*"

Value = str | tuple[str, ...]


class LocaleError(LookupError):
    """A language file lacks a key, holds the wrong kind of value, or cannot be read."""


@functools.cache
def languages() -> tuple[str, ...]:
    """The codes of the served languages (one file each), sorted: ("en", "zh")."""
    return tuple(sorted(path.stem for path in LOCALES_DIR.glob("*.toml")))


def language_of(tag: str) -> str | None:
    """The served language a tag names ("zh-CN" -> "zh", " EN " -> "en"), or None ("und", "fr", "")."""
    lowered = (tag or "").strip().lower()
    for code in sorted(languages(), key=len, reverse=True):
        if lowered.startswith(code):
            return code
    return None


def resolve(tag: str) -> str:
    """The language to speak for a tag: the one it names, else `FALLBACK_LANGUAGE`."""
    return language_of(tag) or FALLBACK_LANGUAGE


def path_of(language: str) -> pathlib.Path:
    return LOCALES_DIR / f"{language}.toml"


@functools.cache
def catalog(language: str) -> Mapping[str, Value]:
    """Every entry of a served language's file by dotted key ("escalation.notice.team"); lists become tuples."""
    path = path_of(language)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LocaleError(f"cannot read the language file {path}: {exc}; fix or restore it") from exc
    flat: dict[str, Value] = {}
    _flatten(raw, "", flat, path)
    return flat


def _flatten(table: Mapping[str, object], prefix: str, into: dict[str, Value], path: pathlib.Path) -> None:
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            _flatten(value, f"{key}.", into, path)
        elif isinstance(value, str):
            into[key] = value
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            into[key] = tuple(value)
        else:
            raise LocaleError(f"{path}: {key} must be a text, a list of texts or a table, not {value!r}")


def _entry(tag: str, key: str) -> tuple[str, Value]:
    language = resolve(tag)
    try:
        return language, catalog(language)[key]
    except KeyError:
        raise LocaleError(
            f"{path_of(language)} has no key {key!r}; every language file needs the keys en.toml has"
        ) from None


def text(tag: str, key: str, /, **fields: object) -> str:
    """The text `key` in the language of `tag`, its placeholders filled from `fields`."""
    language, value = _entry(tag, key)
    if not isinstance(value, str):
        raise LocaleError(f"{path_of(language)}: {key} is a list, not a text")
    return _format(language, key, value, fields)


def cues(tag: str, key: str) -> tuple[str, ...]:
    """The list `key` (phrases or regular expressions) in the language of `tag`, as written."""
    language, value = _entry(tag, key)
    if isinstance(value, str):
        raise LocaleError(f"{path_of(language)}: {key} is a text, not a list")
    return value


def all_cues(key: str) -> tuple[str, ...]:
    """The list `key` of every served language, in `languages()` order, for matching whatever the language."""
    return tuple(item for language in languages() for item in cues(language, key))


def word(tag: str, key: str, word: str, /, *, lookup: str | None = None) -> str:
    """How the table `key` shows `word` in the language of `tag`.

    The entry is found by `lookup` (default: the word itself) or, when the table lacks it, is the
    table's "*" entry; `{word}` in the entry is replaced by `word`.
    """
    language = resolve(tag)
    entries = catalog(language)
    wanted = f"{key}.{word if lookup is None else lookup}"
    name = wanted if wanted in entries else f"{key}.{ANY_WORD}"
    if name not in entries:
        raise LocaleError(f"{path_of(language)} has no key {wanted!r} and no {name!r} for any other word; add one")
    value = entries[name]
    if not isinstance(value, str):
        raise LocaleError(f"{path_of(language)}: {name} is a list, not a text")
    return _format(language, name, value, {"word": word})


def placeholders(template: str) -> frozenset[str]:
    """The field names a text's placeholders use ("{name} ({detail})" -> {"name", "detail"})."""
    return frozenset(field for _, field, _, _ in string.Formatter().parse(template) if field)


def _format(language: str, key: str, template: str, fields: Mapping[str, object]) -> str:
    try:
        return template.format_map(fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise LocaleError(
            f"{path_of(language)}: the text {key} needs {sorted(placeholders(template))}, "
            f"was given {sorted(fields)} ({exc!r})"
        ) from None
