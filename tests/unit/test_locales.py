"""The language files: every language says everything English says, and the loader's rules hold."""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

from services.common import locales
from services.common.locales import ANY_WORD, LocaleError
from services.generator.policy import PolicyConfig

OTHER_LANGUAGES = [code for code in locales.languages() if code != locales.FALLBACK_LANGUAGE]
SCRIPTS = {"latin", "han"}  # what services/generator/checks.py knows how to count


@pytest.fixture
def locale_folder(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch):
    """The loader reading language files from an empty folder of the test's (caches cleared around it)."""
    monkeypatch.setattr(locales, "LOCALES_DIR", tmp_path)
    locales.languages.cache_clear()
    locales.catalog.cache_clear()
    yield tmp_path
    locales.languages.cache_clear()
    locales.catalog.cache_clear()


def word_tables(entries: dict[str, object]) -> set[str]:
    """The tables with a "*" entry: their entries may show the word itself ({word}) or not."""
    return {key.rsplit(".", 1)[0] for key in entries if key.endswith(f".{ANY_WORD}")}


def test_english_and_chinese_are_served_and_english_is_the_fallback() -> None:
    assert {"en", "zh"} <= set(locales.languages())
    assert locales.FALLBACK_LANGUAGE in locales.languages()


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_language_file_has_exactly_the_keys_english_has(language: str) -> None:
    english, other = set(locales.catalog("en")), set(locales.catalog(language))
    assert not english - other, f"{language}.toml lacks {sorted(english - other)}"
    assert not other - english, f"{language}.toml has keys en.toml lacks: {sorted(other - english)}"


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_text_has_the_placeholders_english_gives_it(language: str) -> None:
    english, other = locales.catalog("en"), locales.catalog(language)
    tables = word_tables(dict(english))
    for key, value in english.items():
        translated = other.get(key)
        assert type(translated) is type(value), f"{language}.toml {key}: a {type(value).__name__} in en.toml"
        if not isinstance(value, str):
            continue
        wanted, found = locales.placeholders(value), locales.placeholders(translated)
        if key.rsplit(".", 1)[0] in tables:
            wanted, found = wanted - {"word"}, found - {"word"}
        assert found == wanted, f"{language}.toml {key} uses {sorted(found)}, en.toml {sorted(wanted)}"


@pytest.mark.parametrize("language", locales.languages())
def test_every_language_is_written_in_a_script_the_checks_can_count(language: str) -> None:
    assert locales.text(language, "script") in SCRIPTS


def test_a_missing_key_is_an_error_naming_the_file_and_the_key() -> None:
    with pytest.raises(LocaleError, match=r"zh\.toml has no key 'escalation\.no_such_text'"):
        locales.text("zh", "escalation.no_such_text")
    with pytest.raises(LocaleError, match=r"en\.toml has no key 'policy\.no_such_cues'"):
        locales.cues("en", "policy.no_such_cues")


def test_a_text_asked_for_as_a_list_or_the_other_way_round_is_an_error() -> None:
    with pytest.raises(LocaleError, match=r"en\.toml: policy\.human_cues is a list, not a text"):
        locales.text("en", "policy.human_cues")
    with pytest.raises(LocaleError, match=r"en\.toml: checks\.fallback is a text, not a list"):
        locales.cues("en", "checks.fallback")


def test_a_text_missing_a_field_is_an_error_naming_what_it_needs() -> None:
    with pytest.raises(LocaleError, match=r"escalation\.notice\.team_named needs \['team'\]"):
        locales.text("en", "escalation.notice.team_named")


@pytest.mark.parametrize("tag", ["fr", "und", "", "  ", "ja-JP"])
def test_a_language_that_is_not_served_gets_english(tag: str) -> None:
    assert locales.language_of(tag) is None
    assert locales.resolve(tag) == "en"
    assert locales.text(tag, "checks.fallback") == locales.text("en", "checks.fallback")


@pytest.mark.parametrize(
    ("tag", "language"), [("zh-CN", "zh"), ("zh_TW", "zh"), (" ZH ", "zh"), ("en-GB", "en"), ("EN", "en")]
)
def test_a_tag_with_a_region_names_its_language(tag: str, language: str) -> None:
    assert locales.language_of(tag) == language
    assert locales.text(tag, "guardrails.refusal") == locales.text(language, "guardrails.refusal")


def test_a_word_the_table_lacks_is_shown_by_the_tables_star_entry() -> None:
    assert locales.word("zh", "escalation.intents", "track order", lookup="track_order") == "查询订单物流"
    assert locales.word("zh", "escalation.intents", "made up label", lookup="made_up_label") == "made up label"
    assert locales.word("en", "escalation.teams", "nowhere") == ""


def test_a_new_language_is_one_more_file(locale_folder: pathlib.Path) -> None:
    (locale_folder / "en.toml").write_text('[checks]\nfallback = "Sorry."\nkinds = ["a"]\n', encoding="utf-8")
    (locale_folder / "fr.toml").write_text('[checks]\nfallback = "Désolé."\n', encoding="utf-8")
    assert locales.languages() == ("en", "fr")
    assert locales.text("fr-CA", "checks.fallback") == "Désolé."
    with pytest.raises(LocaleError, match=r"fr\.toml has no key 'checks\.kinds'"):
        locales.cues("fr", "checks.kinds")


def test_a_broken_file_is_an_error_naming_it(locale_folder: pathlib.Path) -> None:
    (locale_folder / "en.toml").write_text('[checks\nfallback = "Sorry."\n', encoding="utf-8")
    with pytest.raises(LocaleError, match=r"cannot read the language file .*en\.toml"):
        locales.text("en", "checks.fallback")


def test_the_built_in_policy_cues_are_every_languages_and_a_set_variable_replaces_them() -> None:
    built_in = PolicyConfig.from_env({})
    for language in locales.languages():
        assert set(locales.cues(language, "policy.human_cues")) <= set(built_in.human_cues)
        assert set(locales.cues(language, "policy.cue_exclusions")) <= set(built_in.cue_exclusions)
    replaced = PolicyConfig.from_env({"CS_POLICY_HUMAN_CUES": "Mensch, 人間", "CS_POLICY_LEGAL_CUES": "  "})
    assert replaced.human_cues == ("Mensch", "人間")
    assert replaced.legal_cues == built_in.legal_cues == locales.all_cues("policy.legal_cues")


def test_the_loader_needs_only_the_standard_library_so_the_gateway_can_import_it() -> None:
    source = pathlib.Path(locales.__file__).read_text(encoding="utf-8")
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
